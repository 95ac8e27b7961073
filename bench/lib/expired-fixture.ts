// The cleanup-expired fixture of the benchmarks: one rule due for exactly a tenth of a
// synthetic store's files, and its due files kept aside and copied back before each run, so
// every unlink of a run removes a file's last link (as a real cleanup does).
import fs from 'node:fs';
import path from 'node:path';

/**
 * Which files are due, both as a real first run of a retention rule would find them: whole
 * completed card jobs, oldest completion first, up to a tenth of the store.
 * - oldest: every completed card job: the oldest days of the store, contiguous in the tree
 *   and in the catalog (rows are written as jobs are made), as a nightly retention run finds them.
 * - one-owner: one owner's jobs (every fifth job): spread over most of the tree and over every
 *   page of the catalog's files table, the worst case for the catalog's writes.
 */
export const DUE_LAYOUTS = ['oldest', 'one-owner'] as const;
export type DueLayout = (typeof DUE_LAYOUTS)[number];

/** Config of the benchmark rule: completed card jobs (of owner acme for one-owner), due `age` after completion. */
export function benchCleanupConfig(layout: DueLayout, age = '0') {
  const owner = layout === 'one-owner' ? { owner: ['acme'] } : {};
  return { cleanup: { replaceDefaults: true, rules: [{ id: 'bench', kind: 'card', statuses: ['completed'], ...owner, ageFrom: 'completed_at', age }] } };
}

/**
 * The rule's age that makes exactly the `jobs` oldest-completed candidates due at asOf, from a
 * dry-run list of every candidate (age 0: each path's dueAt is its job's completion time).
 */
export function ageForOldestJobs(candidates: { jobId: string | null; dueAt?: string }[], jobs: number, asOf: Date): string {
  const byJob = new Map<string, number>();
  for (const c of candidates) if (c.jobId && c.dueAt) byJob.set(c.jobId, Date.parse(c.dueAt));
  const times = [...byJob.values()].sort((a, b) => a - b);
  if (times.length <= jobs) throw new Error(`only ${times.length} candidate jobs, ${jobs} wanted`);
  const [last, next] = [times[jobs - 1]!, times[jobs]!];
  if (next - last < 2) throw new Error('two candidate jobs completed in the same millisecond at the cut');
  // cut halfway between the last job in and the first job out
  return `${asOf.getTime() - Math.floor((last + next) / 2)}ms`;
}

/** SQL making the rows a previous run tombstoned present again (both dialects). */
export const RESET_TOMBSTONES_SQL = `update files set state = 'present', deleted_at = null, delete_reason = null where delete_reason like 'expired:%'; update jobs set files_state = 'on_disk';`;

export function moveTree(root: string, paths: string[], destRoot: string): void {
  for (const p of paths) {
    const dest = path.join(destRoot, p);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.renameSync(path.join(root, p), dest);
  }
}

/** Copies (new inodes, one link each) the files missing under root from keepRoot. */
export function copyMissing(keepRoot: string, paths: string[], root: string): number {
  let n = 0;
  for (const p of paths) {
    const dest = path.join(root, p);
    if (fs.existsSync(dest)) continue;
    fs.mkdirSync(path.dirname(dest), { recursive: true, mode: 0o750 });
    fs.copyFileSync(path.join(keepRoot, p), dest);
    n++;
  }
  return n;
}
