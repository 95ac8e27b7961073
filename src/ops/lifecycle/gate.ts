// The one gate every deletion in the lifecycle commands passes: it refuses in dry-run mode,
// re-checks the file just before acting, never follows a symlink and never leaves the root.
import fs from 'node:fs';
import path from 'node:path';
import { FailedError, errorMessage } from '../../errors.ts';
import { ConfinedRoot, type DirScope } from '../../storage/confined.ts';
import { checkRelPath, parentDir } from '../../storage/paths.ts';
import { removalThreads, type RemovalThreads, type Looked, type RemovalDir, type RemovalMode, type SysError } from '../../storage/removal-threads.ts';
import { mapPool, type Limiter } from '../pool.ts';

/** What is on disk at a catalog path, by lstat. */
export type DiskState =
  /** identity: what names this version of the object where the backend has one (S3: `etag:<ETag>`). */
  | { kind: 'file'; size: number; mtimeMs: number; identity?: string }
  | { kind: 'gone' }
  | { kind: 'symlink' | 'other' }
  | { kind: 'unsafe'; reason: string }
  /** The look itself failed (EACCES, EIO, ...): fail closed, nothing is known about the file. */
  | { kind: 'error'; reason: string };

/** What the plan saw: the re-check compares the disk with it. */
export interface Expected {
  size: number;
  mtimeMs: number;
  /** S3: the ETag the plan saw (`etag:<ETag>`); a re-check that sees another refuses. */
  identity?: string;
}

/** One planned file as the acting side gets it: expect null = already gone at planning. */
export interface PlannedRemoval {
  path: string;
  expect: Expected | null;
  /** The batch's re-check of this file, when it made one just before. */
  checked?: DiskState;
}

export interface Removed {
  results: GateResult[];
  /** Directories removed once their last planned file was gone (local trees only). */
  dirsRemoved: string[];
}

/**
 * The acting side of the deletion engine, per batch: re-checks, removes, prunes. Local:
 * GateBatch (directories held open, unlinks relative to them). S3: S3Batch (s3-target.ts:
 * HEAD re-checks, DeleteObjects in batches of up to 1,000 keys, per-key results).
 */
export interface TargetBatch {
  /** What is there now at each path (the re-check just before acting), in order. */
  inspectMany(paths: readonly string[]): Promise<DiskState[]>;
  /** Re-checks each against its plan (or takes `checked`), then removes what still matches. Never throws for one file. */
  removePlanned(work: readonly PlannedRemoval[], slots: Limiter): Promise<Removed>;
  /** Removes the directories a batch emptied (local), parents first to last; 0 where there are none. */
  pruneEmptied(dirs: Iterable<string>, concurrency: number): Promise<number>;
  /** Directories moved or swapped during the batch (local only). */
  swapped(): string[];
  close(): void;
}

/** Where a deletion acts: the local tree (DeleteGate) or an S3 bucket under a prefix (S3Target). */
export interface DeletionTarget {
  readonly kind: 'local' | 's3';
  /** The store's root (a directory, or s3://BUCKET/PREFIX), for messages. */
  readonly root: string;
  readonly dryRun: boolean;
  /** Looks without touching (planning and dry runs): one state per path, in order. */
  look(paths: readonly string[]): Promise<DiskState[]>;
  batch(): TargetBatch;
  close(): void;
}

export type GateResult =
  | { outcome: 'deleted' | 'moved' }
  | { outcome: 'gone' }
  | { outcome: 'changed'; reason: string }
  | { outcome: 'failed'; reason: string };

export class DeleteGate implements DeletionTarget {
  readonly kind = 'local' as const;
  /** Directories already checked to be real directories (no symlink) under the root, this batch. */
  readonly #safeDirs = new Set<string>();
  /** The root with one trailing '/': a checked relative path is appended to it. */
  readonly #prefix: string;
  /** The root held open, for batches (opened by the first). */
  #confined: ConfinedRoot | undefined;

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

