// The one gate every deletion in the lifecycle commands passes: it refuses in dry-run mode,
// re-checks the file just before acting, never follows a symlink and never leaves the root.
import fs from 'node:fs';
import path from 'node:path';
import { FailedError, errorMessage } from '../../errors.ts';
import { checkRelPath, parentDir } from '../../storage/paths.ts';
import { mapPool } from '../pool.ts';

/** What is on disk at a catalog path, by lstat. */
export type DiskState =
  | { kind: 'file'; size: number; mtimeMs: number }
  | { kind: 'gone' }
  | { kind: 'symlink' | 'other' }
  | { kind: 'unsafe'; reason: string };

/** What the plan saw: the re-check compares the disk with it. */
export interface Expected {
  size: number;
  mtimeMs: number;
}

export type GateResult =
  | { outcome: 'deleted' | 'moved' }
  | { outcome: 'gone' }
  | { outcome: 'changed'; reason: string }
  | { outcome: 'failed'; reason: string };

export class DeleteGate {
  /** Directories already checked to be real directories (no symlink) under the root, this batch. */
  readonly #safeDirs = new Set<string>();
  /** The root with one trailing '/': a checked relative path is appended to it. */
  readonly #prefix: string;

  constructor(
    readonly root: string,
    readonly dryRun: boolean,
  ) {
    this.#prefix = root.endsWith('/') ? root : `${root}/`;
  }

  /** Forget checked directories (call between batches, so a swapped-in symlink is seen). */
  forget(): void {
    this.#safeDirs.clear();
  }

  /**
   * Absolute path of a catalog path, refusing '..', absolute paths and any symlinked or
   * non-directory component on the way (cached per batch, not re-lstat'ed for every file).
   */
  resolve(rel: string): string {
    checkRelPath(rel);
    const dir = parentDir(rel);
    // Most files share a directory already checked this batch: one lookup instead of one per level.
    if (dir && !this.#safeDirs.has(dir)) this.#checkDirs(rel);
    return this.abs(rel);
  }

  #checkDirs(rel: string): void {
    const segs = rel.split('/');
    let cur = '';
    for (let i = 0; i < segs.length - 1; i++) {
      cur = cur ? `${cur}/${segs[i]}` : segs[i]!;
      if (this.#safeDirs.has(cur)) continue;
      const st = fs.lstatSync(this.abs(cur), { throwIfNoEntry: false });
      if (!st) return; // missing: the file is gone
      if (st.isSymbolicLink()) throw new Error(`${cur} is a symlink`);
      if (!st.isDirectory()) throw new Error(`${cur} is not a directory`);
      this.#safeDirs.add(cur);
    }
  }

  /** The absolute path of a checked relative path (no '.', '..' or empty segments: a join is a concatenation). */
  abs(rel: string): string {
    return path.sep === '/' ? this.#prefix + rel : path.join(this.root, ...rel.split('/'));
  }

  /** Looks without touching: allowed in dry-run mode (the plan records what it saw). */
  inspect(rel: string): DiskState {
    let abs: string;
    try {
      abs = this.resolve(rel);
    } catch (err) {
      return { kind: 'unsafe', reason: errorMessage(err) };
    }
    return stateOf(fs.lstatSync(abs, { throwIfNoEntry: false }));
  }

  #recheck(rel: string, expect: Expected): { abs: string } | GateResult {
    return compare(this.inspect(rel), expect) ?? { abs: this.abs(rel) };
  }

  #refuseDryRun(rel: string): void {
    if (this.dryRun) throw new FailedError(`internal: refusing to delete ${rel} in a dry run`);
  }

  /**
   * Re-checks (or takes the re-check the caller just made for the whole batch), then unlinks.
   * Never throws for one file: the outcome says what happened.
   */
  async remove(rel: string, expect: Expected, checked?: DiskState): Promise<GateResult> {
    this.#refuseDryRun(rel);
    // `checked`: the caller's re-check of this batch, made just before (an lstat per file saved).
    const r = checked ? (compare(checked, expect) ?? { abs: this.abs(rel) }) : this.#recheck(rel, expect);
    if ('outcome' in r) return r;
    try {
      await fs.promises.unlink(r.abs);
      return { outcome: 'deleted' };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { outcome: 'gone' };
      return { outcome: 'failed', reason: errorMessage(err) };
    }
  }

  /** Re-checks, then moves the file to quarantineDir/<rel> (copy + unlink across devices). */
  async moveAside(rel: string, expect: Expected, quarantineDir: string): Promise<GateResult> {
    this.#refuseDryRun(rel);
    const r = this.#recheck(rel, expect);
    if ('outcome' in r) return r;
    const dest = path.join(quarantineDir, ...rel.split('/'));
    try {
      await fs.promises.mkdir(path.dirname(dest), { recursive: true, mode: 0o750 });
      try {
        await fs.promises.rename(r.abs, dest);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
        await fs.promises.copyFile(r.abs, dest, fs.constants.COPYFILE_EXCL);
        await fs.promises.unlink(r.abs);
      }
      return { outcome: 'moved' };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { outcome: 'gone' };
      return { outcome: 'failed', reason: errorMessage(err) };
    }
  }

  /**
   * Removes one directory if it is empty (never a top-level one, never through a symlink).
   * False when it is not empty, gone, or not ours to remove.
   */
  async removeDirIfEmpty(rel: string): Promise<boolean> {
    this.#refuseDryRun(rel);
    if (!rel.includes('/')) return false;
    try {
      await fs.promises.rmdir(path.dirname(this.resolve(`${rel}/x`)));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Removes the directories a batch emptied, deepest first (many in flight), walking up from
   * each file's directory and stopping below the top-level category directory (cards/, temp/ stay).
   */
  async pruneEmptied(relFiles: Iterable<string>, concurrency: number): Promise<number> {
    this.#refuseDryRun('directories');
    let level = new Set<string>();
    for (const rel of relFiles) {
      const dir = parentDir(rel);
      if (dir.includes('/')) level.add(dir); // never a top-level directory
    }
    let removed = 0;
    while (level.size) {
      const next = new Set<string>();
      const deepest = Math.max(...[...level].map((d) => d.split('/').length));
      const now = [...level].filter((d) => d.split('/').length === deepest);
      for (const d of level) if (d.split('/').length !== deepest) next.add(d);
      await mapPool(now, concurrency, async (dir) => {
        // Not removed (not empty, or not ours): its parents are not empty either.
        if (!(await this.removeDirIfEmpty(dir))) return;
        removed++;
        const parent = parentDir(dir);
        if (parent.includes('/')) next.add(parent);
      });
      level = next;
    }
    return removed;
  }
}

function stateOf(st: fs.Stats | undefined): DiskState {
  if (!st) return { kind: 'gone' };
  if (st.isSymbolicLink()) return { kind: 'symlink' };
  if (!st.isFile()) return { kind: 'other' };
  return { kind: 'file', size: st.size, mtimeMs: st.mtimeMs };
}

/** null when the disk matches what was planned; else why the file is not deleted. */
export function compare(now: DiskState, expect: Expected): GateResult | null {
  if (now.kind === 'gone') return { outcome: 'gone' };
  if (now.kind === 'unsafe') return { outcome: 'changed', reason: now.reason };
  if (now.kind !== 'file') return { outcome: 'changed', reason: `now a ${now.kind}, not a regular file` };
  if (now.size !== expect.size) return { outcome: 'changed', reason: `size changed (${expect.size} -> ${now.size})` };
  if (now.mtimeMs !== expect.mtimeMs) return { outcome: 'changed', reason: 'modified since planning' };
  return null;
}
