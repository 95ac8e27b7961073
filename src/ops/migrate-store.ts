// migrate-store: copy every present file of the store to another backend (local <-> S3, S3 -> S3,
// local -> local), verify each copy's size and SHA-256 against the catalog, record each verified
// copy (a killed run resumes where it stopped), and switch the catalog's root once all are there.
import type { Context } from '../context.ts';
import { storeLocation, type MigratedFile } from '../db/store-location.ts';
import type { FileRecord } from '../db/types.ts';
import { UsageError, errorMessage } from '../errors.ts';
import type { BlobStore } from '../storage/blob.ts';
import { openBlobStore } from '../storage/open.ts';
import { hashingTap, sha256Stream } from '../storage/hash.ts';
import { mapPool } from './pool.ts';
import { createHash } from 'node:crypto';
import { buffer } from 'node:stream/consumers';

/** Files up to this size are read whole and sent with one PutObject (at most --parallel of them in memory). */
const SMALL_FILE = 4 << 20;
import { withStoreLock } from './store-lock.ts';

export interface MigrateStoreOptions {
  /** The target root (a directory or s3://BUCKET/PREFIX), as canonicalised by resolveRoot. */
  to: string;
  parallel: number;
  dryRun: boolean;
  deleteSource: boolean;
  waitMs: number;
  /** The --delete-source gate: asked once, before any source file goes. */
  confirm: (p: { files: number; bytes: number; from: string }) => Promise<boolean>;
}

export interface MigrateStoreReport {
  from: string;
  to: string;
  dryRun: boolean;
  files: number;
  bytes: number;
  /** Copied in this run (and verified). */
  copied: number;
  copiedBytes: number;
  /** Verified in an earlier (killed) run, or found at the target with the right content: not copied again. */
  alreadyThere: number;
  /** How the copies were checked: by the target on upload (x-amz-checksum-sha256, or while writing locally), or read back. */
  verified: { onUpload: number; readBack: number };
  failed: { path: string; error: string }[];
  /** Dry run: files that cannot be copied (missing or a different size at the source). */
  cannotCopy: { path: string; reason: string }[];
  /** The catalog now names `to` as the store's root. */
  switched: boolean;
  sourceDeleted: number;
  sourceDeleteFailed: { path: string; error: string }[];
  durationMs: number;
}

const PAGE = 500;
/** Verified copies are recorded in batches this large (a kill -9 re-checks at most this many). */
const RECORD_BATCH = 32;

async function* presentFiles(ctx: Context): AsyncGenerator<FileRecord[]> {
  let afterPath: string | undefined;
  for (;;) {
    const page = await ctx.catalog.filePage({ states: ['present'], afterPath, limit: PAGE });
    if (!page.length) return;
    yield page;
    afterPath = page[page.length - 1]!.path;
  }
}

export async function runMigrateStore(ctx: Context, opts: MigrateStoreOptions): Promise<MigrateStoreReport> {
  const started = Date.now();
  const from = ctx.store.url;
  const report: MigrateStoreReport = {
    from,
    to: opts.to,
    dryRun: opts.dryRun,
    files: 0,
    bytes: 0,
    copied: 0,
    copiedBytes: 0,
    alreadyThere: 0,
    verified: { onUpload: 0, readBack: 0 },
    failed: [],
    cannotCopy: [],
    switched: false,
    sourceDeleted: 0,
    sourceDeleteFailed: [],
    durationMs: 0,
  };
  if (opts.to === from) throw new UsageError(`--to ${opts.to} is the store's current root`, 'name another directory or bucket', 'usage');
  if (isInside(opts.to, from) || isInside(from, opts.to)) {
    throw new UsageError(`--to ${opts.to} and the store at ${from} overlap: one would contain the other`, 'name a root outside the store', 'usage');
  }
  const target = await openBlobStore(opts.to, () => ctx.config.s3.settings);
  try {
    const loc = storeLocation(ctx.catalog);
    const run = async () => {
      if ((await loc.migratedCount(opts.to)) === 0) await refuseForeignTarget(target);
      if (opts.dryRun) await planOnly(ctx, report, opts);
      else await copyAll(ctx, target, report, opts);
      if (opts.dryRun || report.failed.length) return;
      await loc.setRootUrl(opts.to, ctx.clock());
      report.switched = true;
      ctx.log.info('store root switched', { from, to: opts.to, files: report.files });
      if (opts.deleteSource) await deleteSource(ctx, report, opts);
      await loc.clearMigration(opts.to);
    };
    await (opts.dryRun ? run() : withStoreLock(ctx, 'migrate-store', opts.waitMs, run));
  } finally {
    await target.close();
  }
  report.durationMs = Date.now() - started;
  return report;
}

