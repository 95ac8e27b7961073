import fs from 'node:fs';
import os from 'node:os';
import type { Context } from '../context.ts';
import type { Job, NewFile, NewJob } from '../db/types.ts';
import { FailedError, UsageError, errorMessage, isFault } from '../errors.ts';
import { GENERATOR_VERSION, RenderError, type CardData } from '../render/card.ts';
import { inlineRenderer, workerRenderer, type CardRenderer } from '../render/pool.ts';
import { renderExport } from '../render/export.ts';
import { sha256 } from '../storage/hash.ts';
import { cardFilePath, exportPath } from '../storage/layout.ts';
import { withStoreLock } from './store-lock.ts';
import { isQuotaExceeded } from '../db/usage.ts';
import { mapPool } from './pool.ts';
import { OrderedAdmission, admissionRefusal, type AdmissionTurn } from './quota.ts';
import { makeSample } from './sample.ts';

export interface GenerateOptions {
  /** New jobs to create, then render (from --jobs or --sample). */
  newJobs?: NewJob[];
  /** Jobs already in the catalog to render again (reprints). */
  jobIds?: string[];
  /** Render every job whose files were never generated. */
  pending?: boolean;
  workers: number;
  /** Relative photo paths resolve against this directory. */
  baseDir: string;
  /** Sample stores date their files as if rendered when the job was created. */
  simulateHistory?: boolean;
  /** Sample temp files to write and record. */
  tempFiles?: { path: string; createdAt: Date; bytes: Buffer }[];
  /** How long to wait for another run holding the store lock (0: exit 75 at once). */
  waitMs?: number;
}

export interface GeneratedJob {
  jobId: string;
  kind: string;
  dir: string;
  files: number;
  bytes: number;
}

export interface GenerateReport {
  jobs: { created: number; requested: number; rendered: number; failed: number };
  files: number;
  bytes: number;
  /** With --sample: stale temp uploads written beside the jobs (no job; for cleanup-expired to find), not in `files`. */
  temp: { files: number; bytes: number };
  durationMs: number;
  jobsPerSecond: number;
  workers: number;
  failures: { jobId: string; reason: string }[];
  rendered: GeneratedJob[];
}

export function defaultWorkers(): number {
  return Math.max(1, Math.min(8, os.availableParallelism()));
}

export function sampleJobs(count: number, days: number, now: Date, seed: number) {
  return makeSample(count, days, now, seed);
}

/** Creates the jobs it is given, then renders and records each job's files, holding the store lock. */
export function runGenerate(ctx: Context, opts: GenerateOptions): Promise<GenerateReport> {
  return withStoreLock(ctx, 'generate', opts.waitMs ?? 0, () => generateJobs(ctx, opts));
}

