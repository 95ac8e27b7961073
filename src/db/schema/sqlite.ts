// SQLite schema. Keep in step with ./pg.ts: same tables, columns and row types
// (test/schema-parity.test.ts holds them equal).

import { sql } from 'drizzle-orm';
import { blob, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

const ts = (name: string) => integer(name, { mode: 'timestamp_ms' });

export const jobs = sqliteTable(
  'jobs',
  {
    id: text('id').primaryKey(),
    kind: text('kind').notNull().default('card'),
    owner: text('owner').notNull().default(''),
    status: text('status').notNull(),
    data: text('data', { mode: 'json' }).$type<Record<string, unknown>>().notNull(),
    createdAt: ts('created_at').notNull(),
    updatedAt: ts('updated_at').notNull(),
    completedAt: ts('completed_at'),
    filesState: text('files_state').notNull().default('none'),
    generation: text('generation', { mode: 'json' }).$type<Record<string, unknown>>(),
    failureReason: text('failure_reason'),
  },
  (t) => [
    index('jobs_status_updated_idx').on(t.status, t.updatedAt),
    index('jobs_created_idx').on(t.createdAt),
    index('jobs_files_state_idx').on(t.filesState),
    index('jobs_stats_idx').on(t.kind, t.status, t.filesState),
  ],
);

export const files = sqliteTable(
  'files',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    jobId: text('job_id'),
    role: text('role').notNull(),
    category: text('category').notNull(),
    owner: text('owner').notNull().default(''),
    // SQLite compares TEXT with memcmp (BINARY), i.e. UTF-8 byte order, which the
    // sorted tree walk relies on.
    path: text('path').notNull(),
    contentType: text('content_type').notNull(),
    size: integer('size').notNull(),
    sha256: text('sha256').notNull(),
    mtime: ts('mtime'),
    createdAt: ts('created_at').notNull(),
    expiresAt: ts('expires_at'),
    deletedAt: ts('deleted_at'),
    deleteReason: text('delete_reason'),
    state: text('state').notNull().default('present'),
    // verify: when the file was last read back and checked, and what it found (ok, corrupt, missing, unreadable).
    verifiedAt: ts('verified_at'),
    verifyResult: text('verify_result'),
    // Rows sharing one copy of their content (hard links from put or dedup) carry the same
    // group: the id of the row whose file the others were linked to. Null: a copy of its own.
    contentGroup: integer('content_group'),
    // Tiers: the tier holding the file (a name from the config's tiers; 'hot' is the root), how
    // it is stored there (null: as is; 'gzip' | 'br' | 'zstd'), the stored size (null: = size),
    // and the tier a transition is moving it to (the intent; null when none is in flight).
    tier: text('tier').notNull().default('hot'),
    encoding: text('encoding'),
    storedSize: integer('stored_size'),
    tierTarget: text('tier_target'),
    // What compression found not worth it for this content (ALGORITHM:MIN_SAVING:SHA256): not retried.
    compressChecked: text('compress_checked'),
    // Packing (S3 tiers with pack: true): the pack object in the row's tier that holds the
    // file's stored bytes at pack_offset (stored_size ?? size long); null: an object of its own.
    pack: text('pack'),
    packOffset: integer('pack_offset'),
  },
  (t) => [
    uniqueIndex('files_path_uq').on(t.path),
    index('files_job_idx').on(t.jobId),
    // Covering index for stats: the aggregate streams it in group order, no sort, no table reads.
    index('files_stats_idx').on(t.state, t.category, t.owner, t.createdAt, t.size),
    index('files_created_idx').on(t.createdAt),
    // Partial indexes the lifecycle commands read in path order without touching the table:
    // the live paths (the tree/catalog merge) and the files of no job (the temp-file rule).
    // Queries must spell the same condition, with literals, for the planner to pick them.
    index('files_live_path_idx').on(t.path).where(sql`state in ('present', 'deleting', 'corrupt')`),
    index('files_loose_path_idx').on(t.path).where(sql`job_id is null`),
    // verify picks the least recently verified first; put and dedup find copies by content
    // (content_group included: dedup's grouping reads the index alone, without the rows).
    index('files_verify_idx').on(t.verifiedAt, t.id),
    index('files_content_idx').on(t.sha256, t.size, t.owner, t.contentGroup).where(sql`state = 'present'`),
    // tier runs start with the moves left in flight: few rows, found without reading the table.
    index('files_tier_target_idx').on(t.id).where(sql`tier_target is not null`),
    // The members of a pack: is any row left in it (its last member gone: the pack goes).
    index('files_pack_idx').on(t.pack).where(sql`pack is not null`),
  ],
);

