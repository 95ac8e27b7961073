// delete: the files of chosen jobs, now, through the deletion engine that cleanup-expired uses:
// the same gate (re-check, no symlinks, root confinement), intent -> unlink -> tombstone
// protocol, store lock, mass-deletion cap and dry run from the same plan. Whole jobs only;
// tombstones say `manual`, and the run row records the user and host.
import type { Context } from '../../context.ts';
import type { DeletionLane } from '../../db/catalog.ts';
import type { DiskState } from '../lifecycle/gate.ts';
import { FailedError } from '../../errors.ts';
import { MANUAL_RULE, applyBatches, batches, newTally, recoverInterrupted } from '../lifecycle/apply.ts';
import { DeleteGate } from '../lifecycle/gate.ts';
import { guardCap, guardUnmountedRoot } from '../lifecycle/guards.ts';
import { planGroup, type PlanSkip, type PlannedGroup } from '../lifecycle/plan.ts';
import { reasonPattern } from '../lifecycle/reasons.ts';
import type { Rule } from '../lifecycle/rules.ts';
import { Spool } from '../lifecycle/spool.ts';
import { withStoreLock } from '../store-lock.ts';
import { selectJobs, type JobSelection } from './select.ts';
import type { JobHead } from '../../db/types.ts';

/** Jobs still being produced: their files are refused unless --force. */
export const PRODUCTION_STATUSES: readonly string[] = ['queued', 'assigned', 'printing', 'processing', 'quality_check'];

const MANUAL: Rule = { id: MANUAL_RULE, description: 'storectl delete', scope: 'jobs', action: 'delete', ageFrom: 'created_at', ageMs: 0 };
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
  await guardUnmountedRoot(ctx.config.root, has.present, o.allowEmptyRoot, ctx.catalog);
  const gate = new DeleteGate(ctx.config.root, o.dryRun);
  const tally = newTally(o.list);
  const recovered = apply ? await recoverInterrupted(ctx, await apply.lane, gate, tally, 'manual') : 0;
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
    const rows = await ctx.catalog.pathsOfJobs(jobs.map((j) => j.id), ['present']);
    const byJob = new Map<string, typeof rows>();
    for (const r of rows) byJob.set(r.jobId!, [...(byJob.get(r.jobId!) ?? []), r]);
    for (const job of jobs) {
      progress.tick();
      const files = byJob.get(job.id);
      if (!files?.length) {
        report.nothingToDelete.push(job.id);
        continue;
      }
      const disk = new Map<number, DiskState>(files.map((f) => [f.id, gate.inspect(f.path)]));
      const item = planGroup(MANUAL, job, now, files, disk);
      if (item.type === 'skip') {
        report.skipped.push(item.skip);
        continue;
      }
      if (item.type !== 'group') continue;
      const g = item.group;
      apply?.spool.push(g);
      report.plan.jobs++;
      for (const f of g.files) {
        const bytes = f.disk ? f.size : 0;
        report.plan.files++;
        report.plan.bytes += bytes;
        if (!f.disk) report.plan.alreadyGone++;
        if (o.dryRun) report.list?.push({ path: f.path, jobId: g.jobId, bytes, outcome: f.disk ? 'delete' : 'already_gone' });
      }
    }
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
  await applyBatches(ctx, await apply.lane, gate, batches(apply.spool.read()), tally, (files) => progressApply.tick(files));
  progressApply.done();
  report.result = { jobs: tally.jobs, files: tally.files, bytes: tally.bytes, alreadyGone: tally.alreadyGone, recovered, dirsRemoved: tally.dirsRemoved };
  if (report.list) report.list = (tally.deletedPaths ?? []).map((x) => ({ path: x.path, jobId: x.jobId, outcome: x.outcome }));
  report.changed = tally.changed;
  report.failed = tally.failed;
  return report;
}
