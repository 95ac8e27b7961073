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
  NewJob,
  RunRecord,
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
