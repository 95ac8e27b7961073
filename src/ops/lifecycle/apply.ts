// Carrying out a cleanup-expired plan with the delete protocol: intent committed ('deleting'),
// re-check and unlink through the gate (many in flight), then tombstones, events and job
// metadata in one transaction per batch. A crash anywhere leaves 'deleting' rows that the next
// run finishes (recoverInterrupted), never a 'present' row without its file.
import { phaseTimer, timed } from '../../profile.ts';
import type { Context } from '../../context.ts';
import type { DeletionLane } from '../../db/catalog.ts';
import type { EventRecord, FileRecord, JobCleanupUpdate, PathRow } from '../../db/types.ts';
import { Limiter } from '../pool.ts';
import { compare, type DeletionTarget, type DiskState, type Expected, type Removed, type TargetBatch } from './gate.ts';
import type { PlannedGroup } from './plan.ts';
import { decodeReason, encodeReason, reasonLabel, reasonPattern, type ReasonKind } from './reasons.ts';
import { pausePoint } from '../../test-hooks.ts';
import { FailedError, StorectlError, errorMessage } from '../../errors.ts';

/** Unlinks in flight at once: this disk rewards concurrency (see baselines.md). */
export const UNLINK_CONCURRENCY = 64;
/** Files per batch: one intent transaction and one finishing transaction each. */
export const BATCH_FILES = 2000;
/** Batches with their intent committed and their unlinks queued, at most. */
const BATCHES_AHEAD = 3;

export interface ApplyTally {
  jobs: number;
  files: number;
  bytes: number;
  alreadyGone: number;
  byRule: Map<string, { jobs: number; files: number; bytes: number }>;
  changed: { path: string; jobId: string | null; reason: string }[];
  failed: { path: string; jobId: string | null; reason: string }[];
  deletedPaths?: { path: string; rule: string; jobId: string | null; outcome: string }[];
  dirsRemoved: number;
  /** Directories moved or swapped (for a symlink, say) while the run acted in them. */
  swapped: string[];
}

export function newTally(list: boolean): ApplyTally {
  return { jobs: 0, files: 0, bytes: 0, alreadyGone: 0, byRule: new Map(), changed: [], failed: [], ...(list ? { deletedPaths: [] } : {}), dirsRemoved: 0, swapped: [] };
}

/**
 * A deletion run cut off mid-way (the catalog gone, a disk failing): one line saying what was
 * done, that nothing was deleted without its intent committed, and that a rerun finishes it.
 */
export function stoppedMidRun(command: string, err: unknown, done: { files: number; bytes: number }, o: { what: string; hint: string }): StorectlError {
  return new FailedError(
    `${command} stopped after deleting ${done.files} ${o.what} (${done.bytes} bytes), each recorded: ${errorMessage(err)}`,
    o.hint,
    err instanceof StorectlError ? err.code : 'interrupted',
  );
}

export const SWAPPED_REASON = 'directory moved or replaced (by a symlink?) during the run: only the directory that was checked was touched';

export { MANUAL_RULE } from './reasons.ts';

interface Work {
  group: PlannedGroup;
  row: PathRow;
  expect: Expected | null;
  /** The batch's re-check of this file (lstat), when it made one. */
  checked?: DiskState;
}

/** Groups whole jobs into batches of about BATCH_FILES files. */
export async function* batches(groups: Iterable<PlannedGroup> | AsyncIterable<PlannedGroup>): AsyncGenerator<PlannedGroup[]> {
  let batch: PlannedGroup[] = [];
  let n = 0;
  for await (const g of groups) {
    batch.push(g);
    n += g.files.length;
    if (n >= BATCH_FILES) {
      yield batch;
      batch = [];
      n = 0;
    }
  }
  if (batch.length) yield batch;
}

/**
 * Applies batches of planned groups as a pipeline: while one batch's files are unlinked (thread
 * pool), the next batch is re-checked and its intent committed, and the batches before write
 * their tombstones and remove their directories. The catalog calls go through the deletion
 * lane, off the main thread on SQLite, so a transaction never stalls the unlinks. The order
 * that makes the protocol crash safe holds for every batch: intent committed, then unlinks,
 * then tombstones. A few batches are in hand at most. Reports each batch's file count once
 * it is recorded.
 */
