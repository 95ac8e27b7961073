// BlobStore on the local tree: atomic writes, 0600 files in 0750 directories, no symlink
// ever followed, every key checked against the root.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { ensureDir, fsyncDir, FILE_MODE } from './atomic.ts';
import {
  BlobChecksumError,
  BlobNotFoundError,
  inParallel,
  type BlobCapabilities,
  type BlobEntry,
  type BlobHead,
  type BlobStore,
  type ByteRange,
  type ListOptions,
  type PutOptions,
  type PutResult,
  type RemoveResult,
} from './blob.ts';
import { checkRelPath, compareBytewise, resolveNoSymlinks } from './paths.ts';
import { readDirEntries } from './walk.ts';

const headOf = (st: fs.Stats): BlobHead => ({ size: st.size, mtime: st.mtime, identity: `ino:${st.dev}:${st.ino}` });
const kindOfStats = (st: fs.Stats): BlobEntry['kind'] => (st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : 'other');

export class LocalTreeBlobStore implements BlobStore {
  readonly url: string;
  readonly capabilities: BlobCapabilities = {
    kind: 'local',
    symlinks: true,
    hardLinks: true,
    verifiesSha256OnPut: true,
    removeBatchSize: 256,
    removeConcurrency: 16,
  };

  constructor(readonly root: string) {
    this.url = path.resolve(root);
  }

  private abs(key: string): string {
    return resolveNoSymlinks(this.root, checkRelPath(key));
  }

