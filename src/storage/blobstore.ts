import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync, writeFilesAtomic, ensureDir, fsyncDir, FILE_MODE } from './atomic.ts';
import { openHashPool, type HashPool } from './hash-pool.ts';
import { sha256FileSync } from './hash.ts';
import { resolveNoSymlinks } from './paths.ts';
import { walkTree, type TreeEntry } from './walk.ts';

export interface BlobStat {
  size: number;
  mtime: Date;
}

/**
 * The file side of the store. Paths are catalog paths: relative, '/'-separated, checked.
 * (Synchronous, local only: what the operations use until they move to the async BlobStore of blob.ts.)
 * Local file system now; an S3-compatible store can implement the same interface later.
 */
export interface LocalTree {
  readonly root: string;
  /** Writes atomically (temp + fsync + rename + fsync dir), 0600 in 0750 directories. */
  put(rel: string, data: Uint8Array): BlobStat;
  /** lstat: null when missing; throws if the path is a symlink or escapes the root. */
  stat(rel: string): (BlobStat & { isFile: boolean; isSymlink: boolean }) | null;
  hash(rel: string): { sha256: string; size: number };
  /** Unlinks a regular file; returns false when it was already gone. */
  remove(rel: string): boolean;
  walk(opts?: { sorted?: boolean }): Generator<TreeEntry>;
  abs(rel: string): string;
}

export class LocalBlobStore implements LocalTree {
  constructor(readonly root: string) {}

  abs(rel: string): string {
    return resolveNoSymlinks(this.root, rel);
  }

  ensureRoot(): void {
    ensureDir(this.root);
  }

  put(rel: string, data: Uint8Array): BlobStat {
    const st = writeFileAtomicSync(this.abs(rel), data);
    return { size: st.size, mtime: st.mtime };
  }

  /** Writes a set of files (one job's) atomically, fsyncs overlapping; see writeFilesAtomic. */
  async putMany(items: { rel: string; data: Uint8Array }[]): Promise<BlobStat[]> {
    const stats = await writeFilesAtomic(items.map((i) => ({ abs: this.abs(i.rel), data: i.data })));
    return stats.map((st) => ({ size: st.size, mtime: st.mtime }));
  }

  stat(rel: string) {
    try {
      const st = fs.lstatSync(this.abs(rel));
      return { size: st.size, mtime: st.mtime, isFile: st.isFile(), isSymlink: st.isSymbolicLink() };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  hash(rel: string) {
    return sha256FileSync(this.abs(rel));
  }

  remove(rel: string): boolean {
    const abs = this.abs(rel);
    const st = fs.lstatSync(abs, { throwIfNoEntry: false });
    if (!st) return false;
    if (!st.isFile()) throw new Error(`refusing to delete ${rel}: not a regular file`);
    try {
      fs.unlinkSync(abs);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  walk(opts?: { sorted?: boolean }) {
    return walkTree(this.root, opts);
  }

  /** Threads that read files back and hash them (verify, dedup); close it when done. */
  hashPool(threads?: number): HashPool {
    return openHashPool(this.root, threads);
  }

  /** A private directory under <root>/.storectl/ on the store's file system, for staging. */
  stagingDir(prefix: string): string {
    const base = path.join(this.root, '.storectl', 'staging');
    ensureDir(base);
    return fs.mkdtempSync(path.join(base, `${prefix}-`));
  }

  /**
   * Makes rel a new name of the file at `existing` (a hard link: the content is shared, not
   * copied), atomically: link into `staging` (a stagingDir), then rename over rel, so rel has
   * its old content or the shared one at every moment, and a crash leaves at worst a name under
   * .storectl/. Throws when existing is not a regular file.
   */
  linkFrom(rel: string, existing: string, staging: string): BlobStat {
    const src = this.abs(existing);
    if (!fs.lstatSync(src).isFile()) throw new Error(`${existing} is not a regular file`);
    const abs = this.abs(rel);
    ensureDir(path.dirname(abs));
    const tmp = path.join(staging, `link-${process.pid}-${Math.random().toString(16).slice(2, 10)}`);
    fs.linkSync(src, tmp);
    try {
      fs.renameSync(tmp, abs);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    fsyncDir(path.dirname(abs));
    const st = fs.lstatSync(abs);
    return { size: st.size, mtime: st.mtime };
  }

  /**
   * Like linkFrom, with a reflink (copy-on-write clone: the extents are shared, the files stay
   * independent). Throws an error with code 'EOPNOTSUPP' or similar where the file system has none.
   */
  reflinkFrom(rel: string, existing: string, staging: string): BlobStat {
    const src = this.abs(existing);
    if (!fs.lstatSync(src).isFile()) throw new Error(`${existing} is not a regular file`);
    const tmp = path.join(staging, `clone-${process.pid}-${Math.random().toString(16).slice(2, 10)}`);
    fs.copyFileSync(src, tmp, fs.constants.COPYFILE_FICLONE_FORCE);
    try {
      fs.chmodSync(tmp, FILE_MODE);
      return this.adopt(rel, tmp);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw err;
    }
  }

  /** Removes what interrupted runs left in staging; call holding the store lock. */
  clearStaging(): void {
    fs.rmSync(path.join(this.root, '.storectl', 'staging'), { recursive: true, force: true });
  }

  /** The identity of a file's content on disk (device and inode), or null when missing. */
  contentId(rel: string): string | null {
    const st = fs.lstatSync(this.abs(rel), { throwIfNoEntry: false, bigint: true });
    return st && st.isFile() ? `${st.dev}:${st.ino}` : null;
  }

  /**
   * Moves a complete file (staged on the store's file system) to rel atomically: fsync, 0600,
   * rename over whatever is there, fsync the directory. Readers see the old file or the new one.
   */
  adopt(rel: string, staged: string): BlobStat {
    const abs = this.abs(rel);
    const fd = fs.openSync(staged, 'r+');
    try {
      fs.fchmodSync(fd, FILE_MODE);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    ensureDir(path.dirname(abs));
    fs.renameSync(staged, abs);
    fsyncDir(path.dirname(abs));
    const st = fs.lstatSync(abs);
    return { size: st.size, mtime: st.mtime };
  }
}
