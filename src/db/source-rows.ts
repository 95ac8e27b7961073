// Rows of an application's table that hold file contents (import-from-db): read by key in
// pages, and the source column set to NULL once the files are safe in the store. Names come
// from flags and are checked and quoted by user-tables.ts, as migrate-images-to-db does;
// values are bound parameters. The connection is the application's database (by default the
// catalog's), opened here on its own so clearing runs in the application's own transaction.
import { UsageError } from '../errors.ts';
import { pgTransaction } from './pg-transaction.ts';
import type { Dialect } from './types.ts';
import { COLUMNS_SQL, checkIdentifier, quoteIdent, splitTableName, type ColumnInfo } from './user-tables.ts';
import { redactUrl, type CatalogTarget } from './url.ts';

/** How the data column holds the files of a row. */
export const SOURCE_SHAPES = ['bytea', 'bytea-array', 'base64', 'json-base64'] as const;
export type SourceShape = (typeof SOURCE_SHAPES)[number];

export interface SourceSpec {
  table: string;
  key: string;
  dataColumn: string;
  /** Omitted: taken from the column's type where that type says it (bytea, bytea[], json, BLOB). */
  shape?: SourceShape;
  createdColumn?: string;
  jobColumn?: string;
  /** Column with the owner of the row's job. */
  ownerColumn?: string;
}

export interface SourceRow {
  key: string | number;
  value: unknown;
  created?: unknown;
  job?: unknown;
  owner?: unknown;
  /** What clear() compares so that a value changed since it was read is never cleared (read only when opened to clear). */
  guard: unknown;
}

/** One application table, as import-from-db reads and (with --clear-source) clears it. */
export interface SourceRows {
  readonly dialect: Dialect;
  /** The database, safe to print. */
  readonly location: string;
  readonly spec: Required<Pick<SourceSpec, 'table' | 'key' | 'dataColumn' | 'shape'>> & SourceSpec;
  /** Rows whose data column is not NULL. */
  count(): Promise<number>;
  /** Rows with data, in key order, after a key. */
  page(afterKey: string | number | undefined, limit: number): Promise<SourceRow[]>;
  /**
   * Sets the data column to NULL for these rows in one transaction, each only if its value
   * is still the one read (guard). Returns the keys cleared.
   */
  clear(rows: readonly { key: string | number; guard: unknown }[]): Promise<(string | number)[]>;
  close(): Promise<void>;
}

/** Checks every name of a spec (exit 2 on a hostile one) before anything is opened. */
export function checkSourceSpec(spec: SourceSpec): SourceSpec {
  checkIdentifier(spec.table, 'table', true);
  checkIdentifier(spec.key, 'key column');
  checkIdentifier(spec.dataColumn, 'data column');
  if (spec.createdColumn !== undefined) checkIdentifier(spec.createdColumn, 'created column');
  if (spec.jobColumn !== undefined) checkIdentifier(spec.jobColumn, 'job column');
  if (spec.ownerColumn !== undefined) checkIdentifier(spec.ownerColumn, 'owner column');
  if (spec.shape !== undefined && !(SOURCE_SHAPES as readonly string[]).includes(spec.shape)) {
    throw new UsageError(`unknown --shape ${JSON.stringify(spec.shape)}`, `use one of ${SOURCE_SHAPES.join(', ')}`);
  }
  return spec;
}

const TEXT_UDT = ['text', 'varchar', 'bpchar'];

