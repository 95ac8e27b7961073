import type { DumpRow, DumpTable } from './dump.ts';

// Domain types of the catalog. No drizzle types here: commands and operations depend on
// these, and test/schema-parity.test.ts checks both drizzle schemas produce them.

export type Dialect = 'sqlite' | 'postgres';

/** Where a job's artifact files stand as a whole. */
export type FilesState = 'none' | 'on_disk' | 'partial' | 'deleted';
/**
 * Where one file stands: `deleting` is the committed intent before an unlink; `corrupt`: verify
 * read it back twice and its bytes disagree with the catalog (the file is kept, never deleted).
 */
export type FileState = 'present' | 'deleting' | 'deleted' | 'missing' | 'corrupt';
/** States whose file is on disk and belongs to the catalog (never an orphan). */
export const LIVE_STATES: readonly FileState[] = ['present', 'deleting', 'corrupt'];

export const JOB_STATUSES = [
  'queued',
  'assigned',
  'processing',
  'printing',
  'printed',
  'quality_check',
  'completed',
  'qa_failed',
  'reprint',
  'failed',
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
/** Jobs in these states are still being produced: their directory is live. */
export const IN_PROGRESS_STATUSES: readonly string[] = ['queued', 'assigned', 'processing', 'printing'];

export interface Job {
  id: string;
  kind: string;
  owner: string;
  status: string;
  data: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
  completedAt: Date | null;
  filesState: string;
  generation: Record<string, unknown> | null;
  failureReason: string | null;
}

export interface NewJob {
  id: string;
  kind?: string;
  owner?: string;
  status: string;
  data: Record<string, unknown>;
  createdAt: Date;
  updatedAt?: Date;
  completedAt?: Date | null;
  filesState?: string;
  generation?: Record<string, unknown> | null;
  failureReason?: string | null;
}

export interface FileRecord {
  id: number;
  jobId: string | null;
  role: string;
  category: string;
  owner: string;
  /** Relative to the store root, '/'-separated, never absolute, never '..'. */
  path: string;
  contentType: string;
  size: number;
  sha256: string;
  mtime: Date | null;
  createdAt: Date;
  expiresAt: Date | null;
  deletedAt: Date | null;
  deleteReason: string | null;
  state: string;
  /** When verify last read the file back, and what it found (ok, corrupt, missing, unreadable). */
  verifiedAt: Date | null;
  verifyResult: string | null;
  /** Rows with the same group share one copy of their content (hard links); null: its own copy. */
  contentGroup: number | null;
  /** The tier holding the file: 'hot' (the store root) or a name from the config's tiers. */
  tier: string;
  /** How the bytes are stored in their tier: null as is, else 'gzip' | 'br' | 'zstd' (size and sha256 stay the original's). */
  encoding: string | null;
  /** Bytes stored in the tier; null: equal to size. */
  storedSize: number | null;
  /** A transition in flight: the tier the file is being copied to (intent); null when none. */
  tierTarget: string | null;
  /**
   * What compression last found not worth it for this content: `ALGORITHM:MIN_SAVING:SHA256`
   * (a later run with the same codec and saving skips it without reading it); null: never judged.
   * A change of content (another SHA-256) or of the settings makes the marker stale.
   */
  compressChecked: string | null;
  /**
   * The pack object (in the row's tier, an S3 tier with `pack: true`) that holds this file's
   * stored bytes, at packOffset, (storedSize ?? size) bytes long; null: the file is an object
   * (or a file) of its own at its path. See src/storage/pack-format.ts.
   */
  pack: string | null;
  packOffset: number | null;
}

export type NewFile = Omit<FileRecord, 'id' | 'deletedAt' | 'deleteReason' | 'state' | 'expiresAt' | 'mtime' | 'owner' | 'verifiedAt' | 'verifyResult' | 'contentGroup' | 'tier' | 'encoding' | 'storedSize' | 'tierTarget' | 'compressChecked' | 'pack' | 'packOffset'> & {
  tier?: string;
  encoding?: string | null;
  storedSize?: number | null;
  tierTarget?: string | null;
  compressChecked?: string | null;
  pack?: string | null;
  packOffset?: number | null;
  verifiedAt?: Date | null;
  verifyResult?: string | null;
  contentGroup?: number | null;
  owner?: string;
  mtime?: Date | null;
  expiresAt?: Date | null;
  state?: FileState;
  deletedAt?: Date | null;
  deleteReason?: string | null;
};

export interface RunRecord {
  id: string;
  command: string;
  args: Record<string, unknown> | null;
  dryRun: boolean;
  status: string;
  exitCode: number | null;
  user: string | null;
  host: string | null;
  pid: number | null;
  startedAt: Date;
  finishedAt: Date | null;
  totals: Record<string, unknown> | null;
}

export interface EventRecord {
  runId: string | null;
  at: Date;
  action: string;
  path: string | null;
  jobId: string | null;
  bytes: number | null;
  reason: string | null;
}

/** One group of the files aggregate: stats folds these into its breakdowns. */
export interface FileGroup {
  state: string;
  category: string;
  owner: string;
  ageBucket: AgeBucket;
  files: number;
  bytes: number;
}
export const AGE_BUCKETS = ['<1d', '1-7d', '7-30d', '30-90d', '>90d'] as const;
export type AgeBucket = (typeof AGE_BUCKETS)[number];

export interface JobGroup {
  kind: string;
  status: string;
  filesState: string;
  jobs: number;
}

export interface CatalogAggregates {
  fileGroups: FileGroup[];
  jobGroups: JobGroup[];
  oldestFile: { path: string; createdAt: Date } | null;
  newestFile: { path: string; createdAt: Date } | null;
}

export interface MigrationState {
  tag: string;
  createdAt: number;
  applied: boolean;
}

/** A page of files ordered by path in byte order, for merging with the sorted tree walk. */
export interface FilePageQuery {
  states?: readonly string[];
  afterPath?: string;
  limit: number;
}

// images (migrate-images-to-db)

/** One image moved into the database: a row of storectl's `images` table. */
export interface NewImage {
  /** What the image came from: 'store', 'dir:<abs dir>', or '<table>.<path column>'. */
  source: string;
  /** Store path, directory-relative path, or the row key (as text). */
  sourceKey: string;
  /** Position in the row's path array; 0 for a single path. */
  sourceIndex: number;
  owner: string;
  originalPath: string;
  originalBytes: number;
  originalFormat: string | null;
  format: string;
  width: number;
  height: number;
  bytes: number;
  quality: number | null;
  sha256: string;
  data: Buffer;
  createdAt: Date;
}

/** The SHA-256 of stored image bytes, read back from the database. */
export interface StoredDigest {
  sourceKey: string;
  sourceIndex: number;
  sha256: string;
}

/** A user table whose rows name image files (table mode). Identifiers are validated before use. */
export interface UserTableTarget {
  table: string;
  key: string;
  pathColumn: string;
  /** Where the bytes go in the row; when absent they go to storectl's `images` table. */
  dataColumn?: string;
}

export interface UserTableShape {
  /** PostgreSQL text[] path column (and bytea[] data column). */
  pathIsArray: boolean;
  /** The `images.source` value rows of this target are stored under. */
  source: string;
}

/** A row still to migrate: its key and the raw path value (text, text[] or a JSON array). */
export interface UserRow {
  key: string | number;
  paths: unknown;
}

/** The images of one row, in path order, ready to write in one go. */
export interface UserRowImages {
  key: string | number;
  images: NewImage[];
}

// backup and restore
/** A consistent read view of the catalog: every read through it sees the same state. */
export interface CatalogSnapshot {
  /** Rows of a dumped table in primary-key order, a page at a time (memory stays flat). */
  tableRows(table: DumpTable, pageSize?: number): AsyncGenerator<DumpRow[]>;
  /** One keyset page of files in path byte order, as Catalog.filePage, inside the snapshot. */
  filePage(query: FilePageQuery): Promise<FileRecord[]>;
  /** Whether two present rows share one content (a content_group held by two or more): a backup then stores links. */
  sharesContent(): Promise<boolean>;
  /** Ends the snapshot (read transaction); safe to call twice. */
  close(): Promise<void>;
}

/** Rows for one table, in batches, read lazily (synchronously: SQLite imports in one sync transaction). */
export interface TableImport {
  table: DumpTable;
  batches: Iterable<DumpRow[]>;
}
// lifecycle

/** Who holds (or wants) a store lock: recorded with the lock and named when a run is refused. */
export interface LockHolder {
  pid: number;
  host: string;
  command: string;
  runId: string;
}

export interface LockInfo extends LockHolder {
  name: string;
  acquiredAt: Date;
  /** When the holder last refreshed the lock (null: a row written before heartbeats, or not yet). */
  heartbeatAt: Date | null;
}

/** What `storectl unlock` (and a waiting run) knows about a held lock. */
export interface LockStatus {
  info: LockInfo;
  /** Whether the holder is taken to be running: false means the lock may be taken over. */
  live: boolean;
  /** Why live or stale, in words (process alive on this host, heartbeat 3 s ago, ...). */
  why: string;
  /** Age of the last heartbeat (else of the acquisition) by the clock that judges it. */
  heartbeatAgeMs: number;
}

export interface LockOptions {
  /** How long to wait for a held lock before giving up with LockedError; 0 (default) means do not wait. */
  waitMs?: number;
  holder: LockHolder;
  /** Called when a stale lock (its process dead on this host, or its heartbeat too old) is broken, so the caller can warn. */
  onStaleLock?: (stale: LockInfo, why: string) => void;
  /** Called once when the lock is held and the run starts waiting (waitMs > 0), then every LOCK_WAIT_NOTICE_MS. */
  onWait?: (holder: LockInfo | null, waitedMs: number, waitMs: number) => void;
  /** Called when the holder finds it no longer holds the lock (broken by unlock --force or taken over as stale). */
  onLost?: (why: string) => void;
  /** Heartbeat period (default LOCK_HEARTBEAT_MS) and staleness (default LOCK_STALE_MS): tests shorten them. */
  heartbeatMs?: number;
  staleMs?: number;
}

/** Releases a lock; safe to call twice. */
export type ReleaseLock = () => Promise<void>;

/** A page of jobs in id order (keyset), for streaming rules over the whole catalog. */
export interface JobPageQuery {
  afterId?: string;
  limit: number;
  /** Only jobs whose files_state is one of these. */
  filesStates?: readonly string[];
  /** Only jobs whose status is one of these. */
  statuses?: readonly string[];
  /** Only jobs that match at least one of these (the lifecycle rules' due conditions, pushed into the query). */
  due?: readonly DueClause[];
}

/**
 * A job is due under a clause when its status (and kind and owner, when given) is listed and
 * the clause's timestamp is at or before `before`; a null completed_at counts as updated_at.
 */
export interface DueClause {
  statuses: readonly string[];
  kinds?: readonly string[];
  owners?: readonly string[];
  ageFrom: 'completed_at' | 'updated_at' | 'created_at';
  before: Date;
}

/** A job whose files a cleanup run touched: its generation metadata gets `patch` merged in. */
export interface JobCleanupUpdate {
  id: string;
  patch: Record<string, unknown>;
}

/** How a batch of deletions ended; written in one transaction. */
export interface DeletionOutcome {
  /** Rows whose file is gone now: tombstoned (state 'deleted', deleted_at, delete_reason). */
  deleted: { id: number; at: Date; reason: string }[];
  /** Rows whose file was not deleted (changed, failed): back to 'present'. */
  restored: number[];
  /** One per deleted file. */
  events: EventRecord[];
  /** Jobs that lost files: files_state recomputed from their rows ('deleted' or 'partial'), generation patched. */
  jobs: JobCleanupUpdate[];
}

/** A stuck job to mark failed, with the status and updated_at it was planned with (re-checked). */
export interface StuckJob {
  id: string;
  status: string;
  updatedAt: Date;
}

/** The columns the tree/catalog merge needs: lean rows, so a million stream fast. */
export interface PathRow {
  id: number;
  path: string;
  /** The bytes stored on disk (stored_size of a compressed file, else size): what deletion checks and frees. */
  size: number;
  state: string;
  jobId: string | null;
}

/** What lifecycle rules look at in a job (no data or generation JSON to parse). */
export type JobHead = Pick<Job, 'id' | 'kind' | 'owner' | 'status' | 'createdAt' | 'updatedAt' | 'completedAt' | 'filesState'>;

// access (show, get --image)

/** An event on a file's path with the run that recorded it (null when the run row is gone). */
export interface PathEvent extends EventRecord {
  run: { command: string; user: string | null; host: string | null; startedAt: Date } | null;
}

/** An image read back from storectl's `images` table. */
export interface StoredImage {
  source: string;
  sourceKey: string;
  sourceIndex: number;
  originalPath: string;
  format: string;
  width: number;
  height: number;
  bytes: number;
  sha256: string;
  data: Buffer;
}

/** What a PostgreSQL `migrate` did about a catalog an older storectl kept in schema "public". */
export interface LayoutChange {
  /** From which schema, into which. */
  from: string;
  to: string;
  /** Tables and functions moved (the journal included). */
  moved: string[];
  /** An empty journal a failed first migrate had left there, dropped. */
  droppedEmptyJournal: boolean;
}

export interface MigrateOptions {
  /** Told when migrate moved or cleaned up an older layout (PostgreSQL). */
  onLayoutChange?: (change: LayoutChange) => void;
}
