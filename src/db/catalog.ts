import type { DumpTable } from './dump.ts';
import type { JobListQuery, JobListRow } from './job-list.ts';
import type { UsageCatalog } from './usage.ts';
import type {
  MigrateOptions,
  CatalogAggregates,
  CatalogSnapshot,
  DeletionOutcome,
  Dialect,
  EventRecord,
  FilePageQuery,
  FileRecord,
  Job,
  JobHead,
  JobPageQuery,
  LockOptions,
  LockStatus,
  MigrationState,
  NewFile,
  NewImage,
  NewJob,
  PathRow,
  ReleaseLock,
  RunRecord,
  StoredDigest,
  UserRow,
  UserRowImages,
  UserTableShape,
  UserTableTarget,
  TableImport,
  StuckJob,
  PathEvent,
  StoredImage,
} from './types.ts';

/** Reads of the access commands (show, get): who deleted a file, and images read back. */
export interface AccessCatalog {
  /** Events recorded on these paths, oldest first, each with the run that recorded it. */
  eventsOfPaths(paths: readonly string[]): Promise<PathEvent[]>;
  /** A stored image by (source, key, index), or by its original path (any source); null when none. */
  readImage(q: { source: string; key: string; index: number } | { originalPath: string }): Promise<StoredImage | null>;
  /** A user table's data column for one key (identifiers checked first): undefined when no such row, null when empty. */
  readUserRowData(target: UserTableTarget, key: string): Promise<unknown>;
}

/** Jobs: inserted, read, listed, paged (the lifecycle rules read jobPage), rendered, marked failed. */
export interface JobsCatalog {
  /** Inserts jobs in one transaction; fails whole if any id exists. */
  insertJobs(jobs: readonly NewJob[]): Promise<void>;
  existingJobIds(ids: readonly string[]): Promise<string[]>;
  getJobs(ids: readonly string[]): Promise<Job[]>;
  /** One page of jobs, newest first (created_at desc, id desc), filtered (storectl jobs; src/db/job-list.ts). */
  listJobs(query: JobListQuery): Promise<JobListRow[]>;
  /** Ids of jobs whose files were never generated (files_state 'none'), oldest first. */
  pendingJobIds(kind: string, limit: number, afterId?: string): Promise<string[]>;
  /**
   * Records a job's generated files and generation metadata in one transaction: each file
   * row is inserted, or replaced when its path has a row already (a reprint). With `newJob`,
   * the job is inserted first in the same transaction: a write the catalog refuses (a quota)
   * leaves neither the job nor its files.
   */
  recordGeneration(jobId: string, files: readonly NewFile[], generation: Record<string, unknown>, at: Date, opts?: { newJob?: NewJob }): Promise<void>;
  /** One keyset page of jobs (rule-relevant columns only) in id byte order. */
  jobPage(query: JobPageQuery): Promise<JobHead[]>;
  /** Marks stuck jobs failed, each only if its status and updated_at are as planned; returns the ids marked. */
  markJobsFailed(jobs: readonly StuckJob[], reason: string, at: Date): Promise<string[]>;
}

/** File rows: inserted in bulk, read by job, id, path or state, paged in path byte order, counted. */
export interface FilesCatalog {
  /** Inserts file rows as they are (bulk loads: bench, restore); fails whole on a duplicate path. */
  insertFiles(files: readonly NewFile[]): Promise<void>;
  filesOfJob(jobId: string): Promise<FileRecord[]>;
  /** One keyset page of files ordered by path in byte order. */
  filePage(query: FilePageQuery): Promise<FileRecord[]>;
  counts(): Promise<{ jobs: number; files: number; presentFiles: number }>;
  /** The figures of storectl stats: usage, breakdowns, ages, recent runs. */
  aggregates(now: Date): Promise<CatalogAggregates>;
  /** The files of these jobs in the given states (all states when omitted), by job id then path. */
  filesOfJobs(jobIds: readonly string[], states?: readonly string[]): Promise<FileRecord[]>;
  /** One keyset page, in path byte order, of files that belong to no job (temp files, uploads). */
  looseFilePage(query: FilePageQuery): Promise<FileRecord[]>;
  filesByIds(ids: readonly number[]): Promise<FileRecord[]>;
  /** Rows (any state) with these paths. */
  filesByPaths(paths: readonly string[]): Promise<FileRecord[]>;
  /**
   * One keyset page of live paths ('present', 'deleting' or 'corrupt') in byte order, read from the live
   * path index alone: all the tree/catalog merge needs (rows of the few paths missing from
   * disk are fetched afterwards with filesByPaths).
   */
  livePaths(query: { afterPath?: string; limit: number }): Promise<string[]>;
  /**
   * Up to `limit` rows in one state, in no order, through the state index ('deleting' after a
   * crash); with `reasonLike`, only rows whose delete_reason matches that LIKE pattern (the
   * rows one kind of run left: see ops/lifecycle/reasons.ts).
   */
  filesInState(state: string, limit: number, reasonLike?: string): Promise<FileRecord[]>;
  /** Whether any file row, and any present one, exists: index probes, where counts() would count every row. */
  hasFiles(): Promise<{ any: boolean; present: boolean }>;
  /** Lean rows of these jobs' files in the given states, by job id then path. */
  pathsOfJobs(jobIds: readonly string[], states: readonly string[]): Promise<PathRow[]>;
}

