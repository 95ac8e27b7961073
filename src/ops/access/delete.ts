// delete: the files of chosen jobs, now, through the deletion engine (ops/lifecycle/engine.ts):
// planDeletion with the reason `manual`, whole jobs (a group per job, tied to its status and
// updated_at), then applyDeletion: the same gate (re-check, no symlinks, root confinement),
// intent -> unlink -> tombstone protocol, store lock, mass-deletion cap and dry run from the
// same plan as cleanup-expired. Tombstones say `manual`; the run row records the user and host.
import { phaseTimer, timed } from '../../profile.ts';
import type { Context } from '../../context.ts';
import type { DeletionLane } from '../../db/catalog.ts';
import { FailedError } from '../../errors.ts';
import { applyDeletion, finishInterrupted, planDeletionOn, type DeletionResult } from '../lifecycle/engine.ts';
import { guardCap, guardEmptyStore, hotHasPresentRows } from '../lifecycle/guards.ts';
import { openDeletionTarget } from '../lifecycle/target.ts';
import { openTieredDeletionTarget } from '../lifecycle/tiered-target.ts';
import type { PlanSkip, PlannedGroup } from '../lifecycle/plan.ts';
import { MANUAL_RULE, reasonPattern, type DeletionReason } from '../lifecycle/reasons.ts';
import { Spool } from '../lifecycle/spool.ts';
import { withStoreLock } from '../store-lock.ts';
import { selectJobs, type JobSelection } from './select.ts';
import type { JobHead } from '../../db/types.ts';

/** Jobs still being produced: their files are refused unless --force. */
export const PRODUCTION_STATUSES: readonly string[] = ['queued', 'assigned', 'printing', 'processing', 'quality_check'];

const MANUAL: DeletionReason = { kind: 'manual' };
const JOBS_PER_READ = 500;

export interface DeleteOptions {
  dryRun: boolean;
  list: boolean;
  force: boolean;
  maxDelete?: string;
  waitMs: number;
  allowEmptyRoot: boolean;
  confirm: (plan: DeletePlanTotals) => Promise<boolean>;
}

export interface DeletePlanTotals {
  jobs: number;
  files: number;
  bytes: number;
  alreadyGone: number;
}

export interface DeleteReport {
  dryRun: boolean;
  plan: DeletePlanTotals;
  /** Jobs in production, left alone (pass --force). */
  refused: { jobId: string; status: string }[];
  /** Chosen jobs with no present file (never generated, or deleted already). */
  nothingToDelete: string[];
  notFound: string[];
  skipped: PlanSkip[];
  interrupted: number;
  list?: { path: string; jobId: string | null; bytes?: number; outcome: string }[];
  result?: { jobs: number; files: number; bytes: number; alreadyGone: number; recovered: number; dirsRemoved: number };
  changed: { path: string; jobId: string | null; reason: string }[];
  failed: { path: string; jobId: string | null; reason: string }[];
}

export async function runDelete(ctx: Context, sel: JobSelection, o: DeleteOptions): Promise<DeleteReport> {
  if (o.dryRun) return plan(ctx, sel, o, null);
  return withStoreLock(ctx, 'delete', o.waitMs, async () => {
    const spool = new Spool<PlannedGroup>();
    const lane = ctx.catalog.openDeletionLane();
    lane.catch(() => {});
    try {
      return await plan(ctx, sel, o, { spool, lane });
    } finally {
      spool.dispose();
      await (await lane.catch(() => null))?.close();
    }
  });
}

