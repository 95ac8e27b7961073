// `storectl restore` into an S3 store: the same archive, verified the same way (read whole,
// every hash compared, a trial import) while staged in a local directory; then, under the store
// lock, every staged file uploaded as an object (whole or not at all: PutObject carrying the
// SHA-256 up to 8 MiB, multipart above; the stored size checked) and the catalog imported in
// one transaction. The staging lives in a local state directory named after the store
// (STORECTL_STATE_DIR, else $XDG_STATE_HOME/storectl, else ~/.local/state/storectl); the marker
// in the bucket (.storectl/restore.json under the prefix). A run killed after the marker is
// written is finished by the same restore: objects already uploaded are kept, the rest
// uploaded, the rows imported if they are not yet. A failed import removes the objects it
// uploaded (the target was an empty prefix), so the store is as it was. restore --force into a
// store that is not empty uploads every object (over what is there), imports the rows replacing
// the catalog's, then removes the objects the archive does not hold through S3Target's gate.
// What a run has uploaded is journaled beside its staging (UploadJournal), so a killed run,
// --force or not, resumes at the next object without asking the bucket.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Context } from '../../context.ts';
import type { Progress } from '../../progress.ts';
import { DUMP_TABLES } from '../../db/dump.ts';
import { schemaVersion } from '../../db/migrations.ts';
import { FailedError, QuotaExceededError, UsageError, errorMessage, isFault } from '../../errors.ts';
import { isQuotaExceeded } from '../../db/usage.ts';
import { inParallel } from '../../storage/blob.ts';
import { walkTree } from '../../storage/walk.ts';
import { listedState } from '../../storage/walk-chunks.ts';
import { pausePoint } from '../../test-hooks.ts';
import { withStoreLock } from '../store-lock.ts';
import { Limiter } from '../pool.ts';
import { S3Target } from '../lifecycle/s3-target.ts';
import type { PlannedRemoval } from '../lifecycle/gate.ts';
import type { S3BlobStore } from '../../storage/s3/s3-blob-store.ts';
import { RESERVED_DIR } from '../../storage/layout.ts';
import { refuseOverQuota } from './restore-quota.ts';
import { verifyArchive } from './verify.ts';
import {
  alreadyImported,
  catalogNeedsSchema,
  refuseForeignTables,
  restoreReport,
  stagedImports,
  trialImport,
  type RestoreOptions,
  type RestoreReport,
  type StagedResult,
  type TargetState,
  crashPoint,
  readyPath,
} from './restore-common.ts';

interface S3RestoreMarker {
  archive: string;
  archiveSize: number;
  store: string;
  staging: string;
  phase: 'uploading' | 'importing';
  startedAt: string;
  /** restore --force into a store that was not empty: objects overwritten, rows replaced, the rest removed. */
  replace?: boolean;
  /** The machine that staged it (for messages; the staging directory is local to it). */
  host?: string;
}

/** Up to this size an object is one PutObject (with the SHA-256 where the server checks it); above, multipart. */
const SINGLE_PUT = 8 << 20;
/** Uploads in flight. */
const UPLOADS = 8;
const BATCH = 256;

