import fs from 'node:fs';
import { writeFileAtomicSync, writeFilesAtomic, ensureDir } from './atomic.ts';
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
}