/** The delete protocol's writes: intents, tombstones, missing and back again (cleanup-expired, cleanup-orphaned, delete, migrate-images-to-db). */
export interface LifecycleCatalog {
  /**
   * Marks files (by path) with a state, in one transaction: 'deleting' before an unlink,
   * 'deleted' (with deleted_at and reason) after it.
   */
  markFiles(paths: readonly string[], state: 'deleting' | 'deleted', at: Date, reason: string): Promise<void>;
  /**
   * The committed intent of the delete protocol: marks these rows 'deleting' with `reason`,
   * only where they are still 'present'; returns the rows it marked (as they are now).
   */
  markDeleting(ids: readonly number[], reason: string): Promise<PathRow[]>;
  /** Ends a batch of deletions in one transaction (tombstones, restores, events, jobs). */
  finishDeletions(outcome: DeletionOutcome): Promise<void>;
  /** Marks 'present' rows 'missing' (rows kept) with their events; returns how many it marked. */
  markMissing(ids: readonly number[], events: readonly EventRecord[]): Promise<number>;
  /**
   * Marks 'missing' rows 'present' again (their file came back with the row's size and SHA-256,
   * checked by the caller), only where they are still 'missing', with their events; returns how many.
   */
  reviveMissing(ids: readonly number[], events: readonly EventRecord[]): Promise<number>;
  /**
   * The catalog calls of a long deletion run, made where they hold up the calling thread
   * least: on PostgreSQL the server does the work already (this catalog serves them); on
   * SQLite they run on a second connection in a worker thread. Close it when done.
   */
  openDeletionLane(): Promise<DeletionLane>;
}

/** The store-wide lock: one destructive run at a time per store. */
export interface LockCatalog {
  /**
   * Takes the named store-wide lock, so that one destructive run at a time works on a store.
   * Every destructive command (cleanup, restore, migrate-images, ...) takes the same name,
   * `STORE_LOCK`, before it plans, and releases it in a `finally`:
   *
   *     const release = await ctx.catalog.acquireLock(STORE_LOCK, { waitMs, holder, onStaleLock });
   *     try { ... } finally { await release(); }
   *
   * A held lock is polled until `waitMs` has passed (0: no wait), then LockedError (exit 75)
   * names the holder (command, pid, host, since).
   * The holder refreshes the row's heartbeat_at every LOCK_HEARTBEAT_MS (src/db/shared.ts says
   * when a lock is stale and why each dialect needs the heartbeat for a different case).
   * - SQLite: a `locks` row (pid, host, command, run id, acquired_at, heartbeat_at) written in an
   *   immediate transaction. A row whose process is dead on this host (kill -9, crash, power
   *   loss), or from another host with a heartbeat older than LOCK_STALE_MS, is broken and
   *   `onStaleLock` called.
   * - PostgreSQL: a session advisory lock on a dedicated connection (freed by the server when
   *   the process dies), plus the `locks` row; a holder whose session lives on but whose
   *   heartbeat is older than LOCK_STALE_MS has its session ended (pg_terminate_backend).
   * Not re-entrant: a second acquire of the same name waits even in the same process.
   */
  acquireLock(name: string, opts: LockOptions): Promise<ReleaseLock>;
  /** Who holds the named lock and whether it is live or stale; null when nobody holds it. */
  lockStatus(name: string, opts?: { staleMs?: number }): Promise<LockStatus | null>;
  /**
   * Breaks the lock held by run `runId` (storectl unlock): deletes its row, and on PostgreSQL ends
   * the session that holds the advisory lock. Returns false when that run no longer holds it.
   */
  breakLock(name: string, runId: string): Promise<boolean>;
}

/** Runs and events: the audit trail. */
export interface RunsCatalog {
  startRun(run: RunRecord): Promise<void>;
  finishRun(id: string, patch: Pick<RunRecord, 'status' | 'exitCode' | 'finishedAt' | 'totals'>): Promise<void>;
  recentRuns(limit: number, command?: string): Promise<RunRecord[]>;
  addEvents(events: readonly EventRecord[]): Promise<void>;
}

/** Backup and restore: one consistent read of every table, and the import of a dump. */
export interface SnapshotCatalog {
  /**
   * Opens a read snapshot (REPEATABLE READ READ ONLY on PostgreSQL, a read transaction on its
   * own connection on SQLite): a backup sees one consistent catalog however long it runs.
   */
  openSnapshot(): Promise<CatalogSnapshot>;
  /** Row count of every dumped table. */
  tableCounts(): Promise<Record<DumpTable, number>>;
  /**
   * Imports dumped rows, ids included, in ONE transaction: all of them or none. With
   * `replace`, every dumped table is emptied first in the same transaction. Serial counters
   * continue after the highest imported id. `events` are appended after the import.
   */
  importTables(tables: Iterable<TableImport>, opts: { replace: boolean; events?: readonly EventRecord[] }): Promise<Record<DumpTable, number>>;
  /** Tables in the catalog's schema that are not storectl's (another application's): restore refuses them. */
  foreignTables(): Promise<string[]>;
}

