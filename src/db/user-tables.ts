// SQL against users' own tables (migrate-images-to-db table mode). Table and column names
// come from flags and config files: each is validated as a plain identifier and then
// double-quoted; values are always bound parameters. Nothing else in storectl builds SQL
// from names it did not write itself.
import { UsageError } from '../errors.ts';
import type { Dialect, UserTableTarget } from './types.ts';

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Checks one identifier (a table, optionally `schema.table`, or a column); throws exit 2. */
export function checkIdentifier(value: string, what: string, allowSchema = false): string {
  const parts = allowSchema ? value.split('.') : [value];
  if (typeof value !== 'string' || parts.length > 2 || !parts.every((p) => IDENT.test(p))) {
    throw new UsageError(
      `invalid ${what} name ${JSON.stringify(value)}`,
      `a ${what} name is letters, digits and underscores, not starting with a digit${allowSchema ? ' (optionally schema.table)' : ''}`,
      'bad_identifier',
    );
  }
  return value;
}

export function checkTarget(t: UserTableTarget): UserTableTarget {
  checkIdentifier(t.table, 'table', true);
  checkIdentifier(t.key, 'key column');
  checkIdentifier(t.pathColumn, 'path column');
  if (t.dataColumn !== undefined) checkIdentifier(t.dataColumn, 'data column');
  return t;
}

/** A checked identifier, double-quoted (a checked name holds no quote to escape). */
export function quoteIdent(value: string): string {
  if (!value.split('.').every((p) => IDENT.test(p))) throw new Error(`unchecked identifier ${JSON.stringify(value)}`);
  return value
    .split('.')
    .map((p) => `"${p}"`)
    .join('.');
}

/** `images.source` of a table target: its table and path column. */
export function tableSource(t: UserTableTarget): string {
  return `${t.table}.${t.pathColumn}`;
}

/**
 * The columns of a table, as information_schema (PostgreSQL) or pragma_table_info (SQLite)
 * lists them. Params: PostgreSQL $1 schema (null: the current one), $2 table; SQLite the
 * table, then the schema. Use with splitTableName.
 */
export const COLUMNS_SQL: Record<Dialect, string> = {
  postgres: `select column_name as name, data_type as type, udt_name as udt from information_schema.columns
        where table_schema = coalesce($1, current_schema()) and table_name = $2 order by ordinal_position`,
  sqlite: `select name, type, type as udt from pragma_table_info(?, ?)`,
};

/** `schema.table` -> [schema, table]; a bare table has the dialect's default schema (null: PostgreSQL's current one). */
export function splitTableName(dialect: Dialect, table: string): [string | null, string] {
  const [a, b] = table.split('.');
  return b !== undefined ? [a!, b] : [dialect === 'sqlite' ? 'main' : null, a!];
}

export interface ColumnInfo {
  name: string;
  /** PostgreSQL: information_schema data_type ('ARRAY', 'bytea', 'text', ...); SQLite: declared type. */
  type: string;
  /** PostgreSQL: udt_name ('_text', '_bytea', ...); SQLite: same as type. */
  udt: string;
}

/**
 * Checks the columns a target needs against what the table has and returns whether the
 * path column is an array. Errors name the missing or mistyped column.
 */
export function checkColumns(dialect: Dialect, t: UserTableTarget, columns: ColumnInfo[]): { pathIsArray: boolean } {
  if (columns.length === 0) {
    throw new UsageError(`table ${t.table} does not exist`, 'check --table and --database', 'no_table');
  }
  const byName = new Map(columns.map((c) => [c.name, c]));
  const need = (name: string, flag: string) => {
    const c = byName.get(name);
    if (!c) throw new UsageError(`column ${t.table}.${name} does not exist`, `check ${flag}; the table has: ${columns.map((x) => x.name).join(', ')}`, 'no_column');
    return c;
  };
  need(t.key, '--key');
  const path = need(t.pathColumn, '--path-column');
  const data = t.dataColumn !== undefined ? need(t.dataColumn, '--data-column') : undefined;
  if (dialect === 'sqlite') return { pathIsArray: false };
  const textual = (u: string) => u === 'text' || u === 'varchar' || u === 'bpchar';
  const pathIsArray = path.type === 'ARRAY';
  if (pathIsArray ? !textual(path.udt.slice(1)) : !textual(path.udt)) {
    throw new UsageError(`column ${t.table}.${t.pathColumn} is ${path.udt}, not text or text[]`, 'the path column must hold file paths', 'bad_column');
  }
  if (data) {
    const want = pathIsArray ? '_bytea' : 'bytea';
    if (data.udt !== want) {
      throw new UsageError(
        `column ${t.table}.${t.dataColumn} is ${data.udt.replace(/^_(.*)$/, '$1[]')}, expected ${want.replace(/^_(.*)$/, '$1[]')}`,
        pathIsArray ? 'a text[] path column fills a bytea[] data column' : 'a text path column fills a bytea data column',
        'bad_column',
      );
    }
  }
  return { pathIsArray };
}

