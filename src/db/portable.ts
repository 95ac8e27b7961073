// What a PostgreSQL catalog refuses that SQLite takes. A backup archive is dialect-neutral: a
// store made on SQLite may be restored into PostgreSQL (and back), so the rows of an archive are
// checked against the stricter dialect whatever the target, and `restore --verify-only`, which
// opens no catalog, predicts a PostgreSQL restore's refusal. Neither schema has CHECK constraints,
// foreign keys or length-limited columns, and uniqueness is byte-wise in both (COLLATE "C"); what
// differs is what PostgreSQL's types and btree indexes take:
//   - text and jsonb hold no NUL character (text: "invalid byte sequence 0x00"; jsonb: "unsupported
//     Unicode escape sequence");
//   - integer columns are 32-bit, bigint 64-bit (SQLite's INTEGER takes any 64-bit value and
//     stores larger numbers as REAL);
//   - timestamps travel as ISO 8601 strings, which PostgreSQL reads for the years 1 to 9999 only;
//   - a btree index entry is at most 2704 bytes ("index row size ... exceeds btree version 4
//     maximum 2704"). PostgreSQL may compress a long key below that; this check does not, so a
//     key over the limit is refused even when it would compress (no real store has such keys).
// The columns' types and the indexes come from the PostgreSQL drizzle schema itself, so a column
// or index added there is checked without touching this file.
import { getTableColumns } from 'drizzle-orm';
import { getTableConfig } from 'drizzle-orm/pg-core';
import { schema } from './schema/pg.ts';
import type { DumpTable } from './dump.ts';

/** btree version 4's largest index entry (a third of an 8 KiB page, less overhead). */
export const PG_MAX_INDEX_ENTRY = 2704;
const INT4 = { min: -(2 ** 31), max: 2 ** 31 - 1 };
/** ±2^63, as doubles: a JSON number of that size or more cannot be a bigint. */
const INT8_LIMIT = 2 ** 63;

type PgType = 'text' | 'int4' | 'int8' | 'timestamp' | 'jsonb' | 'bool' | 'bytea';

interface TableRules {
  types: Map<string, PgType>;
  /** Each index (the primary key included): its name and column keys in order. */
  indexes: { name: string; keys: string[] }[];
}

let rules: Map<string, TableRules> | undefined;

function pgTypeOf(sqlType: string): PgType {
  const t = sqlType.toLowerCase();
  if (t.startsWith('text')) return 'text';
  if (t === 'integer') return 'int4';
  if (t === 'bigint' || t === 'bigserial') return 'int8';
  if (t.startsWith('timestamp')) return 'timestamp';
  if (t === 'jsonb' || t === 'json') return 'jsonb';
  if (t === 'boolean') return 'bool';
  if (t === 'bytea') return 'bytea';
  throw new Error(`portable: no rule for the PostgreSQL type ${sqlType}`);
}

function rulesOf(table: DumpTable): TableRules {
  if (!rules) rules = new Map();
  let r = rules.get(table);
  if (!r) {
    const t = (schema as Record<string, Parameters<typeof getTableConfig>[0]>)[table]!;
    const types = new Map<string, PgType>();
    const keyOfName = new Map<string, string>();
    for (const [key, col] of Object.entries(getTableColumns(t))) {
      types.set(key, pgTypeOf(col.getSQLType()));
      keyOfName.set(col.name, key);
    }
    const config = getTableConfig(t);
    const indexes: TableRules['indexes'] = [];
    const pk = config.columns.filter((c) => c.primary).map((c) => keyOfName.get(c.name)!);
    if (pk.length) indexes.push({ name: `${config.name}_pkey`, keys: pk });
    for (const p of config.primaryKeys) indexes.push({ name: p.getName(), keys: p.columns.map((c) => keyOfName.get(c.name)!) });
    for (const i of config.indexes) {
      const keys = i.config.columns.map((c) => keyOfName.get((c as { name?: string }).name ?? ''));
      // An index on an expression: not checked (none today).
      if (keys.every((k) => k !== undefined)) indexes.push({ name: i.config.name ?? table, keys: keys as string[] });
    }
    r = { types, indexes };
    rules.set(table, r);
  }
  return r;
}

