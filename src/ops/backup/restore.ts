// `storectl restore`: verify the whole archive while staging it under <root>/.storectl/,
// then move the staged tree into place and import the catalog in one transaction.
//
// Crash safety: nothing outside .storectl/ changes until the archive has been read whole and
// every hash compared. The commit is recorded first in <root>/.storectl/restore.json; a run
// that dies after that leaves the marker, and the next `restore` of the same archive finishes
// the job from the staged copy (moves what is not moved yet, imports if not imported yet).
import fs from 'node:fs';
import os from 'node:os';
import { pausePoint } from '../../test-hooks.ts';
import path from 'node:path';
import { removeTreeIn } from '../../storage/confined.ts';
import type { Context } from '../../context.ts';
import { DUMP_TABLES } from '../../db/dump.ts';
import { schemaVersion } from '../../db/migrations.ts';
import { FailedError, QuotaExceededError, UsageError, errorMessage, isFault } from '../../errors.ts';
import { isQuotaExceeded } from '../../db/usage.ts';
import { refuseOverQuota } from './restore-quota.ts';
import { parseDatabaseUrl } from '../../db/url.ts';
import type { ResolvedConfig } from '../../config.ts';
import type { Progress } from '../../progress.ts';
import { withStoreLock } from '../store-lock.ts';
import { relinkRecorded } from '../dedup.ts';
import { RESERVED_DIR } from '../../storage/layout.ts';
import { walkTree } from '../../storage/walk.ts';
import { verifyArchive, type VerifyResult } from './verify.ts';
import {
  alreadyImported,
  catalogNeedsSchema,
  refuseForeignTables,
  restoreReport,
  stagedImports,
  trialImport,
  type RestoreMarker,
  type RestoreOptions,
  type RestoreReport,
  type StagedResult,
  type TargetState,
  crashPoint,
  readMarkerFile,
  readyPath,
  writeMarkerFile,
} from './restore-common.ts';

export { trialImport, type RestoreOptions, type RestoreReport, type TargetState };






const markerPath = (root: string) => path.join(root, RESERVED_DIR, 'restore.json');
const readMarker = (root: string) => readMarkerFile<RestoreMarker>(markerPath(root));
const writeMarker = (root: string, marker: RestoreMarker) => writeMarkerFile(markerPath(root), marker);

/** What is in the target root and catalog now. */
export async function inspectTarget(ctx: Context): Promise<TargetState> {
  if (ctx.store.capabilities.kind !== 'local') return (await import('./restore-s3.ts')).inspectS3Target(ctx);
  const root = ctx.config.root;
  let treeEntries = 0;
  let treeSample: string | null = null;
  if (fs.existsSync(root)) {
    for (const d of fs.readdirSync(root)) if (d !== RESERVED_DIR) treeEntries++;
    for (const e of walkTree(root)) {
      treeSample = e.path;
      break;
    }
  }
  let rows: Record<string, number>;
  try {
    rows = await ctx.catalog.tableCounts();
  } catch {
    // No tables yet: a fresh database.
    rows = Object.fromEntries(DUMP_TABLES.map((t) => [t, 0]));
  }
  // Quotas set on a new store before its restore do not make it a store with content.
  const empty = treeEntries === 0 && Object.entries(rows).every(([t, n]) => n === 0 || t === 'quotas');
  return { root, catalog: ctx.catalog.location, dialect: ctx.catalog.dialect, empty, treeEntries, treeSample, rows, pending: readMarker(root) };
}

