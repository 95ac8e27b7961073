// What restore into a local tree and restore into an S3 store share: the options and report,
// the target's state, the staged result, the trial import and the catalog import's helpers.
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from '../../context.ts';
import { DUMP_TABLES, type DumpTable } from '../../db/dump.ts';
import { schemaVersion } from '../../db/migrations.ts';
import type { TableImport } from '../../db/types.ts';
import { FailedError, IntegrityError, UsageError, errorMessage } from '../../errors.ts';
import { writeFileAtomicSync } from '../../storage/atomic.ts';
import { openCatalog } from '../../db/connect.ts';
import type { ManifestHead, ManifestSummary, SkippedFile } from './manifest.ts';
import { stagedRows, type VerifyResult } from './verify.ts';

export interface RestoreMarker {
  archive: string;
  archiveSize: number;
  staging: string;
  replace: boolean;
  phase: 'replacing' | 'moving' | 'importing';
  startedAt: string;
}

export interface RestoreOptions {
  archive: string;
  dryRun: boolean;
  /** Replace a store that is not empty. */
  force: boolean;
  /** How long to wait for the store lock (0: exit 75 at once). */
  waitMs?: number;
}

export interface TargetState {
  root: string;
  catalog: string;
  dialect: string;
  empty: boolean;
  /** Entries at the top of the data tree (not .storectl/). */
  treeEntries: number;
  /** A file found in the tree, to name in a refusal. */
  treeSample: string | null;
  rows: Record<string, number>;
  /** An unfinished restore recorded in <root>/.storectl/restore.json. */
  pending: RestoreMarker | null;
}

export interface RestoreReport {
  archive: string;
  format: string;
  dryRun: boolean;
  resumed: boolean;
  replaced: boolean;
  source: { dialect: string; createdAt: string; tool: string; schemaVersion: number };
  schemaVersion: number;
  /** Set when the archive's schema was older: the rows were brought to this schema on import. */
  migratedFrom: number | null;
  files: number;
  bytes: number;
  tables: Record<string, number>;
  skippedAtBackup: SkippedFile[];
  durationMs: number;
  /** Into an S3 store: objects this run uploaded, and those an earlier (killed) run of the same restore had uploaded and were kept. */
  uploads?: { uploaded: number; kept: number };
}

export interface StagedResult {
  format: VerifyResult['format'];
  head: ManifestHead;
  summary: ManifestSummary;
  files: number;
  bytes: number;
  tables: Record<string, number>;
}

/** Another application's tables in the target catalog: refused before anything is moved or created. */
export async function refuseForeignTables(ctx: Context): Promise<void> {
  const foreign = await ctx.catalog.foreignTables();
  if (!foreign.length) return;
  throw new UsageError(
    `the target catalog ${ctx.catalog.location} holds tables that are not storectl's (${foreign.slice(0, 5).join(', ')}${foreign.length > 5 ? `, ... ${foreign.length} in all` : ''}): refusing to restore into it`,
    "restore into a database of storectl's own (an empty one); nothing was moved or changed",
    'target_foreign_tables',
  );
}

/**
 * Imports the staged catalog into a throwaway SQLite catalog of this schema: the checks the real
 * import makes (unique ids and paths, references, types), before anything is moved.
 */
export async function trialImport(archive: string, staging: string, head: ManifestHead): Promise<void> {
  const file = path.join(staging, 'trial-catalog.db');
  const trial = await openCatalog({ dialect: 'sqlite', file }, { create: true, migrate: 'auto' });
  try {
    await trial.importTables(stagedImports(staging, head), { replace: false });
  } catch (err) {
    throw new IntegrityError(`archive ${archive} cannot be imported: ${errorMessage(err)}`, 'nothing was restored; use another backup');
  } finally {
    await trial.close().catch(() => {});
    for (const suffix of ['', '-wal', '-shm', '-journal']) fs.rmSync(file + suffix, { force: true });
  }
}

export function stagedImports(staging: string, head: ManifestHead): TableImport[] {
  return head.tables
    .filter((t): t is DumpTable => (DUMP_TABLES as readonly string[]).includes(t))
    .map((table) => {
      const batches = stagedRows(path.join(staging, 'catalog', `${table}.ndjson`), table);
      return { table, batches: table === 'files' ? onHotTier(batches) : batches };
    });
}

/**
 * The archive holds every file's original bytes and restore puts them in the root: each file
 * row comes back on the hot tier, stored as is, nothing in flight (whatever tier it was on).
 */
function* onHotTier(batches: Iterable<Record<string, unknown>[]>): Generator<Record<string, unknown>[]> {
  for (const batch of batches) yield batch.map((r) => ({ ...r, tier: 'hot', tierTarget: null, encoding: null, storedSize: null, pack: null, packOffset: null }));
}

export async function catalogNeedsSchema(ctx: Context): Promise<boolean> {
  return (await ctx.catalog.migrationStatus()).some((m) => !m.applied);
}

/** After a crash between the import's commit and the cleanup: the rows are there already. */
export async function alreadyImported(ctx: Context, staged: StagedResult): Promise<boolean> {
  let rows: Record<string, number>;
  try {
    rows = await ctx.catalog.tableCounts();
  } catch {
    return false;
  }
  // An archive without quotas (written before backups carried them) leaves the target's as they are.
  return DUMP_TABLES.filter((t) => t !== 'quotas' || t in staged.tables).every((t) => rows[t] === (staged.tables[t] ?? 0) + (t === 'events' ? 1 : 0));
}

export function restoreReport(
  ctx: Context,
  archive: string,
  s: StagedResult,
  o: { dryRun: boolean; resumed: boolean; replaced: boolean; started: number },
): RestoreReport {
  const current = schemaVersion(ctx.catalog.dialect);
  return {
    archive,
    format: s.format,
    dryRun: o.dryRun,
    resumed: o.resumed,
    replaced: o.replaced,
    source: { dialect: s.head.source.dialect, createdAt: s.head.createdAt, tool: s.head.tool.version, schemaVersion: s.head.schemaVersion },
    schemaVersion: current,
    migratedFrom: s.head.schemaVersion < current ? s.head.schemaVersion : null,
    files: s.files,
    bytes: s.bytes,
    tables: s.tables,
    skippedAtBackup: s.summary.skipped,
    durationMs: Date.now() - o.started,
  };
}

/** Test hook: die abruptly at a named point, as a power cut or `kill -9` would. */
export function crashPoint(name: string): void {
  if (process.env.STORECTL_TEST_CRASH_AT === name) process.kill(process.pid, 'SIGKILL');
}

/** Where a staged restore says it is complete. */
export const readyPath = (staging: string) => path.join(staging, 'READY.json');

/** The restore marker in `file`, or null when there is none. */
export function readMarkerFile<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new FailedError(`cannot read ${file}: ${errorMessage(err)}`);
  }
}

export function writeMarkerFile(file: string, marker: object): void {
  writeFileAtomicSync(file, Buffer.from(JSON.stringify(marker, null, 2) + '\n'));
}
