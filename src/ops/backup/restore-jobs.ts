// `storectl restore ARCHIVE --job ID...`: brings chosen jobs back from a backup into an existing
// store (a card deleted after QA, needed again for a reprint) without replacing the store.
//
// The archive is verified whole, as a full restore verifies it (entry order, names, manifest,
// every file's size and SHA-256 against its row, every table against the summary); only the
// chosen jobs' files are staged. Then, under the store lock, each job is checked against the
// store: a file the store holds already (its row present) or an unknown file where one of the
// job's files would go is a conflict, and the job is refused whole. A job that passes has its
// files placed through the BlobStore (temp file, fsync, rename locally; whole objects on S3),
// then its rows written in one transaction (the job inserted if the store lost it; its file rows
// inserted or brought back from their tombstones), with an event per file. A crash between the
// two leaves files without rows, which a rerun recognises (same size and SHA-256) and adopts;
// the catalog refusing the rows (a quota) removes the files just placed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Context } from '../../context.ts';
import { schemaVersion } from '../../db/migrations.ts';
import type { FileRecord, NewFile, NewJob } from '../../db/types.ts';
import { isQuotaExceeded } from '../../db/usage.ts';
import { FailedError, NotFoundError, QuotaExceededError, errorMessage, isFault } from '../../errors.ts';
import { sha256FileSync, sha256Stream } from '../../storage/hash.ts';
import { RESERVED_DIR } from '../../storage/layout.ts';
import { removeTreeIn } from '../../storage/confined.ts';
import { pausePoint } from '../../test-hooks.ts';
import { withStoreLock } from '../store-lock.ts';
import { quotaExceededMessage } from '../quota.ts';
import { s3RestoreDir } from './restore-s3.ts';
import { stagedRows, verifyArchive } from './verify.ts';

export interface RestoreJobsOptions {
  archive: string;
  jobIds: readonly string[];
  dryRun: boolean;
  waitMs: number;
}

export interface RestoredJob {
  jobId: string;
  /** restored: files and rows written; would-restore: the dry run's plan; refused: a conflict (nothing of the job written). */
  outcome: 'restored' | 'would-restore' | 'refused';
  /** The job row was not in the store and was inserted from the archive. */
  jobInserted: boolean;
  files: number;
  bytes: number;
  /** Files found in place from an interrupted run (same size and SHA-256), adopted. */
  adopted: number;
  /** Present in the archive's catalog but not archived at backup (gone then): their rows stay as the store has them. */
  notInArchive: string[];
  /** Why it was refused. */
  conflicts: string[];
}

export interface RestoreJobsReport {
  archive: string;
  format: string;
  dryRun: boolean;
  source: { dialect: string; createdAt: string; schemaVersion: number };
  jobs: RestoredJob[];
  files: number;
  bytes: number;
  durationMs: number;
}

interface ArchivedJob {
  job: NewJob;
  files: NewFile[];
}

