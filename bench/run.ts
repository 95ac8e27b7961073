// `npm run bench`: every benchmark, storectl against the tools an operator would use
// instead, measured in the same run and reported as ratios. Writes bench/results/latest.md.
//   npm run bench -- [--quick] [--only foundation,cleanup,backup,images,import-db,s3,usage,dedup,verify,tiers,compress]
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { REPO, arg, flag } from './lib/measure.ts';

const suites = ['foundation', 'cleanup', 'backup', 'images', 'import-db', 's3', 'usage', 'dedup', 'verify', 'tiers', 'compress'];
const only = arg('--only')?.split(',');
const passOn = flag('--quick') ? ['--quick'] : [];
const sections: string[] = [`# storectl benchmarks\n\n${new Date().toISOString()} on ${process.platform} ${process.arch}, node ${process.version}${passOn.length ? ' (quick)' : ''}\n`];
for (const s of suites) {
  if (only && !only.includes(s)) continue;
  const file = path.join(REPO, 'bench', `${s}.ts`);
  if (!fs.existsSync(file)) continue;
  process.stderr.write(`== ${s}\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', file, ...passOn], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });
  sections.push(`## ${s}\n\n${r.stdout}${r.status ? `\n(exited ${r.status})\n` : ''}`);
  process.stdout.write(`## ${s}\n\n${r.stdout}\n`);
}
fs.mkdirSync(path.join(REPO, 'bench/results'), { recursive: true });
fs.writeFileSync(path.join(REPO, 'bench/results', flag('--quick') ? 'quick.md' : 'latest.md'), sections.join('\n'));
