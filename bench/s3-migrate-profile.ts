// Where migrate-store local → S3 spends its time: one run against the loopback S3-protocol
// server (its own process), with
//   - STORECTL_PROFILE: busy seconds per phase of migrate-store (catalog pages, HEAD, PUT,
//     read-back GET, progress records; phases overlap across the --parallel transfers),
//   - node --cpu-prof of storectl and of the server process (bench/lib/cpuprofile-summary.ts),
//   - the CPU seconds each process used (from /proc), beside the run's wall time,
// and the same for `rclone copy` of the same tree with the same --transfers.
//   node --import tsx bench/s3-migrate-profile.ts [--files N] [--transfers T] [--out DIR] [--no-cpu-prof]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { BIN, arg, flag, fmt, measure, table } from './lib/measure.ts';
import { buildSyntheticStore } from './lib/synth.ts';
import { startS3Bench } from './lib/s3-bench.ts';

const FILES = Number(arg('--files', '3000'));
const TRANSFERS = Number(arg('--transfers', '8'));
/** --no-cpu-prof: phases and CPU seconds only (no profiler overhead). */
const CPU_PROF = !flag('--no-cpu-prof');
const OUT = arg('--out', path.join(os.tmpdir(), 'storectl-s3-migrate-profile'))!;
const log = (s: string) => process.stderr.write(`${s}\n`);

/** measure() with the command's own CPU seconds (user + system, GNU time's -o file). */
function measureCpu(cmd: string, args: string[], opts: Parameters<typeof measure>[2]) {
  const f = path.join(os.tmpdir(), `storectl-cpu-${process.pid}-${Math.random().toString(16).slice(2)}`);
  const m = measure('/usr/bin/time', ['-f', '%U %S', '-o', f, cmd, ...args], opts);
  const [u, s] = fs.readFileSync(f, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  fs.rmSync(f, { force: true });
  return { ...m, cpuSeconds: u! + s! };
}

const TICK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
/** utime + stime of a process (and its waited-for children) in seconds. */
function cpuSeconds(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / TICK;
}

async function main() {
  fs.rmSync(OUT, { recursive: true, force: true });
  fs.mkdirSync(path.join(OUT, 'storectl'), { recursive: true });
  fs.mkdirSync(path.join(OUT, 'server'), { recursive: true });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-bench-s3p-'));
  const { server, env, rcloneEnv, bucket, client, header } = await startS3Bench(work, CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', path.join(OUT, 'server')] : []);
  const out: string[] = [header];
  try {
    const root = path.join(work, 'store');
    log(`building a local store of ${FILES} files...`);
    const built = await buildSyntheticStore({ root, jobs: Math.ceil(FILES / 5), filesPerJob: 5, minBytes: 2500, maxBytes: 7500, seed: 17 });
    execFileSync('sync');
    await bucket('migrated');
    await bucket('rcloned');
    const db = path.join(root, '.storectl', 'catalog.db');
    const profileFile = path.join(OUT, 'phases.ndjson');
    const pid = server.pid!;

    log('storectl migrate-store...');
    const s0 = cpuSeconds(pid);
    const ms = measureCpu(
      process.execPath,
      [...(CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', path.join(OUT, 'storectl')] : []), BIN, '--root', root, '--database', db, '--json', '--quiet', 'migrate-store', '--to', 's3://migrated/', '--parallel', String(TRANSFERS)],
      { env: { ...env, STORECTL_PROFILE: profileFile } },
    );
    const serverForOurs = cpuSeconds(pid) - s0;
    if (ms.status !== 0) throw new Error(`migrate-store failed: ${ms.stderr}`);
    const report = JSON.parse(ms.stdout);

    log('rclone copy...');
    const r0 = cpuSeconds(pid);
    const rc = measureCpu('rclone', ['copy', root, 's3:rcloned', '--transfers', String(TRANSFERS), '--checkers', String(TRANSFERS), '--exclude', '.storectl/**'], { env: rcloneEnv });
    const serverForRclone = cpuSeconds(pid) - r0;
    if (rc.status !== 0) throw new Error(`rclone copy failed: ${rc.stderr}`);

    const prof = JSON.parse(fs.readFileSync(profileFile, 'utf8').trim().split('\n').pop()!);
    out.push(`### migrate-store local → S3, profiled: ${built.files} files, ${fmt(built.bytes / 1e6, 1)} MB, ${TRANSFERS} transfers\n`);
    out.push(
      table(
        ['tool', 'wall s', 'files/s', 'own CPU s', 'server CPU s (s3rver process)', 'verified'],
        [
          [`storectl migrate-store --parallel ${TRANSFERS} ${CPU_PROF ? ' (under --cpu-prof)' : ''}`, fmt(ms.seconds), fmt(built.files / ms.seconds, 0), fmt(ms.cpuSeconds), fmt(serverForOurs), `${report.verified.onUpload} on upload, ${report.verified.etag ?? 0} by ETag = MD5, ${report.verified.readBack} read back`],
          [`rclone copy --transfers ${TRANSFERS}`, fmt(rc.seconds), fmt(built.files / rc.seconds, 0), fmt(rc.cpuSeconds), fmt(serverForRclone), 'MD5 against ETag'],
        ],
      ),
    );
    out.push(`storectl phases (STORECTL_PROFILE; busy seconds, summed over the transfers in flight): in-process wall ${fmt(prof.wallMs / 1000)} s\n`);
    out.push(table(['phase', 'busy s', 'calls', 'ms per call'], Object.entries(prof.phases as Record<string, { ms: number; calls: number }>).map(([k, v]) => [k, fmt(v.ms / 1000), v.calls, fmt(v.ms / Math.max(1, v.calls), 1)])));
  } finally {
    client.destroy();
    await server.stop(); // SIGTERM: the server exits normally and writes its CPU profile
    await server.dispose();
    fs.rmSync(work, { recursive: true, force: true });
  }
  process.stdout.write(out.join('\n'));
  log(`CPU profiles: node --import tsx bench/lib/cpuprofile-summary.ts ${OUT}/storectl ; ... ${OUT}/server`);
}

await main();