  /**
   * Looks without touching, by path (planning and dry runs: the plan records what it saw).
   * Acting goes through a batch, which re-checks through directories held open.
   */
  inspect(rel: string): DiskState {
    try {
      return stateOf(fs.lstatSync(this.resolve(rel), { throwIfNoEntry: false }));
    } catch (err) {
      return failedLook(err);
    }
  }

  async look(paths: readonly string[]): Promise<DiskState[]> {
    return paths.map((p) => this.inspect(p));
  }

  /**
   * A batch: the directories it checks stay open until close(), and every re-check, unlink,
   * move and rmdir it makes acts relative to them (storage/confined.ts), so a directory
   * swapped for a symlink meanwhile is never entered. Close it once its calls are done.
   */
  batch(): GateBatch {
    this.#confined ??= new ConfinedRoot(this.root);
    return new GateBatch(this, this.#confined.scope());
  }

  /** The removal threads (storage/removal-threads.ts: the process's one pool) that make the batches' lstats, unlinks and rmdirs. */
  threads(): RemovalThreads {
    return removalThreads();
  }

  /** Releases the root held open (after every batch is closed). */
  close(): void {
    this.#confined?.close();
    this.#confined = undefined;
  }

  refuseDryRun(rel: string): void {
    if (this.dryRun) throw new FailedError(`internal: refusing to delete ${rel} in a dry run`);
  }
}

/** Where quarantined files go: a directory outside the data tree, held open as a root of its own. */
export class QuarantineTarget {
  readonly #root: ConfinedRoot;
  #scope: DirScope;

  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o750 });
    this.#root = new ConfinedRoot(dir);
    this.#scope = this.#root.scope();
  }

  /** The quarantine's directories held open for the current batch. */
  scope(): DirScope {
    return this.#scope;
  }

  /** Between batches (nothing in flight): releases the directories the last batch opened. */
  renew(): void {
    this.#scope.close();
    this.#scope = this.#root.scope();
  }

  close(): void {
    this.#scope.close();
    this.#root.close();
  }
}

/** Suffix of the partial copy a cross-device quarantine writes before linking it into place. */
const PARTIAL = '.storectl-partial';

/** Paths per lstat request to a removal thread. */
const LOOK_SLICE = 256;
/** Files per removal request (whole directories: a directory's files go together). */
const REMOVE_SLICE = 32;

export class GateBatch implements TargetBatch {
  /** Directories found moved or swapped since this batch opened them (reported by the caller). */
  readonly #swapped = new Set<string>();

  constructor(
    readonly gate: DeleteGate,
    readonly scope: DirScope,
  ) {}

  /** What is on disk at rel, looked at through the directories this batch holds open. */
  inspect(rel: string): DiskState {
    try {
      checkRelPath(rel);
      return stateOf(this.scope.lstat(rel));
    } catch (err) {
      return failedLook(err);
    }
  }

  /**
   * lstat each through the directories this batch holds open, on the removal threads in
   * slices (the main thread only resolves the names: it stays free for the catalog calls).
   */
  async inspectMany(paths: readonly string[]): Promise<DiskState[]> {
    const out: DiskState[] = new Array(paths.length);
    const slices: { at: number[]; names: string[] }[] = [];
    let slice: { at: number[]; names: string[] } = { at: [], names: [] };
    for (let i = 0; i < paths.length; i++) {
      const rel = paths[i]!;
      let name: string | null;
      try {
        checkRelPath(rel);
        name = this.scope.at(rel);
      } catch (err) {
        out[i] = failedLook(err);
        continue;
      }
      if (name === null) {
        out[i] = { kind: 'gone' };
        continue;
      }
      slice.at.push(i);
      slice.names.push(name);
      if (slice.names.length === LOOK_SLICE) {
        slices.push(slice);
        slice = { at: [], names: [] };
      }
    }
    if (slice.names.length) slices.push(slice);
    const threads = this.gate.threads();
    await Promise.all(
      slices.map(async (sl) => {
        const looked = await threads.look(sl.names);
        sl.at.forEach((i, k) => (out[i] = diskStateOf(looked[k]!)));
      }),
    );
    return out;
  }

