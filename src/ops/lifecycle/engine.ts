// The deletion engine: the one way a catalog file is deleted, for every command that deletes.
//
//   planDeletion(ctx, files, reason, o?)  -> DeletionPlan   looks only (lstat by path): a dry
//                                                          run prints it, a real run applies it;
//        with o.jobs, whole jobs: one group per job, tied to its status and updated_at
//   applyDeletion(ctx, plan | source, o?) -> DeletionResult (a source: groups streamed, e.g. from
//                                                          a spool, for plans too big to hold)
//   applyDeletion(ctx, plan, opts?)       -> DeletionResult the delete protocol, batch by batch:
//        intent committed (rows 'deleting', delete_reason = the typed reason), each file
//        re-checked against the plan and unlinked through its directory held open (gate
//        batches: storage/confined.ts; many unlinks in flight), then in one transaction
//        tombstones, one event per file and the jobs' files_state; a file not deleted goes back
//        to 'present' (a 'delete_failed' event says why when it failed), never left 'deleting'.
//   finishInterrupted(ctx, kind)          -> DeletionResult rows a killed run of the same kind
//                                                          left 'deleting', finished (or restored)
//   removeUntracked(dir, rel)             -> boolean        one file the catalog does not track
//                                                          (backup retention), unlinked through
//                                                          the same confinement; removeTreeIn
//                                                          for restore --force's set-aside tree
//
// Reasons are typed (reasons.ts): { kind: 'rule', rule } | 'migrated-to-db' | 'manual' |
// 'orphan' | 'dedup' | 'transition'; a rerun finishes only what its own kind started. Callers:
// cleanup-expired (its pipelined applyBatches is this engine's batch loop, fed by its plan),
// migrate-images-to-db --delete-originals, `delete` (manual, whole jobs), and next dedup, tier
// transitions.
// The acting side is a DeletionTarget (gate.ts), chosen by the store (target.ts): DeleteGate /
// GateBatch for a local tree; S3Target / S3Batch (s3-target.ts) for an S3 store, which re-checks
// each object by HEAD (size, ETag) and removes with DeleteObjects, up to 1,000 keys a request,
// per-key results. planDeletionOn plans through either (HEAD on S3); planDeletion is the
// local, synchronous form.
import type { Context } from '../../context.ts';
import type { DeletionLane } from '../../db/catalog.ts';
import type { JobHead } from '../../db/types.ts';
import { FailedError } from '../../errors.ts';
import { removeTreeIn, unlinkFileIn } from '../../storage/confined.ts';
import { applyBatches, batches, newTally, recoverInterrupted, type ApplyTally } from './apply.ts';
import { DeleteGate, type DeletionTarget, type DiskState, type Expected } from './gate.ts';
import { openDeletionTarget } from './target.ts';
import { openTieredDeletionTarget } from './tiered-target.ts';
import type { PlannedFile, PlannedGroup } from './plan.ts';
import { reasonLabel, type DeletionReason, type ReasonKind } from './reasons.ts';

export { decodeReason, encodeReason, type DeletionReason, type ReasonKind } from './reasons.ts';

/** A catalog file to delete, as its row has it. */
export interface FileToDelete {
  id: number;
  path: string;
  size: number;
  jobId: string | null;
  /** What the caller saw of the file (e.g. the stat of the descriptor it read); default: an lstat now. */
  seen?: Expected;
}

export interface DeletionPlan {
  reason: DeletionReason;
  /**
   * Applied whole or not at all: one group per file (not tied to its job's status), or with
   * `jobs` one per job (its files together, skipped whole when the job changed since planning).
   */
  groups: PlannedGroup[];
  /**
   * Files the plan will not delete, and why (a symlink, an unsafe path, a size that disagrees).
   * With `jobs`: one entry per job skipped whole, naming the file that kept it.
   */
  skipped: { path: string; reason: string; jobId?: string | null }[];
  files: number;
  bytes: number;
  alreadyGone: number;
}

export interface DeletionResult {
  /** Groups (jobs, or files without a job) with at least one file deleted. */
  jobs: number;
  files: number;
  bytes: number;
  alreadyGone: number;
  changed: { path: string; jobId: string | null; reason: string }[];
  failed: { path: string; jobId: string | null; reason: string }[];
  dirsRemoved: number;
  /** With `list`: every file and what happened to it. */
  list?: { path: string; jobId: string | null; outcome: string }[];
}