function isInside(a: string, b: string): boolean {
  const dir = b.endsWith('/') ? b : `${b}/`;
  return a.startsWith(dir);
}

/** A fresh migration goes to an empty target: a bucket or directory holding files is someone else's store. */
async function refuseForeignTarget(target: BlobStore): Promise<void> {
  for await (const page of target.list({ pageSize: 1 })) {
    if (page.length) {
      throw new UsageError(`the target ${target.url} is not empty (it holds ${page[0]!.key}, ...)`, 'migrate into an empty directory, bucket or prefix', 'target_not_empty');
    }
  }
}

async function planOnly(ctx: Context, report: MigrateStoreReport, opts: MigrateStoreOptions): Promise<void> {
  const progress = ctx.progress('checking', (await ctx.catalog.counts()).presentFiles);
  for await (const page of presentFiles(ctx)) {
    const done = await storeLocation(ctx.catalog).migratedPaths(opts.to, page.map((f) => f.path));
    await mapPool(page, opts.parallel, async (f) => {
      report.files++;
      report.bytes += f.size;
      if (done.has(f.path)) report.alreadyThere++;
      const st = await ctx.store.stat(f.path).catch((err: unknown) => ({ error: errorMessage(err) }));
      if (!st) report.cannotCopy.push({ path: f.path, reason: 'missing at the source' });
      else if ('error' in st) report.cannotCopy.push({ path: f.path, reason: st.error });
      else if (st.kind !== 'file') report.cannotCopy.push({ path: f.path, reason: `not a regular file (${st.kind})` });
      else if (st.size !== f.size) report.cannotCopy.push({ path: f.path, reason: `size ${st.size}, the catalog says ${f.size}` });
      progress.tick();
    });
  }
  progress.done();
}

async function copyAll(ctx: Context, target: BlobStore, report: MigrateStoreReport, opts: MigrateStoreOptions): Promise<void> {
  const loc = storeLocation(ctx.catalog);
  const progress = ctx.progress('copying', (await ctx.catalog.counts()).presentFiles);
  let pending: MigratedFile[] = [];
  const flush = async () => {
    const batch = pending;
    pending = [];
    await loc.recordMigrated(opts.to, batch, ctx.clock());
  };
  for await (const page of presentFiles(ctx)) {
    const done = await loc.migratedPaths(opts.to, page.map((f) => f.path));
    await mapPool(page, opts.parallel, async (f) => {
      report.files++;
      report.bytes += f.size;
      try {
        const result = await copyOne(ctx, target, f, done.get(f.path));
        if (result.kind === 'already') report.alreadyThere++;
        else {
          if (result.kind === 'adopted') report.alreadyThere++;
          else {
            report.copied++;
            report.copiedBytes += f.size;
            report.verified[result.by]++;
          }
          pending.push({ path: f.path, size: f.size, sha256: f.sha256, identity: result.identity });
          if (pending.length >= RECORD_BATCH) await flush();
        }
      } catch (err) {
        report.failed.push({ path: f.path, error: errorMessage(err) });
      }
      progress.tick();
    });
  }
  await flush();
  progress.done();
}

type CopyResult = { kind: 'already' } | { kind: 'adopted'; identity: string } | { kind: 'copied'; identity: string; by: 'onUpload' | 'readBack' };