/** Images moved into the database (migrate-images-to-db): storectl's images table and the application's own tables. */
export interface ImagesCatalog {
  /** Of these source keys, those with an image (index 0) stored under source. */
  storedImageKeys(source: string, keys: readonly string[]): Promise<string[]>;
  /** Inserts images in one transaction, skipping any (source, key, index) already stored; returns how many were new. */
  insertImages(images: readonly NewImage[]): Promise<number>;
  /** SHA-256 of the bytes stored for these keys, computed from the data read back. */
  storedImageDigests(source: string, keys: readonly string[]): Promise<StoredDigest[]>;
  /** Checks a user table target (table, key, path and data columns exist with usable types). */
  describeUserTable(target: UserTableTarget): Promise<UserTableShape>;
  /** Rows with a path still to migrate, in key order after `afterKey`. */
  pendingUserRows(target: UserTableTarget, shape: UserTableShape, afterKey: string | number | undefined, limit: number): Promise<UserRow[]>;
  /** Rows with a path: how many, and how many are still to migrate. */
  countUserRows(target: UserTableTarget, shape: UserTableShape): Promise<{ total: number; pending: number }>;
  /**
   * Writes the images of rows in one transaction: into the data column where it is still
   * empty, or into `images` (skipping what is there). Returns the keys actually written.
   */
  writeUserRowImages(target: UserTableTarget, shape: UserTableShape, rows: readonly UserRowImages[]): Promise<(string | number)[]>;
  /** How many rows not migrated yet name this path (exactly as stored): their shared original must stay. */
  countPendingReferences(target: UserTableTarget, shape: UserTableShape, pathValue: string): Promise<number>;
  /** SHA-256 of the bytes stored in these rows' data column (array elements by index). */
  storedUserRowDigests(target: UserTableTarget, shape: UserTableShape, keys: readonly (string | number)[]): Promise<StoredDigest[]>;
}

/**
 * The catalog: every metadata read and write storectl makes, by role. One implementation per
 * dialect (sqlite.ts, pg.ts); the contract suites (test/catalog*.contract.test.ts) run the same
 * cases on both. Each method is one transaction unless it says otherwise. Code that needs one
 * role takes that role's interface.
 */
export interface Catalog extends AccessCatalog, JobsCatalog, FilesCatalog, LifecycleCatalog, LockCatalog, RunsCatalog, SnapshotCatalog, ImagesCatalog {
  readonly dialect: Dialect;
  /** Where the catalog lives, safe to print (password redacted). */
  readonly location: string;
  /** Quotas, the usage ledger and usage history (src/db/usage.ts). */
  readonly usage: UsageCatalog;
  /**
   * Applies pending migrations; returns the tags it applied (empty when up to date). PostgreSQL:
   * in the catalog's schema, created if need be, after moving there a catalog an older storectl
   * kept in "public".
   */
  migrate(opts?: MigrateOptions): Promise<string[]>;
  migrationStatus(): Promise<MigrationState[]>;
  close(): Promise<void>;
}

/** The re-check reads, intents and tombstones of a deletion run (see Catalog.openDeletionLane). */
export interface DeletionLane extends Pick<JobsCatalog, 'getJobs'>, Pick<LifecycleCatalog, 'markDeleting' | 'finishDeletions'> {
  close(): Promise<void>;
}

/** The lock name every destructive command takes: one run at a time per store. */
export const STORE_LOCK = 'store';

/** Iterates every file in path byte order, a page at a time, so memory stays flat. */
export async function* iterateFiles(
  catalog: Pick<FilesCatalog, 'filePage'>,
  states?: readonly string[],
  pageSize = 5000,
): AsyncGenerator<FileRecord> {
  let afterPath: string | undefined;
  for (;;) {
    const page = await catalog.filePage({ states, afterPath, limit: pageSize });
    yield* page;
    if (page.length < pageSize) return;
    afterPath = page[page.length - 1]!.path;
  }
}

/** Iterates live paths in byte order, a page at a time; the next page is fetched while this one is consumed. */
export async function* iterateLivePaths(catalog: Pick<FilesCatalog, 'livePaths'>, pageSize = 20_000): AsyncGenerator<string[]> {
  let next = catalog.livePaths({ limit: pageSize });
  for (;;) {
    const page = await next;
    if (page.length === pageSize) next = catalog.livePaths({ afterPath: page[page.length - 1]!, limit: pageSize });
    if (page.length) yield page;
    if (page.length < pageSize) return;
  }
}
