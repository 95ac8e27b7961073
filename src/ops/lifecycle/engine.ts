// The deletion engine: the one way a catalog file is deleted, for every command that deletes.
//
//   planDeletion(ctx, files, reason)      -> DeletionPlan   looks only (lstat by path): a dry
//                                                          run prints it, a real run applies it
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
// migrate-images-to-db --delete-originals, and next `delete` (manual), dedup, tier transitions.
// The acting side is a DeletionTarget (gate.ts): GateBatch for local files; an S3 target
// implements the same per-key remove() by gathering keys into DeleteObjects requests of up to
// 1,000 keys and resolving each key's promise from the per-key results.
import type { Context } from '../../context.ts';
import type { DeletionLane } from '../../db/catalog.ts';
import { removeTreeIn, unlinkFileIn } from '../../storage/confined.ts';
import { applyBatches, batches, newTally, recoverInterrupted, type ApplyTally } from './apply.ts';
import { DeleteGate, type Expected } from './gate.ts';
import type { PlannedGroup } from './plan.ts';
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
  /** One group per file (not tied to its job's status): applied whole or not at all. */
  groups: PlannedGroup[];
  /** Files the plan will not delete, and why (a symlink, an unsafe path, a size that disagrees). */
  skipped: { path: string; reason: string }[];
  files: number;
  bytes: number;
  alreadyGone: number;
}

export interface DeletionResult {
  files: number;
  bytes: number;
  alreadyGone: number;
  changed: { path: string; jobId: string | null; reason: string }[];
  failed: { path: string; jobId: string | null; reason: string }[];
  dirsRemoved: number;
  /** With `list`: every file and what happened to it. */
  list?: { path: string; outcome: string }[];
}

/**
 * Plans the deletion of `files` for `reason`: looks at each on disk (never acts). A file
 * already gone is planned as such (its row is tombstoned); a symlink, a non-file, an unsafe
 * path or a size that disagrees with the row is skipped and listed.
 */
export function planDeletion(ctx: Context, files: readonly FileToDelete[], reason: DeletionReason): DeletionPlan {
  const gate = new DeleteGate(ctx.config.root, true);
  const plan: DeletionPlan = { reason, groups: [], skipped: [], files: 0, bytes: 0, alreadyGone: 0 };
  for (const f of files) {
    const disk = f.seen ? ({ kind: 'file', ...f.seen } as const) : gate.inspect(f.path);
    let problem: string | undefined;
    if (disk.kind === 'unsafe' || disk.kind === 'error') problem = disk.reason;
    else if (disk.kind === 'symlink' || disk.kind === 'other') problem = `not a regular file (${disk.kind})`;
    else if (disk.kind === 'file' && disk.size !== f.size) problem = `size on disk ${disk.size} differs from the catalog's ${f.size}`;
    if (problem) {
      plan.skipped.push({ path: f.path, reason: problem });
      continue;
    }
    const expect = disk.kind === 'file' ? { size: disk.size, mtimeMs: disk.mtimeMs } : null;
    plan.groups.push({ rule: reasonLabel(reason), reason, jobId: f.jobId, status: null, updatedAtMs: null, dueAt: '', files: [{ id: f.id, path: f.path, size: f.size, disk: expect }] });
    plan.files++;
    if (expect) plan.bytes += f.size;
    else plan.alreadyGone++;
  }
  return plan;
}

/** The catalog itself as a deletion lane (in order, on the caller's connection). */
function catalogLane(ctx: Context): DeletionLane {
  const c = ctx.catalog;
  return { getJobs: (ids) => c.getJobs(ids), markDeleting: (ids, reason) => c.markDeleting(ids, reason), finishDeletions: (o) => c.finishDeletions(o), close: async () => {} };
}

function resultOf(t: ApplyTally): DeletionResult {
  return {
    files: t.files,
    bytes: t.bytes,
    alreadyGone: t.alreadyGone,
    changed: t.changed,
    failed: t.failed,
    dirsRemoved: t.dirsRemoved,
    ...(t.deletedPaths ? { list: t.deletedPaths.map((x) => ({ path: x.path, outcome: x.outcome })) } : {}),
  };
}

/**
 * Applies a plan with the delete protocol (see the top of this file). The caller holds the
 * store lock. `lane`: the catalog's deletion lane when the caller opened one (a long run);
 * by default the catalog connection itself.
 */
export async function applyDeletion(ctx: Context, plan: DeletionPlan, opts: { lane?: DeletionLane; list?: boolean; onBatch?: (files: number) => void } = {}): Promise<DeletionResult> {
  const gate = new DeleteGate(ctx.config.root, false);
  const tally = newTally(opts.list ?? false);
  try {
    await applyBatches(ctx, opts.lane ?? catalogLane(ctx), gate, batches(plan.groups), tally, opts.onBatch ?? (() => {}));
  } finally {
    gate.close();
  }
  return resultOf(tally);
}

/** Finishes the rows an interrupted run of `kind` left 'deleting' (caller holds the store lock). */
export async function finishInterrupted(ctx: Context, kind: ReasonKind, opts: { lane?: DeletionLane } = {}): Promise<DeletionResult> {
  const gate = new DeleteGate(ctx.config.root, false);
  const tally = newTally(false);
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
