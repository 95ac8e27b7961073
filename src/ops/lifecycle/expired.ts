// cleanup-expired: plan (shared by dry and real runs), guard, confirm, apply.
import { phaseTimer } from '../../profile.ts';
import type { Context } from '../../context.ts';
import type { DeletionLane } from '../../db/catalog.ts';
import { FailedError, NotFoundError, UsageError } from '../../errors.ts';
import { applyBatches, batches, newTally, recoverInterrupted, stoppedMidRun, type ApplyTally } from './apply.ts';
import type { DeletionTarget } from './gate.ts';
import { capVerdict, guardCap, guardEmptyStore, hotHasPresentRows, type CapVerdict } from './guards.ts';
import { openDeletionTarget } from './target.ts';
import { openTieredDeletionTarget } from './tiered-target.ts';
import { withStoreLock } from '../store-lock.ts';
import { planExpired, type PlanSkip, type PlannedGroup, type PlannedMark } from './plan.ts';
import { describeRule, type Rule } from './rules.ts';
import { reasonPattern } from './reasons.ts';
import { Spool } from './spool.ts';

export interface ExpiredOptions {
  dryRun: boolean;
  asOf: Date;
  rules: Rule[];
  list: boolean;
  maxDelete?: string;
  /** Where maxDelete came from, for messages (default --max-delete). */
  maxDeleteSource?: string;
  /** Delete at most this many files this run (whole jobs, in plan order); the rest is left for the next run. */
  limit?: number;
  waitMs: number;
  allowEmptyRoot: boolean;
  /** Asked once the plan is known, before anything changes; false cancels. */
  confirm: (plan: PlanTotals) => Promise<boolean>;
}

export interface RuleTotals {
  rule: string;
  action: string;
  jobs: number;
  files: number;
  bytes: number;
}

export interface PlanTotals {
  jobs: number;
  files: number;
  bytes: number;
  alreadyGone: number;
  markFailed: number;
  skipped: number;
  /** Due but left for the next run by --limit (whole jobs). */
  deferred: { jobs: number; files: number; bytes: number };
}

export interface ExpiredReport {
  dryRun: boolean;
  asOf: string;
  rules: ReturnType<typeof describeRule>[];
  plan: PlanTotals & { byRule: RuleTotals[] };
  /** --limit of this run (null: none). */
  limit: number | null;
  /** The --max-delete cap's verdict on this plan (null: no cap). A dry run shows it; a real run refused by it stops before any change. */
  cap: CapVerdict | null;
  /** Files left 'deleting' by an interrupted run: a real run finishes them first. */
  interrupted: number;
  skipped: PlanSkip[];
  /** With --list: every path (dry run: planned; real run: what happened to it). */
  list?: { path: string; rule: string; jobId: string | null; dueAt?: string; bytes?: number; outcome?: string }[];
  markFailed?: PlannedMark[];
  result?: {
    jobs: number;
    files: number;
    bytes: number;
    alreadyGone: number;
    markedFailed: number;
    recovered: number;
    dirsRemoved: number;
    byRule: RuleTotals[];
  };
  changed: { path: string; jobId: string | null; reason: string }[];
  failed: { path: string; jobId: string | null; reason: string }[];
}

export async function runCleanupExpired(ctx: Context, o: ExpiredOptions): Promise<ExpiredReport> {
  if (o.dryRun) return plan(ctx, o, null);
  return withStoreLock(ctx, 'cleanup-expired', o.waitMs, async () => {
    const spool = new Spool<PlannedGroup>();
    // Opened now, so it is ready (a thread started, on SQLite) by the time the plan is.
    const lane = ctx.catalog.openDeletionLane();
    lane.catch(() => {});
    try {
      return await plan(ctx, o, { spool, lane });
    } finally {
      spool.dispose();
      await (await lane.catch(() => null))?.close();
    }
  });
}

interface Apply {
  spool: Spool<PlannedGroup>;
  lane: Promise<DeletionLane>;
}

async function plan(ctx: Context, o: ExpiredOptions, apply: Apply | null): Promise<ExpiredReport> {
  const spool = apply?.spool ?? null;
  const has = await ctx.catalog.hasFiles();
  await guardEmptyStore(ctx.store, ctx.config.root, await hotHasPresentRows(ctx, has.present), o.allowEmptyRoot, ctx.catalog);
  const gate = await openTieredDeletionTarget(ctx, openDeletionTarget(ctx, o.dryRun), o.dryRun);
  const tally = newTally(o.list);
  try {
    return await planWith(ctx, o, apply, gate, tally, spool);
  } finally {
    gate.close();
  }
}

