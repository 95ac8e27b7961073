// An oracle for byte order that is not storectl's code: GNU sort in the C locale compares the
// bytes of each line (paths without newlines).
import { execFileSync } from 'node:child_process';

export function cSorted(lines: readonly string[]): string[] {
  if (lines.some((l) => l.includes('\n'))) throw new Error('cSorted: a line holds a newline');
  if (!lines.length) return [];
  const out = execFileSync('sort', [], { input: lines.join('\n') + '\n', env: { ...process.env, LC_ALL: 'C' }, encoding: 'utf8', maxBuffer: 1 << 28 });
  return out.split('\n').slice(0, -1);
}
