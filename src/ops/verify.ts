// verify: reads files back and checks size and SHA-256 against the catalog, least recently
// verified first (never-verified first), recording per file when and with what result. A
// mismatch is read a second time before anything is recorded; a confirmed one marks the row
// `corrupt` (the file is kept). --repair-from replaces corrupt and missing files from a backup
// archive, verified as restore verifies it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openAllTiers, type Context } from '../context.ts';
import { integrityCatalog, type FileSelection, type IntegrityCatalog, type VerifyCursor, type VerifyOutcome, type VerifyRow } from '../db/integrity.ts';
import type { EventRecord } from '../db/types.ts';
import { schemaVersion } from '../db/migrations.ts';
import { IntegrityError, UsageError, errorMessage } from '../errors.ts';
import { Writable } from 'node:stream';
import { inParallel } from '../storage/blob.ts';
import { streamContent } from './access/content.ts';
import { sha256FileSync } from '../storage/hash.ts';
import { CHECK_OK, type HashOutcome, type HashPool } from '../storage/hash-pool.ts';
import { hashObject, openBlobHashPool } from '../storage/blob-hash.ts';
import { verifyArchive } from './backup/verify.ts';
import { withStoreLock } from './store-lock.ts';
import { mapPool } from './pool.ts';
import { timed } from '../profile.ts';

export interface VerifyOptions {
  selection: FileSelection;
  /** Check only this many files (or this percent of the selection), least recently verified first. */
  sample?: { files: number } | { percent: number };
  /** Stop starting new reads after this long; the next run carries on. */
  maxTimeMs?: number;
  repairFrom?: string;
  threads?: number;
  waitMs?: number;
}

export type ProblemKind = 'corrupt' | 'missing' | 'unreadable';

export interface VerifyProblem {
  path: string;
  jobId: string | null;
  kind: ProblemKind;
  detail: string;
}

export interface RepairReport {
  archive: string;
  repaired: { path: string; jobId: string | null }[];
  /** Repaired names linked again to the first repaired name of their content group. */
  relinked?: number;
  unrepairable: { path: string; jobId: string | null; reason: string }[];
}

export interface VerifyReport {
  selection: FileSelection;
  selected: { files: number; bytes: number };
  /** Files this run set out to check (the sample size, or the whole selection). */
  target: number;
  checked: { files: number; bytes: number };
  ok: number;
  corrupt: number;
  missing: number;
  unreadable: number;
  /** Mismatches that read back correctly the second time (not recorded as corrupt). */
  transient: number;
  /** Files previously corrupt or missing that now read back exactly as catalogued. */
  revived: number;
  /** True when --max-time stopped the run before its target. */
  stoppedByTime: boolean;
  durationMs: number;
  /** One per problem found (first 10,000). */
  problems: VerifyProblem[];
  repair?: RepairReport;
  /** Corrupt or missing files left in the selection after this run (with --repair-from: after repair). */
  damagedLeft: number;
}

const PAGE = 4096;
/**
 * A batch sent to one thread: this many files, or this many bytes, whichever comes first. On
 * the local threads 1,024 small files: with two batches each in flight they keep reading while
 * the main thread selects a page or records verdicts (synchronous on SQLite); with 256 they
 * waited for it a third of the time (bench/results/verify.md, run 5). Over S3 (GETs) 256, so
 * --max-time, which lets batches in flight finish, still stops a slow store soon.
 */
const BATCH_FILES_LOCAL = 1024;
const BATCH_FILES_S3 = 256;
const BATCH_BYTES = 16 << 20;
const FLUSH = 2048;
const MAX_PROBLEMS = 10_000;

/** --sample N or N%. */
export function parseSample(v: string): VerifyOptions['sample'] {
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(v.trim());
  if (!m) throw new UsageError(`bad --sample ${JSON.stringify(v)}`, 'give a number of files (500) or a percentage (5%)');
  const n = Number(m[1]);
  if (m[2]) {
    if (n <= 0 || n > 100) throw new UsageError(`bad --sample ${JSON.stringify(v)}: a percentage is in (0, 100]`);
    return { percent: n };
  }
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`bad --sample ${JSON.stringify(v)}: a whole number of files, at least 1`);
  return { files: n };
}