/** The shape a column's type allows (or says, when none is given); exit 2 when they disagree. */
export function resolveShape(dialect: Dialect, spec: SourceSpec, columns: ColumnInfo[]): SourceShape {
  if (columns.length === 0) throw new UsageError(`table ${spec.table} does not exist`, 'check --table and --source-database / --database', 'no_table');
  const byName = new Map(columns.map((c) => [c.name, c]));
  const need = (name: string | undefined, flag: string) => {
    if (name === undefined) return;
    if (!byName.has(name)) throw new UsageError(`column ${spec.table}.${name} does not exist`, `check ${flag}; the table has: ${columns.map((c) => c.name).join(', ')}`, 'no_column');
    return byName.get(name)!;
  };
  need(spec.key, '--key');
  need(spec.createdColumn, '--created-column');
  need(spec.jobColumn, '--job-column');
  need(spec.ownerColumn, '--owner-column');
  const data = need(spec.dataColumn, '--data-column')!;
  const bad = (why: string): never => {
    throw new UsageError(`column ${spec.table}.${spec.dataColumn} ${why}`, `give --shape (${SOURCE_SHAPES.join(', ')}) matching how the column holds the files`, 'bad_column');
  };
  if (dialect === 'postgres') {
    const udt = data.udt;
    const fits: Record<SourceShape, boolean> = {
      bytea: udt === 'bytea',
      'bytea-array': udt === '_bytea',
      base64: TEXT_UDT.includes(udt),
      'json-base64': udt === 'json' || udt === 'jsonb' || TEXT_UDT.includes(udt),
    };
    const shown = udt.replace(/^_(.*)$/, '$1[]');
    if (spec.shape) {
      if (!fits[spec.shape]) bad(`is ${shown}, which cannot hold --shape ${spec.shape}`);
      return spec.shape;
    }
    if (udt === 'bytea') return 'bytea';
    if (udt === '_bytea') return 'bytea-array';
    if (udt === 'json' || udt === 'jsonb') return 'json-base64';
    return bad(TEXT_UDT.includes(udt) ? `is ${shown}: say whether it holds base64 or JSON of base64 (--shape)` : `is ${shown}, not bytea, bytea[], text, json or jsonb`);
  }
  // SQLite types values, not columns: the declared type only suggests a default.
  if (spec.shape === 'bytea-array') bad('is in SQLite, which has no arrays (use json-base64 for a JSON object of base64 strings)');
  if (spec.shape) return spec.shape;
  const declared = data.type.toUpperCase();
  if (declared.includes('BLOB')) return 'bytea';
  if (declared.includes('JSON')) return 'json-base64';
  return bad(`is declared ${declared || 'without a type'}: say how it holds the files (--shape)`);
}

/**
 * Opens the table's database (never creating one) and checks the spec against its columns.
 * `forClearing`: rows carry the guard clear() needs (PostgreSQL computes an md5 per row for it).
 */
export async function openSourceRows(target: CatalogTarget, spec: SourceSpec, opts: { forClearing: boolean }): Promise<SourceRows> {
  checkSourceSpec(spec);
  return target.dialect === 'postgres' ? openPg(target.url, spec, opts.forClearing) : openSqlite(target.file, spec, opts.forClearing);
}

function selectList(spec: SourceSpec, guard?: string): string {
  const cols = [`${quoteIdent(spec.key)} as k`, `${quoteIdent(spec.dataColumn)} as d`];
  if (guard) cols.push(`${guard} as g`);
  if (spec.createdColumn) cols.push(`${quoteIdent(spec.createdColumn)} as c`);
  if (spec.jobColumn) cols.push(`${quoteIdent(spec.jobColumn)} as j`);
  if (spec.ownerColumn) cols.push(`${quoteIdent(spec.ownerColumn)} as o`);
  return cols.join(', ');
}

/** A row as read; `guard`: the md5 PostgreSQL computed, or (SQLite, clearing) the value itself. */
function toRow(r: { k: string | number; d: unknown; g?: unknown; c?: unknown; j?: unknown; o?: unknown }, valueIsGuard = false): SourceRow {
  return { key: r.k, value: r.d, guard: valueIsGuard ? r.d : r.g, created: r.c, job: r.j, owner: r.o };
}

