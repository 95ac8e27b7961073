// Compression of a job's files where they are (any tier), kept only where it is worth it:
//   1. read the file (its original bytes, checked against the row's SHA-256) and compress it
//      into a staged copy under a new name (the store's .storectl/staging, or a private temp
//      directory for an S3 store); already-compressed content (PNG, JPEG, WebP, zip, gzip) is
//      not even tried, and a copy that saves less than minSaving is dropped: "not worth it"
//   2. read the staged copy back, decompress it, and check the SHA-256 of the original bytes
//   3. intent: tier_target = '=ENCODING:STORED_SIZE' (committed); the file is re-checked unchanged
//   4. the staged copy replaces the file in its tier in one atomic write (temp file in the target
//      directory, fsync, rename over it; one PUT on S3): the uncompressed copy is gone in the same
//      step, and there is never a moment without a whole file at the path
//   5. read back from the tier, decoded: the original SHA-256 again
//   6. flip: encoding and stored_size recorded, intent cleared, one event (size and sha256 stay
//      the original's); the staged copy is removed (inside .storectl/staging, never outside)
// kill -9 anywhere: a reader tells which copy is at the path by its size while the intent is set
// (the compressed copy is always smaller), and a rerun first finishes or abandons each intent the
// same way and clears the staging area, so every file stays readable and no copy is left over.
// Why the stored name stays the row's path: drift, orphan cleanup, deletion and tier moves all
// pair a file with its row by path; a second name would make every compressed file an orphan.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { openAllTiers, tierStore, type Context } from '../../context.ts';
import { compressionCatalog, type CompressionCatalog } from '../../db/compression.ts';
import { tierCatalog, type TierRow } from '../../db/tiers.ts';
import { FailedError, UsageError, errorMessage } from '../../errors.ts';
import { inParallel } from '../../storage/blob.ts';
import { compressMarker, compressor, decompressor, encodingAvailable, parseCompressMarker, type Encoding } from '../../storage/encoding.ts';
import { categoryOf } from '../../storage/layout.ts';
import { pausePoint } from '../../test-hooks.ts';
import { openContent, streamContent } from '../access/content.ts';
import { selectJobs, type JobSelection } from '../access/select.ts';
import { compressRuleForJob, describeRule, type Rule } from '../lifecycle/rules.ts';
import { withStoreLock } from '../store-lock.ts';
import { capVerdict, type CapVerdict } from '../lifecycle/guards.ts';

/** Files compressed at once (CPU-bound: a few). */
export const COMPRESS_CONCURRENCY = 4;
const PAGE = 500;
const SAMPLE = 50;

export interface CompressOptions {
  dryRun: boolean;
  asOf: Date;
  /** Chosen jobs (storectl tier JOB... --compress); otherwise the compress rules. */
  manual?: { selection: JobSelection };
  rules: readonly Rule[];
  algorithm: Encoding;
  /** The least fraction a compressed copy must save to be kept (0.1: at least 10% smaller). */
  minSaving: number;
  list: boolean;
  /** The mass-action cap: refuse a run that would try more than N files or N% of the present files. */
  maxCompress?: string;
  /** Where the cap came from (--max-compress, or the config's compression.maxCompress). */
  maxCompressSource?: string;
  waitMs: number;
  confirm: (plan: { jobs: number; files: number; bytes: number }) => Promise<boolean>;
}

export type CompressOutcome = 'compressed' | 'would compress' | 'not worth it';

export interface CategoryTally {
  category: string;
  files: number;
  bytes: number;
  /** Files compressed (or, in a dry run, that would be) and what they store. */
  compressed: number;
  compressedBytes: number;
  storedBytes: number;
  notWorthIt: number;
  /** Skipped unread: known from an earlier run to be not worth it. */
  knownNotWorthIt: number;
}

