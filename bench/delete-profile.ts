// Where a 1M-file cleanup-expired run spends its time on this machine's disk: per second, the
// device's writes, discards and busy time, and the CPU of each thread of the process. Not part
// of `npm run bench` (it reports a profile, not a ratio); used to explain bench/results/cleanup.md.
//   node --import tsx bench/delete-profile.ts build [--work DIR] [--files N] [--layout oldest|one-owner]
//     (a store kept in DIR, a tenth of its files due in that layout: see expired-fixture.ts)
//   node --import tsx bench/delete-profile.ts storectl [--work DIR] [--dialect sqlite|postgres] [--cpu-prof DIR]
//     (--cpu-prof: node's CPU profile of every thread of the run, one .cpuprofile each, in DIR;
//     summarise with bench/lib/cpuprofile-summary.ts)
//   node --import tsx bench/delete-profile.ts find [--work DIR] [--files-only]
//     (find -mindepth 5 -delete of copies of the due files: files and job directories, as
//     storectl; --files-only: find -type f -delete)
//   node --import tsx bench/delete-profile.ts clean [--work DIR]
// Each storectl/find run copies the due files back first (as bench/cleanup.ts does), so every
// unlink removes a file's last link. Linux only (/proc/diskstats, /proc/PID/task).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { BIN, arg, flag } from './lib/measure.ts';
import { buildSyntheticStore } from './lib/synth.ts';
import { RESET_TOMBSTONES_SQL, ageForOldestJobs, benchCleanupConfig, copyMissing, moveTree, type DueLayout } from './lib/expired-fixture.ts';

const W = arg('--work') ?? path.join(os.tmpdir(), 'storectl-delete-profile');
const root = path.join(W, 'store');
const PG_ADMIN = process.env.STORECTL_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PG_DB = 'storectl_delete_profile';
const pgUrl = PG_ADMIN.replace(/\/[^/]*$/, `/${PG_DB}`);
const cfg = path.join(W, 'bench.config.json');
// the rules are evaluated at the build's clock, so later runs find the same files due
const asOfFile = path.join(W, 'as-of.txt');
const psql = (url: string, sql: string) => execFileSync('psql', [url, '-qc', sql], { stdio: ['ignore', 'ignore', 'inherit'] });

/** The device under `root` (its whole-disk name in /proc/diskstats). */
function deviceOf(dir: string): string {
  const dev = fs.statSync(dir).dev;
  const name = path.basename(fs.realpathSync(`/sys/dev/block/${Math.floor(dev / 256)}:${dev % 256}`));
  return fs.existsSync(`/sys/block/${name}`) ? name : path.basename(path.dirname(fs.realpathSync(`/sys/class/block/${name}`)));
}

function diskCounters(dev: string) {
  const f = fs.readFileSync('/proc/diskstats', 'utf8').split('\n').map((l) => l.trim().split(/\s+/)).find((l) => l[2] === dev)!;
  // fields: 7 writes completed, 9 sectors written, 12 ms busy, 14 discards completed, 17 ms discarding
  return { writes: +f[7]!, mbWritten: +f[9]! / 2048, busyMs: +f[12]!, discards: +f[14]! };
}

function threadTicks(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
      const s = fs.readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      const name = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'));
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      out.set(`${name}#${t}`, +f[11]! + +f[12]!); // utime + stime, in clock ticks (1/100 s)
    }
  } catch {
    // the process has exited
  }
  return out;
}