async function openPg(url: string, spec: SourceSpec, forClearing: boolean): Promise<SourceRows> {
  const { newPgPool } = await import('./pg-pool.ts');
  const pool = newPgPool({ connectionString: url, max: 2 });
  const location = redactUrl(url);
  try {
    const cols = (await pool.query(COLUMNS_SQL.postgres, splitTableName('postgres', spec.table))).rows as ColumnInfo[];
    const shape = resolveShape('postgres', spec, cols);
    const T = quoteIdent(spec.table);
    const K = quoteIdent(spec.key);
    const D = quoteIdent(spec.dataColumn);
    // md5 of the value as read: a row the application rewrote meanwhile is not cleared.
    const guard = shape === 'bytea' ? `md5(${D})` : `md5(${D}::text)`;
    const select = (after: boolean) => `select ${selectList(spec, forClearing ? guard : undefined)} from ${T} where ${D} is not null${after ? ` and ${K} > $1` : ''} order by ${K} limit ${after ? '$2' : '$1'}`;
    const clearSql = `update ${T} set ${D} = null where ${K} = $1 and ${D} is not null and ${guard} = $2`;
    return {
      dialect: 'postgres',
      location,
      spec: { ...spec, shape },
      async count() {
        return Number((await pool.query(`select count(*) as n from ${T} where ${D} is not null`)).rows[0].n);
      },
      async page(afterKey, limit) {
        const r = await pool.query(select(afterKey !== undefined), afterKey !== undefined ? [afterKey, limit] : [limit]);
        return r.rows.map((row) => toRow(row));
      },
      async clear(rows) {
        const cleared: (string | number)[] = [];
        if (!rows.length) return cleared;
        if (!forClearing) throw new Error('source rows were not opened for clearing');
        await pgTransaction(pool, async (client) => {
          for (const row of rows) if (((await client.query(clearSql, [row.key, row.guard])).rowCount ?? 0) > 0) cleared.push(row.key);
        });
        return cleared;
      },
      close: () => pool.end(),
    };
  } catch (err) {
    await pool.end().catch(() => {});
    throw err;
  }
}

async function openSqlite(file: string, spec: SourceSpec, forClearing: boolean): Promise<SourceRows> {
  const { default: Database } = await import('better-sqlite3');
  let db: import('better-sqlite3').Database;
  try {
    db = new Database(file, { fileMustExist: true });
  } catch (err) {
    throw new UsageError(`cannot open the source database ${file}: ${(err as Error).message}`, 'check --source-database / --database', 'no_source');
  }
  try {
    db.pragma('busy_timeout = 10000');
    const [schemaName, table] = splitTableName('sqlite', spec.table);
    const shape = resolveShape('sqlite', spec, db.prepare(COLUMNS_SQL.sqlite).all(table, schemaName) as ColumnInfo[]);
    const T = quoteIdent(spec.table);
    const K = quoteIdent(spec.key);
    const D = quoteIdent(spec.dataColumn);
    // SQLite is in-process: the guard is the value itself, compared byte for byte.
    const first = db.prepare(`select ${selectList(spec)} from ${T} where ${D} is not null order by ${K} limit ?`);
    const next = db.prepare(`select ${selectList(spec)} from ${T} where ${D} is not null and ${K} > ? order by ${K} limit ?`);
    const clearOne = db.prepare(`update ${T} set ${D} = null where ${K} = ? and ${D} is not null and ${D} = ?`);
    const clearAll = db.transaction((rows: readonly { key: string | number; guard: unknown }[]) => rows.filter((r) => clearOne.run(r.key, r.guard).changes > 0).map((r) => r.key));
    return {
      dialect: 'sqlite',
      location: file,
      spec: { ...spec, shape },
      async count() {
        return Number((db.prepare(`select count(*) as n from ${T} where ${D} is not null`).get() as { n: number }).n);
      },
      async page(afterKey, limit) {
        const rows = (afterKey === undefined ? first.all(limit) : next.all(afterKey, limit)) as Parameters<typeof toRow>[0][];
        return rows.map((r) => toRow(r, forClearing));
      },
      async clear(rows) {
        if (rows.length && !forClearing) throw new Error('source rows were not opened for clearing');
        return rows.length ? clearAll.immediate(rows) : [];
      },
      async close() {
        db.close();
      },
    };
  } catch (err) {
    db.close();
    throw err;
  }
}