  /**
   * Re-checks (or takes the batch's re-check) and unlinks on the removal threads, a
   * directory's files together; when the last planned file of a directory is gone, the
   * thread removes the directory right there if it is empty (a file nobody planned, or one
   * that failed, keeps it) and its path still names it, and closes it.
   */
  async removePlanned(work: readonly PlannedRemoval[], _slots: Limiter): Promise<Removed> {
    const results: (GateResult | undefined)[] = new Array(work.length);
    const byDir = new Map<string, number[]>();
    for (let i = 0; i < work.length; i++) {
      const w = work[i]!;
      if (w.expect !== null) this.gate.refuseDryRun(w.path);
      const dir = parentDir(w.path);
      const list = byDir.get(dir);
      if (list) list.push(i);
      else byDir.set(dir, [i]);
    }
    // A directory other names of this call are built on keeps its descriptor here: only the
    // leaves are handed over to be closed by a thread.
    const inner = new Set<string>();
    for (const dir of byDir.keys()) for (let p = dir; p; ) inner.add((p = parentDir(p)));
    const requests: { files: number[]; dirs: string[]; req: { names: string[]; mode: RemovalMode[]; expect: number[]; dirs: RemovalDir[] } }[] = [];
    let cur: (typeof requests)[number] | undefined;
    for (const [dir, idxs] of byDir) {
      let lent: ReturnType<DirScope['lend']>;
      try {
        lent = this.scope.lend(dir, !inner.has(dir));
      } catch (err) {
        for (const i of idxs) results[i] = work[i]!.expect === null ? { outcome: 'gone' } : { outcome: 'failed', reason: errorMessage(err) };
        continue;
      }
      if (!lent) {
        for (const i of idxs) results[i] = { outcome: 'gone' };
        continue;
      }
      cur ??= { files: [], dirs: [], req: { names: [], mode: [], expect: [], dirs: [] } };
      const first = cur.files.length;
      let rmdir = dir.includes('/');
      for (const i of idxs) {
        const w = work[i]!;
        let mode: RemovalMode = 'recheck';
        if (w.expect === null) mode = 'skip';
        else if (w.checked) {
          const r = compare(w.checked, w.expect);
          if (r) {
            results[i] = r;
            if (r.outcome !== 'gone') rmdir = false;
            continue;
          }
          mode = 'unlink';
        }
        cur.files.push(i);
        cur.req.names.push(`${lent.base}/${w.path.slice(w.path.lastIndexOf('/') + 1)}`);
        cur.req.mode.push(mode);
        cur.req.expect.push(w.expect?.size ?? 0, w.expect?.mtimeMs ?? 0);
      }
      cur.dirs.push(dir);
      cur.req.dirs.push({ name: lent.name, fd: lent.fd, abs: lent.abs, dev: lent.dev, ino: lent.ino, rmdir, first, count: cur.files.length - first });
      if (cur.files.length >= REMOVE_SLICE) {
        requests.push(cur);
        cur = undefined;
      }
    }
    if (cur) requests.push(cur);
    const threads = this.gate.threads();
    const dirsRemoved: string[] = [];
    await Promise.all(
      requests.map(async ({ files, dirs, req }) => {
        const r = await threads.remove(req);
        files.forEach((i, k) => {
          const o = r.outcomes[k]!;
          if (o === 'deleted' || o === 'gone') results[i] = { outcome: o };
          else if (o === 'failed') results[i] = { outcome: 'failed', reason: errorMessage(sysError(r.looked[k]!.error)) };
          else results[i] = compare(diskStateOf(r.looked[k]!), work[i]!.expect!) ?? { outcome: 'changed', reason: 'modified since planning' };
        });
        dirs.forEach((d, k) => {
          if (r.dirs[k] === 'removed') dirsRemoved.push(d);
          else if (r.dirs[k] === 'moved') this.#swapped.add(d);
        });
      }),
    );
    return { results: results as GateResult[], dirsRemoved };
  }