export async function runRestore(ctx: Context, opts: RestoreOptions, target?: TargetState): Promise<RestoreReport> {
  const started = Date.now();
  const archive = path.resolve(opts.archive);
  checkArchiveFile(archive);
  const state = target ?? (await inspectTarget(ctx));
  if (ctx.store.capabilities.kind !== 'local') return (await import('./restore-s3.ts')).runRestoreS3(ctx, opts, archive, state, started);
  const root = ctx.config.root;
  await refuseForeignTables(ctx);
  const locked = <T>(fn: () => Promise<T>) => withStoreLock(ctx, 'restore', opts.waitMs ?? 0, fn);

  if (state.pending && !opts.dryRun) {
    if (state.pending.archive !== archive || state.pending.archiveSize !== fs.statSync(archive).size) {
      throw new UsageError(
        `an unfinished restore of ${state.pending.archive} is pending in ${root}`,
        'rerun `storectl restore` with that archive to finish it',
        'restore_pending',
      );
    }
    if (await catalogNeedsSchema(ctx)) await ctx.catalog.migrate();
    const pending = state.pending;
    return locked(() => finish(ctx, pending, archive, started, true));
  }
  if (!state.empty && !opts.force && !opts.dryRun) {
    throw new UsageError(
      `the target store is not empty (${state.treeEntries} entries in ${root}${state.treeSample ? `, e.g. ${state.treeSample}` : ''}; ${state.rows.jobs ?? 0} jobs and ${state.rows.files ?? 0} files in ${state.catalog})`,
      'restore into an empty root and database, or pass --force to replace this store',
      'target_not_empty',
    );
  }

  removeStaleStaging(root);
  const staging = opts.dryRun
    ? fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-restore-'))
    : path.join(root, RESERVED_DIR, `restore-${ctx.runId}`);
  fs.mkdirSync(staging, { recursive: true, mode: 0o750 });
  let staged: StagedResult;
  try {
    const progress = ctx.progress('verify');
    const v = await verifyArchive(archive, {
      schemaVersion: schemaVersion(ctx.catalog.dialect),
      stage: { dir: staging, writeTree: !opts.dryRun },
      progress,
    });
    progress.done();
    staged = { format: v.format, head: v.head, summary: v.summary, files: v.files, bytes: v.bytes, tables: v.tables };
    // The catalog's own constraints (unique ids and paths, references), before anything moves.
    await trialImport(archive, staging, v.head);
  } catch (err) {
    removeTreeIn(path.dirname(staging), path.basename(staging));
    if (isFault(err)) {
      throw new FailedError(
        `restore stopped while staging ${archive} in ${staging}: ${errorMessage(err)}; nothing was restored and the staged copy was removed`,
        'free space (the staging copy needs about the size of the files) or fix the mount, then restore again',
        'io_failed',
      );
    }
    throw err;
  }
  if (opts.dryRun) {
    removeTreeIn(path.dirname(staging), path.basename(staging));
    return restoreReport(ctx, archive, staged, { dryRun: true, resumed: false, replaced: false, started });
  }
  try {
    // The schema first: a database that cannot take it fails here, before any file moves.
    if (await catalogNeedsSchema(ctx)) await ctx.catalog.migrate();
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw new FailedError(`cannot create the catalog schema in ${ctx.catalog.location}: ${errorMessage(err)}`, 'nothing was restored', 'restore_schema');
  }
  return locked(async () => {
    // Under the lock, the target must still be as inspected.
    const now = await inspectTarget(ctx);
    if (!now.empty && !opts.force) {
      fs.rmSync(staging, { recursive: true, force: true });
      throw new UsageError(`the target store ${root} is no longer empty: another run wrote to it`, 'nothing was restored; check what wrote there, then restore again', 'target_not_empty');
    }
    try {
      await refuseOverQuota(ctx, archive, staging, staged.head.tables.includes('quotas'));
    } catch (err) {
      fs.rmSync(staging, { recursive: true, force: true });
      throw err;
    }
    return commit(ctx, archive, staging, staged, started, !now.empty);
  });
}