export interface PlanOptions {
  /**
   * Whole jobs: the files of each job given here form one group, tied to the job's status and
   * updated_at as given (a job changed by the time its batch is applied is skipped whole), and
   * a job with one file that cannot be deleted is skipped whole, never half deleted. Files of
   * jobs not given here (and files without a job) stay one group each.
   */
  jobs?: ReadonlyMap<string, Pick<JobHead, 'id' | 'status' | 'updatedAt'>>;
  /**
   * Fail closed: a file that could not even be looked at (EACCES, EIO) ends the plan with a
   * FailedError, so the run deletes nothing, instead of being skipped.
   */
  failClosed?: boolean;
  /** When the plan was made (the groups' dueAt); default: no due time. */
  at?: Date;
}

/** Why a file cannot be deleted as planned, or undefined. */
function problemOf(f: FileToDelete, disk: DiskState, failClosed: boolean): string | undefined {
  if (disk.kind === 'error' && failClosed) throw new FailedError(`cannot look at ${f.path}: ${disk.reason}: nothing was deleted`, 'fix the permission or I/O problem and run again', 'read_failed');
  if (disk.kind === 'unsafe') return failClosed ? `unsafe path: ${disk.reason}` : disk.reason;
  if (disk.kind === 'error') return disk.reason;
  if (disk.kind === 'symlink' || disk.kind === 'other') return `not a regular file (${disk.kind})`;
  if (disk.kind === 'file' && disk.size !== f.size) return `size on disk ${disk.size} differs from the catalog's ${f.size}`;
  return undefined;
}

/**
 * Plans the deletion of `files` for `reason`: looks at each on disk (never acts). A file
 * already gone is planned as such (its row is tombstoned); a symlink, a non-file, an unsafe
 * path or a size that disagrees with the row is skipped and listed (with `jobs`: its whole job).
 */
export function planDeletion(ctx: Context, files: readonly FileToDelete[], reason: DeletionReason, o: PlanOptions = {}): DeletionPlan {
  const gate = new DeleteGate(ctx.config.root, true);
  return buildPlan(files, (f) => (f.seen ? ({ kind: 'file', ...f.seen } as const) : gate.inspect(f.path)), reason, o);
}

/**
 * planDeletion through a target (a local tree's gate, or an S3 store: one HEAD per object,
 * many in flight). The plan records each object's size, LastModified and ETag.
 */
export async function planDeletionOn(target: DeletionTarget, files: readonly FileToDelete[], reason: DeletionReason, o: PlanOptions = {}): Promise<DeletionPlan> {
  const toLook = files.filter((f) => !f.seen);
  const looked = await target.look(toLook.map((f) => f.path));
  const states = new Map<FileToDelete, DiskState>(toLook.map((f, i) => [f, looked[i]!]));
  return buildPlan(files, (f) => (f.seen ? ({ kind: 'file', ...f.seen } as const) : states.get(f)!), reason, o);
}