async function generateJobs(ctx: Context, opts: GenerateOptions): Promise<GenerateReport> {
  const started = performance.now();
  const created = opts.newJobs?.length ?? 0;
  if (opts.newJobs?.length) {
    const existing = await ctx.catalog.existingJobIds(opts.newJobs.map((j) => j.id));
    if (existing.length) {
      throw new UsageError(
        `job ${existing[0]} already exists${existing.length > 1 ? ` (and ${existing.length - 1} more)` : ''}; nothing was written`,
        `to render an existing job again, run \`storectl generate ${existing[0]}\``,
        'job_exists',
      );
    }
    await ctx.catalog.insertJobs(opts.newJobs);
  }
  if (opts.jobIds?.length) {
    const found = new Set(await ctx.catalog.existingJobIds(opts.jobIds));
    const unknown = opts.jobIds.filter((id) => !found.has(id));
    if (unknown.length) throw new UsageError(`unknown job id ${unknown.join(', ')}`, 'storectl jobs lists the job ids the catalog holds', 'unknown_job');
  }

  const ids = [...(opts.newJobs ?? []).map((j) => j.id), ...(opts.jobIds ?? [])];
  const report: GenerateReport = {
    jobs: { created, requested: 0, rendered: 0, failed: 0 },
    files: 0,
    bytes: 0,
    temp: { files: 0, bytes: 0 },
    durationMs: 0,
    jobsPerSecond: 0,
    workers: opts.workers,
    failures: [],
    rendered: [],
  };
  const progress = ctx.progress('generating', opts.pending ? undefined : ids.length);
  const admission = new OrderedAdmission(ctx);
  const work = async (job: Job, renderer: CardRenderer) => {
    report.jobs.requested++;
    const turn = admission.turn(job.owner);
    try {
      const done = await renderJob(ctx, job, opts, renderer, admission, turn);
      report.jobs.rendered++;
      report.files += done.files;
      report.bytes += done.bytes;
      report.rendered.push(done);
    } catch (err) {
      if (!(err instanceof RenderError) && !(err instanceof QuotaRefusal)) throw err;
      report.jobs.failed++;
      report.failures.push({ jobId: job.id, reason: err.message });
      ctx.log.warn(`job ${job.id}: ${err.message}`);
    } finally {
      turn.release();
      progress.tick();
    }
  };
  // One worker renders inline; more use worker threads, with two jobs each in flight so
  // rendering overlaps the writes and the catalog round trips.
  const renderer = opts.workers > 1 ? workerRenderer(opts.workers) : inlineRenderer();
  try {
    await mapPool(jobsToRender(ctx, ids, Boolean(opts.pending)), opts.workers * 2, (job) => work(job, renderer));
  } catch (err) {
    // A full disk, a read-only mount, a catalog that cannot be written: say what is done and what is not.
    if (!isFault(err)) throw err;
    throw new FailedError(
      `generate stopped in ${ctx.config.root}: ${errorMessage(err)}; ${report.jobs.rendered} job(s) were rendered and recorded before it, the others were not (no half-written file is recorded)`,
      'free space or fix the mount, then run `storectl generate --pending` to render the rest',
      'io_failed',
    );
  } finally {
    await renderer.close();
  }
  if (opts.tempFiles?.length) report.temp = await writeTempFiles(ctx, opts.tempFiles);
  progress.done();
  report.rendered.sort((a, b) => (a.jobId < b.jobId ? -1 : 1));
  report.failures.sort((a, b) => (a.jobId < b.jobId ? -1 : 1));
  report.durationMs = Math.round(performance.now() - started);
  report.jobsPerSecond = Math.round((report.jobs.rendered / Math.max(1, report.durationMs)) * 1000 * 10) / 10;
  return report;
}

/** Streams the jobs to render in pages, so --pending over a large backlog stays flat. */
async function* jobsToRender(ctx: Context, ids: string[], pending: boolean): AsyncGenerator<Job> {
  for (let i = 0; i < ids.length; i += 200) yield* await ctx.catalog.getJobs(ids.slice(i, i + 200));
  if (!pending) return;
  let after: string | undefined;
  for (;;) {
    const page = await ctx.catalog.pendingJobIds('card', 200, after);
    if (!page.length) return;
    yield* await ctx.catalog.getJobs(page);
    after = page[page.length - 1];
  }
}

/** A job refused by its owner's quota: it fails alone, with nothing written. */
export class QuotaRefusal extends Error {}

async function renderJob(
  ctx: Context,
  job: Job,
  opts: GenerateOptions,
  renderer: CardRenderer,
  admission: OrderedAdmission,
  turn: AdmissionTurn,
): Promise<GeneratedJob> {
  const at = opts.simulateHistory ? new Date(job.createdAt.getTime() + 30_000) : ctx.clock();
  const outputs =
    job.kind === 'export'
      ? [(() => {
          const e = renderExport(job.id, job.data);
          return { path: exportPath(e.exportType, job.id, job.createdAt, e.ext), role: e.role, contentType: e.contentType, category: 'exports', bytes: e.bytes };
        })()]
      : (await renderer.render(job.data as unknown as CardData, opts.baseDir)).map((f) => ({
          path: cardFilePath(job.id, job.createdAt, f.role),
          role: f.role,
          contentType: f.contentType,
          category: 'cards',
          bytes: f.bytes,
        }));
  // Quota admission before anything is written (a reprint needs only what it adds), in the
  // order the jobs were taken among the owner's jobs.
  const earlier = job.filesState === 'none' ? [] : (await ctx.catalog.filesOfJob(job.id)).filter((f) => f.state === 'present' || f.state === 'deleting');
  const replaced = new Map(earlier.map((f) => [f.path, f.size]));
  const needBytes = outputs.reduce((a, o) => a + o.bytes.length - (replaced.get(o.path) ?? 0), 0);
  const needFiles = outputs.filter((o) => !replaced.has(o.path)).length;
  const admitted = await admission.admit(turn, job.owner, Math.max(0, needBytes), needFiles);
  if (admitted.refusal) throw new QuotaRefusal(admitted.refusal);
  try {
    return await writeJob(ctx, job, opts, at, outputs, replaced, needBytes, needFiles);
  } finally {
    admitted.settle();
  }
}

