// Directories storectl creates (store tree, .storectl/, the SQLite catalog's folder): 0750, whatever the umask.
import fs from 'node:fs';
import path from 'node:path';

export const DIR_MODE = 0o750;

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