  async put(key: string, data: Uint8Array | Readable, opts: PutOptions = {}): Promise<PutResult> {
    const abs = this.abs(key);
    const dir = path.dirname(abs);
    ensureDir(dir);
    // Re-check after creating directories: one of them may have been swapped for a link meanwhile.
    this.abs(key);
    const tmp = path.join(dir, `.${path.basename(abs)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    const fh = await fs.promises.open(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, FILE_MODE);
    const hash = opts.sha256 ? createHash('sha256') : undefined;
    try {
      try {
        if (data instanceof Uint8Array) {
          hash?.update(data);
          await fh.writeFile(data);
        } else {
          for await (const chunk of data as AsyncIterable<Buffer>) {
            hash?.update(chunk);
            await fh.write(chunk);
          }
        }
        await fh.chmod(FILE_MODE);
        await fh.sync();
        if (opts.mtime) await fh.utimes(opts.mtime, opts.mtime);
      } finally {
        await fh.close();
      }
      if (hash) {
        const got = hash.digest('hex');
        if (got !== opts.sha256!.toLowerCase()) throw new BlobChecksumError(key, `expected sha256 ${opts.sha256}, got ${got}`);
      }
      await fs.promises.rename(tmp, abs);
    } catch (err) {
      await fs.promises.rm(tmp, { force: true });
      throw err;
    }
    fsyncDir(dir);
    const st = await fs.promises.lstat(abs);
    return { ...headOf(st), checksumVerified: Boolean(hash) };
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const abs = this.abs(key);
    let fh: fs.promises.FileHandle;
    try {
      fh = await fs.promises.open(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new BlobNotFoundError(key);
      if (code === 'ELOOP') throw new Error(`refusing to read ${key}: it is a symlink`);
      throw err;
    }
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      throw new Error(`refusing to read ${key}: not a regular file`);
    }
    return fh.createReadStream({ start: range?.start, end: range?.end });
  }

  async readWhole(key: string, maxBytes: number): Promise<Buffer> {
    const abs = this.abs(key);
    // Callback fs calls, not FileHandle promises or a stream: a fifth of the CPU a small file
    // cost migrate-store (bench/results/s3.md, the profile of issue 17).
    const call = <T>(f: (cb: (err: NodeJS.ErrnoException | null, v: T) => void) => void) => new Promise<T>((res, rej) => f((err, v) => (err ? rej(err) : res(v))));
    let fd: number;
    try {
      fd = await call<number>((cb) => fs.open(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW, cb));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new BlobNotFoundError(key);
      if (code === 'ELOOP') throw new Error(`refusing to read ${key}: it is a symlink`);
      throw err;
    }
    try {
      const st = await call<fs.Stats>((cb) => fs.fstat(fd, cb));
      if (!st.isFile()) throw new Error(`refusing to read ${key}: not a regular file`);
      if (st.size > maxBytes) throw new Error(`${key}: ${st.size} bytes, more than the ${maxBytes} a whole read takes`);
      // One byte more than fstat said, to see a file that grew since; read until EOF.
      const buf = Buffer.allocUnsafe(Math.min(st.size + 1, maxBytes + 1));
      let n = 0;
      for (;;) {
        const got = await call<number>((cb) => fs.read(fd, buf, n, buf.length - n, n, cb));
        if (got === 0) break;
        n += got;
        if (n === buf.length) throw new Error(`${key}: it grew while read (more than the ${st.size} bytes it had)`);
      }
      return buf.subarray(0, n);
    } finally {
      await call<void>((cb) => fs.close(fd, (err) => cb(err, undefined)));
    }
  }

  async stat(key: string) {
    try {
      const st = await fs.promises.lstat(this.abs(key));
      return { ...headOf(st), kind: kindOfStats(st) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async *list(opts: ListOptions = {}): AsyncGenerator<BlobEntry[]> {
    const prefix = opts.prefix ?? '';
    const pageSize = opts.pageSize ?? 1000;
    // Start the walk in the deepest directory the prefix names; filter the rest by string.
    const slash = prefix.lastIndexOf('/');
    const startDir = slash >= 0 ? prefix.slice(0, slash) : '';
    if (startDir) checkRelPath(startDir);
    let page: BlobEntry[] = [];
    const root = this.root;
    const after = opts.startAfter;
    function* walk(rel: string): Generator<{ key: string; dirent: fs.Dirent }> {
      let entries: fs.Dirent[];
      try {
        entries = readDirEntries(root, rel, true);
      } catch (err) {
        // A missing start directory under a prefix means no keys, not an error.
        if (rel === startDir && rel !== '' && ((err as { cause?: NodeJS.ErrnoException }).cause?.code === 'ENOENT' || (err as { cause?: NodeJS.ErrnoException }).cause?.code === 'ENOTDIR')) return;
        throw err;
      }
      for (const d of entries) {
        const key = rel ? `${rel}/${d.name}` : d.name;
        if (d.isDirectory()) {
          const asDir = `${key}/`;
          // Skip directories wholly outside the prefix or wholly before startAfter.
          if (!(asDir.startsWith(prefix) || prefix.startsWith(asDir))) continue;
          if (after !== undefined && compareBytewise(asDir, after) < 0 && !after.startsWith(asDir)) continue;
          yield* walk(key);
        } else {
          if (!key.startsWith(prefix)) continue;
          if (after !== undefined && compareBytewise(key, after) <= 0) continue;
          yield { key, dirent: d };
        }
      }
    }
    for (const { key, dirent } of walk(startDir)) {
      let st: fs.Stats;
      try {
        st = fs.lstatSync(path.join(root, ...key.split('/')));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed since the readdir
        throw err;
      }
      const kind = dirent.isSymbolicLink() ? 'symlink' : kindOfStats(st);
      page.push({ key, kind, ...headOf(st) });
      if (page.length >= pageSize) {
        yield page;
        page = [];
      }
    }
    if (page.length) yield page;
  }

  async remove(key: string): Promise<RemoveResult> {
    let abs: string;
    try {
      abs = this.abs(key);
      const st = fs.lstatSync(abs, { throwIfNoEntry: false });
      if (!st) return { key, ok: true, missing: true };
      if (!st.isFile()) return { key, ok: false, error: `refusing to delete ${key}: not a regular file` };
      await fs.promises.unlink(abs);
      return { key, ok: true };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { key, ok: true, missing: true };
      return { key, ok: false, error: (err as Error).message };
    }
  }

  async removeMany(keys: readonly string[]): Promise<RemoveResult[]> {
    return inParallel(keys, this.capabilities.removeConcurrency, (k) => this.remove(k));
  }

  async close(): Promise<void> {}
}
