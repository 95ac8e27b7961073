// The cleanup-expired fixture of the benchmarks: one rule due for a tenth of a synthetic
// store, and its due files kept aside and copied back before each run, so every unlink of a
// run removes a file's last link (as a real cleanup does).
import fs from 'node:fs';
import path from 'node:path';

/** Config of the benchmark rule: every completed card job of one owner in five. */
export const BENCH_CLEANUP_CONFIG = { cleanup: { replaceDefaults: true, rules: [{ id: 'bench', kind: 'card', statuses: ['completed'], owner: ['acme'], ageFrom: 'completed_at', age: '0' }] } };

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