export async function runRestoreJobs(ctx: Context, opts: RestoreJobsOptions): Promise<RestoreJobsReport> {
  // A dry run stages nothing but the catalog, in a temp directory, and takes no lock. A real run
  // holds the store lock from the first read of the archive to the last row, so the staging
  // directories of earlier runs that were killed can go.
  if (opts.dryRun) return restoreJobs(ctx, opts, fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-restore-jobs-')));
  return withStoreLock(ctx, 'restore', opts.waitMs, async () => {
    const base = stagingBase(ctx);
    for (const name of fs.existsSync(base) ? fs.readdirSync(base) : []) if (name.startsWith(STAGING_PREFIX)) removeTreeIn(base, name);
    return restoreJobs(ctx, opts, path.join(base, `${STAGING_PREFIX}${ctx.runId}`));
  });
}

const STAGING_PREFIX = 'restore-jobs-';

/** Where a real run stages the chosen jobs' files: the store's own .storectl/, or the S3 store's local state directory. */
function stagingBase(ctx: Context): string {
  const base = ctx.store.capabilities.kind === 'local' ? path.join(ctx.config.root, RESERVED_DIR) : s3RestoreDir(ctx.store.url);
  fs.mkdirSync(base, { recursive: true, mode: 0o700 });
  return base;
}

async function restoreJobs(ctx: Context, opts: RestoreJobsOptions, staging: string): Promise<RestoreJobsReport> {
  const started = Date.now();
  const wanted = new Set(opts.jobIds);
  fs.mkdirSync(staging, { recursive: true, mode: 0o700 });
  try {
    const archived = new Map<string, ArchivedJob>();
    let paths: Set<string> | undefined;
    // The chosen jobs' rows, read from the staged catalog once its tables are in (they precede
    // the files in the archive): the paths of their files are what gets staged.
    const selectedPaths = () => {
      if (paths) return paths;
      paths = new Set();
      for (const batch of stagedRows(path.join(staging, 'catalog', 'jobs.ndjson'), 'jobs')) {
        for (const r of batch) if (wanted.has(String(r.id))) archived.set(String(r.id), { job: r as unknown as NewJob, files: [] });
      }
      for (const batch of stagedRows(path.join(staging, 'catalog', 'files.ndjson'), 'files')) {
        for (const r of batch) {
          const a = r.jobId === null ? undefined : archived.get(String(r.jobId));
          if (!a || r.state !== 'present') continue;
          a.files.push(r as unknown as NewFile);
          paths.add(String(r.path));
        }
      }
      return paths;
    };
    const progress = ctx.progress('verify');
    let v;
    try {
      v = await verifyArchive(opts.archive, {
        schemaVersion: schemaVersion(ctx.catalog.dialect),
        stage: { dir: staging, writeTree: !opts.dryRun, only: (rel) => selectedPaths().has(rel) },
        progress,
      });
    } catch (err) {
      if (isFault(err)) throw new FailedError(`restore --job stopped while staging ${opts.archive} in ${staging}: ${errorMessage(err)}; nothing was restored`, 'free space or fix the mount, then run it again', 'io_failed');
      throw err;
    } finally {
      progress.done();
    }
    selectedPaths();
    const missing = opts.jobIds.filter((id) => !archived.has(id));
    if (missing.length) {
      throw new NotFoundError(`not in the archive ${opts.archive}: job${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`, "check the id (`storectl jobs` lists the store's jobs), or pick a backup taken while the job had its files");
    }
    const notArchived = new Set(v.summary.skipped.map((s) => s.path));
    const report: RestoreJobsReport = {
      archive: opts.archive,
      format: v.format,
      dryRun: opts.dryRun,
      source: { dialect: v.head.source.dialect, createdAt: v.head.createdAt, schemaVersion: v.head.schemaVersion },
      jobs: [],
      files: 0,
      bytes: 0,
      durationMs: 0,
    };
    for (const id of opts.jobIds) {
      const r = await restoreOne(ctx, archived.get(id)!, staging, notArchived, opts.dryRun);
      report.jobs.push(r);
      if (r.outcome !== 'refused') {
        report.files += r.files;
        report.bytes += r.bytes;
      }
    }
    report.durationMs = Date.now() - started;
    return report;
  } finally {
    removeTreeIn(path.dirname(staging), path.basename(staging));
  }
}

async function restoreOne(ctx: Context, a: ArchivedJob, staging: string, notArchived: Set<string>, dryRun: boolean): Promise<RestoredJob> {
  const jobId = a.job.id;
  const present = a.files.filter((f) => !notArchived.has(f.path));
  const result: RestoredJob = {
    jobId,
    outcome: dryRun ? 'would-restore' : 'restored',
    jobInserted: false,
    files: present.length,
    bytes: present.reduce((n, f) => n + f.size, 0),
    adopted: 0,
    notInArchive: a.files.filter((f) => notArchived.has(f.path)).map((f) => f.path),
    conflicts: [],
  };
  const [existing] = await ctx.catalog.getJobs([jobId]);
  result.jobInserted = !existing;
  const rows = new Map((await ctx.catalog.filesByPaths(present.map((f) => f.path))).map((r: FileRecord) => [r.path, r]));
  const adopt = new Set<string>();
  for (const f of present) {
    const row = rows.get(f.path);
    if (row && row.jobId !== jobId) result.conflicts.push(`${f.path} belongs to job ${row.jobId ?? '(none)'} in this store`);
    else if (row && row.state === 'present') result.conflicts.push(`${f.path} is present in this store already`);
    else if (row && row.state === 'deleting') result.conflicts.push(`${f.path} is being deleted (run cleanup-expired to finish it first)`);
    else {
      const there = await ctx.store.stat(f.path);
      if (!there) continue;
      if (there.kind === 'file' && there.size === f.size && (await storedSha(ctx, f.path)) === f.sha256) adopt.add(f.path);
      else result.conflicts.push(`${f.path}: a file the catalog does not know is in its place`);
    }
  }
  if (result.conflicts.length) {
    result.outcome = 'refused';
    return result;
  }
  result.adopted = adopt.size;
  if (dryRun) return result;

  const placed: string[] = [];
  try {
    for (const f of present) {
      if (adopt.has(f.path)) continue;
      const staged = path.join(staging, 'tree', ...f.path.split('/'));
      await ctx.store.put(f.path, fs.createReadStream(staged), { sha256: f.sha256, contentType: f.contentType });
      placed.push(f.path);
      await pausePoint('restore-job-placed');
    }
  } catch (err) {
    await ctx.store.removeMany(placed).catch(() => undefined);
    throw new FailedError(`restore --job ${jobId}: placing its files failed: ${errorMessage(err)}; the files placed were removed, no row was written`, 'fix the cause, then run it again');
  }
  const at = ctx.clock();
  const generation = (a.job.generation ?? {}) as Record<string, unknown>;
  try {
    await ctx.catalog.recordGeneration(jobId, present.map((f) => ({ ...f, state: 'present', deletedAt: null, deleteReason: null })), generation, at, existing ? {} : { newJob: a.job });
  } catch (err) {
    await ctx.store.removeMany(placed).catch(() => undefined);
    if (isQuotaExceeded(err)) {
      const owner = present[0]?.owner ?? a.job.owner ?? '';
      throw new QuotaExceededError(`restore --job ${jobId}: ${quotaExceededMessage(await ctx.catalog.usage.ownerUsage(owner), result.bytes, present.length)}; its files were removed again`);
    }
    throw err;
  }
  await ctx.catalog.addEvents(present.map((f) => ({ runId: ctx.runId, at, action: 'restore', path: f.path, jobId, bytes: f.size, reason: 'restored from backup' })));
  return result;
}

async function storedSha(ctx: Context, key: string): Promise<string | undefined> {
  if (ctx.store.capabilities.kind === 'local') return sha256FileSync(ctx.blobs.abs(key)).sha256;
  return (await sha256Stream(await ctx.store.get(key))).sha256;
}
