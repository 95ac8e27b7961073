// Summarises node --cpu-prof output: for each .cpuprofile in a directory (one per thread), the
// sampled time, the idle time, and the functions with the most self time.
//   node --import tsx bench/lib/cpuprofile-summary.ts DIR [--top N] [--by-package]
// --by-package: self time by where the code lives (a node_modules package, a src/ file, node's
// own internals) instead of by function, for a thread whose time is spread thin.
import fs from 'node:fs';
import path from 'node:path';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

const dir = process.argv[2];
if (!dir) {
  console.error('usage: cpuprofile-summary.ts DIR [--top N]');
  process.exit(2);
}
const topArg = process.argv.indexOf('--top');
const top = topArg > 0 ? Number(process.argv[topArg + 1]) : 12;
const byPackage = process.argv.includes('--by-package');

/** Where a frame's code lives: `pkg @scope/name`, `src/dir/file.ts`, `node:internal`, or the frame's own name. */
function placeOf(url: string, functionName: string): string {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return `pkg ${m[1]}`;
  const src = /\/(src\/.+)$/.exec(url);
  if (src) return src[1]!;
  if (url.startsWith('node:') || (url && !url.includes('/'))) return 'node:internal';
  return url ? path.basename(url) : functionName || '(anonymous)';
}

for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.cpuprofile')).sort()) {
  const p = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
    total += dt;
    const n = byId.get(id)!;
    const where = n.callFrame.url ? `${path.basename(n.callFrame.url)}:${n.callFrame.lineNumber + 1}` : '';
    const special = n.callFrame.functionName.startsWith('(') && !n.callFrame.url;
    const key = byPackage && !special ? placeOf(n.callFrame.url, n.callFrame.functionName) : `${n.callFrame.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  });
  const idle = self.get('(idle)') ?? 0;
  console.log(`${f}: sampled ${(total / 1000).toFixed(2)} s, idle ${(idle / 1000).toFixed(2)} s, busy ${((total - idle) / 1000).toFixed(2)} s`);
  for (const [k, ms] of [...self].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${(ms / 1000).toFixed(3)} s  ${k}`);
}