export interface CompressReport {
  dryRun: boolean;
  asOf: string;
  algorithm: Encoding;
  minSaving: number;
  rules: ReturnType<typeof describeRule>[];
  /** Files to look at: present, not compressed, nothing in flight, not known to be not worth it. */
  plan: { jobs: number; files: number; bytes: number };
  /** Files skipped unread: an earlier run found this content not worth compressing with these settings. */
  knownNotWorthIt: number;
  /**
   * Files left as they are because they are packed (a slice of their job's pack on an S3 tier
   * with pack: true): a pack is not rewritten in place. Compress before packing: the member then
   * holds the compressed bytes (tier JOB --to hot, tier --compress, tier JOB --to TIER).
   */
  packed: number;
  /** The mass-action cap's verdict on the plan (null: no cap set). */
  cap: CapVerdict | null;
  /** Compressions left in flight by an interrupted run (a real run finishes them first). */
  interrupted: number;
  recovered: number;
  result: { compressed: number; bytesBefore: number; bytesAfter: number; saved: number; notWorthIt: number };
  byCategory: CategoryTally[];
  /** Files left as they are, and why (the first few; all with --list). */
  notWorthIt: { path: string; reason: string }[];
  list?: { path: string; jobId: string | null; tier: string; size: number; storedSize: number | null; outcome: CompressOutcome; reason?: string }[];
  unknown: string[];
  changed: { path: string; jobId: string | null; reason: string }[];
  failed: { path: string; jobId: string | null; reason: string }[];
}

export async function runCompress(ctx: Context, o: CompressOptions): Promise<CompressReport> {
  if (!encodingAvailable(o.algorithm)) throw new UsageError(`this Node (${process.version}) has no ${o.algorithm} in node:zlib`, 'use gzip or br (config compression.algorithm), or run on Node 22.15 or later for zstd', 'config');
  if (!(o.minSaving > 0 && o.minSaving < 1)) throw new UsageError(`bad minimum saving ${o.minSaving}`, 'a fraction between 0 and 1 (0.1: at least 10% smaller)');
  if (!o.manual && !o.rules.some((r) => r.action === 'compress')) {
    throw new UsageError('no compress rules are enabled', 'add a rule with "action": "compress" to the cleanup section, or give JOB_IDs with --compress');
  }
  await openAllTiers(ctx);
  if (o.dryRun) return run(ctx, o, false);
  return withStoreLock(ctx, 'compress', o.waitMs, () => run(ctx, o, true));
}

async function run(ctx: Context, o: CompressOptions, apply: boolean): Promise<CompressReport> {
  const cat = compressionCatalog(ctx.catalog);
  const report: CompressReport = {
    dryRun: !apply,
    asOf: o.asOf.toISOString(),
    algorithm: o.algorithm,
    minSaving: o.minSaving,
    rules: o.manual ? [] : o.rules.filter((r) => r.action === 'compress').map(describeRule),
    plan: { jobs: 0, files: 0, bytes: 0 },
    knownNotWorthIt: 0,
    packed: 0,
    cap: null,
    interrupted: 0,
    recovered: 0,
    result: { compressed: 0, bytesBefore: 0, bytesAfter: 0, saved: 0, notWorthIt: 0 },
    byCategory: [],
    notWorthIt: [],
    unknown: [],
    changed: [],
    failed: [],
    ...(o.list ? { list: [] } : {}),
  };
  const local = ctx.store.capabilities.kind === 'local';
  // A rerun clears what an interrupted run staged (under the store lock, nothing else stages now).
  if (apply && local) ctx.blobs.clearStaging();
  const staging = !apply ? null : local ? ctx.blobs.stagingDir('compress') : fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-compress-'));
  try {
    const inFlight = await collectInFlight(cat);
    report.interrupted = inFlight.length;
    if (apply) for (const r of inFlight) await recoverOne(ctx, cat, r, report);

    // Plan first (rows only): the confirmation and a dry run see the same list a real run works through.
    const planned: (TierRow & { category: string })[] = [];
    for await (const batch of plannedFiles(ctx, o, report)) {
      report.plan.jobs += new Set(batch.map((f) => f.jobId)).size;
      report.plan.files += batch.length;
      report.plan.bytes += batch.reduce((a, f) => a + f.size, 0);
      planned.push(...batch);
    }
    if (o.maxCompress !== undefined) {
      const presentFiles = o.maxCompress.endsWith('%') ? (await ctx.catalog.counts()).presentFiles : 0;
      const source = o.maxCompressSource ?? '--max-compress';
      report.cap = capVerdict('files', report.plan.files, o.maxCompress, presentFiles, 'present files', source, 'compress');
      if (apply && report.cap.refused) {
        throw new UsageError(`refusing: ${report.cap.reason}; nothing was compressed`, `check the plan with --dry-run --list; pass a higher --max-compress N or N% to proceed`, 'guard_max_compress');
      }
    }
    if (apply && planned.length && !(await o.confirm(report.plan))) throw new FailedError('cancelled: nothing was compressed', undefined, 'cancelled');
    const progress = ctx.progress('compressing', planned.length);
    await inParallel(planned, COMPRESS_CONCURRENCY, async (f) => {
      try {
        await compressOne(ctx, cat, f, o, staging, report);
      } catch (err) {
        report.failed.push({ path: f.path, jobId: f.jobId, reason: errorMessage(err) });
      }
      progress.tick();
    });
    progress.done();
    report.result.saved = report.result.bytesBefore - report.result.bytesAfter;
    return report;
  } finally {
    if (staging) fs.rmSync(staging, { recursive: true, force: true });
  }
}

