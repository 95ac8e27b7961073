// migrate-store: copy every present file of the store to another backend (local <-> S3, S3 -> S3,
// local -> local), verify each copy's size and SHA-256 against the catalog, record each verified
// copy (a killed run resumes where it stopped), and switch the catalog's root once all are there.
import type { Context } from '../context.ts';
import { storeLocation, type MigratedFile } from '../db/store-location.ts';
import type { FileRecord } from '../db/types.ts';
import { UsageError, errorMessage } from '../errors.ts';
import type { BlobEntry, BlobStore } from '../storage/blob.ts';
import { etagIsMd5Of } from '../storage/etag.ts';
import { compareBytewise } from '../bytewise.ts';
import { openBlobStore } from '../storage/open.ts';
import { hashingTap, sha256Stream } from '../storage/hash.ts';
import { Budget, Limiter, mapPool } from './pool.ts';
import { createHash } from 'node:crypto';
import { buffer } from 'node:stream/consumers';

/** Files up to this size are read whole and sent with one PutObject (at most --parallel of them in memory). */
const SMALL_FILE = 4 << 20;
import { withStoreLock } from './store-lock.ts';
import { timed } from '../profile.ts';

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
  /**
   * How the copies were checked: by the target against the SHA-256 on upload (x-amz-checksum-sha256,
   * or while writing locally); by the PUT's ETag being the MD5 of the bytes sent (S3, one PutObject;
   * those bytes were checked against the catalog's SHA-256 first); or read back.
   */
  verified: { onUpload: number; etag: number; readBack: number };
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
    const page = await timed('catalog: file page', () => ctx.catalog.filePage({ states: ['present'], afterPath, limit: PAGE }));
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
    verified: { onUpload: 0, etag: 0, readBack: 0 },
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
    await timed('catalog: record verified copies', () => loc.recordMigrated(opts.to, batch, ctx.clock()), () => batch.length);
  };
  const lanes: Lanes = { transfers: new Limiter(opts.parallel), memory: new Budget(opts.parallel * SMALL_FILE) };
  // Read-ahead lanes only where reading is local (readWhole): from S3, a read is a transfer too.
  const lanesInFlight = ctx.store.readWhole ? 2 * opts.parallel : opts.parallel;
  let afterPath: string | undefined;
  for await (const page of presentFiles(ctx)) {
    const done = await timed('catalog: recorded copies of the page', () => loc.migratedPaths(opts.to, page.map((f) => f.path)));
    const there = await timed('target: list the page', () => targetEntries(target, page, afterPath), (m) => m.size);
    afterPath = page[page.length - 1]!.path;
    await mapPool(page, lanesInFlight, async (f) => {
      report.files++;
      report.bytes += f.size;
      try {
        const result = await copyOne(ctx, target, lanes, f, done.get(f.path), there.get(f.path));
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

/**
 * What the target already holds of one catalog page: its listing from just after the previous
 * page's last path up to this page's last (the catalog's C-collated order is the listing's byte
 * order), instead of a HEAD per file. One ListObjectsV2 per page on S3, none of a file's own.
 * Only the page's own paths are kept (memory bounded by the page).
 */
async function targetEntries(target: BlobStore, page: readonly FileRecord[], afterPath: string | undefined): Promise<Map<string, BlobEntry>> {
  const wanted = new Set(page.map((f) => f.path));
  const last = page[page.length - 1]!.path;
  const out = new Map<string, BlobEntry>();
  for await (const entries of target.list({ startAfter: afterPath, pageSize: PAGE })) {
    for (const e of entries) {
      const order = compareBytewise(e.key, last);
      if (order > 0) return out;
      if (wanted.has(e.key)) out.set(e.key, e);
      if (order === 0) return out;
    }
  }
  return out;
}

type Verified = 'onUpload' | 'etag' | 'readBack';
type CopyResult = { kind: 'already' } | { kind: 'adopted'; identity: string } | { kind: 'copied'; identity: string; by: Verified };

/**
 * The transfers: at most --parallel requests to the target in flight (PUTs, read-backs); a
 * local source's small files are read ahead of them by as many lanes again, within a memory
 * budget of --parallel small files, so that no transfer waits for the source's disk (the
 * profile: a small file's read took half as long as its PUT, under load, on the same lane).
 */
interface Lanes {
  transfers: Limiter;
  memory: Budget;
}

async function copyOne(ctx: Context, target: BlobStore, lanes: Lanes, f: FileRecord, recorded: MigratedFile | undefined, there: BlobEntry | undefined): Promise<CopyResult> {
  if (there && recorded && there.identity === recorded.identity && there.size === f.size && recorded.sha256 === f.sha256) return { kind: 'already' };
  const atTarget = there && there.kind === 'file' && there.size === f.size ? there : undefined;
  if (f.size <= SMALL_FILE) {
    const release = await lanes.memory.acquire(f.size);
    try {
      const data = await readSource(ctx, f);
      // Copied by a run killed before it recorded the copy: an ETag that is the MD5 of the source's
      // bytes (checked against the catalog's SHA-256 just now) says the object holds them; kept.
      if (atTarget && etagIsMd5(atTarget.identity, createHash('md5').update(data).digest('hex'))) return { kind: 'adopted', identity: atTarget.identity };
      return await lanes.transfers.run(async () => {
        if (atTarget && (await readBackMatches(target, f))) return { kind: 'adopted', identity: atTarget.identity };
        return copySmall(target, f, data);
      });
    } finally {
      release();
    }
  }
  return lanes.transfers.run(() => copyLarge(ctx, target, f, atTarget));
}

/** A file over SMALL_FILE: streamed from the source to the target (multipart on S3), hashed on the way. */
async function copyLarge(ctx: Context, target: BlobStore, f: FileRecord, atTarget: BlobEntry | undefined): Promise<CopyResult> {
  if (atTarget && (await readBackMatches(target, f))) return { kind: 'adopted', identity: atTarget.identity };
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
  await readBack(target, f, 'the copy read back does not match');
  return { kind: 'copied', identity: put.identity, by: 'readBack' };
}

/** A plain (single-part, unencrypted or SSE-S3) object's ETag is the MD5 of its bytes. */
function etagIsMd5(identity: string, md5Hex: string): boolean {
  return identity.startsWith('etag:') && etagIsMd5Of(identity.slice('etag:'.length), md5Hex);
}

/** A file up to SMALL_FILE, read whole and checked against the catalog before anything is sent (nothing to remove when the source is bad). */
async function readSource(ctx: Context, f: FileRecord): Promise<Buffer> {
  const data = await timed('source: read', async () => (ctx.store.readWhole ? ctx.store.readWhole(f.path, SMALL_FILE) : buffer(await ctx.store.get(f.path))));
  const srcSum = createHash('sha256').update(data).digest('hex');
  if (srcSum !== f.sha256 || data.length !== f.size) {
    throw new Error(`the source does not match the catalog (size ${data.length}, sha256 ${srcSum.slice(0, 12)}…; catalog ${f.size}, ${f.sha256.slice(0, 12)}…): not migrated`);
  }
  return data;
}

async function readBackMatches(target: BlobStore, f: FileRecord): Promise<boolean> {
  const back = await timed('target: GET read-back', async () => sha256Stream(await target.get(f.path)));
  return back.sha256 === f.sha256 && back.size === f.size;
}

/** Reads the copy back; one that does not match the catalog is removed and the file fails. */
async function readBack(target: BlobStore, f: FileRecord, what: string): Promise<void> {
  const back = await timed('target: GET read-back', async () => sha256Stream(await target.get(f.path)));
  if (back.sha256 !== f.sha256 || back.size !== f.size) {
    await target.remove(f.path);
    throw new Error(`${what} (size ${back.size}, sha256 ${back.sha256.slice(0, 12)}…)`);
  }
}

/**
 * One PutObject of the checked bytes, no HEAD after it. Verified, in this order: by the server
 * against the catalog's SHA-256 (x-amz-checksum-sha256, where it stores checksums); else by the
 * PUT's ETag being the MD5 of the buffer sent (the server's own digest of what it received, as
 * rclone checks; the buffer's SHA-256 was checked against the catalog before the PUT); else
 * (an ETag that is not a plain MD5: SSE-KMS, SSE-C, or a mismatch) by reading the copy back.
 */
async function copySmall(target: BlobStore, f: FileRecord, data: Buffer): Promise<CopyResult> {
  const put = await timed('target: PUT', () => target.put(f.path, data, { sha256: f.sha256, contentType: f.contentType, noHeadAfter: true }));
  if (put.size !== f.size) throw new Error(`the copy has ${put.size} bytes, the catalog ${f.size}`);
  if (put.checksumVerified) return { kind: 'copied', identity: put.identity, by: 'onUpload' };
  if (put.etagIsMd5) return { kind: 'copied', identity: put.identity, by: 'etag' };
  await readBack(target, f, `the copy read back does not match (its ETag ${put.identity.slice('etag:'.length)} is not the MD5 of the bytes sent)`);
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