export const runs = sqliteTable(
  'runs',
  {
    id: text('id').primaryKey(),
    command: text('command').notNull(),
    args: text('args', { mode: 'json' }).$type<Record<string, unknown>>(),
    dryRun: integer('dry_run', { mode: 'boolean' }).notNull().default(false),
    status: text('status').notNull(),
    exitCode: integer('exit_code'),
    user: text('user'),
    host: text('host'),
    pid: integer('pid'),
    startedAt: ts('started_at').notNull(),
    finishedAt: ts('finished_at'),
    totals: text('totals', { mode: 'json' }).$type<Record<string, unknown>>(),
  },
  (t) => [index('runs_started_idx').on(t.startedAt)],
);

export const events = sqliteTable(
  'events',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    runId: text('run_id'),
    at: ts('at').notNull(),
    action: text('action').notNull(),
    path: text('path'),
    jobId: text('job_id'),
    bytes: integer('bytes'),
    reason: text('reason'),
  },
  (t) => [index('events_run_idx').on(t.runId), index('events_path_idx').on(t.path)],
);

export const images = sqliteTable(
  'images',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    source: text('source').notNull(),
    sourceKey: text('source_key').notNull(),
    sourceIndex: integer('source_index').notNull().default(0),
    owner: text('owner').notNull().default(''),
    originalPath: text('original_path').notNull(),
    originalBytes: integer('original_bytes').notNull(),
    originalFormat: text('original_format'),
    format: text('format').notNull(),
    width: integer('width').notNull(),
    height: integer('height').notNull(),
    bytes: integer('bytes').notNull(),
    quality: integer('quality'),
    sha256: text('sha256').notNull(),
    data: blob('data', { mode: 'buffer' }).notNull(),
    createdAt: ts('created_at').notNull(),
  },
  (t) => [uniqueIndex('images_source_uq').on(t.source, t.sourceKey, t.sourceIndex)],
);

export const locks = sqliteTable('locks', {
  name: text('name').primaryKey(),
  pid: integer('pid').notNull(),
  host: text('host').notNull(),
  command: text('command'),
  runId: text('run_id'),
  acquiredAt: ts('acquired_at').notNull(),
  /** Refreshed by the holder every LOCK_HEARTBEAT_MS while it runs; older than LOCK_STALE_MS: stale (0005). */
  heartbeatAt: ts('heartbeat_at'),
});

/** Per-owner hard quotas (issue: usage). */
export const quotas = sqliteTable('quotas', {
  owner: text('owner').primaryKey(),
  maxBytes: integer('max_bytes').notNull(),
  maxFiles: integer('max_files'),
  warnPercent: integer('warn_percent').notNull().default(80),
  updatedAt: ts('updated_at').notNull(),
});

/** The usage ledger: bytes and files of held content per owner, kept by triggers on files. */
export const usage = sqliteTable('usage', {
  owner: text('owner').primaryKey(),
  bytes: integer('bytes').notNull().default(0),
  files: integer('files').notNull().default(0),
});

/** Usage history: one row per stats run and per destructive run. */
export const usageSnapshots = sqliteTable(
  'usage_snapshots',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    takenAt: ts('taken_at').notNull(),
    runId: text('run_id'),
    command: text('command'),
    bytes: integer('bytes').notNull(),
    files: integer('files').notNull(),
    orphanFiles: integer('orphan_files'),
    missingFiles: integer('missing_files'),
    anomalies: integer('anomalies'),
    usageDrift: integer('usage_drift'),
  },
  (t) => [index('usage_snapshots_taken_idx').on(t.takenAt)],
);

/** Facts about the store as a whole: `root_url` is where its files live (a directory or s3://BUCKET/PREFIX/). */
export const storeMeta = sqliteTable('store_meta', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
  updatedAt: ts('updated_at').notNull(),
});

/** migrate-store's progress: each file copied to `target` and verified there (resume after a kill). */
export const storeMigration = sqliteTable(
  'store_migration',
  {
    target: text('target').notNull(),
    path: text('path').notNull(),
    size: integer('size').notNull(),
    sha256: text('sha256').notNull(),
    identity: text('identity').notNull(),
    verifiedAt: ts('verified_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.target, t.path] })],
);

export const schema = { jobs, files, runs, events, images, locks, quotas, usage, usageSnapshots, storeMeta, storeMigration };
