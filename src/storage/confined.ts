// Confined access below a root, closed against directories swapped for symlinks during a run.
//
// On Linux (with /proc mounted) every directory below the root is opened component by
// component with O_DIRECTORY|O_NOFOLLOW, each relative to its parent's descriptor, and every
// act on an entry names it as /proc/self/fd/N/NAME: the kernel resolves that against the
// directory held open as descriptor N, whatever the path names by then. lstat, unlink, rmdir,
// rename and link never follow NAME itself; files are opened with O_NOFOLLOW. A directory
// replaced by a symlink after it was opened is therefore never entered: the acts keep landing
// in the directory that was checked (wherever it was moved to), and `moved()` tells the caller
// that the path no longer names it.
//
// Elsewhere (no /proc/self/fd) the same calls fall back to path lookups after an lstat of
// every component: symlinks already in place are refused, but a swap between the check and
// the act is not closed (RACE_FREE is false; the README says so).
import fs from 'node:fs';
import path from 'node:path';

/** True when acts are made relative to directories held open (Linux, /proc mounted). */
export const RACE_FREE = process.platform === 'linux' && fs.existsSync('/proc/self/fd');

const DIR_FLAGS = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW;

/** A component on the way is a symlink or not a directory: nothing below it is touched. */
export class ConfinementError extends Error {
  constructor(
    readonly relPath: string,
    readonly reason: string,
  ) {
    super(`${relPath}: ${reason}`);
  }
}

interface DirEntry {
  /** /proc/self/fd/N (Linux) or the absolute path (fallback), without a trailing '/'. */
  base: string;
  fd: number | null;
  dev: number;
  ino: number;
}

/**
 * The root, opened once. Scopes opened from it hold directories open; close them before
 * the root. The root path itself is trusted (configuration), components below it are not.
 */
export class ConfinedRoot {
  readonly #root: DirEntry;
  #closed = false;

