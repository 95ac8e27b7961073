// Copying a file from outside the store into staging, hashing it while copying: the first
// step of `put`. The source is checked first (missing, unreadable, a directory or a symlink
// fail with their reason); nothing is written for a source that fails.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { FILE_MODE } from './atomic.ts';
import { SNIFF_BYTES } from './sniff.ts';

const CHUNK = 1 << 20;
const HEAD = SNIFF_BYTES;

export interface StagedCopy {
  /** The staged file (on the store's file system). */
  file: string;
  size: number;
  sha256: string;
  /** The first bytes, for the content type. */
  head: Buffer;
}

/** Why a source cannot be read; the caller reports it and carries on with the next file. */
export class SourceError extends Error {}

function openSource(source: string | 0): number {
  if (source === 0) return 0;
  let st: fs.Stats;
  try {
    st = fs.lstatSync(source);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SourceError(code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message);
  }
  if (st.isSymbolicLink()) throw new SourceError('is a symlink (give the file it points to)');
  if (st.isDirectory()) throw new SourceError('is a directory');
  if (!st.isFile()) throw new SourceError('is not a regular file');
  try {
    return fs.openSync(source, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SourceError(code === 'EACCES' ? 'permission denied' : code === 'ELOOP' ? 'is a symlink' : (err as Error).message);
  }
}

function readSome(fd: number, buf: Buffer): number {
  for (;;) {
    try {
      return fs.readSync(fd, buf, 0, buf.length, null);
    } catch (err) {
      // stdin can be a non-blocking pipe: wait a little and read again
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
}

/** Copies source (a path, or 0 for stdin) into dir, hashing as it goes; fsynced, 0600. */
export function stageCopy(source: string | 0, dir: string): StagedCopy {
  const src = openSource(source);
  const file = path.join(dir, `put-${randomBytes(6).toString('hex')}`);
  let out: number | undefined;
  try {
    out = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, FILE_MODE);
    const buf = Buffer.allocUnsafe(CHUNK);
    const h = createHash('sha256');
    let size = 0;
    let head = Buffer.alloc(0);
    for (;;) {
      let n: number;
      try {
        n = readSome(src, buf);
      } catch (err) {
        throw new SourceError(`cannot read: ${(err as Error).message}`);
      }
      if (n === 0) break;
      const part = buf.subarray(0, n);
      h.update(part);
      if (head.length < HEAD) head = Buffer.concat([head, part.subarray(0, HEAD - head.length)]);
      let off = 0;
      while (off < n) off += fs.writeSync(out, part, off, n - off);
      size += n;
    }
    fs.fsyncSync(out);
    return { file, size, sha256: h.digest('hex'), head };
  } catch (err) {
    fs.rmSync(file, { force: true });
    throw err;
  } finally {
    if (out !== undefined) fs.closeSync(out);
    if (src !== 0) fs.closeSync(src);
  }
}