function readOr(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

async function profile(cmd: string, args: string[]): Promise<string> {
  const dev = deviceOf(W);
  const d0 = diskCounters(dev);
  const t0 = Date.now();
  const child = spawn(cmd, args, { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b));
  let prevDisk = d0;
  let prevTicks = new Map<string, number>();
  // Peak RSS: the kernel's high-water mark (VmHWM), read each second while the process lives;
  // the last reading before it exits (memory is not given back in the final second's work).
  let peakRssMb = 0;
  const timer = setInterval(() => {
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readOr(`/proc/${child.pid}/status`))?.[1];
    if (hwm) peakRssMb = Math.max(peakRssMb, Number(hwm) / 1024);
    const d = diskCounters(dev);
    const ticks = threadTicks(child.pid!);
    const busy = [...ticks].map(([k, v]) => [k, v - (prevTicks.get(k) ?? 0)] as const).filter(([, v]) => v >= 5);
    console.log(
      `${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s  written ${(d.mbWritten - prevDisk.mbWritten).toFixed(0).padStart(4)} MB` +
        `  discards ${String(d.discards - prevDisk.discards).padStart(5)}  device busy ${String(d.busyMs - prevDisk.busyMs).padStart(4)} ms` +
        `  | CPU % by thread: ${busy.map(([k, v]) => `${k.split('#')[0]} ${v}`).join(', ')}`,
    );
    prevDisk = d;
    prevTicks = ticks;
  }, 1000);
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  clearInterval(timer);
  const d1 = diskCounters(dev);
  const secs = (Date.now() - t0) / 1000;
  console.log(
    `== ${path.basename(cmd)}: exit ${code}, ${secs.toFixed(2)} s; device: ${(d1.mbWritten - d0.mbWritten).toFixed(0)} MB written in ${d1.writes - d0.writes} writes, ` +
      `${d1.discards - d0.discards} discards (${((d1.discards - d0.discards) / secs).toFixed(0)}/s), busy ${((d1.busyMs - d0.busyMs) / 1000).toFixed(1)} s; ` +
      `peak RSS ${peakRssMb.toFixed(0)} MB (sampled each second)`,
  );
  if (code !== 0) throw new Error(`${cmd} exited ${code}`);
  return stdout;
}

const dueList = () => fs.readFileSync(path.join(W, 'due.txt'), 'utf8').split('\n');
function copyBack(to: string): void {
  copyMissing(path.join(W, 'keep'), dueList(), to);
  execFileSync('sync');
}

const what = process.argv[2];
if (what === 'build') {
  const files = Number(arg('--files') ?? 1_000_000);
  const jobs = Math.ceil(files / 5);
  const layout = (arg('--layout') ?? 'oldest') as DueLayout;
  fs.rmSync(W, { recursive: true, force: true });
  psql(PG_ADMIN, `drop database if exists ${PG_DB}`);
  psql(PG_ADMIN, `create database ${PG_DB}`);
  const now = new Date();
  await buildSyntheticStore({ root, jobs, orphans: jobs / 20, seed: 7, now, days: 120 });
  await buildSyntheticStore({ root, databaseUrl: pgUrl, jobs, seed: 7, now, days: 120, withFiles: false });
  fs.writeFileSync(asOfFile, now.toISOString());
  const dryList = () => {
    const dry = execFileSync(process.execPath, [BIN, '--root', root, '--config', cfg, '--json', 'cleanup-expired', '--dry-run', '--list', '--as-of', now.toISOString()], { maxBuffer: 1 << 30 }).toString();
    return JSON.parse(dry).list as { path: string; jobId: string | null; dueAt?: string }[];
  };
  fs.writeFileSync(cfg, JSON.stringify(benchCleanupConfig(layout)));
  fs.writeFileSync(cfg, JSON.stringify(benchCleanupConfig(layout, ageForOldestJobs(dryList(), Math.round(files / 50), now))));
  const due = dryList().map((x) => x.path);
  fs.writeFileSync(path.join(W, 'due.txt'), due.join('\n'));
  moveTree(root, due, path.join(W, 'keep'));
  console.log(`${due.length} due files (${layout}) kept in ${path.join(W, 'keep')}`);
} else if (what === 'storectl') {
  const dialect = arg('--dialect') ?? 'sqlite';
  copyBack(root);
  if (dialect === 'sqlite') execFileSync('sqlite3', [path.join(root, '.storectl', 'catalog.db'), RESET_TOMBSTONES_SQL]);
  else psql(pgUrl, RESET_TOMBSTONES_SQL);
  const cpuDir = arg('--cpu-prof');
  const out = await profile(process.execPath, [...(cpuDir ? ['--cpu-prof', '--cpu-prof-dir', cpuDir] : []), BIN, '--root', root, ...(dialect === 'postgres' ? ['--database', pgUrl] : []), '--config', cfg, '--json', '--yes', 'cleanup-expired', '--as-of', fs.readFileSync(asOfFile, 'utf8')]);
  console.log(`${JSON.parse(out).result.files} files deleted`);
} else if (what === 'find') {
  copyBack(path.join(W, 'baseline'));
  await profile('find', [path.join(W, 'baseline'), ...(flag('--files-only') ? ['-type', 'f'] : ['-mindepth', '5']), '-delete']);
} else if (what === 'clean') {
  fs.rmSync(W, { recursive: true, force: true });
  psql(PG_ADMIN, `drop database if exists ${PG_DB} with (force)`);
} else {
  console.error('usage: delete-profile.ts build|storectl|find|clean [--work DIR] [--files N] [--layout oldest|one-owner] [--dialect sqlite|postgres]');
  process.exit(2);
}