function compare(row: VerifyRow, got: HashOutcome): 'ok' | 'mismatch' | 'missing' | 'unreadable' {
  if (!got.ok) return got.missing ? 'missing' : 'unreadable';
  return got.size === row.size && got.sha256 === row.sha256 ? 'ok' : 'mismatch';
}

function describe(row: VerifyRow, got: HashOutcome): string {
  if (!got.ok) return got.reason;
  if (got.size !== row.size) return `size ${got.size}, catalog says ${row.size}`;
  return `SHA-256 ${got.sha256.slice(0, 12)}..., catalog says ${row.sha256.slice(0, 12)}...`;
}

export async function runVerify(ctx: Context, opts: VerifyOptions): Promise<VerifyReport> {
  await openAllTiers(ctx);
  const started = ctx.clock();
  const t0 = Date.now();
  const ic = integrityCatalog(ctx.catalog);
  const selected = await ic.countSelection(opts.selection);
  const s = opts.sample;
  const target = !s ? selected.files : 'files' in s ? Math.min(s.files, selected.files) : Math.min(selected.files, Math.ceil((selected.files * s.percent) / 100));
  const report: VerifyReport = {
    selection: opts.selection,
    selected,
    target,
    checked: { files: 0, bytes: 0 },
    ok: 0,
    corrupt: 0,
    missing: 0,
    unreadable: 0,
    transient: 0,
    revived: 0,
    stoppedByTime: false,
    durationMs: 0,
    problems: [],
    damagedLeft: 0,
  };
  // A sample starts its never-verified stretch at a random id, so runs spread over the store.
  const range = s ? await ic.idRange() : null;
  const pivot = range ? range.min + Math.floor(Math.random() * (range.max - range.min + 1)) : 0;

  // A local tree is read on threads; an S3 store's objects are streamed through GETs in flight.
  const local = ctx.store.capabilities.kind === 'local';
  const pool = local ? ctx.blobs.hashPool(opts.threads) : openBlobHashPool(ctx.store, opts.threads);
  const batchFiles = local ? BATCH_FILES_LOCAL : BATCH_FILES_S3;
  const progress = ctx.progress('verifying', target);
  try {
    let pending: VerifyOutcome[] = [];
    let events: EventRecord[] = [];
    const flush = async () => {
      if (!pending.length && !events.length) return;
      const o = pending;
      const e = events;
      pending = [];
      events = [];
      await timed('verify: record verdicts', () => ic.recordVerifications(o, ctx.clock(), e), () => o.length);
    };
    const problem = (row: VerifyRow, kind: ProblemKind, detail: string) => {
      if (report.problems.length < MAX_PROBLEMS) report.problems.push({ path: row.path, jobId: row.jobId, kind, detail });
      ctx.log.debug(`${kind}: ${row.path} (${detail})`);
      if (row.state !== kind && kind !== 'unreadable') {
        events.push({ runId: ctx.runId, at: ctx.clock(), action: `verify-${kind}`, path: row.path, jobId: row.jobId, bytes: row.size, reason: detail });
      }
    };
    // Hot files as stored (the thread pool or GETs); a file on another tier, or encoded, through
    // openContent: from its tier, decoded, the original bytes hashed.
    const hashRows = async (rows: VerifyRow[]): Promise<HashOutcome[]> => {
      const plain = rows.map((r, i) => [r, i] as const).filter(([r]) => r.tier === 'hot' && r.encoding === null);
      const out = new Array<HashOutcome>(rows.length);
      const viaPool = plain.length ? await timed('verify: hash (waited for a thread)', () => pool.hash(plain.map(([r]) => r.path)), (r) => r.length) : [];
      plain.forEach(([, i], j) => (out[i] = viaPool[j]!));
      const rest = rows.map((r, i) => [r, i] as const).filter(([r]) => !(r.tier === 'hot' && r.encoding === null));
      const read = await inParallel(rest, 8, ([r]) => hashContent(ctx, r));
      rest.forEach(([, i], j) => (out[i] = read[j]!));
      return out;
    };
    // The first read of a batch: hot files as stored are checked on the threads against their
    // size and SHA-256 (a verdict per file comes back, details only for those that differ);
    // the others through openContent. undefined: reads back as catalogued.
    const firstRead = async (rows: VerifyRow[]): Promise<(HashOutcome | undefined)[]> => {
      const out = new Array<HashOutcome | undefined>(rows.length);
      const plain: number[] = [];
      const rest: number[] = [];
      rows.forEach((r, i) => (r.tier === 'hot' && r.encoding === null ? plain : rest).push(i));
      if (plain.length) {
        const sizes = new Float64Array(plain.length);
        plain.forEach((i, j) => (sizes[j] = rows[i]!.size));
        const paths = plain.map((i) => rows[i]!.path);
        const sha256s = plain.map((i) => rows[i]!.sha256).join('');
        const got = await timed('verify: hash (waited for a thread)', () => pool.check(paths, sizes, sha256s), () => plain.length);
        plain.forEach((i, j) => {
          if (got.codes[j] !== CHECK_OK) out[i] = got.details.get(j)!;
        });
      }
      const read = await inParallel(rest, 8, (i) => hashContent(ctx, rows[i]!));
      rest.forEach((i, j) => {
        if (compare(rows[i]!, read[j]!) !== 'ok') out[i] = read[j]!;
      });
      return out;
    };
    const check = async (batch: VerifyRow[]) => {
      const first = await firstRead(batch);
      const again: number[] = [];
      first.forEach((got, i) => {
        if (got && compare(batch[i]!, got) === 'mismatch') again.push(i);
      });
      // A mismatch is read a second time: a transient read or memory error must not condemn a good file.
      const second = again.length ? await hashRows(again.map((i) => batch[i]!)) : [];
      const final = [...first];
      again.forEach((idx, j) => {
        if (compare(batch[idx]!, second[j]!) === 'ok') report.transient++;
        final[idx] = second[j]!;
      });
      batch.forEach((row, i) => {
        const got = final[i];
        const verdict = got ? compare(row, got) : 'ok';
        report.checked.files++;
        report.checked.bytes += !got ? row.size : got.ok ? got.size : 0;
        if (verdict === 'ok') {
          report.ok++;
          if (row.state !== 'present') {
            report.revived++;
            events.push({ runId: ctx.runId, at: ctx.clock(), action: 'verify-ok', path: row.path, jobId: row.jobId, bytes: row.size, reason: `was ${row.state}; reads back as catalogued` });
          }
          pending.push({ id: row.id, result: 'ok', was: row.state });
        } else if (verdict === 'mismatch') {
          report.corrupt++;
          problem(row, 'corrupt', `${describe(row, got!)} (read twice)`);
          pending.push({ id: row.id, result: 'corrupt', was: row.state });
        } else if (verdict === 'missing') {
          report.missing++;
          problem(row, 'missing', describe(row, got!));
          pending.push({ id: row.id, result: 'missing', was: row.state });
        } else {
          report.unreadable++;
          problem(row, 'unreadable', describe(row, got!));
          pending.push({ id: row.id, result: 'unreadable', was: row.state });
        }
      });
      progress.tick(batch.length);
      if (pending.length >= FLUSH) await flush();
    };

    // The clock starts once the threads are up, and every run checks at least one batch, so a
    // run with a short --max-time still makes progress.
    const deadline = opts.maxTimeMs !== undefined ? Date.now() + opts.maxTimeMs : Infinity;
    let yielded = 0;
    async function* batches(): AsyncGenerator<VerifyRow[]> {
      let cursor: VerifyCursor | null = { phase: 0, afterId: 0 };
      let left = target;
      let next = left > 0 ? timed('verify: catalog page', () => ic.verifyPage(opts.selection, cursor!, { pivot, notSince: started, limit: Math.min(PAGE, left) }), (p) => p.rows.length) : null;
      while (next && left > 0) {
        const page: { rows: VerifyRow[]; next: VerifyCursor | null } = await next;
        cursor = page.next;
        const rows = page.rows.slice(0, left);
        left -= rows.length;
        next = cursor && left > 0 && rows.length ? timed('verify: catalog page', () => ic.verifyPage(opts.selection, cursor!, { pivot, notSince: started, limit: Math.min(PAGE, left) }), (p) => p.rows.length) : null;
        let batch: VerifyRow[] = [];
        let bytes = 0;
        for (const row of rows) {
          if (yielded > 0 && Date.now() >= deadline) {
            report.stoppedByTime = true;
            return;
          }
          if (batch.length && (batch.length >= batchFiles || bytes + row.size > BATCH_BYTES)) {
            yielded++;
            yield batch;
            batch = [];
            bytes = 0;
          }
          batch.push(row);
          bytes += row.size;
        }
        if (batch.length) {
          yielded++;
          yield batch;
        }
        if (!rows.length) break;
      }
    }
    await mapPool(batches(), poolWidth(pool), check);
    await flush();
  } finally {
    progress.done();
    await pool.close();
  }
  if (opts.repairFrom) {
    report.repair = await withStoreLock(ctx, 'verify', opts.waitMs ?? 0, () => repairFrom(ctx, ic, opts.selection, opts.repairFrom!));
  }
  report.damagedLeft = await countDamaged(ic, opts.selection);
  report.durationMs = Date.now() - t0;
  return report;
}