/** The local directory holding an S3 store's restore staging and marker. */
export function s3RestoreDir(storeUrl: string, env: NodeJS.ProcessEnv = process.env): string {
  const base = env.STORECTL_STATE_DIR || path.join(env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state'), 'storectl');
  return path.join(base, 'restore', createHash('sha256').update(storeUrl).digest('hex').slice(0, 16));
}

/**
 * The marker lives where the store lives: the object .storectl/restore.json under the store's
 * prefix (S3BlobStore.readReserved), so that a restore killed on one machine is finished, or a
 * restore of another archive refused, from any machine. The staging stays local; a resume that
 * does not find it (another machine, a wiped state directory) stages the archive again.
 */
const MARKER = 'restore.json';
const markerFile = (_dir: string) => `.storectl/${MARKER} in the store`;
const s3Of = (ctx: Context) => ctx.store as unknown as S3BlobStore;
async function readMarker(ctx: Context): Promise<S3RestoreMarker | null> {
  const b = await s3Of(ctx).readReserved(MARKER);
  if (!b) return null;
  try {
    return JSON.parse(b.toString('utf8')) as S3RestoreMarker;
  } catch (err) {
    throw new FailedError(`cannot read the restore marker .storectl/${MARKER} in ${ctx.store.url}: ${errorMessage(err)}`);
  }
}
const writeMarker = (ctx: Context, m: S3RestoreMarker) => s3Of(ctx).writeReserved(MARKER, Buffer.from(JSON.stringify(m, null, 2) + '\n'));
const removeMarker = (ctx: Context) => s3Of(ctx).removeReserved(MARKER);

/** What is in the target prefix and catalog now (the first listing page is enough to tell empty). */
export async function inspectS3Target(ctx: Context): Promise<TargetState> {
  let treeEntries = 0;
  let treeSample: string | null = null;
  for await (const page of ctx.store.list({ pageSize: 1000 })) {
    treeEntries = page.length;
    treeSample = page[0]?.key ?? null;
    break;
  }
  let rows: Record<string, number>;
  try {
    rows = await ctx.catalog.tableCounts();
  } catch {
    rows = Object.fromEntries(DUMP_TABLES.map((t) => [t, 0]));
  }
  const empty = treeEntries === 0 && Object.entries(rows).every(([t, n]) => n === 0 || t === 'quotas');
  const marker = await readMarker(ctx);
  return {
    root: ctx.store.url,
    catalog: ctx.catalog.location,
    dialect: ctx.catalog.dialect,
    empty,
    treeEntries,
    treeSample,
    rows,
    pending: marker ? { archive: marker.archive, archiveSize: marker.archiveSize, staging: marker.staging, replace: marker.replace ?? false, phase: 'moving', startedAt: marker.startedAt } : null,
  };
}

export async function runRestoreS3(ctx: Context, opts: RestoreOptions, archive: string, state: TargetState, started: number): Promise<RestoreReport> {
  const dir = s3RestoreDir(ctx.store.url);
  const url = ctx.store.url;
  await refuseForeignTables(ctx);
  const locked = <T>(fn: () => Promise<T>) => withStoreLock(ctx, 'restore', opts.waitMs ?? 0, fn);
  const pending = await readMarker(ctx);
  if (pending && !opts.dryRun) {
    if (pending.archive !== archive || pending.archiveSize !== fs.statSync(archive).size) {
      throw new UsageError(`an unfinished restore of ${pending.archive} is pending for ${url} (${markerFile(dir)})`, 'rerun `storectl restore` with that archive to finish it', 'restore_pending');
    }
    if (await catalogNeedsSchema(ctx)) await ctx.catalog.migrate();
    if (!fs.existsSync(readyPath(pending.staging))) {
      // Begun on another machine (or its staging is gone): the same archive, verified and staged again here.
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const staging = path.join(dir, `restore-${ctx.runId}`);
      fs.mkdirSync(staging, { recursive: true, mode: 0o700 });
      const progress = ctx.progress('verify');
      const v = await verifyArchive(archive, { schemaVersion: schemaVersion(ctx.catalog.dialect), stage: { dir: staging, writeTree: true }, progress });
      progress.done();
      const restaged: StagedResult = { format: v.format, head: v.head, summary: v.summary, files: v.files, bytes: v.bytes, tables: v.tables };
      fs.writeFileSync(readyPath(staging), JSON.stringify(restaged) + '\n', { mode: 0o600 });
      pending.staging = staging;
      pending.host = os.hostname();
      await writeMarker(ctx, pending);
    }
    return locked(() => finish(ctx, dir, pending, started, true));
  }
  if (!state.empty && !opts.dryRun && !opts.force) {
    throw new UsageError(
      `the target store is not empty (${state.treeEntries}${state.treeEntries === 1000 ? '+' : ''} objects under ${url}${state.treeSample ? `, e.g. ${state.treeSample}` : ''}; ${state.rows.jobs ?? 0} jobs and ${state.rows.files ?? 0} files in ${state.catalog})`,
      'restore into an empty prefix and database, or pass --force to replace this store; nothing was changed',
      'target_not_empty',
    );
  }
  if (!opts.dryRun) removeStaleStaging(dir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const staging = opts.dryRun ? fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-restore-')) : path.join(dir, `restore-${ctx.runId}`);
  fs.mkdirSync(staging, { recursive: true, mode: 0o700 });
  let staged: StagedResult;
  try {
    const progress = ctx.progress('verify');
    const v = await verifyArchive(archive, { schemaVersion: schemaVersion(ctx.catalog.dialect), stage: { dir: staging, writeTree: !opts.dryRun }, progress });
    progress.done();
    staged = { format: v.format, head: v.head, summary: v.summary, files: v.files, bytes: v.bytes, tables: v.tables };
    await trialImport(archive, staging, v.head);
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    if (isFault(err)) {
      throw new FailedError(
        `restore stopped while staging ${archive} in ${staging}: ${errorMessage(err)}; nothing was restored and the staged copy was removed`,
        'free space there (the staging copy needs about the size of the files; STORECTL_STATE_DIR moves it), then restore again',
        'io_failed',
      );
    }
    throw err;
  }
  if (opts.dryRun) {
    fs.rmSync(staging, { recursive: true, force: true });
    return restoreReport(ctx, archive, staged, { dryRun: true, resumed: false, replaced: false, started });
  }
  try {
    if (await catalogNeedsSchema(ctx)) await ctx.catalog.migrate();
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw new FailedError(`cannot create the catalog schema in ${ctx.catalog.location}: ${errorMessage(err)}`, 'nothing was restored', 'restore_schema');
  }
  return locked(async () => {
    const now = await inspectS3Target(ctx);
    if (!now.empty && !opts.force) {
      fs.rmSync(staging, { recursive: true, force: true });
      throw new UsageError(`the target store ${url} is no longer empty: another run wrote to it`, 'nothing was restored; check what wrote there, then restore again', 'target_not_empty');
    }
    try {
      await refuseOverQuota(ctx, archive, staging, staged.head.tables.includes('quotas'));
    } catch (err) {
      fs.rmSync(staging, { recursive: true, force: true });
      throw err;
    }
    fs.writeFileSync(readyPath(staging), JSON.stringify(staged) + '\n', { mode: 0o600 });
    crashPoint('staged');
    const marker: S3RestoreMarker = { archive, archiveSize: fs.statSync(archive).size, store: url, staging, phase: 'uploading', startedAt: new Date(started).toISOString(), replace: !now.empty, host: os.hostname() };
    await writeMarker(ctx, marker);
    return finish(ctx, dir, marker, started, false);
  });
}

/** Staged files in batches, in walk order. */
function* stagedKeys(tree: string): Generator<string[]> {
  if (!fs.existsSync(tree)) return;
  let batch: string[] = [];
  for (const e of walkTree(tree, { sorted: true })) {
    if (e.kind !== 'file') continue;
    batch.push(e.path);
    if (batch.length >= BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length) yield batch;
}

async function finish(ctx: Context, dir: string, marker: S3RestoreMarker, started: number, resumed: boolean): Promise<RestoreReport> {
  const staging = marker.staging;
  let staged: StagedResult;
  try {
    staged = JSON.parse(fs.readFileSync(readyPath(staging), 'utf8')) as StagedResult;
  } catch (err) {
    throw new FailedError(`the staged restore in ${staging} is unreadable: ${errorMessage(err)}`, `remove ${markerFile(dir)} and ${staging}, then restore again`);
  }
  const tree = path.join(staging, 'tree');
  const uploads = { uploaded: 0, kept: 0 };
  if (marker.phase === 'uploading') {
    const progress = ctx.progress('uploading', staged.files);
    const journal = UploadJournal.open(staging);
    // Without this staging's journal, a resumed run (restaged on another machine) asks the
    // bucket what the earlier run uploaded; replacing a store, it cannot tell (an object of the
    // staged size may be the old content) and uploads everything.
    const askBucket = resumed && !journal.existed && !marker.replace;
    try {
      await uploadStaged(ctx, dir, tree, journal, askBucket, uploads, progress);
    } finally {
      journal.close();
    }
    progress.done();
    if (uploads.kept) ctx.log.info(`kept ${uploads.kept} objects an earlier run of this restore uploaded; uploaded ${uploads.uploaded}`);
    marker.phase = 'importing';
    await writeMarker(ctx, marker);
  }
  crashPoint('moved');
  await pausePoint('restore-moved');

  if (!(await alreadyImported(ctx, staged))) {
    try {
      if (await catalogNeedsSchema(ctx)) await ctx.catalog.migrate();
    } catch (err) {
      throw new FailedError(
        `restore stopped before importing the catalog: ${errorMessage(err)}; the objects are in ${ctx.store.url} and ${markerFile(dir)} records the restore`,
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
      reason: `restored ${staged.files} files from ${path.basename(marker.archive)} (backup of ${staged.head.createdAt}) into ${ctx.store.url}`,
    };
    try {
      await ctx.catalog.importTables(stagedImports(staging, staged.head), { replace: marker.replace ?? false, events: [event] });
    } catch (err) {
      if (marker.replace) {
        // The old objects were overwritten already: the old catalog cannot be put back. The marker stays.
        throw new FailedError(
          `restore --force failed while importing the catalog: ${errorMessage(err)}; the archive's objects are in ${ctx.store.url} and ${markerFile(dir)} records the restore`,
          'run the same restore again once the catalog is back: it imports the rows and finishes',
        );
      }
      // The transaction rolled back: remove the objects this restore uploaded (the prefix was empty).
      for (const keys of stagedKeys(tree)) await ctx.store.removeMany(keys);
      await removeMarker(ctx);
      fs.rmSync(staging, { recursive: true, force: true });
      if (isQuotaExceeded(err)) throw new QuotaExceededError(`restore refused by the catalog: the archive's files would put an owner over its quota; the target is as it was`);
      throw new FailedError(`restore failed while importing the catalog; the target is as it was: ${errorMessage(err)}`);
    }
  }
  crashPoint('imported');
  if (marker.replace) await removeUnarchived(ctx, dir, tree);
  await removeMarker(ctx);
  fs.rmSync(staging, { recursive: true, force: true });
  return { ...restoreReport(ctx, marker.archive, staged, { dryRun: false, resumed, replaced: marker.replace ?? false, started }), uploads };
}

/** Every staged file to its object, a batch at a time, skipping what the journal says is in. */
async function uploadStaged(
  ctx: Context,
  dir: string,
  tree: string,
  journal: UploadJournal,
  askBucket: boolean,
  uploads: { uploaded: number; kept: number },
  progress: Progress,
): Promise<void> {
  let first = true;
  let batchNo = 0;
  for (const keys of stagedKeys(tree)) {
    const failures = await inParallel(keys, UPLOADS, async (key) => {
      if (journal.done(batchNo, key)) {
        uploads.kept++;
        return null;
      }
      try {
        if (await uploadOne(ctx, tree, key, askBucket)) uploads.uploaded++;
        else uploads.kept++;
        journal.uploaded(key);
        if (first) {
          first = false;
          crashPoint('moved-one');
        }
        return null;
      } catch (err) {
        return `${key}: ${errorMessage(err)}`;
      }
    });
    const failed = failures.filter((f): f is string => f !== null);
    if (failed.length) {
      throw new FailedError(
        `restore stopped while uploading to ${ctx.store.url}: ${failed[0]}${failed.length > 1 ? ` (and ${failed.length - 1} more)` : ''}; the catalog is untouched and ${markerFile(dir)} records the restore`,
        'run the same restore again: objects already uploaded are kept, the rest uploaded, then the catalog imported',
      );
    }
    journal.batchDone(++batchNo);
    progress.tick(keys.length);
  }
}

/**
 * One staged file to its object; true when it was uploaded (and the stored size checked).
 * With `askBucket`, an object already there with the staged size is what an earlier run of
 * this restore uploaded (the prefix was empty when it began; puts are whole or nothing): kept.
 */
async function uploadOne(ctx: Context, tree: string, key: string, askBucket: boolean): Promise<boolean> {
  const file = path.join(tree, ...key.split('/'));
  const size = fs.statSync(file).size;
  if (askBucket) {
    const there = await ctx.store.stat(key);
    if (there && there.size === size) return false;
  }
  const data = size <= SINGLE_PUT ? fs.readFileSync(file) : fs.createReadStream(file, { highWaterMark: 1 << 20 });
  const sha256 = data instanceof Buffer ? createHash('sha256').update(data).digest('hex') : undefined;
  const put = await ctx.store.put(key, data, { sha256 });
  if (put.size !== size) throw new Error(`the store holds ${put.size} bytes after the upload, not ${size}`);
  return true;
}

/**
 * What this staging has uploaded, in `uploads.log` beside it: a line `K <key as JSON>` written
 * after each object's upload returned, and `B <n>` once the first n batches of the staged walk
 * (sorted, the same every run) are all in. A resumed run skips those batches whole and the keys
 * listed after the last `B` line, without asking the bucket; so a killed `restore --force`
 * resumes where it stopped instead of uploading every object again. A line is written only after
 * its upload, so the journal may miss an upload (it is then repeated) but never claims one; a
 * torn last line is ignored. Memory: the keys of one batch.
 */
class UploadJournal {
  private constructor(
    private fd: number | undefined,
    readonly existed: boolean,
    private readonly batches: number,
    private readonly inFlight: Set<string>,
  ) {}

  static open(staging: string): UploadJournal {
    const file = path.join(staging, 'uploads.log');
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    let batches = 0;
    let inFlight = new Set<string>();
    const lines = text.split('\n');
    lines.pop(); // the part after the last newline: empty, or a torn line
    for (const line of lines) {
      if (line.startsWith('B ')) {
        batches = Number(line.slice(2));
        inFlight = new Set();
      } else if (line.startsWith('K ')) {
        try {
          inFlight.add(JSON.parse(line.slice(2)) as string);
        } catch {
          // a line torn by a power cut: that upload is repeated
        }
      }
    }
    return new UploadJournal(fs.openSync(file, 'a', 0o600), text.length > 0, batches, inFlight);
  }

  /** Whether batch `batchNo` (counted from 0) of the walk had `key` uploaded by an earlier run. */
  done(batchNo: number, key: string): boolean {
    return batchNo < this.batches || (batchNo === this.batches && this.inFlight.has(key));
  }

  uploaded(key: string): void {
    fs.writeSync(this.fd!, `K ${JSON.stringify(key)}\n`);
  }

  batchDone(n: number): void {
    fs.writeSync(this.fd!, `B ${n}\n`);
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * restore --force, after the import: the objects under the prefix the archive does not hold
 * (what the replaced store had) go through the deletion gate of S3 stores (S3Target: the key
 * confined to the prefix, re-checked against what the listing saw, DeleteObjects with per-key
 * results). Run again by a resumed restore until none is left; a key that cannot be removed
 * fails the run and keeps the marker.
 */
async function removeUnarchived(ctx: Context, dir: string, tree: string): Promise<void> {
  const batch = new S3Target(ctx.store, false).batch();
  const slots = new Limiter(1);
  const failed: string[] = [];
  let removed = 0;
  const flush = async (work: PlannedRemoval[]) => {
    if (!work.length) return;
    const r = await batch.removePlanned(work, slots);
    r.results.forEach((x, i) => {
      if (x.outcome === 'deleted' || x.outcome === 'gone') removed++;
      else failed.push(`${work[i]!.path}: ${'reason' in x ? x.reason : x.outcome}`);
    });
  };
  let work: PlannedRemoval[] = [];
  for await (const page of ctx.store.list({ pageSize: 1000 })) {
    for (const e of page) {
      if (e.key === RESERVED_DIR || e.key.startsWith(`${RESERVED_DIR}/`)) continue;
      const staged = fs.lstatSync(path.join(tree, ...e.key.split('/')), { throwIfNoEntry: false });
      if (staged?.isFile()) continue;
      work.push({ path: e.key, expect: listedState(e) });
    }
    // Removed after the page is read: the listing goes on from its continuation token.
    await flush(work);
    work = [];
  }
  batch.close();
  if (removed) ctx.log.info(`removed ${removed} objects of the replaced store that the archive does not hold`);
  if (failed.length) {
    throw new FailedError(
      `restore --force imported the archive but could not remove ${failed.length} objects of the replaced store: ${failed[0]}${failed.length > 1 ? ` (and ${failed.length - 1} more)` : ''}; ${markerFile(dir)} records the restore`,
      'run the same restore again: it removes what is left',
    );
  }
}

/** Staging directories no marker points to are what a run killed before its commit left. */
function removeStaleStaging(dir: string): void {
  if (!fs.existsSync(dir)) return;
  for (const name of fs.readdirSync(dir)) {
    if (name.startsWith('restore-')) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
  }
}
