// Planning cleanup-expired: the one function both a dry run and a real run use, so a real run
// deletes exactly what its dry run listed. Streams the catalog a page at a time.
import { phaseTimer, timed } from '../../profile.ts';
import type { Context } from '../../context.ts';
import type { JobHead, PathRow } from '../../db/types.ts';
import { FailedError } from '../../errors.ts';
import { reasonOfRule, type DeletionReason } from './reasons.ts';
import { DeleteGate, type DeletionTarget, type DiskState, type Expected } from './gate.ts';
import { openInspector, type Inspector } from './inspect-thread.ts';
import { deleteRuleForJob, dueClauses, fileDueAt, fileMatches, jobDueAt, markRuleForJob, type Rule } from './rules.ts';

export interface PlannedFile {
  id: number;
  path: string;
  /** Size in the catalog row (bytes freed). */
  size: number;
  /** What the plan saw on disk; null: the file is already gone (its row is tombstoned). */
  disk: Expected | null;
}

/** A unit of deletion: all present files of one job, or one file that belongs to no job. */
export interface PlannedGroup {
  /** How tallies group it: the rule id, or the reason's kind (reasonLabel). */
  rule: string;
  /** Why it is deleted: recorded with the intent, the tombstone and the events. */
  reason: DeletionReason;
  jobId: string | null;
  /** The job's status and updated_at when planned: a job changed since is skipped whole. */
  status: string | null;
  updatedAtMs: number | null;
  dueAt: string;
  files: PlannedFile[];
}

export interface PlannedMark {
  rule: string;
  jobId: string;
  status: string;
  updatedAtMs: number;
  dueAt: string;
}

export interface PlanSkip {
  rule: string;
  jobId: string | null;
  path: string;
  reason: string;
}

export type PlanItem = { type: 'group'; group: PlannedGroup } | { type: 'mark'; mark: PlannedMark } | { type: 'skip'; skip: PlanSkip };

const PAGE = 1000;
/** Files of a page worth handing to the inspect thread (below, starting it costs more). */
const INSPECT_THREAD_MIN = 1000;

/**
 * Every action cleanup-expired would take at `asOf`, in a stable order: job groups (by job id),
 * then loose files (by path), then stuck jobs to mark failed. Each file of a due job is looked
 * at on disk (lstat, through the gate): a job with an unsafe path, a symlink or a size that
 * disagrees with its row is skipped whole and reported, never half deleted.
 */