async function collectInFlight(cat: CompressionCatalog): Promise<TierRow[]> {
  const out: TierRow[] = [];
  let after: number | undefined;
  for (;;) {
    const page = await cat.inFlight(PAGE, after);
    out.push(...page);
    if (page.length < PAGE) return out;
    after = page.at(-1)!.id;
  }
}

/** Finishes (the compressed copy is in place and reads back right) or abandons (the original is still there) one interrupted compression. */
async function recoverOne(ctx: Context, cat: CompressionCatalog, r: TierRow, report: CompressReport): Promise<void> {
  const m = parseCompressMarker(r.tierTarget)!;
  const store = await tierStore(ctx, r.tier);
  const head = await store.stat(r.path);
  if (head && head.size === m.storedSize) {
    const got = await streamContent(ctx, { ...r, encoding: m.encoding, tierTarget: null }, nullSink());
    if (!got.ok) {
      report.failed.push({ path: r.path, jobId: r.jobId, reason: `an interrupted compression left a copy that does not read back as the original (${got.size} bytes, SHA-256 ${got.sha256}): intent kept` });
      return;
    }
    await cat.flip({ id: r.id, marker: r.tierTarget!, encoding: m.encoding, storedSize: m.storedSize }, event(ctx, r, m.encoding, m.storedSize, 'finished from an interrupted run'));
  } else if (head && head.size === r.size) {
    await cat.clearIntent(r.id, r.tierTarget!);
  } else {
    report.failed.push({ path: r.path, jobId: r.jobId, reason: `an interrupted compression: ${head ? `${head.size} bytes in tier ${r.tier}, neither the original ${r.size} nor the compressed ${m.storedSize}` : `not in tier ${r.tier}`}: intent kept` });
    return;
  }
  report.recovered++;
}

/** The files to look at, a batch of whole jobs at a time: present, not compressed, nothing in flight. */
async function* plannedFiles(ctx: Context, o: CompressOptions, report: CompressReport): AsyncGenerator<(TierRow & { category: string })[]> {
  const tc = tierCatalog(ctx.catalog);
  const pending: string[] = [];
  const flush = async () => {
    if (!pending.length) return [];
    const rows = await tc.filesOfJobs(pending);
    pending.length = 0;
    const out: (TierRow & { category: string })[] = [];
    for (const r of rows) {
      if (r.encoding !== null || r.tierTarget !== null) continue;
      if (r.pack !== null) {
        report.packed++;
        continue;
      }
      const f = { ...r, category: categoryOf(r.path) };
      if (r.compressChecked === notWorthItMarker(o, r.sha256)) {
        report.knownNotWorthIt++;
        categoryTally(report, f).knownNotWorthIt++;
      } else out.push(f);
    }
    return out;
  };
  if (o.manual) {
    for await (const job of selectJobs(ctx, o.manual.selection, o.asOf, (id) => report.unknown.push(id))) {
      pending.push(job.id);
      if (pending.length >= PAGE) yield await flush();
    }
    const last = await flush();
    if (last.length) yield last;
    return;
  }
  const rules = o.rules.filter((r) => r.action === 'compress');
  const statuses = [...new Set(rules.flatMap((r) => r.statuses ?? []))];
  let afterId: string | undefined;
  for (;;) {
    const page = await ctx.catalog.jobPage({ afterId, limit: PAGE, statuses, filesStates: ['on_disk', 'partial'] });
    for (const job of page) if (compressRuleForJob(rules, job, o.asOf)) pending.push(job.id);
    const rows = await flush();
    if (rows.length) yield rows;
    if (page.length < PAGE) return;
    afterId = page.at(-1)!.id;
  }
}

