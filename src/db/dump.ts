// The dialect-neutral form of catalog rows, for backup archives: one JSON object a line per
// table. Column kinds come from the SQLite schema (the PostgreSQL one mirrors it), so a table
// or column added to both schemas is dumped and restored without touching this file.
import { getTableColumns } from 'drizzle-orm';
import { schema } from './schema/sqlite.ts';

/**
 * Tables a backup carries, in import order. `locks` is run-time state and is never dumped; the
 * usage ledger is derived from `files` (its triggers rebuild it on import). `quotas` comes last,
 * after the files it limits, so a snapshot whose owner was over a quota lowered later restores
 * as it was; archives written before quotas were carried have no `quotas` table, and a restore
 * of one keeps the target's quotas (see restore's quota check).
 */
export const DUMP_TABLES = ['jobs', 'files', 'runs', 'events', 'images', 'quotas'] as const;
export type DumpTable = (typeof DUMP_TABLES)[number];

/** The column a table is dumped in order of (its primary key). */
export const DUMP_KEY: Record<DumpTable, string> = { jobs: 'id', files: 'id', runs: 'id', events: 'id', images: 'id', quotas: 'owner' };

export type ColumnKind = 'text' | 'int' | 'bool' | 'date' | 'json' | 'bytes';
/** A row as the catalog reads and writes it: domain keys, Date, Buffer, parsed JSON. */
export type DumpRow = Record<string, unknown>;

const KIND_BY_COLUMN_TYPE: Record<string, ColumnKind> = {
  SQLiteText: 'text',
  SQLiteInteger: 'int',
  SQLiteBoolean: 'bool',
  SQLiteTimestamp: 'date',
  SQLiteTextJson: 'json',
  SQLiteBlobBuffer: 'bytes',
};

let kinds: Map<string, Map<string, ColumnKind>> | undefined;

/** Column key -> kind for a dumped table. */
export function columnKinds(table: string): Map<string, ColumnKind> | undefined {
  if (!kinds) {
    kinds = new Map();
    for (const t of DUMP_TABLES) {
      const cols = new Map<string, ColumnKind>();
      for (const [key, col] of Object.entries(getTableColumns(schema[t]))) {
        const kind = KIND_BY_COLUMN_TYPE[col.columnType];
        if (!kind) throw new Error(`dump: no kind for ${t}.${key} (${col.columnType})`);
        cols.set(key, kind);
      }
      kinds.set(t, cols);
    }
  }
  return kinds.get(table);
}

/**
 * The tables an import clears before it inserts. Replacing: every dumped table, but `quotas`
 * only when the archive carries it (an older archive keeps the target's quotas, and restore
 * checks the files against them). Into an empty store: only `quotas`, when the archive carries
 * them (quotas set on the empty target give way to the archive's, as the store was).
 */
export function clearedTables(imports: readonly { table: DumpTable }[], replace: boolean): DumpTable[] {
  const carried = new Set(imports.map((i) => i.table));
  return DUMP_TABLES.filter((t) => (t === 'quotas' ? carried.has(t) : replace));
}

export function isDumpTable(name: string): name is DumpTable {
  return (DUMP_TABLES as readonly string[]).includes(name);
}

/** One row as one NDJSON line: dates as ISO 8601, bytes as base64, JSON as JSON. */
export function encodeRow(table: DumpTable, row: DumpRow): string {
  const cols = columnKinds(table)!;
  const out: Record<string, unknown> = {};
  for (const [key, kind] of cols) {
    const v = row[key];
    if (v === null || v === undefined) out[key] = null;
    else if (kind === 'date') out[key] = (v as Date).toISOString();
    else if (kind === 'bytes') out[key] = Buffer.from(v as Uint8Array).toString('base64');
    else if (kind === 'bool') out[key] = Boolean(v);
    else if (kind === 'int') out[key] = Number(v);
    else out[key] = v;
  }
  return JSON.stringify(out);
}

export class DumpFormatError extends Error {}
/** A well-formed row that a PostgreSQL catalog would refuse (src/db/portable.ts). */
export class DumpRowRefusedError extends DumpFormatError {}

/**
 * decodeRow for an archive being restored or verified: a dump is dialect-neutral, so a row that
 * PostgreSQL would refuse (a NUL in text, an integer out of its range, ...) is refused whatever
 * the target. `refusal` is src/db/portable.ts's pgRefusal, passed in so that this module (loaded
 * by every SQLite catalog) does not load the PostgreSQL schema.
 */
export function decodeArchivedRow(
  table: DumpTable,
  line: string,
  refusal: (table: DumpTable, row: DumpRow, line: string) => string | undefined,
): DumpRow {
  const row = decodeRow(table, line);
  const why = refusal(table, row, line);
  if (why) throw new DumpRowRefusedError(why);
  return row;
}

/**
 * Parses one NDJSON line back into a row. A column this schema does not know means the
 * dump comes from a newer schema: refused. A column the dump lacks (an older schema) is
 * left out, so the column's default applies, as its migration would have set it.
 */
export function decodeRow(table: DumpTable, line: string): DumpRow {
  const cols = columnKinds(table)!;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new DumpFormatError(`${table}: a line is not valid JSON`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new DumpFormatError(`${table}: a line is not an object`);
  const row: DumpRow = {};
  for (const [key, v] of Object.entries(parsed as Record<string, unknown>)) {
    const kind = cols.get(key);
    if (!kind) throw new DumpFormatError(`${table}: unknown column ${JSON.stringify(key)}`);
    if (v === null) row[key] = null;
    else if (kind === 'date') {
      const d = typeof v === 'string' ? new Date(v) : new Date(NaN);
      if (Number.isNaN(d.getTime())) throw new DumpFormatError(`${table}.${key}: not a date`);
      row[key] = d;
    } else if (kind === 'bytes') {
      if (typeof v !== 'string') throw new DumpFormatError(`${table}.${key}: not base64`);
      row[key] = Buffer.from(v, 'base64');
    } else if (kind === 'int') {
      if (typeof v !== 'number' || !Number.isInteger(v)) throw new DumpFormatError(`${table}.${key}: not an integer`);
      row[key] = v;
    } else if (kind === 'bool') {
      if (typeof v !== 'boolean') throw new DumpFormatError(`${table}.${key}: not a boolean`);
      row[key] = v;
    } else if (kind === 'text') {
      if (typeof v !== 'string') throw new DumpFormatError(`${table}.${key}: not a string`);
      row[key] = v;
    } else row[key] = v;
  }
  return row;
}