function buildPlan(files: readonly FileToDelete[], stateOf: (f: FileToDelete) => DiskState, reason: DeletionReason, o: PlanOptions): DeletionPlan {
  const plan: DeletionPlan = { reason, groups: [], skipped: [], files: 0, bytes: 0, alreadyGone: 0 };
  const dueAt = o.at?.toISOString() ?? '';
  const look = (f: FileToDelete): { problem?: string; file: PlannedFile } => {
    const disk = stateOf(f);
    const problem = problemOf(f, disk, o.failClosed ?? false);
    const expect = disk.kind === 'file' ? { size: disk.size, mtimeMs: disk.mtimeMs, ...(disk.identity ? { identity: disk.identity } : {}) } : null;
    return { problem, file: { id: f.id, path: f.path, size: f.size, disk: expect } };
  };
  const add = (g: PlannedGroup) => {
    plan.groups.push(g);
    for (const f of g.files) {
      plan.files++;
      if (f.disk) plan.bytes += f.size;
      else plan.alreadyGone++;
    }
  };
  // Whole jobs, in the order their first file comes.
  const byJob = new Map<string, FileToDelete[]>();
  const single: FileToDelete[] = [];
  for (const f of files) {
    if (f.jobId !== null && o.jobs?.has(f.jobId)) {
      const list = byJob.get(f.jobId);
      if (list) list.push(f);
      else byJob.set(f.jobId, [f]);
    } else single.push(f);
  }
  for (const [jobId, list] of byJob) {
    const job = o.jobs!.get(jobId)!;
    const planned: PlannedFile[] = [];
    let skip: { path: string; reason: string; jobId: string } | undefined;
    for (const f of list) {
      const { problem, file } = look(f);
      if (problem) {
        skip = { path: f.path, reason: `${problem} (${f.path}); the job's files are kept together`, jobId };
        break;
      }
      planned.push(file);
    }
    if (skip) plan.skipped.push(skip);
    else add({ rule: reasonLabel(reason), reason, jobId, status: job.status, updatedAtMs: job.updatedAt.getTime(), dueAt, files: planned });
  }
  for (const f of single) {
    const { problem, file } = look(f);
    if (problem) plan.skipped.push({ path: f.path, reason: problem, jobId: f.jobId });
    else add({ rule: reasonLabel(reason), reason, jobId: f.jobId, status: null, updatedAtMs: null, dueAt, files: [file] });
  }
  return plan;
}

/** What applyDeletion acts on: a plan, or its groups streamed (planned in parts, spooled). */
export interface DeletionSource {
  reason: DeletionReason;
  groups: Iterable<PlannedGroup> | AsyncIterable<PlannedGroup>;
}

/** The catalog itself as a deletion lane (in order, on the caller's connection). */
function catalogLane(ctx: Context): DeletionLane {
  const c = ctx.catalog;
  return { getJobs: (ids) => c.getJobs(ids), markDeleting: (ids, reason) => c.markDeleting(ids, reason), finishDeletions: (o) => c.finishDeletions(o), close: async () => {} };
}

function resultOf(t: ApplyTally): DeletionResult {
  return {
    jobs: t.jobs,
    files: t.files,
    bytes: t.bytes,
    alreadyGone: t.alreadyGone,
    changed: t.changed,
    failed: t.failed,
    dirsRemoved: t.dirsRemoved,
    ...(t.deletedPaths ? { list: t.deletedPaths.map((x) => ({ path: x.path, jobId: x.jobId, outcome: x.outcome })) } : {}),
  };
}

/**
 * Applies a plan with the delete protocol (see the top of this file). The caller holds the
 * store lock. `lane`: the catalog's deletion lane when the caller opened one (a long run);
 * by default the catalog connection itself.
 */
export async function applyDeletion(ctx: Context, plan: DeletionPlan | DeletionSource, opts: { lane?: DeletionLane; list?: boolean; onBatch?: (files: number) => void } = {}): Promise<DeletionResult> {
  const gate = await openTieredDeletionTarget(ctx, openDeletionTarget(ctx, false), false);
  const tally = newTally(opts.list ?? false);
  try {
    await applyBatches(ctx, opts.lane ?? catalogLane(ctx), gate, batches(plan.groups), tally, opts.onBatch ?? (() => {}));
  } finally {
    gate.close();
  }
  return resultOf(tally);
}

/** Finishes the rows an interrupted run of `kind` left 'deleting' (caller holds the store lock). */
export async function finishInterrupted(ctx: Context, kind: ReasonKind, opts: { lane?: DeletionLane; list?: boolean } = {}): Promise<DeletionResult> {
  const gate = await openTieredDeletionTarget(ctx, openDeletionTarget(ctx, false), false);
  const tally = newTally(opts.list ?? false);
  try {
    await recoverInterrupted(ctx, opts.lane ?? catalogLane(ctx), gate, tally, kind);
  } finally {
    gate.close();
  }
  return resultOf(tally);
}

/**
 * Unlinks one regular file the catalog does not track (a backup archive past retention)
 * through its directory held open, refusing symlinks on the way and at the file; false when it
 * was already gone. restore --force removes the tree it set aside with removeTreeIn.
 */
export const removeUntracked = unlinkFileIn;
export { removeTreeIn };