  constructor(readonly root: string) {
    if (RACE_FREE) {
      const fd = fs.openSync(root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      const st = fs.fstatSync(fd);
      this.#root = { base: `/proc/self/fd/${fd}`, fd, dev: st.dev, ino: st.ino };
    } else {
      const st = fs.statSync(root);
      this.#root = { base: path.resolve(root), fd: null, dev: st.dev, ino: st.ino };
    }
  }

  /** A set of directories held open together (a batch); close() releases them. */
  scope(): DirScope {
    if (this.#closed) throw new Error('internal: confined root used after close');
    return new DirScope(this.root, this.#root);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#root.fd !== null) fs.closeSync(this.#root.fd);
  }
}

/**
 * Directories below the root held open for as long as the scope lives. Paths are checked
 * relative paths ('/'-separated, no '.', '..' or empty segments; see storage/paths.ts).
 */
export class DirScope {
  readonly #dirs = new Map<string, DirEntry | null>();
  #closed = false;

  constructor(
    readonly root: string,
    rootEntry: DirEntry,
  ) {
    this.#dirs.set('', rootEntry);
  }

  /**
   * The directory `rel` held open (opened now, component by component, if not yet): null when
   * a component is missing; throws ConfinementError when one is a symlink or not a directory.
   */
  dir(rel: string): DirEntry | null {
    if (this.#closed) throw new Error('internal: directory scope used after close');
    const known = this.#dirs.get(rel);
    if (known !== undefined) return known;
    const cut = rel.lastIndexOf('/');
    const parent = this.dir(cut < 0 ? '' : rel.slice(0, cut));
    if (!parent) {
      this.#dirs.set(rel, null);
      return null;
    }
    const name = rel.slice(cut + 1);
    let entry: DirEntry | null;
    try {
      entry = RACE_FREE ? openDirAt(parent, name) : checkDirAt(parent, name);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') entry = null;
      else if (code === 'ELOOP') throw new ConfinementError(rel, 'is a symlink');
      else if (code === 'ENOTDIR') throw new ConfinementError(rel, isSymlinkAt(parent, name) ? 'is a symlink' : 'is not a directory');
      else throw err;
    }
    this.#dirs.set(rel, entry);
    return entry;
  }

  /** The name to hand a system call for `rel`, relative to its directory held open; null when a directory on the way is missing. */
  at(rel: string): string | null {
    const cut = rel.lastIndexOf('/');
    const d = this.dir(cut < 0 ? '' : rel.slice(0, cut));
    return d ? `${d.base}/${rel.slice(cut + 1)}` : null;
  }

  /** lstat of `rel` (never follows it); undefined when it or a directory on the way is missing. */
  lstat(rel: string): fs.Stats | undefined {
    const p = this.at(rel);
    return p === null ? undefined : fs.lstatSync(p, { throwIfNoEntry: false });
  }

  /** Unlinks `rel` (a symlink there is removed, never followed). ENOENT when it is gone. */
  async unlink(rel: string): Promise<void> {
    await fs.promises.unlink(this.#need(rel));
  }

  /** Removes the directory `rel` if it is empty (fails otherwise, and on a symlink: ENOTDIR). */
  async rmdir(rel: string): Promise<void> {
    await fs.promises.rmdir(this.#need(rel));
    this.#forgetDir(rel);
  }

  /** Opens `rel` for reading, refusing a symlink (ELOOP) and anything but a regular file. */
  async openRead(rel: string): Promise<fs.promises.FileHandle> {
    const fh = await fs.promises.open(this.#need(rel), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      if (!(await fh.stat()).isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
      return fh;
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Creates the directories of `rel` (0750) that are missing, each under one held open. */
  mkdirs(rel: string): void {
    let cur = '';
    for (const seg of rel.split('/')) {
      const next = cur ? `${cur}/${seg}` : seg;
      if (this.dir(next) === null) {
        this.#dirs.delete(next);
        try {
          fs.mkdirSync(this.at(next)!, { mode: 0o750 });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
        if (!this.dir(next)) throw new Error(`${next}: could not be created`);
      }
      cur = next;
    }
  }

  /**
   * True when the path of directory `rel` no longer names the directory held open (it was
   * moved or swapped for something else during the run). False when it was never opened.
   */
  moved(rel: string): boolean {
    const d = this.#dirs.get(rel);
    if (!d || d.fd === null) return false;
    const st = fs.lstatSync(path.join(this.root, ...rel.split('/')), { throwIfNoEntry: false });
    return !st || !st.isDirectory() || st.dev !== d.dev || st.ino !== d.ino;
  }

  /** The directories opened so far ('' is the root). */
  opened(): string[] {
    return [...this.#dirs].filter(([k, v]) => k !== '' && v).map(([k]) => k);
  }

  #need(rel: string): string {
    const p = this.at(rel);
    if (p === null) throw Object.assign(new Error(`${rel}: no such file or directory`), { code: 'ENOENT' });
    return p;
  }

  /**
   * Directory `rel` as another thread of this process acts in it: its own base (names of its
   * entries are base/NAME), its name for an rmdir (relative to its parent held open), its path
   * for the check that the path still names it (null when there is nothing to compare: the
   * root, or no /proc), and its identity. With `handOver`, the other thread takes its descriptor
   * (fd; -1 when none) and closes it: the scope forgets the directory without closing it (a later
   * act in it opens it again, checked as ever). Never hand over a directory whose base other
   * names in flight are built on. Null when `rel` or a directory on the way is missing; throws
   * ConfinementError as dir() does.
   */
  lend(rel: string, handOver: boolean): { base: string; name: string; fd: number; abs: string | null; dev: number; ino: number } | null {
    const d = this.dir(rel);
    if (!d) return null;
    const held = rel !== '' && d.fd !== null;
    const name = rel === '' ? d.base : this.at(rel)!;
    const fd = handOver && held ? d.fd! : -1;
    if (fd >= 0) this.#dirs.delete(rel);
    return { base: d.base, name, fd, abs: held ? path.join(this.root, ...rel.split('/')) : null, dev: d.dev, ino: d.ino };
  }

  /** Closes directory `rel` if held (none of the scope's calls may be using it). */
  release(rel: string): void {
    this.#forgetDir(rel);
  }

  #forgetDir(rel: string): void {
    const d = this.#dirs.get(rel);
    if (d?.fd != null) fs.closeSync(d.fd);
    this.#dirs.delete(rel);
  }

  /** Closes every directory the scope opened (never while one of its calls is in flight). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const [rel, d] of this.#dirs) if (rel !== '' && d?.fd != null) fs.closeSync(d.fd);
    this.#dirs.clear();
  }
}

function isSymlinkAt(parent: DirEntry, name: string): boolean {
  return fs.lstatSync(`${parent.base}/${name}`, { throwIfNoEntry: false })?.isSymbolicLink() ?? false;
}

function openDirAt(parent: DirEntry, name: string): DirEntry {
  const fd = fs.openSync(`${parent.base}/${name}`, DIR_FLAGS);
  const st = fs.fstatSync(fd);
  return { base: `/proc/self/fd/${fd}`, fd, dev: st.dev, ino: st.ino };
}

function checkDirAt(parent: DirEntry, name: string): DirEntry {
  const p = path.join(parent.base, name);
  const st = fs.lstatSync(p);
  if (st.isSymbolicLink()) throw Object.assign(new Error('symlink'), { code: 'ELOOP' });
  if (!st.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
  return { base: p, fd: null, dev: st.dev, ino: st.ino };
}

/**
 * Unlinks one regular file under `dir` (a file no catalog tracks: a backup archive, say)
 * through its directory held open; refuses a symlink on the way or at the file. False when it
 * was already gone.
 */
export function unlinkFileIn(dir: string, rel: string): boolean {
  const root = new ConfinedRoot(dir);
  const scope = root.scope();
  try {
    const st = scope.lstat(rel);
    if (!st) return false;
    if (!st.isFile()) throw new ConfinementError(rel, 'is not a regular file: not deleted');
    try {
      fs.unlinkSync(scope.at(rel)!);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  } finally {
    scope.close();
    root.close();
  }
}

/**
 * Removes the directory `rel` under `dir` with everything in it, each directory opened without
 * following symlinks and emptied through its descriptor: a symlink inside is unlinked, never
 * followed, so nothing outside `dir` is touched whatever is swapped in meanwhile.
 */
export function removeTreeIn(dir: string, rel: string): void {
  const root = new ConfinedRoot(dir);
  try {
    const scope = root.scope();
    try {
      const empty = (d: string) => {
        const base = scope.dir(d);
        if (!base) return;
        for (const e of fs.readdirSync(base.base, { withFileTypes: true })) {
          const child = `${d}/${e.name}`;
          if (e.isDirectory()) {
            empty(child);
            scope.release(child);
            fs.rmdirSync(scope.at(child)!);
          } else fs.unlinkSync(scope.at(child)!);
        }
      };
      empty(rel);
      const p = scope.at(rel);
      if (p && fs.lstatSync(p, { throwIfNoEntry: false })) fs.rmdirSync(p);
    } finally {
      scope.close();
    }
  } finally {
    root.close();
  }
}