export async function applyBatches(
  ctx: Context,
  lane: DeletionLane,
  gate: DeletionTarget,
  source: AsyncIterable<PlannedGroup[]>,
  tally: ApplyTally,
  onBatch: (files: number) => void,
): Promise<void> {
  // One set of unlink slots for the whole run: a batch's unlinks queue behind the previous
  // batch's and start as its last ones finish, so the disk never waits for a batch boundary.
  const slots = new Limiter(UNLINK_CONCURRENCY);
  const unlinking: Promise<unknown>[] = [];
  const recording: Promise<void>[] = [];
  let batchNo = 0;
  // Tests change the store here, between the plan and the re-check.
  await pausePoint('deletion.apply');
  try {
    for await (const batch of source) {
      const first = ++batchNo === 1;
      // The batch holds the directories it re-checks open until its last rmdir.
      const held = gate.batch();
      let prepared: { work: Work[]; restored: number[] };
      try {
        prepared = await prepareBatch(lane, held, batch, tally);
      } catch (err) {
        held.close();
        throw err;
      }
      const { work, restored } = prepared;
      const files = batch.reduce((a, g) => a + g.files.length, 0);
      const unlinked = unlinkWork(held, work, slots);
      const recorded = unlinked
        .then((u) => recordWork(ctx, lane, held, work, u, restored, tally))
        .finally(() => held.close())
        .then(() => onBatch(files))
        // A test stops here once the first batch is recorded, the next ones marked and unlinking.
        .then(() => (first ? pausePoint('delete-batch') : undefined));
      // A failure surfaces where the promise is awaited below; until then it must not count as
      // unhandled (node would end the process before the error could be reported).
      unlinked.catch(() => {});
      recorded.catch(() => {});
      unlinking.push(unlinked);
      recording.push(recorded);
      // A few batches queued for unlinking: the next is prepared while they run, and a slow
      // catalog call (a checkpoint's fsync on a busy disk) does not leave the unlinks idle.
      if (unlinking.length >= BATCHES_AHEAD) await unlinking.shift()!;
      if (recording.length > BATCHES_AHEAD) await recording.shift()!;
    }
    while (recording.length) await recording.shift();
  } finally {
    // Whatever happened, nothing is left running when this returns or throws.
    await Promise.allSettled([...unlinking, ...recording]);
  }
}

/**
 * Re-checks one batch (each group, a job's files, whole) and commits the intent: returns the
 * files to unlink and the rows to put back to 'present'.
 */
async function prepareBatch(lane: DeletionLane, gate: TargetBatch, batch: PlannedGroup[], tally: ApplyTally): Promise<{ work: Work[]; restored: number[] }> {
  const changed = (g: PlannedGroup, reason: string) => {
    for (const f of g.files) tally.changed.push({ path: f.path, jobId: g.jobId, reason });
  };
  // Re-check 1: the job is as planned (status and updated_at), else the whole job is skipped
  // (a group planned without a job status, e.g. one file by name, is not tied to its job's state).
  const jobIds = batch.filter((g) => g.jobId && g.status !== null).map((g) => g.jobId!);
  const jobs = new Map(jobIds.length ? (await timed('apply: catalog re-check jobs', () => lane.getJobs(jobIds), (j) => j.length)).map((j) => [j.id, j]) : []);
  const eligible = batch.filter((g) => {
    if (!g.jobId || g.status === null) return true;
    const j = jobs.get(g.jobId);
    if (j && j.status === g.status && j.updatedAt.getTime() === g.updatedAtMs) return true;
    changed(g, j ? `job changed since planning (now ${j.status})` : 'job removed since planning');
    return false;
  });
  // Intent, committed: rows still 'present' become 'deleting'.
  const marked = new Map<number, PathRow>();
  for (const reason of new Set(eligible.map((g) => encodeReason(g.reason)))) {
    const ids = eligible.filter((g) => encodeReason(g.reason) === reason).flatMap((g) => g.files.map((f) => f.id));
    for (const r of await timed('apply: catalog intent', () => lane.markDeleting(ids, reason), (m) => m.length)) marked.set(r.id, r);
  }
  await pausePoint('deletion.intent');
  // Re-check 2: every row of the group was marked with the planned size, and every file on disk
  // is as planned (local: lstat in slices, so the unlinks in flight of the batches before are
  // refilled in between; S3: HEAD, size and ETag); otherwise the group goes back to 'present'
  // untouched.
  const diskOf = new Map<number, DiskState | null>();
  const toLook = eligible.flatMap((g) => g.files.filter((f) => marked.has(f.id)));
  const looked = await timed('apply: lstat re-check', () => gate.inspectMany(toLook.map((f) => f.path)), (l) => l.length);
  toLook.forEach((f, i) => diskOf.set(f.id, looked[i]!));
  for (const g of eligible) for (const f of g.files) if (!diskOf.has(f.id)) diskOf.set(f.id, null);
  const work: Work[] = [];
  const restored: number[] = [];
  for (const g of eligible) {
    let problem: string | undefined;
    for (const f of g.files) {
      const row = marked.get(f.id);
      const now = diskOf.get(f.id);
      if (!row || !now) problem ??= 'catalog row changed since planning';
      else if (row.size !== f.size) problem ??= 'catalog size changed since planning';
      else if (f.disk === null ? now.kind !== 'gone' : now.kind !== 'gone' && compare(now, f.disk) !== null) problem ??= `${f.path} changed on disk since planning`;
    }
    if (problem) {
      changed(g, problem);
      for (const f of g.files) if (marked.has(f.id)) restored.push(f.id);
      continue;
    }
    for (const f of g.files) work.push({ group: g, row: marked.get(f.id)!, expect: f.disk, checked: diskOf.get(f.id) ?? undefined });
  }
  return { work, restored };
}