async function copyOne(ctx: Context, target: BlobStore, f: FileRecord, recorded: MigratedFile | undefined): Promise<CopyResult> {
  const there = await target.stat(f.path);
  if (there && recorded && there.identity === recorded.identity && there.size === f.size && recorded.sha256 === f.sha256) return { kind: 'already' };
  if (there && there.size === f.size) {
    // Copied by a run killed before it recorded the copy: read it back instead of copying again.
    const back = await sha256Stream(await target.get(f.path));
    if (back.sha256 === f.sha256 && back.size === f.size) return { kind: 'adopted', identity: there.identity };
  }
  if (f.size <= SMALL_FILE) return copySmall(ctx, target, f);
  // The source is hashed as it streams: a source that does not match the catalog is not migrated.
  const src = hashingTap();
  const input = await ctx.store.get(f.path);
  input.on('error', (err) => src.tap.destroy(err));
  const put = await target.put(f.path, input.pipe(src.tap), { sha256: f.sha256, contentType: f.contentType });
  const srcSum = src.digest();
  const srcSize = src.bytes();
  if (srcSum !== f.sha256 || srcSize !== f.size) {
    await target.remove(f.path);
    throw new Error(`the source does not match the catalog (size ${srcSize}, sha256 ${srcSum.slice(0, 12)}…; catalog ${f.size}, ${f.sha256.slice(0, 12)}…): not migrated`);
  }
  if (put.size !== f.size) throw new Error(`the copy has ${put.size} bytes, the catalog ${f.size}`);
  if (put.checksumVerified) return { kind: 'copied', identity: put.identity, by: 'onUpload' };
  const back = await sha256Stream(await target.get(f.path));
  if (back.sha256 !== f.sha256 || back.size !== f.size) {
    await target.remove(f.path);
    throw new Error(`the copy read back does not match (size ${back.size}, sha256 ${back.sha256.slice(0, 12)}…)`);
  }
  return { kind: 'copied', identity: put.identity, by: 'readBack' };
}

/**
 * A file up to SMALL_FILE: read whole and checked against the catalog before anything is sent
 * (nothing to remove when the source is bad), then one PutObject carrying the SHA-256 and no
 * HEAD after it (the bench's profile: four requests a file, bench/results/s3.md); read back
 * unless the server checked the SHA-256 on upload.
 */
async function copySmall(ctx: Context, target: BlobStore, f: FileRecord): Promise<CopyResult> {
  const data = await buffer(await ctx.store.get(f.path));
  const srcSum = createHash('sha256').update(data).digest('hex');
  if (srcSum !== f.sha256 || data.length !== f.size) {
    throw new Error(`the source does not match the catalog (size ${data.length}, sha256 ${srcSum.slice(0, 12)}…; catalog ${f.size}, ${f.sha256.slice(0, 12)}…): not migrated`);
  }
  const put = await target.put(f.path, data, { sha256: f.sha256, contentType: f.contentType, noHeadAfter: true });
  if (put.checksumVerified && put.size === f.size) return { kind: 'copied', identity: put.identity, by: 'onUpload' };
  const back = await sha256Stream(await target.get(f.path));
  if (back.sha256 !== f.sha256 || back.size !== f.size) {
    await target.remove(f.path);
    throw new Error(`the copy read back does not match (size ${back.size}, sha256 ${back.sha256.slice(0, 12)}…)`);
  }
  return { kind: 'copied', identity: put.identity, by: 'readBack' };
}

/** After the switch: the old copies go, each re-checked (still the catalog's size) just before. */
async function deleteSource(ctx: Context, report: MigrateStoreReport, opts: MigrateStoreOptions): Promise<void> {
  if (!(await opts.confirm({ files: report.files, bytes: report.bytes, from: report.from }))) return;
  for await (const page of presentFiles(ctx)) {
    const keys: string[] = [];
    await mapPool(page, opts.parallel, async (f) => {
      const st = await ctx.store.stat(f.path).catch(() => null);
      if (st && st.kind === 'file' && st.size === f.size) keys.push(f.path);
    });
    for (const r of await ctx.store.removeMany(keys)) {
      if (r.ok) report.sourceDeleted++;
      else report.sourceDeleteFailed.push({ path: r.key, error: r.error ?? 'failed' });
    }
  }
  await ctx.catalog.addEvents([
    {
      runId: ctx.runId,
      at: ctx.clock(),
      action: 'migrate-store.delete-source',
      path: report.from,
      jobId: null,
      bytes: report.bytes,
      reason: `moved to ${report.to}: ${report.sourceDeleted} source files removed`,
    },
  ]);
}