/** One row's original bytes read from its tier (decoded) and hashed; never throws. */
async function hashContent(ctx: Context, row: VerifyRow): Promise<HashOutcome> {
  try {
    const got = await streamContent(ctx, row, new Writable({ write: (_c, _e, cb) => cb() }));
    return { ok: true, size: got.size, sha256: got.sha256 };
  } catch (err) {
    const missing = err instanceof IntegrityError && /not (on disk|in )/.test(err.message);
    return { ok: false, missing, reason: errorMessage(err) };
  }
}

/** Two batches in flight per thread keep every thread reading while results are recorded. */
function poolWidth(pool: HashPool): number {
  return 2 * pool.threads;
}

async function countDamaged(ic: IntegrityCatalog, sel: FileSelection): Promise<number> {
  let n = 0;
  let after = 0;
  for (;;) {
    const page = await ic.damagedPage(sel, after, 10_000);
    n += page.length;
    if (page.length < 10_000) return n;
    after = page[page.length - 1]!.id;
  }
}

/**
 * Replaces the selection's corrupt and missing files from a backup archive. The whole archive
 * is verified first (as restore does); only the wanted files are staged, under the store's
 * .storectl/ so the move into place is a rename. Each replacement must have the catalog's
 * size and SHA-256, before and after it is moved.
 */