type Unlinked = Removed;

/** Removes the batch's files through the target (local: many unlinks in flight; S3: DeleteObjects). */
function unlinkWork(gate: TargetBatch, work: Work[], slots: Limiter): Promise<Unlinked> {
  return timed(
    'apply: unlink',
    () => gate.removePlanned(
      work.map((w) => ({ path: w.row.path, expect: w.expect, checked: w.checked })),
      slots,
    ),
    () => work.length,
  );
}

/** Unlinks, then records: see recordWork. */
async function finishWork(ctx: Context, lane: DeletionLane, gate: TargetBatch, work: Work[], restored: number[], tally: ApplyTally): Promise<void> {
  await recordWork(ctx, lane, gate, work, await unlinkWork(gate, work, new Limiter(UNLINK_CONCURRENCY)), restored, tally);
}

/**
 * Writes tombstones, events and job metadata of unlinked files in one transaction, then
 * removes the parents the batch emptied (day, month and year directories).
 */
async function recordWork(ctx: Context, lane: DeletionLane, gate: TargetBatch, work: Work[], unlinked: Unlinked, restored: number[], tally: ApplyTally): Promise<void> {
  const { results } = unlinked;
  const now = ctx.clock();
  const deleted: { id: number; at: Date; reason: string }[] = [];
  const events: EventRecord[] = [];
  const perJob = new Map<string, { rule: string; files: number; bytes: number; failed: number; gone: number }>();
  const perGroup = new Set<PlannedGroup>();
  work.forEach((w, i) => {
    const r = results[i]!;
    const rule = w.group.rule;
    const reason = encodeReason(w.group.reason);
    const job = w.group.jobId ? (perJob.get(w.group.jobId) ?? { rule, files: 0, bytes: 0, failed: 0, gone: 0 }) : undefined;
    if (w.group.jobId && job) perJob.set(w.group.jobId, job);
    if (r.outcome === 'deleted' || r.outcome === 'gone') {
      const gone = r.outcome === 'gone';
      deleted.push({ id: w.row.id, at: now, reason: gone ? `${reason} (file already gone)` : reason });
      events.push({ runId: ctx.runId, at: now, action: gone ? 'delete_missing' : 'delete', path: w.row.path, jobId: w.row.jobId, bytes: gone ? 0 : w.row.size, reason });
      const bytes = gone ? 0 : w.row.size;
      tally.files++;
      tally.bytes += bytes;
      if (gone) tally.alreadyGone++;
      const br = tally.byRule.get(rule) ?? { jobs: 0, files: 0, bytes: 0 };
      br.files++;
      br.bytes += bytes;
      if (!perGroup.has(w.group)) {
        perGroup.add(w.group);
        br.jobs++;
        tally.jobs++;
      }
      tally.byRule.set(rule, br);
      if (job) {
        job.files++;
        job.bytes += bytes;
        if (gone) job.gone++;
      }
      tally.deletedPaths?.push({ path: w.row.path, rule, jobId: w.group.jobId, outcome: gone ? 'already_gone' : 'deleted' });
    } else {
      restored.push(w.row.id);
      if (job) job.failed++;
      // The failure is recorded with the row's history: back to 'present', never left 'deleting'.
      if (r.outcome === 'failed') events.push({ runId: ctx.runId, at: now, action: 'delete_failed', path: w.row.path, jobId: w.row.jobId, bytes: 0, reason: `${reason}: ${r.reason}` });
      (r.outcome === 'failed' ? tally.failed : tally.changed).push({ path: w.row.path, jobId: w.group.jobId, reason: 'reason' in r ? r.reason : r.outcome });
    }
  });
  const jobs: JobCleanupUpdate[] = [...perJob].filter(([, j]) => j.files > 0).map(([id, j]) => ({
    id,
    patch: {
      filesDeletedAt: now.toISOString(),
      cleanup: { rule: j.rule, runId: ctx.runId, at: now.toISOString(), filesDeleted: j.files, bytesFreed: j.bytes, alreadyGone: j.gone, failed: j.failed },
    },
  }));
  await pausePoint('deletion.removed');
  await timed('apply: catalog tombstones and events', () => lane.finishDeletions({ deleted, restored, events, jobs }));
  // Each removed directory stands in for its files: pruning starts at its parent.
  tally.dirsRemoved += unlinked.dirsRemoved.length + (await timed('apply: rmdir emptied parents', () => gate.pruneEmptied(unlinked.dirsRemoved, UNLINK_CONCURRENCY)));
  for (const dir of gate.swapped()) {
    tally.swapped.push(dir);
    tally.failed.push({ path: dir, jobId: null, reason: SWAPPED_REASON });
  }
}

