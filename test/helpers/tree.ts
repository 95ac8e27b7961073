import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';

/** Every regular file under root except .storectl/, like `find root -type f`. */
export function listTree(root: string): { path: string; size: number; mode: number }[] {
  const out: { path: string; size: number; mode: number }[] = [];
  const walk = (rel: string) => {
    for (const d of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${d.name}` : d.name;
      if (!rel && d.name === '.storectl') continue;
      if (d.isDirectory()) walk(p);
      else if (d.isFile()) {
        const st = fs.statSync(path.join(root, p));
        out.push({ path: p, size: st.size, mode: st.mode & 0o777 });
      }
    }
  };
  if (fs.existsSync(root)) walk('');
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

export function listDirs(root: string): { path: string; mode: number }[] {
  const out: { path: string; mode: number }[] = [];
  const walk = (rel: string) => {
    for (const d of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      if (!rel && d.name === '.storectl') continue;
      if (!d.isDirectory()) continue;
      const p = rel ? `${rel}/${d.name}` : d.name;
      out.push({ path: p, mode: fs.statSync(path.join(root, p)).mode & 0o777 });
      walk(p);
    }
  };
  walk('');
  return out;
}

export function sha256File(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}