async function planWith(ctx: Context, o: ExpiredOptions, apply: Apply | null, gate: DeletionTarget, tally: ApplyTally, spool: Spool<PlannedGroup> | null): Promise<ExpiredReport> {
  let recovered = 0;
  if (apply) recovered = await recoverInterrupted(ctx, await apply.lane, gate, tally);
  const report: ExpiredReport = {
    dryRun: o.dryRun,
    asOf: o.asOf.toISOString(),
    rules: o.rules.map(describeRule),
    limit: o.limit ?? null,
    cap: null,
    plan: { jobs: 0, files: 0, bytes: 0, alreadyGone: 0, markFailed: 0, skipped: 0, deferred: { jobs: 0, files: 0, bytes: 0 }, byRule: o.rules.map((r) => ({ rule: r.id, action: r.action, jobs: 0, files: 0, bytes: 0 })) },
    interrupted: spool ? 0 : (await ctx.catalog.filesInState('deleting', 10_000, reasonPattern('rule'))).length,
    skipped: [],
    changed: [],
    failed: [],
    ...(o.list ? { list: [], markFailed: [] } : {}),
  };
  const marks: PlannedMark[] = [];
  const progress = ctx.progress('planning');
  const stopPlan = phaseTimer('plan (wall)');
  for await (const item of planExpired(ctx, o.rules, o.asOf, gate)) {
    progress.tick();
    if (item.type === 'skip') {
      report.skipped.push(item.skip);
      report.plan.skipped++;
      continue;
    }
    const rt = report.plan.byRule.find((r) => r.rule === (item.type === 'group' ? item.group.rule : item.mark.rule))!;
    if (item.type === 'mark') {
      marks.push(item.mark);
      report.markFailed?.push(item.mark);
      rt.jobs++;
      report.plan.markFailed++;
      continue;
    }
    const g = item.group;
    if (o.limit !== undefined) {
      // Whole jobs, in plan order: once one does not fit, it and every later one wait for the next run.
      const unlinks = g.files.filter((f) => f.disk).length;
      if (report.plan.deferred.jobs || report.plan.files - report.plan.alreadyGone + unlinks > o.limit) {
        report.plan.deferred.jobs++;
        for (const f of g.files) {
          report.plan.deferred.files++;
          report.plan.deferred.bytes += f.disk ? f.size : 0;
          if (o.dryRun) report.list?.push({ path: f.path, rule: g.rule, jobId: g.jobId, dueAt: g.dueAt, bytes: f.disk ? f.size : 0, outcome: 'next_run' });
        }
        continue;
      }
    }
    spool?.push(g);
    rt.jobs++;
    report.plan.jobs++;
    for (const f of g.files) {
      const bytes = f.disk ? f.size : 0;
      rt.files++;
      rt.bytes += bytes;
      report.plan.files++;
      report.plan.bytes += bytes;
      if (!f.disk) report.plan.alreadyGone++;
      if (o.dryRun) report.list?.push({ path: f.path, rule: g.rule, jobId: g.jobId, dueAt: g.dueAt, bytes, outcome: f.disk ? 'delete' : 'already_gone' });
    }
  }
  progress.done();
  stopPlan(report.plan.files);
  // A cap in % needs the number of present files; counting them is skipped otherwise.
  const presentFiles = o.maxDelete?.endsWith('%') ? (await ctx.catalog.counts()).presentFiles : 0;
  const toDelete = report.plan.files - report.plan.alreadyGone;
  if (o.maxDelete !== undefined) report.cap = capVerdict('files', toDelete, o.maxDelete, presentFiles, 'present files', o.maxDeleteSource);
  // A dry run always shows the plan, with the cap's verdict; a real run over the cap is refused.
  if (!apply) return report;
  guardCap('files', toDelete, o.maxDelete, presentFiles, 'present files', o.maxDeleteSource, true);

  const nothing = report.plan.files === 0 && marks.length === 0;
  if (!nothing && !(await o.confirm(report.plan))) throw new FailedError('cancelled: nothing was changed', undefined, 'cancelled');
  let markedFailed = 0;
  for (const key of new Set(marks.map((m) => `${m.rule}\0${m.status}`))) {
    const [rule, status] = key.split('\0') as [string, string];
    const group = marks.filter((m) => m.rule === rule && m.status === status);
    const reason = `stuck in ${status}: not updated since the rule's age (rule ${rule}); marked failed by cleanup-expired`;
    const done = await ctx.catalog.markJobsFailed(group.map((m) => ({ id: m.jobId, status: m.status, updatedAt: new Date(m.updatedAtMs) })), reason, ctx.clock());
    markedFailed += done.length;
    const doneSet = new Set(done);
    for (const m of group) if (!doneSet.has(m.jobId)) tally.changed.push({ path: '', jobId: m.jobId, reason: 'job changed since planning: not marked failed' });
  }
  const progressApply = ctx.progress('deleting', report.plan.files);
  const stopApply = phaseTimer('apply (wall)');
  try {
    await applyBatches(ctx, await apply.lane, gate, batches(apply.spool.read()), tally, (files) => progressApply.tick(files));
    stopApply(tally.files);
  } catch (err) {
    throw stoppedMidRun('cleanup-expired', err, tally, {
      what: 'files',
      hint: "the files it was deleting then are marked 'deleting' in the catalog: run cleanup-expired again once the catalog is back, it finishes them first",
    });
  }
  progressApply.done();
  finishReport(report, tally, recovered, markedFailed, o.rules);
  return report;
}