  #recheck(rel: string, expect: Expected): GateResult | null {
    return compare(this.inspect(rel), expect);
  }

  /**
   * Re-checks (or takes the re-check the caller made through this batch just before), then
   * unlinks through the directory held open. Never throws for one file: the outcome says.
   */
  async remove(rel: string, expect: Expected, checked?: DiskState): Promise<GateResult> {
    this.gate.refuseDryRun(rel);
    const r = checked ? compare(checked, expect) : this.#recheck(rel, expect);
    if (r) return r;
    try {
      await this.scope.unlink(rel);
      return { outcome: 'deleted' };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { outcome: 'gone' };
      return { outcome: 'failed', reason: errorMessage(err) };
    }
  }

  /**
   * Re-checks, then moves the file under the quarantine directory at <rel> (or <rel>.1, .2 ...
   * when an earlier quarantined file holds the name: never overwritten). Same device: a hard
   * link then the unlink; across devices: a partial copy, fsync, link into place, unlink. A
   * rerun after a kill at any point converges (the partial copy is rewritten; a file already
   * linked in place with the same bytes counts as moved).
   */
  async moveAside(rel: string, expect: Expected, q: QuarantineTarget): Promise<GateResult & { to?: string }> {
    this.gate.refuseDryRun(rel);
    const r = this.#recheck(rel, expect);
    if (r) return r;
    const src = this.scope.at(rel);
    if (src === null) return { outcome: 'gone' };
    const qs = q.scope();
    try {
      if (parentDir(rel)) qs.mkdirs(parentDir(rel));
    } catch (err) {
      return { outcome: 'failed', reason: `quarantine: ${errorMessage(err)}` };
    }
    try {
      for (let n = 0; n < 1000; n++) {
        const name = n === 0 ? rel : `${rel}.${n}`;
        const dest = qs.at(name)!;
        try {
          await fs.promises.link(src, dest);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'EEXIST') {
            if ((await sameFile(src, dest)) || (await sameContent(src, dest))) {
              // A kill after the link (or after a copy was linked in place, across file
              // systems): the earlier run's copy of this very file.
              await this.scope.unlink(rel);
              return { outcome: 'moved', to: name };
            }
            continue;
          }
          if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP') throw err;
          const placed = await copyInto(src, qs, name);
          if (placed === 'taken') {
            if (await sameContent(src, dest)) {
              await this.scope.unlink(rel);
              return { outcome: 'moved', to: name };
            }
            continue;
          }
        }
        await this.scope.unlink(rel);
        return { outcome: 'moved', to: name };
      }
      return { outcome: 'failed', reason: `quarantine: no free name for ${rel}` };
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
    this.gate.refuseDryRun(rel);
    if (!rel.includes('/')) return false;
    try {
      checkRelPath(rel);
      if (this.scope.moved(rel)) {
        this.#swapped.add(rel);
        return false;
      }
      await this.scope.rmdir(rel);
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
    this.gate.refuseDryRun('directories');
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

  /**
   * The directories this batch acted in whose path no longer names them: moved or swapped
   * (for a symlink, say) during the run. The acts stayed in the directories checked.
   */
  swapped(): string[] {
    for (const d of this.scope.opened()) if (this.scope.moved(d)) this.#swapped.add(d);
    return [...this.#swapped].sort();
  }

  close(): void {
    this.scope.close();
  }
}

/** Same inode (a hard link made by an earlier, killed run). */
async function sameFile(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([fs.promises.lstat(a), fs.promises.lstat(b)]);
  return y.isFile() && x.dev === y.dev && x.ino === y.ino;
}

/** Same bytes (a copy linked in place by an earlier, killed run). */
async function sameContent(a: string, b: string): Promise<boolean> {
  const y = await fs.promises.lstat(b);
  const x = await fs.promises.lstat(a);
  if (!y.isFile() || x.size !== y.size) return false;
  const [ba, bb] = await Promise.all([fs.promises.readFile(a, { flag: fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW }), fs.promises.readFile(b, { flag: fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW })]);
  return ba.equals(bb);
}

/** Copies src to name's partial file, fsyncs, links it in place: 'taken' when name exists already. */
async function copyInto(src: string, qs: DirScope, name: string): Promise<'placed' | 'taken'> {
  const partialRel = `${name}${PARTIAL}`;
  const partial = qs.at(partialRel)!;
  const dest = qs.at(name)!;
  const input = await fs.promises.open(src, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    // The partial file of a killed run is ours (the store lock is held): rewritten from the start.
    const out = await fs.promises.open(partial, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, 0o600);
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      for (;;) {
        const { bytesRead } = await input.read(buf, 0, buf.length, null);
        if (!bytesRead) break;
        await out.write(buf, 0, bytesRead);
      }
      await out.sync();
    } finally {
      await out.close();
    }
  } finally {
    await input.close();
  }
  try {
    await fs.promises.link(partial, dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    await fs.promises.unlink(partial);
    return 'taken';
  }
  await fs.promises.unlink(partial);
  return 'placed';
}

/** A system call's error (it has an errno code): 'error'; a refusal (symlink, unsafe path): 'unsafe'. */
function failedLook(err: unknown): DiskState {
  return typeof (err as NodeJS.ErrnoException).code === 'string' ? { kind: 'error', reason: errorMessage(err) } : { kind: 'unsafe', reason: errorMessage(err) };
}

/** A removal thread's look as a DiskState (an error worded as on the main thread). */
function diskStateOf(l: Looked): DiskState {
  if (l.kind === 'file') return { kind: 'file', size: l.size, mtimeMs: l.mtimeMs };
  if (l.kind === 'error') return failedLook(sysError(l.error));
  return l.kind === 'unsafe' ? { kind: 'unsafe', reason: 'unsafe path' } : { kind: l.kind };
}

/** A system call's error as a thread reported it, rebuilt for errors.ts. */
function sysError(e: SysError | undefined): Error {
  const err = new Error(e?.message ?? 'unknown error') as NodeJS.ErrnoException;
  if (e?.code) err.code = e.code;
  if (e?.syscall) err.syscall = e.syscall;
  if (e?.path) err.path = e.path;
  return err;
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
  if (now.kind === 'error') return { outcome: 'failed', reason: now.reason };
  if (now.kind !== 'file') return { outcome: 'changed', reason: `now a ${now.kind}, not a regular file` };
  if (now.size !== expect.size) return { outcome: 'changed', reason: `size changed (${expect.size} -> ${now.size})` };
  if (expect.identity !== undefined && now.identity !== undefined && now.identity !== expect.identity) return { outcome: 'changed', reason: `replaced since planning (${expect.identity} -> ${now.identity})` };
  if (now.mtimeMs !== expect.mtimeMs) return { outcome: 'changed', reason: 'modified since planning' };
  return null;
}

/**
 * Writes an object's bytes into the quarantine under rel, or rel.1, rel.2, ... (never over an
 * earlier quarantined file): a partial file, fsynced, linked into place. A name that holds these
 * very bytes already (a run killed after writing it) is taken as the copy. Returns the name used.
 */
export async function quarantineBytes(q: QuarantineTarget, rel: string, open: () => Promise<AsyncIterable<Uint8Array>>): Promise<string> {
  const qs = q.scope();
  if (parentDir(rel)) qs.mkdirs(parentDir(rel));
  for (let n = 0; n < 1000; n++) {
    const name = n === 0 ? rel : `${rel}.${n}`;
    const partial = qs.at(`${name}${PARTIAL}`)!;
    const dest = qs.at(name)!;
    const out = await fs.promises.open(partial, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, 0o600);
    try {
      for await (const chunk of await open()) await out.write(chunk);
      await out.sync();
    } finally {
      await out.close();
    }
    try {
      await fs.promises.link(partial, dest);
      await fs.promises.unlink(partial);
      return name;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const same = await sameContent(partial, dest);
      await fs.promises.unlink(partial);
      if (same) return name;
    }
  }
  throw new Error(`quarantine: no free name for ${rel}`);
}