interface RenderedOutput {
  path: string;
  role: string;
  contentType: string;
  category: string;
  bytes: Buffer;
}

async function writeJob(
  ctx: Context,
  job: Job,
  opts: GenerateOptions,
  at: Date,
  outputs: RenderedOutput[],
  replaced: Map<string, number>,
  needBytes: number,
  needFiles: number,
): Promise<GeneratedJob> {
  // Files first (atomic writes), rows after in one transaction: a crash in between leaves
  // unreferenced files for cleanup-orphaned, never a row without its file. A failure that is
  // not a crash (a full disk, a catalog that refuses the rows) removes the job's new files
  // before it is reported, so nothing half-done stays behind.
  const local = ctx.store.capabilities.kind === 'local';
  const sums = outputs.map((o) => sha256(o.bytes));
  const abandon = async () => {
    const fresh = outputs.filter((o) => !replaced.has(o.path)).map((o) => o.path);
    await ctx.store.removeMany(fresh).catch(() => undefined);
  };
  let files: NewFile[];
  try {
    // The local tree's putMany overlaps the fsyncs of a job's files; other backends put each
    // object whole (with its SHA-256 for the server to check), a job's files in parallel.
    const stats = local
      ? await ctx.blobs.putMany(outputs.map((o) => ({ rel: o.path, data: o.bytes })))
      : await Promise.all(outputs.map((o, i) => ctx.store.put(o.path, o.bytes, { sha256: sums[i], contentType: o.contentType })));
    files = outputs.map((o, i) => {
      if (opts.simulateHistory && local) fs.utimesSync(ctx.blobs.abs(o.path), at, at);
      return {
        jobId: job.id,
        role: o.role,
        category: o.category,
        owner: job.owner,
        path: o.path,
        contentType: o.contentType,
        size: stats[i]!.size,
        sha256: sums[i]!,
        mtime: opts.simulateHistory ? at : stats[i]!.mtime,
        createdAt: at,
      };
    });
  } catch (err) {
    await abandon();
    throw err;
  }
  const bytes = files.reduce((a, f) => a + f.size, 0);
  try {
    await ctx.catalog.recordGeneration(
      job.id,
      files,
      {
        generatorVersion: GENERATOR_VERSION,
        generatedAt: at.toISOString(),
        files: Object.fromEntries(files.map((f) => [f.role, f.size])),
        totalBytes: bytes,
        filesOnDisk: files.length,
      },
      at,
    );
  } catch (err) {
    // The catalog refused the rows (another writer took the last bytes of the quota, or the
    // catalog's disk is full): the files just written have no row, so they go.
    await abandon();
    if (!isQuotaExceeded(err)) throw err;
    const again = await admissionRefusal(ctx, job.owner, Math.max(0, needBytes), needFiles);
    throw new QuotaRefusal(again ?? `quota exceeded: owner ${job.owner || '(none)'} (refused by the catalog)`);
  }
  return { jobId: job.id, kind: job.kind, dir: files[0]!.path.slice(0, files[0]!.path.lastIndexOf('/')), files: files.length, bytes };
}

async function writeTempFiles(ctx: Context, temp: NonNullable<GenerateOptions['tempFiles']>): Promise<GenerateReport['temp']> {
  const local = ctx.store.capabilities.kind === 'local';
  const stats = await Promise.all(
    temp.map(async (t) => {
      if (!local) return ctx.store.put(t.path, t.bytes, { sha256: sha256(t.bytes) });
      const st = ctx.blobs.put(t.path, t.bytes);
      fs.utimesSync(ctx.blobs.abs(t.path), t.createdAt, t.createdAt);
      return st;
    }),
  );
  const rows: NewFile[] = temp.map((t, i) => {
    const st = stats[i]!;
    return {
      jobId: null,
      role: 'upload.tmp',
      category: 'temp',
      path: t.path,
      contentType: 'application/octet-stream',
      size: st.size,
      sha256: sha256(t.bytes),
      mtime: t.createdAt,
      createdAt: t.createdAt,
    };
  });
  await ctx.catalog.insertFiles(rows);
  return { files: rows.length, bytes: rows.reduce((n, r) => n + r.size, 0) };
}