async function commit(ctx: Context, archive: string, staging: string, staged: StagedResult, started: number, replace: boolean): Promise<RestoreReport> {
  const root = ctx.config.root;
  fs.writeFileSync(readyPath(staging), JSON.stringify(staged) + '\n', { mode: 0o600 });
  crashPoint('staged');
  const marker: RestoreMarker = {
    archive,
    archiveSize: fs.statSync(archive).size,
    staging,
    replace,
    phase: replace ? 'replacing' : 'moving',
    startedAt: new Date(started).toISOString(),
  };
  writeMarker(root, marker);
  return finish(ctx, marker, archive, started, false);
}

/** The commit: every step can be repeated after a crash, guided by the marker's phase. */
async function finish(ctx: Context, marker: RestoreMarker, archive: string, started: number, resumed: boolean): Promise<RestoreReport> {
  const root = ctx.config.root;
  const staging = marker.staging;
  let staged: StagedResult;
  try {
    staged = JSON.parse(fs.readFileSync(readyPath(staging), 'utf8')) as StagedResult;
  } catch (err) {
    throw new FailedError(`the staged restore in ${staging} is unreadable: ${errorMessage(err)}`, `remove ${markerPath(root)} and ${staging}, then restore again`);
  }
  const tree = path.join(staging, 'tree');
  const replaced = path.join(staging, 'replaced');

  if (marker.phase === 'replacing') {
    // The old data goes aside first (inside .storectl/, same file system: renames).
    fs.mkdirSync(replaced, { recursive: true, mode: 0o750 });
    for (const name of fs.readdirSync(root)) {
      if (name === RESERVED_DIR) continue;
      fs.renameSync(path.join(root, name), path.join(replaced, name));
    }
    marker.phase = 'moving';
    writeMarker(root, marker);
  }

  if (marker.phase === 'moving') {
    if (fs.existsSync(tree)) {
      for (const name of fs.readdirSync(tree)) {
        fs.renameSync(path.join(tree, name), path.join(root, name));
        crashPoint('moved-one');
      }
    }
    marker.phase = 'importing';
    writeMarker(root, marker);
  }
  crashPoint('moved');
  await pausePoint('restore-moved');

  if (!(await alreadyImported(ctx, staged))) {
    const imports = stagedImports(staging, staged.head);
    try {
      if (await catalogNeedsSchema(ctx)) await ctx.catalog.migrate();
    } catch (err) {
      throw new FailedError(
        `restore stopped before importing the catalog: ${errorMessage(err)}; the files are in place in ${root} and ${markerPath(root)} records the restore`,
        'run the same restore again once the catalog is back: it imports the rows and finishes',
      );
    }
    const event = {
      runId: ctx.runId,
      at: ctx.clock(),
      action: 'restore',
      path: null,
      jobId: null,
      bytes: staged.bytes,
      reason: `restored ${staged.files} files from ${path.basename(archive)} (backup of ${staged.head.createdAt})`,
    };
    try {
      await ctx.catalog.importTables(imports, { replace: marker.replace, events: [event] });
    } catch (err) {
      // The transaction rolled back: put the files back too, so the target is as it was.
      rollBackMoves(root, tree, replaced, marker.replace);
      fs.rmSync(markerPath(root), { force: true });
      removeTreeIn(path.dirname(staging), path.basename(staging));
      // The catalog's own quota check, should the one before the moves have been passed by a
      // writer in between (it cannot, under the lock, but the catalog is the authority).
      if (isQuotaExceeded(err)) throw new QuotaExceededError(`restore refused by the catalog: the archive's files would put an owner over its quota; the target is as it was`);
      throw new FailedError(`restore failed while importing the catalog; the target is as it was: ${errorMessage(err)}`);
    }
  }
  crashPoint('imported');
  // Names the catalog records as sharing content (put --on-duplicate link, dedup) share it on disk again.
  const relinked = await relinkRecorded(ctx);
  if (relinked) ctx.log.info(`linked ${relinked} restored files to the copy they share`);
  fs.rmSync(markerPath(root), { force: true });
  removeTreeIn(path.dirname(staging), path.basename(staging));
  return restoreReport(ctx, archive, staged, { dryRun: false, resumed, replaced: marker.replace, started });
}