/** Magic numbers of formats that are compressed already: compressing them again saves nothing. */
function alreadyCompressed(head: Buffer): string | null {
  if (head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'PNG';
  if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'JPEG';
  if (head.subarray(0, 4).toString('latin1') === 'RIFF' && head.subarray(8, 12).toString('latin1') === 'WEBP') return 'WebP';
  if (head[0] === 0x50 && head[1] === 0x4b && (head[2] === 3 || head[2] === 5 || head[2] === 7)) return 'zip';
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd';
  return null;
}

async function readHead(s: Readable, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  try {
    for await (const c of s) {
      parts.push(c as Buffer);
      got += (c as Buffer).length;
      if (got >= n) break;
    }
  } finally {
    s.destroy();
  }
  return Buffer.concat(parts).subarray(0, n);
}

const nullSink = () => new Writable({ write: (_c, _e, cb) => cb() });

function hasher() {
  const h = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _e, cb) {
      h.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  return { tap, bytes: () => bytes, digest: () => h.digest('hex') };
}

/** The memory of a file found not worth compressing: valid for this content with this codec and least saving. */
export function notWorthItMarker(o: Pick<CompressOptions, 'algorithm' | 'minSaving'>, sha256: string): string {
  return `${o.algorithm}:${o.minSaving}:${sha256}`;
}

function categoryTally(report: CompressReport, f: { category: string }): CategoryTally {
  return report.byCategory.find((x) => x.category === f.category) ?? (report.byCategory.push({ category: f.category, files: 0, bytes: 0, compressed: 0, compressedBytes: 0, storedBytes: 0, notWorthIt: 0, knownNotWorthIt: 0 }), report.byCategory.at(-1)!);
}

function tally(report: CompressReport, f: TierRow & { category: string }, outcome: CompressOutcome, storedSize: number | null, reason?: string): void {
  const c = categoryTally(report, f);
  c.files++;
  c.bytes += f.size;
  if (outcome === 'not worth it') {
    c.notWorthIt++;
    report.result.notWorthIt++;
    if (report.list || report.notWorthIt.length < SAMPLE) report.notWorthIt.push({ path: f.path, reason: reason! });
  } else {
    c.compressed++;
    c.compressedBytes += f.size;
    c.storedBytes += storedSize!;
    report.result.compressed++;
    report.result.bytesBefore += f.size;
    report.result.bytesAfter += storedSize!;
  }
  report.list?.push({ path: f.path, jobId: f.jobId, tier: f.tier, size: f.size, storedSize, outcome, ...(reason ? { reason } : {}) });
}

function event(ctx: Context, f: TierRow, e: Encoding, storedSize: number, note?: string) {
  const pct = f.size ? Math.round((1 - storedSize / f.size) * 100) : 0;
  return { runId: ctx.runId, at: ctx.clock(), action: 'compress', path: f.path, jobId: f.jobId, bytes: f.size - storedSize, reason: `${e}: ${f.size} -> ${storedSize} bytes (${pct}% saved) in tier ${f.tier}${note ? `; ${note}` : ''}` };
}

async function compressOne(ctx: Context, cat: CompressionCatalog, f: TierRow & { category: string }, o: CompressOptions, staging: string | null, report: CompressReport): Promise<void> {
  const store = await tierStore(ctx, f.tier);
  const before = await store.stat(f.path);
  if (!before) throw new Error(`not in tier ${f.tier}`);
  if (before.size !== f.size) throw new Error(`${before.size} bytes in tier ${f.tier}, the catalog records ${f.size}`);
  // Not worth it: remembered (a real run) so that later runs skip this content unread.
  const notWorthIt = async (reason: string) => {
    if (staging) await cat.markNotWorthIt(f.id, f.sha256, notWorthItMarker(o, f.sha256));
    tally(report, f, 'not worth it', null, reason);
  };
  const kind = alreadyCompressed(await readHead(await openContent(ctx, { ...f, encoding: null }), 16));
  if (kind) return notWorthIt(`already compressed (${kind})`);

  // 1. compress into the staged copy (a dry run measures only), checking the original bytes on the way.
  const staged = staging ? path.join(staging, `${f.id}.${o.algorithm}`) : null;
  const original = hasher();
  const packed = hasher();
  await pipeline(await openContent(ctx, { ...f, encoding: null }), original.tap, compressor(o.algorithm), packed.tap, staged ? fs.createWriteStream(staged, { mode: 0o600, flags: 'wx' }) : nullSink());
  if (original.bytes() !== f.size || original.digest() !== f.sha256) {
    if (staged) fs.rmSync(staged, { force: true });
    throw new Error(`read ${original.bytes()} bytes that do not match the catalog's SHA-256: not compressed (storectl verify looks at it)`);
  }
  const storedSize = packed.bytes();
  const saving = f.size ? 1 - storedSize / f.size : 0;
  if (storedSize >= f.size || saving < o.minSaving) {
    if (staged) fs.rmSync(staged, { force: true });
    return notWorthIt(`${o.algorithm} saves ${(saving * 100).toFixed(1)}%, less than ${Math.round(o.minSaving * 100)}%`);
  }
  if (!staged) return tally(report, f, 'would compress', storedSize);
  const packedSha = packed.digest();
  try {
    // 2. read the staged copy back, decompressed.
    const back = hasher();
    await pipeline(fs.createReadStream(staged), decompressor(o.algorithm), back.tap, nullSink());
    if (back.bytes() !== f.size || back.digest() !== f.sha256) throw new Error('the staged compressed copy does not decompress to the original bytes: not compressed');
    // 3. intent, then the file re-checked: unchanged since it was read.
    const marker = compressMarker(o.algorithm, storedSize);
    if (!(await cat.recordIntent(f.id, f.tier, marker))) {
      report.changed.push({ path: f.path, jobId: f.jobId, reason: 'the row changed since planning (deleted, moved or compressed by another run): left as it is' });
      return;
    }
    const now = await store.stat(f.path);
    if (!now || now.size !== before.size || now.identity !== before.identity) {
      await cat.clearIntent(f.id, marker);
      report.changed.push({ path: f.path, jobId: f.jobId, reason: 'the file changed since it was read: left as it is' });
      return;
    }
    await pausePoint('compress.intent');
    // 4. the compressed copy replaces the file in one atomic write.
    const place = ctx.tiers?.place(f.tier);
    const put = await store.put(f.path, fs.createReadStream(staged), { sha256: packedSha, contentType: f.contentType, storageClass: place?.storageClass });
    if (put.size !== storedSize) throw new Error(`tier ${f.tier} holds ${put.size} bytes after the write, not ${storedSize}: intent kept (a rerun sorts it out)`);
    await pausePoint('compress.stored');
    // 5. read back from the tier, decoded.
    const got = await streamContent(ctx, { ...f, encoding: o.algorithm, tierTarget: null }, nullSink());
    if (!got.ok) throw new Error(`the compressed file in tier ${f.tier} does not read back as the original (SHA-256 ${got.sha256}): intent kept`);
    // 6. flip.
    if (!(await cat.flip({ id: f.id, marker, encoding: o.algorithm, storedSize }, event(ctx, f, o.algorithm, storedSize)))) {
      report.changed.push({ path: f.path, jobId: f.jobId, reason: 'the row changed before it was switched to its encoding' });
      return;
    }
    await pausePoint('compress.flipped');
    tally(report, f, 'compressed', storedSize);
  } finally {
    fs.rmSync(staged, { force: true });
  }
}