async function repairFrom(ctx: Context, ic: IntegrityCatalog, sel: FileSelection, archive: string): Promise<RepairReport> {
  const report: RepairReport = { archive, repaired: [], unrepairable: [] };
  const wanted = new Map<string, VerifyRow>();
  let after = 0;
  for (;;) {
    const page = await ic.damagedPage(sel, after, 10_000);
    for (const r of page) wanted.set(r.path, r);
    if (page.length < 10_000) break;
    after = page[page.length - 1]!.id;
  }
  if (!wanted.size) return report;
  if (!fs.existsSync(archive)) throw new UsageError(`no archive at ${archive}`, 'give --repair-from the path of a backup archive');
  const local = ctx.store.capabilities.kind === 'local';
  // An S3 store has no .storectl/: the few wanted files are staged in a private temp directory.
  if (local) ctx.blobs.clearStaging();
  const work = local ? ctx.blobs.stagingDir('repair') : fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-repair-'));
  try {
    const progress = ctx.progress('reading archive');
    await verifyArchive(archive, { schemaVersion: schemaVersion(), stage: { dir: work, writeTree: true, only: (rel) => wanted.has(rel) }, progress });
    progress.done();
    const outcomes: VerifyOutcome[] = [];
    const events: EventRecord[] = [];
    for (const row of wanted.values()) {
      const staged = path.join(work, 'tree', ...row.path.split('/'));
      const fail = (reason: string) => report.unrepairable.push({ path: row.path, jobId: row.jobId, reason });
      // The replacement goes into the root: only a file recorded on hot is repaired there.
      if (row.tier !== 'hot' || row.encoding !== null) {
        fail(`on tier ${row.tier}${row.encoding ? ` (stored ${row.encoding})` : ''}: not repaired from an archive yet; restore it there, or move its job to hot first`);
        continue;
      }
      if (!fs.existsSync(staged)) {
        fail('not in the archive');
        continue;
      }
      const got = sha256FileSync(staged);
      if (got.sha256 !== row.sha256 || got.size !== row.size) {
        fail(`the archive's copy differs from the catalog (size ${got.size}, SHA-256 ${got.sha256.slice(0, 12)}...)`);
        continue;
      }
      try {
        const back = local ? adoptLocal(ctx, row.path, staged) : await putObject(ctx, row, staged);
        if (back.sha256 !== row.sha256 || back.size !== row.size) {
          fail('the replacement did not read back as written');
          outcomes.push({ id: row.id, result: 'corrupt' });
          continue;
        }
      } catch (err) {
        fail(`cannot write the replacement: ${(err as Error).message}`);
        continue;
      }
      report.repaired.push({ path: row.path, jobId: row.jobId });
      outcomes.push({ id: row.id, result: 'ok' });
      events.push({ runId: ctx.runId, at: ctx.clock(), action: 'verify-repaired', path: row.path, jobId: row.jobId, bytes: row.size, reason: `was ${row.state}; replaced from ${path.basename(archive)}` });
    }
    // Names that share one copy (put --on-duplicate link, dedup) were damaged together and
    // repaired one by one, each from its own archived copy: link them to one again, so the
    // store is as the catalog records it. Only repaired names, all just read back as written.
    const repairedPaths = new Set(report.repaired.map((x) => x.path));
    if (local) report.relinked = relinkRepaired(ctx, [...wanted.values()].filter((r) => repairedPaths.has(r.path)), work);
    await ic.recordVerifications(outcomes, ctx.clock(), events);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return report;
}

/** Links each repaired name of a content group to the group's first repaired name; returns how many. */
function relinkRepaired(ctx: Context, repaired: VerifyRow[], staging: string): number {
  const keepers = new Map<number, VerifyRow>();
  let linked = 0;
  for (const row of repaired) {
    if (row.contentGroup === null) continue;
    const keeper = keepers.get(row.contentGroup);
    if (!keeper) {
      keepers.set(row.contentGroup, row);
      continue;
    }
    if (keeper.sha256 !== row.sha256 || keeper.size !== row.size) continue;
    ctx.blobs.linkFrom(row.path, keeper.path, staging);
    linked++;
  }
  return linked;
}

function adoptLocal(ctx: Context, rel: string, staged: string): { sha256: string; size: number } {
  ctx.blobs.adopt(rel, staged);
  return ctx.blobs.hash(rel);
}

/** Small objects go in one PutObject (with the SHA-256 where the server checks it); large ones multipart. */
const SINGLE_PUT = 8 << 20;

/** Writes the replacement object (whole or not at all, as put() promises) and reads it back. */
async function putObject(ctx: Context, row: VerifyRow, staged: string): Promise<{ sha256: string; size: number }> {
  const data = row.size <= SINGLE_PUT ? fs.readFileSync(staged) : fs.createReadStream(staged, { highWaterMark: 1 << 20 });
  await ctx.store.put(row.path, data, { sha256: row.sha256 });
  const back = await hashObject(ctx.store, row.path);
  if (!back.ok) throw new Error(back.reason);
  return back;
}
