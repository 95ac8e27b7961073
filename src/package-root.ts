import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/**
 * The directory of storectl's package.json. Found by walking up, so it is the same whether
 * code runs from src/ (through tsx) or from the bundle in dist/.
 */
export function packageRoot(): string {
  if (cached) return cached;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json')) || !fs.existsSync(path.join(dir, 'drizzle'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the storectl package directory');
    dir = up;
  }
  return (cached = dir);
}