/** restore reads the archive twice (its format, then its entries): a pipe or a device cannot be read so. */
export function checkArchiveFile(archive: string): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(archive, { throwIfNoEntry: false });
  } catch (err) {
    throw new UsageError(`cannot read the archive ${archive}: ${errorMessage(err)}`, 'nothing was restored', 'no_archive');
  }
  if (!st) throw new UsageError(`no archive at ${archive}`, 'name a backup written by `storectl backup`', 'no_archive');
  if (!st.isFile()) {
    const kind = st.isFIFO() ? 'a pipe' : st.isDirectory() ? 'a directory' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : 'not a regular file';
    throw new UsageError(
      `the archive ${archive} is ${kind}: restore needs a regular, seekable file (it reads the archive's head, then its entries)`,
      'save the stream to a file first (e.g. `cat > /tmp/store.tar.gz`), then restore that file; nothing was restored',
      'archive_not_seekable',
    );
  }
}




export interface VerifyOnlyReport {
  archive: string;
  ok: true;
  dryRun: boolean;
  format: VerifyResult['format'];
  head: VerifyResult['head'];
  files: number;
  bytes: number;
  tables: VerifyResult['tables'];
  skippedAtBackup: VerifyResult['summary']['skipped'];
}

/**
 * Does this restore open no store? `--verify-only` never does; a dry run into a SQLite store
 * that does not exist yet opens (and creates) nothing either.
 */
export function restoresWithoutStore(config: Pick<ResolvedConfig, 'databaseUrl' | 'root'>, opts: { verifyOnly: boolean; dryRun: boolean }): boolean {
  // The URL is parsed first, as for any restore: a bad --database is a usage error even with --verify-only.
  const target = parseDatabaseUrl(config.databaseUrl, config.root);
  if (opts.verifyOnly) return true;
  return opts.dryRun && target.dialect === 'sqlite' && !fs.existsSync(target.file);
}

/** `restore --verify-only`, or a dry run into no store: verify the archive and report, open nothing. */
export async function verifyOnlyRestore(archive: string, dryRun: boolean, progress: Progress): Promise<{ report: VerifyOnlyReport; verified: VerifyResult }> {
  const v = await verifyOnly(archive, progress);
  const report: VerifyOnlyReport = { archive, ok: true, dryRun, format: v.format, head: v.head, files: v.files, bytes: v.bytes, tables: v.tables, skippedAtBackup: v.summary.skipped };
  return { report, verified: v };
}

/** `restore --verify-only` (and a dry run into no store): every check a real restore makes, nothing kept. */
export async function verifyOnly(archive: string, progress: Progress): Promise<VerifyResult> {
  checkArchiveFile(archive);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-verify-'));
  try {
    const v = await verifyArchive(archive, { schemaVersion: schemaVersion(), stage: { dir: work, writeTree: false }, progress });
    await trialImport(archive, work, v.head);
    return v;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}



function rollBackMoves(root: string, tree: string, replaced: string, replace: boolean): void {
  fs.mkdirSync(tree, { recursive: true, mode: 0o750 });
  for (const name of fs.readdirSync(root)) {
    if (name !== RESERVED_DIR) fs.renameSync(path.join(root, name), path.join(tree, name));
  }
  if (replace && fs.existsSync(replaced)) {
    for (const name of fs.readdirSync(replaced)) fs.renameSync(path.join(replaced, name), path.join(root, name));
  }
}

/** Staging directories no marker points to are what a run killed before its commit left. */
function removeStaleStaging(root: string): void {
  const dir = path.join(root, RESERVED_DIR);
  if (!fs.existsSync(dir)) return;
  for (const name of fs.readdirSync(dir)) {
    if (name.startsWith('restore-')) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
  }
}

