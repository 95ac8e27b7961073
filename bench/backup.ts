// Benchmark: `storectl backup` against `tar czf` and `tar cf` of the same tree, and
// `storectl restore` (verifying every SHA-256) against `tar xf`, in one run, with peak RSS.
//
//   node --import tsx bench/backup.ts            # 200,000 files, about 1 GB
//   node --import tsx bench/backup.ts --quick    # 10,000 files, about a minute
//   options: --files N, --keep (leave the work directory), --dir DIR (work directory)
//
// Every command runs under /usr/bin/time; `sync` runs before each timed step so that one
// step's dirty pages are not flushed on the next one's clock. The page cache is warm for all
// (the tree was just written), alike for storectl and tar.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildSyntheticStore } from './lib/synth.ts';
import { BIN } from '../test/helpers/env.ts';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const opt = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const files = Number(opt('--files') ?? (quick ? 10_000 : 200_000));
const work = opt('--dir') ?? fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-bench-backup-'));
fs.mkdirSync(work, { recursive: true });
const root = path.join(work, 'store');

interface Measure {
  what: string;
  seconds: number;
  rssMb: number;
  out?: string;
}

function timed(what: string, cmd: string, args: string[], opts: { cwd?: string } = {}): Measure {
  execFileSync('sync');
  const res = spawnSync('/usr/bin/time', ['-f', '%e %M', cmd, ...args], {
    cwd: opts.cwd ?? work,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    maxBuffer: 64 << 20,
  });
  const lines = res.stderr.trim().split('\n');
  const m = /^([\d.]+) (\d+)$/.exec(lines[lines.length - 1] ?? '');
  if (res.status !== 0 || !m) throw new Error(`${what} failed (${res.status}): ${res.stderr.slice(-2000)}`);
  const r = { what, seconds: Number(m[1]), rssMb: Math.round(Number(m[2]) / 1024), out: res.stdout };
  process.stderr.write(`  ${what}: ${r.seconds.toFixed(2)} s, ${r.rssMb} MB\n`);
  return r;
}

function rmTree(dir: string): void {
  spawnSync('rm', ['-rf', dir]);
}

function sizeMb(file: string): number {
  return Math.round(fs.statSync(file).size / 1e6);
}

async function main(): Promise<void> {
  const jobs = Math.ceil(files / 5);
  process.stderr.write(`building a store of ${jobs * 5} files in ${root} ...\n`);
  const t0 = Date.now();
  const built = await buildSyntheticStore({ root, jobs, filesPerJob: 5, minBytes: 1024, maxBytes: 9216 });
  process.stderr.write(`  built ${built.files} files, ${(built.bytes / 1e9).toFixed(2)} GB in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);

  const tarCf = timed('tar cf', 'tar', ['cf', path.join(work, 'tree.tar'), '-C', root, 'cards']);
  const tarCzf = timed('tar czf', 'tar', ['czf', path.join(work, 'tree.tgz'), '-C', root, 'cards']);
  const backup = timed('storectl backup (tar.gz)', process.execPath, [BIN, '--root', root, '--json', 'backup', '--output', path.join(work, 'backup.tar.gz')]);
  const backupZip = timed('storectl backup --format zip', process.execPath, [BIN, '--root', root, '--json', 'backup', '--output', path.join(work, 'backup.zip')]);
  const verify = timed('storectl restore --verify-only', process.execPath, [BIN, '--json', 'restore', '--verify-only', path.join(work, 'backup.tar.gz')]);

  // Creating 200k files is bound by the file system and by whatever else the machine does:
  // `tar xf` runs before and after the restores, and the ratio uses their mean.
  const xdir = path.join(work, 'x-tar');
  const tarXfOnce = (label: string) => {
    fs.mkdirSync(xdir);
    const m = timed(label, 'tar', ['xf', path.join(work, 'tree.tar'), '-C', xdir]);
    rmTree(xdir);
    return m;
  };
  const tarXf1 = tarXfOnce('tar xf (before)');
  const rroot = path.join(work, 'restored');
  const restore = timed('storectl restore (tar.gz)', process.execPath, [BIN, '--root', rroot, '--json', 'restore', path.join(work, 'backup.tar.gz')]);
  const restored = JSON.parse(restore.out!);
  if (restored.files !== built.files) throw new Error(`restore reported ${restored.files} files, expected ${built.files}`);
  rmTree(rroot);
  const restoreZip = timed('storectl restore (zip)', process.execPath, [BIN, '--root', rroot, '--json', 'restore', path.join(work, 'backup.zip')]);
  rmTree(rroot);
  const tarXf2 = tarXfOnce('tar xf (after)');
  const tarXf: Measure = { what: 'tar xf', seconds: (tarXf1.seconds + tarXf2.seconds) / 2, rssMb: Math.max(tarXf1.rssMb, tarXf2.rssMb) };

  const ratio = (a: Measure, b: Measure) => (a.seconds / b.seconds).toFixed(2);
  const rows: [string, Measure, string, string][] = [
    ['`tar cf` (no compression)', tarCf, `${sizeMb(path.join(work, 'tree.tar'))} MB`, ''],
    ['`tar czf`', tarCzf, `${sizeMb(path.join(work, 'tree.tgz'))} MB`, ''],
    ['`storectl backup` (tar.gz)', backup, `${sizeMb(path.join(work, 'backup.tar.gz'))} MB`, `${ratio(backup, tarCzf)}x tar czf, ${ratio(backup, tarCf)}x tar cf`],
    ['`storectl backup --format zip`', backupZip, `${sizeMb(path.join(work, 'backup.zip'))} MB`, `${ratio(backupZip, tarCzf)}x tar czf, ${ratio(backupZip, tarCf)}x tar cf`],
    ['`storectl restore --verify-only`', verify, '', `${ratio(verify, tarXf)}x tar xf`],
    [`\`tar xf\` (mean of ${tarXf1.seconds.toFixed(1)} s before and ${tarXf2.seconds.toFixed(1)} s after)`, tarXf, '', ''],
    ['`storectl restore` (tar.gz, verifies every SHA-256)', restore, '', `${ratio(restore, tarXf)}x tar xf`],
    ['`storectl restore` (zip)', restoreZip, '', `${ratio(restoreZip, tarXf)}x tar xf`],
  ];
  const out: string[] = [];
  out.push(`### backup / restore: ${built.files.toLocaleString('en-US')} files, ${(built.bytes / 1e9).toFixed(2)} GB (${os.cpus().length} cores, node ${process.version})`);
  out.push('');
  out.push('| what | wall s | peak RSS MB | archive | ratio |');
  out.push('|---|---|---|---|---|');
  for (const [name, m, size, r] of rows) out.push(`| ${name} | ${m.seconds.toFixed(2)} | ${m.rssMb} | ${size} | ${r} |`);
  out.push('');
  out.push(`Goals: backup faster than \`tar czf\` (${ratio(backup, tarCzf)}x: ${backup.seconds < tarCzf.seconds ? 'met' : 'NOT met'}); restore within 1.5x of \`tar xf\` while verifying (${ratio(restore, tarXf)}x: ${restore.seconds <= 1.5 * tarXf.seconds ? 'met' : 'NOT met'}).`);
  process.stdout.write(out.join('\n') + '\n');
  if (!argv.includes('--keep')) rmTree(work);
  else process.stderr.write(`work directory kept: ${work}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  if (!argv.includes('--keep')) rmTree(work);
  process.exit(1);
});