async function plan(ctx: Context, sel: JobSelection, o: DeleteOptions, apply: { spool: Spool<PlannedGroup>; lane: Promise<DeletionLane> } | null): Promise<DeleteReport> {
  const has = await ctx.catalog.hasFiles();
  await timed('plan: empty-store guard', async () => guardEmptyStore(ctx.store, ctx.config.root, await hotHasPresentRows(ctx, has.present), o.allowEmptyRoot, ctx.catalog));
  // A killed run's intent rows first (the engine: only what a manual deletion started).
  const recovered = apply ? await timed('recover interrupted', async () => finishInterrupted(ctx, 'manual', { lane: await apply.lane, list: o.list })) : null;
  const report: DeleteReport = {
    dryRun: o.dryRun,
    plan: { jobs: 0, files: 0, bytes: 0, alreadyGone: 0 },
    refused: [],
    nothingToDelete: [],
    notFound: [],
    skipped: [],
    interrupted: apply ? 0 : (await ctx.catalog.filesInState('deleting', 10_000, reasonPattern('manual'))).length,
    ...(o.list ? { list: [] } : {}),
    changed: [],
    failed: [],
  };
  const now = ctx.clock();
  const progress = ctx.progress('planning');
  const take = async (jobs: JobHead[]) => {
    const rows = await timed('plan: catalog file rows', () => ctx.catalog.pathsOfJobs(jobs.map((j) => j.id), ['present']), (r) => r.length);
    const withFiles = new Set(rows.map((r) => r.jobId!));
    for (const job of jobs) {
      progress.tick();
      if (!withFiles.has(job.id)) report.nothingToDelete.push(job.id);
    }
    // Whole jobs, in the order they were chosen.
    const order = new Map(jobs.map((j, i) => [j.id, i]));
    rows.sort((a, b) => order.get(a.jobId!)! - order.get(b.jobId!)!);
    // Looks only (lstat locally, HEAD on S3): the same plan for a dry run and a real run.
    const stopLook = phaseTimer('plan: look at each file (lstat / HEAD)');
    const planGate = await openTieredDeletionTarget(ctx, openDeletionTarget(ctx, true), true);
    const p = await planDeletionOn(planGate, rows, MANUAL, { jobs: new Map(jobs.map((j) => [j.id, j])), failClosed: true, at: now });
    stopLook(rows.length);
    for (const s of p.skipped) report.skipped.push({ rule: MANUAL_RULE, jobId: s.jobId ?? null, path: s.path, reason: s.reason });
    for (const g of p.groups) {
      apply?.spool.push(g);
      report.plan.jobs++;
      for (const f of g.files) {
        const bytes = f.disk ? f.size : 0;
        if (o.dryRun) report.list?.push({ path: f.path, jobId: g.jobId, bytes, outcome: f.disk ? 'delete' : 'already_gone' });
      }
    }
    report.plan.files += p.files;
    report.plan.bytes += p.bytes;
    report.plan.alreadyGone += p.alreadyGone;
  };
  let pending: JobHead[] = [];
  for await (const job of selectJobs(ctx, sel, now, (id) => report.notFound.push(id))) {
    if (PRODUCTION_STATUSES.includes(job.status) && !o.force) {
      report.refused.push({ jobId: job.id, status: job.status });
      continue;
    }
    pending.push(job);
    if (pending.length >= JOBS_PER_READ) {
      await take(pending);
      pending = [];
    }
  }
  if (pending.length) await take(pending);
  progress.done();
  const presentFiles = o.maxDelete?.endsWith('%') ? (await ctx.catalog.counts()).presentFiles : 0;
  guardCap('files', report.plan.files - report.plan.alreadyGone, o.maxDelete, presentFiles, 'present files');
  if (!apply) return report;
  if (report.plan.files && !(await o.confirm(report.plan))) throw new FailedError('cancelled: nothing was changed', undefined, 'cancelled');
  const progressApply = ctx.progress('deleting', report.plan.files);
  const stopApply = phaseTimer('apply (wall)');
  const done = await applyDeletion(ctx, { reason: MANUAL, groups: apply.spool.read() }, { lane: await apply.lane, list: o.list, onBatch: (files) => progressApply.tick(files) });
  progressApply.done();
  stopApply(done.files);
  const both = [recovered!, done];
  const sum = (k: 'files' | 'bytes' | 'alreadyGone' | 'dirsRemoved') => both.reduce((a, r) => a + r[k], 0);
  report.result = { jobs: done.jobs, files: sum('files'), bytes: sum('bytes'), alreadyGone: sum('alreadyGone'), recovered: rowsOf(recovered!), dirsRemoved: sum('dirsRemoved') };
  if (report.list) report.list = both.flatMap((r) => r.list ?? []).map((x) => ({ path: x.path, jobId: x.jobId, outcome: x.outcome }));
  report.changed = both.flatMap((r) => r.changed);
  report.failed = both.flatMap((r) => r.failed);
  return report;
}

/** Rows an interrupted run left that this run finished (deleted, or put back and reported). */
function rowsOf(r: DeletionResult): number {
  return r.files + r.changed.length + r.failed.length;
}