/** Placeholder style of a dialect: $1 for PostgreSQL, ? for SQLite. */
function ph(dialect: Dialect, i: number): string {
  return dialect === 'postgres' ? `$${i}` : '?';
}

/**
 * SELECT of rows still to migrate, in key order after a key. A row is pending when its
 * path is set and its data column is empty, or (images-table mode) no image of it is stored.
 */
export function pendingRowsSql(dialect: Dialect, t: UserTableTarget, after: boolean): string {
  const T = quoteIdent(t.table);
  const K = quoteIdent(t.key);
  const P = quoteIdent(t.pathColumn);
  let i = 1;
  const where = [`${P} is not null`, notMigratedSql(dialect, t, () => ph(dialect, i++))];
  if (after) where.push(`${K} > ${ph(dialect, i++)}`);
  return `select ${K} as k, ${P} as p from ${T} where ${where.join(' and ')} order by ${K} limit ${ph(dialect, i++)}`;
}

function notMigratedSql(dialect: Dialect, t: UserTableTarget, next: () => string): string {
  if (t.dataColumn !== undefined) return `${quoteIdent(t.dataColumn)} is null`;
  const keyText = dialect === 'postgres' ? `${quoteIdent(t.table)}.${quoteIdent(t.key)}::text` : `cast(${quoteIdent(t.table)}.${quoteIdent(t.key)} as text)`;
  return `not exists (select 1 from images i where i.source = ${next()} and i.source_key = ${keyText})`;
}

/** Counts of rows with a path: pending and already migrated. */
export function countRowsSql(dialect: Dialect, t: UserTableTarget): string {
  const T = quoteIdent(t.table);
  const P = quoteIdent(t.pathColumn);
  const pending = notMigratedSql(dialect, t, () => ph(dialect, 1));
  return `select count(*) as total, coalesce(sum(case when ${pending} then 1 else 0 end), 0) as pending from ${T} where ${P} is not null`;
}

/** UPDATE writing one row's bytes into its data column, only if still empty (idempotent). */
export function writeRowSql(dialect: Dialect, t: UserTableTarget, array: boolean): string {
  const D = quoteIdent(t.dataColumn!);
  const value = dialect === 'postgres' ? (array ? '$1::bytea[]' : '$1::bytea') : '?';
  return `update ${quoteIdent(t.table)} set ${D} = ${value} where ${quoteIdent(t.key)} = ${ph(dialect, 2)} and ${D} is null`;
}

/** SELECT of the stored bytes of some rows (to verify before deleting originals). */
export function readRowsSql(dialect: Dialect, t: UserTableTarget, n: number): string {
  const keys = dialect === 'postgres' ? `= any($1)` : `in (${Array.from({ length: n }, () => '?').join(', ')})`;
  return `select ${quoteIdent(t.key)} as k, ${quoteIdent(t.dataColumn!)} as d from ${quoteIdent(t.table)} where ${quoteIdent(t.key)} ${keys}`;
}

/**
 * COUNT of rows not migrated yet whose path value names this path: an original shared by
 * several rows (a default avatar) must outlive the last of them. Params: PostgreSQL $1 path,
 * $2 source; SQLite @path, @source.
 */
export function pendingReferencesSql(dialect: Dialect, t: UserTableTarget, pathIsArray: boolean): string {
  const T = quoteIdent(t.table);
  const P = quoteIdent(t.pathColumn);
  let match: string;
  if (dialect === 'postgres') match = pathIsArray ? `$1 = any(${P})` : `${P} = $1`;
  // SQLite: a plain path, or a JSON array of paths that holds it.
  else match = `(${P} = @path or (json_valid(${P}) and json_type(${P}) = 'array' and exists (select 1 from json_each(${P}) j where j.value = @path)))`;
  const notMigrated = notMigratedSql(dialect, t, () => (dialect === 'postgres' ? '$2' : '@source'));
  return `select count(*) as n from ${T} where ${match} and ${notMigrated}`;
}