function finishReport(report: ExpiredReport, t: ApplyTally, recovered: number, markedFailed: number, rules: Rule[]): void {
  report.result = {
    jobs: t.jobs,
    files: t.files,
    bytes: t.bytes,
    alreadyGone: t.alreadyGone,
    markedFailed,
    recovered,
    dirsRemoved: t.dirsRemoved,
    byRule: rules.map((r) => ({ rule: r.id, action: r.action, ...(t.byRule.get(r.id) ?? { jobs: 0, files: 0, bytes: 0 }) })),
  };
  if (report.list) report.list = t.deletedPaths ?? [];
  report.changed = t.changed;
  report.failed = t.failed;
}

export interface ExplainReport {
  job: { id: string; kind: string; owner: string; status: string; filesState: string; createdAt: string; updatedAt: string; completedAt: string | null };
  asOf: string;
  files: { present: number; bytes: number };
  deleteRule: (ReturnType<typeof describeRule> & { dueAt: string; due: boolean }) | null;
  markRule: (ReturnType<typeof describeRule> & { dueAt: string; due: boolean }) | null;
  verdict: string;
}

/** Which rule governs one job, and when its files are (or were) due. */
export async function explainJob(ctx: Context, jobId: string, rules: Rule[], asOf: Date): Promise<ExplainReport> {
  const { deleteRuleForJob, markRuleForJob, jobDueAt } = await import('./rules.ts');
  const [job] = await ctx.catalog.getJobs([jobId]);
  if (!job) throw new NotFoundError(`no job ${JSON.stringify(jobId)} in the catalog`, 'check the id: storectl jobs lists the jobs of this catalog');
  const present = (await ctx.catalog.filesOfJob(jobId)).filter((f) => f.state === 'present');
  const dr = deleteRuleForJob(rules, job);
  const mr = markRuleForJob(rules, job);
  const withDue = (r: Rule) => {
    const dueAt = jobDueAt(r, job);
    return { ...describeRule(r), dueAt: dueAt.toISOString(), due: dueAt <= asOf };
  };
  const deleteRule = dr ? withDue(dr) : null;
  const markRule = mr ? withDue(mr) : null;
  let verdict: string;
  if (!present.length) verdict = `no present files (files_state ${job.filesState}): nothing to delete`;
  else if (!deleteRule) verdict = `no delete rule applies to a ${job.kind} job in status ${job.status}: its files are kept`;
  else verdict = deleteRule.due ? `due since ${deleteRule.dueAt}: the next run deletes its ${present.length} files (rule ${deleteRule.id})` : `due at ${deleteRule.dueAt} (rule ${deleteRule.id})`;
  if (markRule) verdict += markRule.due ? `; stuck: the next run marks it failed (rule ${markRule.id})` : `; would be marked failed at ${markRule.dueAt} if not updated (rule ${markRule.id})`;
  return {
    job: {
      id: job.id,
      kind: job.kind,
      owner: job.owner,
      status: job.status,
      filesState: job.filesState,
      createdAt: job.createdAt.toISOString(),
      updatedAt: job.updatedAt.toISOString(),
      completedAt: job.completedAt?.toISOString() ?? null,
    },
    asOf: asOf.toISOString(),
    files: { present: present.length, bytes: present.reduce((a, f) => a + f.size, 0) },
    deleteRule,
    markRule,
    verdict,
  };
}
