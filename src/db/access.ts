// The access role (show, get --image): SQL both dialects run, and the mapping of its rows.
// Kept out of pg.ts/sqlite.ts so the dialect files only bind parameters and run it.
import type { Dialect, PathEvent, StoredImage, UserTableTarget } from './types.ts';
import { quoteIdent } from './user-tables.ts';

function placeholders(dialect: Dialect, n: number, from = 1): string {
  return Array.from({ length: n }, (_, i) => (dialect === 'postgres' ? `$${from + i}` : '?')).join(', ');
}

/** Events on these paths (through events_path_idx), oldest first, with the run that recorded each. */
export function eventsOfPathsSql(dialect: Dialect, n: number): string {
  return (
    'select e.run_id, e.at, e.action, e.path, e.job_id, e.bytes, e.reason, r.command, r."user", r.host, r.started_at ' +
    `from events e left join runs r on r.id = e.run_id where e.path in (${placeholders(dialect, n)}) order by e.at, e.id`
  );
}

const asDate = (v: unknown): Date => (v instanceof Date ? v : new Date(Number(v)));

export function toPathEvent(r: Record<string, unknown>): PathEvent {
  return {
    runId: (r.run_id as string | null) ?? null,
    at: asDate(r.at),
    action: r.action as string,
    path: (r.path as string | null) ?? null,
    jobId: (r.job_id as string | null) ?? null,
    bytes: r.bytes === null || r.bytes === undefined ? null : Number(r.bytes),
    reason: (r.reason as string | null) ?? null,
    run: r.command == null ? null : { command: r.command as string, user: (r.user as string | null) ?? null, host: (r.host as string | null) ?? null, startedAt: asDate(r.started_at) },
  };
}

const IMAGE_COLUMNS = 'source, source_key, source_index, original_path, format, width, height, bytes, sha256, data';

/** One stored image by (source, key, index): params source, key, index. */
export function imageByKeySql(dialect: Dialect): string {
  return `select ${IMAGE_COLUMNS} from images where source = ${placeholders(dialect, 1, 1)} and source_key = ${placeholders(dialect, 1, 2)} and source_index = ${placeholders(dialect, 1, 3)}`;
}

/** Stored images by their original path (any source), oldest first: param the path. */
export function imageByOriginalPathSql(dialect: Dialect): string {
  return `select ${IMAGE_COLUMNS} from images where original_path = ${placeholders(dialect, 1)} order by id limit 2`;
}

export function toStoredImage(r: Record<string, unknown>): StoredImage {
  return {
    source: r.source as string,
    sourceKey: r.source_key as string,
    sourceIndex: Number(r.source_index),
    originalPath: r.original_path as string,
    format: r.format as string,
    width: Number(r.width),
    height: Number(r.height),
    bytes: Number(r.bytes),
    sha256: r.sha256 as string,
    data: r.data as Buffer,
  };
}

/** The data column of one row of a user table (identifiers checked by checkTarget first): param the key. */
export function userRowDataSql(dialect: Dialect, t: UserTableTarget): string {
  return `select ${quoteIdent(t.dataColumn!)} as d from ${quoteIdent(t.table)} where ${quoteIdent(t.key)} = ${placeholders(dialect, 1)}`;
}

/** The bytes of element `index` of a data value (bytea, BLOB or bytea[]); null when empty or out of range. */
export function userRowElement(d: unknown, index: number): Buffer | null {
  if (d === null || d === undefined) return null;
  const list = Array.isArray(d) ? (d as Buffer[]) : [d as Buffer];
  return list[index] ?? null;
}