export async function* planExpired(ctx: Context, rules: readonly Rule[], asOf: Date, gate: DeletionTarget): AsyncGenerator<PlanItem> {
  // Local: lstat (a thread of its own for a large page); S3: HEAD, many in flight.
  const local = gate instanceof DeleteGate ? gate : null;
  if (rules.some((r) => r.scope === 'jobs' && r.action === 'delete')) {
    // Only due jobs leave the catalog; which rule governs each is still decided here.
    const due = dueClauses(rules, asOf);
    interface Page {
      last: string | undefined;
      full: boolean;
      dueJobs: Map<string, { job: JobHead; rule: Rule; dueAt: Date }>;
      rows: PathRow[];
    }
    const fetch = async (afterId: string | undefined): Promise<Page> => {
      const page = await timed('plan: catalog job pages', () => ctx.catalog.jobPage({ afterId, limit: PAGE, filesStates: ['on_disk', 'partial'], due }), (p) => p.length);
      const dueJobs = new Map<string, { job: JobHead; rule: Rule; dueAt: Date }>();
      for (const job of page) {
        const rule = deleteRuleForJob(rules, job);
        if (!rule) continue;
        const dueAt = jobDueAt(rule, job);
        if (dueAt <= asOf) dueJobs.set(job.id, { job, rule, dueAt });
      }
      const rows = dueJobs.size ? await timed('plan: catalog file rows', () => ctx.catalog.pathsOfJobs([...dueJobs.keys()], ['present']), (r) => r.length) : [];
      return { last: page[page.length - 1]?.id, full: page.length === PAGE, dueJobs, rows };
    };
    // The next page is asked for before this one is looked at on disk: on PostgreSQL the server
    // reads it meanwhile.
    let next: Promise<Page> | undefined = fetch(undefined);
    let inspector: Inspector | undefined;
    try {
      while (next) {
        const page: Page = await next;
        const { dueJobs, rows } = page;
        // lstat every file of the page's due jobs before grouping: for a large page on a thread
        // of its own (synchronous calls there, a thread-pool round trip costs more than the call),
        // while this thread reads the next page; a small page right here.
        const paths = rows.map((r) => r.path);
        const looking = !local ? gate.look(paths) : rows.length >= INSPECT_THREAD_MIN ? (inspector ??= openInspector(gate.root)).inspect(paths) : undefined;
        looking?.catch(() => {});
        next = page.full ? fetch(page.last) : undefined;
        next?.catch(() => {});
        const stopLook = phaseTimer('plan: lstat (waited for)');
        const states = looking ? await looking : paths.map((p) => local!.inspect(p));
        stopLook(paths.length);
        const disk = new Map<number, DiskState>();
        rows.forEach((r, i) => disk.set(r.id, states[i]!));
        const byJob = new Map<string, PathRow[]>();
        for (const r of rows) {
          const list = byJob.get(r.jobId!) ?? [];
          list.push(r);
          byJob.set(r.jobId!, list);
        }
        for (const [jobId, { job, rule, dueAt }] of dueJobs) {
          const files = byJob.get(jobId);
          if (!files?.length) continue;
          yield planGroup(rule, job, dueAt, files, disk);
        }
      }
    } finally {
      // Stopped early (an error downstream): nothing is left reading the catalog.
      await next?.catch(() => {});
      await inspector?.close();
    }
  }
  const fileRules = rules.filter((r) => r.scope === 'files' && r.action === 'delete');
  if (fileRules.length) {
    let afterPath: string | undefined;
    for (;;) {
      const page = await ctx.catalog.looseFilePage({ afterPath, limit: PAGE, states: ['present'] });
      if (!page.length) break;
      afterPath = page[page.length - 1]!.path;
      const due: { f: (typeof page)[number]; rule: Rule; dueAt: Date }[] = [];
      for (const f of page) {
        const rule = fileRules.find((r) => fileMatches(r, f));
        if (!rule) continue;
        const dueAt = fileDueAt(rule, f);
        if (dueAt <= asOf) due.push({ f, rule, dueAt });
      }
      const states = local ? due.map((d) => local.inspect(d.f.path)) : await gate.look(due.map((d) => d.f.path));
      for (const [i, { f, rule, dueAt }] of due.entries()) yield planGroup(rule, null, dueAt, [f], new Map([[f.id, states[i]!]]));
    }
  }
  const markRules = rules.filter((r) => r.action === 'mark_failed');
  const markStatuses = [...new Set(markRules.flatMap((r) => r.statuses ?? []))];
  if (markStatuses.length) {
    let afterId: string | undefined;
    for (;;) {
      const page = await ctx.catalog.jobPage({ afterId, limit: PAGE, statuses: markStatuses });
      if (!page.length) break;
      afterId = page[page.length - 1]!.id;
      for (const job of page) {
        const rule = markRuleForJob(markRules, job);
        if (!rule) continue;
        const dueAt = jobDueAt(rule, job);
        if (dueAt <= asOf) {
          yield { type: 'mark', mark: { rule: rule.id, jobId: job.id, status: job.status, updatedAtMs: job.updatedAt.getTime(), dueAt: dueAt.toISOString() } };
        }
      }
    }
  }
}

export function planGroup(rule: Rule, job: JobHead | null, dueAt: Date, rows: (Pick<PathRow, 'id' | 'path' | 'size'> & { storedSize?: number | null })[], seen: Map<number, DiskState>): PlanItem {
  const files: PlannedFile[] = [];
  // The bytes on disk: a compressed file's stored size (PathRow.size is that already).
  for (const r of rows.map((x) => (x.storedSize != null ? { ...x, size: x.storedSize } : x))) {
    const disk = seen.get(r.id)!;
    let problem: string | undefined;
    // Fail closed (design: an error while reading means no deletion in that run): a file that
    // could not even be looked at ends the plan, so the real run deletes nothing at all.
    if (disk.kind === 'error') throw new FailedError(`cannot look at ${r.path}: ${disk.reason}: nothing was deleted`, 'fix the permission or I/O problem and run again', 'read_failed');
    if (disk.kind === 'unsafe') problem = `unsafe path: ${disk.reason}`;
    else if (disk.kind === 'symlink' || disk.kind === 'other') problem = `not a regular file (${disk.kind})`;
    else if (disk.kind === 'file' && disk.size !== r.size) problem = `size on disk ${disk.size} differs from the catalog's ${r.size}`;
    if (problem) {
      const reason = job ? `${problem} (${r.path}); the job's files are kept together` : problem;
      return { type: 'skip', skip: { rule: rule.id, jobId: job?.id ?? null, path: r.path, reason } };
    }
    files.push({ id: r.id, path: r.path, size: r.size, disk: disk.kind === 'file' ? { size: disk.size, mtimeMs: disk.mtimeMs, ...(disk.identity ? { identity: disk.identity } : {}) } : null });
  }
  return {
    type: 'group',
    group: {
      rule: rule.id,
      reason: reasonOfRule(rule.id),
      jobId: job?.id ?? null,
      status: job?.status ?? null,
      updatedAtMs: job?.updatedAt.getTime() ?? null,
      dueAt: dueAt.toISOString(),
      files,
    },
  };
}