const align = (n: number, to: number) => Math.ceil(n / to) * to;

/** The size of a btree index entry as PostgreSQL lays it out (uncompressed). */
function indexEntryBytes(keys: string[], types: Map<string, PgType>, row: Record<string, unknown>): number {
  let off = 8; // IndexTupleData (+ the null bitmap, when a key is null: within the alignment)
  for (const k of keys) {
    const v = row[k];
    if (v === null || v === undefined) continue;
    const type = types.get(k)!;
    if (type === 'text') {
      const n = Buffer.byteLength(String(v), 'utf8');
      off = n < 127 ? off + 1 + n : align(off, 4) + 4 + n;
    } else if (type === 'int8' || type === 'timestamp') off = align(off, 8) + 8;
    else if (type === 'int4') off = align(off, 4) + 4;
    else if (type === 'bool') off += 1;
    else return 0; // jsonb / bytea keys: not indexed here
  }
  return align(off, 8);
}

function holdsNul(v: unknown, depth = 0): boolean {
  if (typeof v === 'string') return v.includes('\u0000');
  if (depth > 100 || v === null || typeof v !== 'object') return false;
  if (Array.isArray(v)) return v.some((x) => holdsNul(x, depth + 1));
  return Object.entries(v as Record<string, unknown>).some(([k, x]) => k.includes('\u0000') || holdsNul(x, depth + 1));
}

/**
 * Why a PostgreSQL catalog would refuse this decoded row (dates as Date, JSON parsed), or
 * undefined. `line` is the row's NDJSON text: a NUL can only be there as \u0000, so rows
 * without one skip the search.
 */
export function pgRefusal(table: DumpTable, row: Record<string, unknown>, line?: string): string | undefined {
  const { types, indexes } = rulesOf(table);
  const id = row.id === undefined ? '' : ` ${JSON.stringify(row.id)}`;
  const where = (key: string) => `${table}.${key} of row${id}`;
  const mayHoldNul = line === undefined || line.includes('\\u0000');
  for (const [key, v] of Object.entries(row)) {
    if (v === null || v === undefined) continue;
    const type = types.get(key);
    if ((type === 'text' || type === 'jsonb') && mayHoldNul && holdsNul(v)) {
      return `${where(key)} holds a NUL character (\\u0000), which PostgreSQL cannot store in ${type}`;
    }
    if (type === 'int4' && typeof v === 'number' && (v < INT4.min || v > INT4.max)) {
      return `${where(key)} is ${v}, outside PostgreSQL's integer range (${INT4.min} to ${INT4.max})`;
    }
    if (type === 'int8' && typeof v === 'number' && (v >= INT8_LIMIT || v < -INT8_LIMIT)) {
      return `${where(key)} is ${v}, outside PostgreSQL's bigint range (-2^63 to 2^63-1)`;
    }
    if (type === 'timestamp' && v instanceof Date) {
      const y = v.getUTCFullYear();
      if (y < 1 || y > 9999) return `${where(key)} is ${v.toISOString()}, outside the years 1 to 9999 a PostgreSQL catalog takes`;
    }
  }
  for (const ix of indexes) {
    const bytes = indexEntryBytes(ix.keys, types, row);
    if (bytes > PG_MAX_INDEX_ENTRY) {
      const longest = ix.keys.filter((k) => types.get(k) === 'text').sort((a, b) => String(row[b] ?? '').length - String(row[a] ?? '').length)[0];
      return `${table} row${id}: its entry in PostgreSQL's index ${ix.name} would be ${bytes} bytes, over the ${PG_MAX_INDEX_ENTRY} a btree index takes (${longest} is ${Buffer.byteLength(String(row[longest!] ?? ''), 'utf8')} bytes long)`;
    }
  }
  return undefined;
}
