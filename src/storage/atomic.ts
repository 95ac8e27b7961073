import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const DIR_MODE = 0o750;
export const FILE_MODE = 0o600;

/**
 * mkdir -p with 0750 for every directory it creates (umask cannot widen it). Hand-rolled:
 * Node 20's mkdirSync({recursive}) never returns for some paths under /proc.
 */
export function ensureDir(dir: string): void {
  if (fs.existsSync(dir)) return;
  ensureDir(path.dirname(dir));
  try {
    fs.mkdirSync(dir, { mode: DIR_MODE });
    fs.chmodSync(dir, DIR_MODE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

function fsyncDir(dir: string): void {
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
