import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export { DIR_MODE, ensureDir } from '../dirs.ts';
import { DIR_MODE, ensureDir } from '../dirs.ts';
export const FILE_MODE = 0o600;

export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Writes a file so that readers see either nothing or the whole file: temp file in the
 * target directory, fsync, rename, fsync the directory. A crash leaves at worst a
 * `.tmp-*` file, which cleanup-orphaned removes after its grace age.
 */
export function writeFileAtomicSync(abs: string, data: Uint8Array, opts: { durable?: boolean } = {}): fs.Stats {
  const durable = opts.durable ?? true;
  const dir = path.dirname(abs);
  ensureDir(dir);
  const tmp = path.join(dir, `.${path.basename(abs)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, FILE_MODE);
  try {
    fs.writeSync(fd, data);
    fs.fchmodSync(fd, FILE_MODE);
    if (durable) fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  try {
    fs.renameSync(tmp, abs);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  if (durable) fsyncDir(dir);
  return fs.statSync(abs);
}

/**
 * Writes several files atomically, off the main thread: all temp files are written and
 * fsync'ed in parallel, then renamed, then each directory is fsync'ed once. Used for a
 * job's files, so five fsyncs overlap instead of queueing behind each other and rendering.
 */
export async function writeFilesAtomic(files: { abs: string; data: Uint8Array }[]): Promise<fs.Stats[]> {
  const fsp = fs.promises;
  const dirs = [...new Set(files.map((f) => path.dirname(f.abs)))];
  for (const d of dirs) ensureDir(d);
  const tmps = files.map((f) => path.join(path.dirname(f.abs), `.${path.basename(f.abs)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`));
  try {
    await Promise.all(
      files.map(async (f, i) => {
        const h = await fsp.open(tmps[i]!, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, FILE_MODE);
        try {
          await h.writeFile(f.data);
          await h.chmod(FILE_MODE);
          await h.sync();
        } finally {
          await h.close();
        }
      }),
    );
    for (let i = 0; i < files.length; i++) await fsp.rename(tmps[i]!, files[i]!.abs);
  } catch (err) {
    await Promise.all(tmps.map((t) => fsp.rm(t, { force: true })));
    throw err;
  }
  await Promise.all(
    dirs.map(async (d) => {
      const h = await fsp.open(d, 'r');
      try {
        await h.sync();
      } finally {
        await h.close();
      }
    }),
  );
  return Promise.all(files.map((f) => fsp.stat(f.abs)));
}