/**
 * Finishes what an interrupted run of the same kind left: rows in 'deleting' whose reason is of
 * `kind` (intent committed, file maybe unlinked); rows another kind of run left are not touched.
 * A file still there with its row's size is unlinked; one that differs goes back to 'present'
 * and is reported. Returns how many rows it finished.
 */
export async function recoverInterrupted(ctx: Context, lane: DeletionLane, gate: DeletionTarget, tally: ApplyTally, kind: ReasonKind = 'rule'): Promise<number> {
  let done = 0;
  for (;;) {
    const rows = await ctx.catalog.filesInState('deleting', BATCH_FILES, reasonPattern(kind));
    if (!rows.length) return done;
    const held = gate.batch();
    try {
      await recoverBatch(ctx, lane, held, rows, tally);
    } finally {
      held.close();
    }
    done += rows.length;
  }
}

async function recoverBatch(ctx: Context, lane: DeletionLane, gate: TargetBatch, rows: FileRecord[], tally: ApplyTally): Promise<void> {
  {
    const work: Work[] = [];
    const restored: number[] = [];
    const looked = await gate.inspectMany(rows.map((r) => r.path));
    rows.forEach((row, i) => {
      const reason = decodeReason(row.deleteReason) ?? { kind: 'rule', rule: 'interrupted' };
      const group: PlannedGroup = { rule: reasonLabel(reason), reason, jobId: row.jobId, status: null, updatedAtMs: null, dueAt: '', files: [] };
      const disk = looked[i]!;
      if (disk.kind === 'gone') work.push({ group, row, expect: null });
      else if (disk.kind === 'file' && disk.size === (row.storedSize ?? row.size)) work.push({ group, row, expect: { size: disk.size, mtimeMs: disk.mtimeMs, ...(disk.identity ? { identity: disk.identity } : {}) } });
      else {
        restored.push(row.id);
        tally.changed.push({ path: row.path, jobId: row.jobId, reason: `left 'deleting' by an interrupted run, but ${disk.kind === 'file' ? 'its size changed' : `it is ${disk.kind}`}: kept` });
      }
    });
    await finishWork(ctx, lane, gate, work, restored, tally);
  }
}
