import type { DumpTable } from './dump.ts';
import type {
  CatalogAggregates,
  CatalogSnapshot,
  Dialect,
  EventRecord,
  FilePageQuery,
  FileRecord,
  Job,
  MigrationState,
  NewFile,
  NewImage,
  NewJob,
  RunRecord,
  StoredDigest,
  UserRow,
  UserRowImages,
  UserTableShape,
  UserTableTarget,
  TableImport,
} from './types.ts';

/**
 * The catalog: every metadata read and write storectl makes. One implementation per
 * dialect (sqlite.ts, pg.ts); test/catalog.contract.test.ts runs the same suite on both.
 * Each method is one transaction unless it says otherwise.
 */
export interface Catalog {
  readonly dialect: Dialect;
  /** Where the catalog lives, safe to print (password redacted). */
  readonly location: string;

  /** Applies pending migrations; returns the tags it applied (empty when up to date). */
  migrate(): Promise<string[]>;
  migrationStatus(): Promise<MigrationState[]>;
  close(): Promise<void>;

  // jobs
  /** Inserts jobs in one transaction; fails whole if any id exists. */
  insertJobs(jobs: readonly NewJob[]): Promise<void>;
  existingJobIds(ids: readonly string[]): Promise<string[]>;
  getJobs(ids: readonly string[]): Promise<Job[]>;
  /** Ids of jobs whose files were never generated (files_state 'none'), oldest first. */
  pendingJobIds(kind: string, limit: number, afterId?: string): Promise<string[]>;
  /**
   * Records a job's generated files and generation metadata in one transaction: each file
   * row is inserted, or replaced when its path has a row already (a reprint).
   */
  recordGeneration(jobId: string, files: readonly NewFile[], generation: Record<string, unknown>, at: Date): Promise<void>;

  // files
  /** Inserts file rows as they are (bulk loads: bench, restore); fails whole on a duplicate path. */
  insertFiles(files: readonly NewFile[]): Promise<void>;
  filesOfJob(jobId: string): Promise<FileRecord[]>;
  /** One keyset page of files ordered by path in byte order. */
  filePage(query: FilePageQuery): Promise<FileRecord[]>;
  counts(): Promise<{ jobs: number; files: number; presentFiles: number }>;

  // stats
  aggregates(now: Date): Promise<CatalogAggregates>;

  // runs and events: the audit trail
  startRun(run: RunRecord): Promise<void>;
  finishRun(id: string, patch: Pick<RunRecord, 'status' | 'exitCode' | 'finishedAt' | 'totals'>): Promise<void>;
  recentRuns(limit: number, command?: string): Promise<RunRecord[]>;
  addEvents(events: readonly EventRecord[]): Promise<void>;

  // images (migrate-images-to-db)
  /** Of these source keys, those with an image (index 0) stored under source. */
  storedImageKeys(source: string, keys: readonly string[]): Promise<string[]>;
  /** Inserts images in one transaction, skipping any (source, key, index) already stored; returns how many were new. */
  insertImages(images: readonly NewImage[]): Promise<number>;
  /** SHA-256 of the bytes stored for these keys, computed from the data read back. */
  storedImageDigests(source: string, keys: readonly string[]): Promise<StoredDigest[]>;
  /**
   * Marks files (by path) with a state, in one transaction: 'deleting' before an unlink,
   * 'deleted' (with deleted_at and reason) after it.
   */
  markFiles(paths: readonly string[], state: 'deleting' | 'deleted', at: Date, reason: string): Promise<void>;
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

  // backup and restore
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
}

/** Iterates every file in path byte order, a page at a time, so memory stays flat. */
export async function* iterateFiles(
  catalog: Catalog,
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
