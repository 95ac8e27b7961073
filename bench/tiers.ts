// Benchmark: a tier transition of a local store to an S3 tier on the loopback S3-protocol server
// (@20minutes/s3rver, its own process), storectl against `rclone move` (Debian's), same machine,
// same run, same parallelism.
//   node --import tsx bench/tiers.ts [--quick] [--files N] [--transfers T] [--cpu-prof DIR]
// storectl tier --to cold of every job of a local store of N files (default 20,000 of 2.5-7.5 KB:
// ~100 MB): each file copied to the bucket, read back and checked (size + SHA-256 of the whole
// object: s3rver stores no checksums), the row switched, the local copy removed through the
// deletion gate, its directories pruned. Against `rclone move` of the same tree (a second copy
// of it) into another bucket with --transfers T --checkers T --delete-empty-src-dirs (rclone
// checks each upload's MD5 against the ETag; it reads nothing back). storectl moves
// MOVE_CONCURRENCY (16) files at once; T defaults to the same.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { BIN, arg, flag, fmt, measure, table } from './lib/measure.ts';
import { buildSyntheticStore } from './lib/synth.ts';
import { startS3Bench } from './lib/s3-bench.ts';
import { openCatalog } from '../src/db/connect.ts';
import { parseDatabaseUrl } from '../src/db/url.ts';
import { MOVE_CONCURRENCY } from '../src/ops/tiers/transition.ts';

const QUICK = flag('--quick');
const FILES = Number(arg('--files', QUICK ? '1000' : '20000'));
const TRANSFERS = Number(arg('--transfers', String(MOVE_CONCURRENCY)));
/** --cpu-prof DIR: node's CPU profile of every thread of storectl's run, for bench/lib/cpuprofile-summary.ts. */
const CPU_PROF = arg('--cpu-prof');
const log = (s: string) => process.stderr.write(`${s}\n`);

/** CPU seconds (user + system) a process has used so far, from /proc/PID/stat. */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return NaN;
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

function countFiles(dir: string): number {
  let n = 0;
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) if (e.isFile() && !path.join(e.parentPath, e.name).includes(`${path.sep}.storectl`)) n++;
  return n;
}

async function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-bench-tiers-'));
  const { server, env, rcloneEnv, bucket, client, header } = await startS3Bench(work);
  const out: string[] = [header];
  try {
    const root = path.join(work, 'store');
    const jobs = Math.ceil(FILES / 5);
    log(`building a local store of ${jobs * 5} files...`);
    const built = await buildSyntheticStore({ root, jobs, filesPerJob: 5, minBytes: 2500, maxBytes: 7500, seed: 17 });
    const copy = path.join(work, 'tree-for-rclone');
    execFileSync('cp', ['-a', root, copy]);
    fs.rmSync(path.join(copy, '.storectl'), { recursive: true, force: true });
    execFileSync('sync');
    await bucket('cold');
    await bucket('rcloned');
    const db = path.join(root, '.storectl', 'catalog.db');
    const cat = await openCatalog(parseDatabaseUrl(`sqlite:${db}`, root), { create: false, migrate: 'auto' });
    const ids: string[] = [];
    for (let after: string | undefined; ; ) {
      const page = await cat.jobPage({ afterId: after, limit: 10_000 });
      if (!page.length) break;
      ids.push(...page.map((j) => j.id));
      after = page.at(-1)!.id;
    }
    await cat.close();
    const idFile = path.join(work, 'ids.txt');
    fs.writeFileSync(idFile, ids.join('\n') + '\n');
    const config = path.join(work, 'storectl.config.json');
    fs.writeFileSync(config, JSON.stringify({ tiers: { cold: 's3://cold/' } }));

    log('storectl tier --to cold...');
    // The server's CPU during each tool's run: s3rver is one node process on the same two cores,
    // so a run it keeps busy for most of its wall time is bound by the server's work per request.
    const s0 = cpuSeconds(server.pid);
    const st = measure(process.execPath, [...(CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', CPU_PROF] : []), BIN, '--root', root, '--config', config, '--json', '--quiet', '--yes', 'tier', '--from', idFile, '--to', 'cold'], { env });
    const serverForUs = cpuSeconds(server.pid) - s0;
    if (st.status !== 0) throw new Error(`storectl tier failed (${st.status}): ${st.stderr || st.stdout.slice(0, 400)}`);
    const report = JSON.parse(st.stdout);
    const leftLocal = countFiles(root);
    log('rclone move...');
    const r0 = cpuSeconds(server.pid);
    const rc = measure('rclone', ['move', copy, 's3:rcloned', '--transfers', String(TRANSFERS), '--checkers', String(TRANSFERS), '--delete-empty-src-dirs'], { env: rcloneEnv });
    const serverForRclone = cpuSeconds(server.pid) - r0;
    if (rc.status !== 0) throw new Error(`rclone move failed: ${rc.stderr}`);
    const count = execFileSync('rclone', ['lsf', '-R', '--files-only', 's3:rcloned'], { env: rcloneEnv, maxBuffer: 1 << 28 }).toString().trim().split('\n').length;
    const leftRclone = fs.existsSync(copy) ? countFiles(copy) : 0;
    out.push(`### tier transition local → S3: ${built.files} files, ${fmt(built.bytes / 1e6, 1)} MB, ${TRANSFERS} at once\n`);
    out.push(
      table(
        ['tool', 'seconds', 'files/s', 'MB/s', 'peak RSS MB', 'checked', 'left in the source'],
        [
          [`storectl tier --to cold (${MOVE_CONCURRENCY} at once)`, fmt(st.seconds), fmt(report.result.files / st.seconds, 0), fmt(report.result.bytes / 1e6 / st.seconds, 1), st.maxRssMb, `${report.result.files} read back (size + SHA-256), rows switched`, leftLocal],
          [`rclone move --transfers ${TRANSFERS} --checkers ${TRANSFERS}`, fmt(rc.seconds), fmt(count / rc.seconds, 0), fmt(built.bytes / 1e6 / rc.seconds, 1), rc.maxRssMb, `${count} objects (MD5 against ETag, nothing read back)`, leftRclone],
        ],
      ),
    );
    out.push(`ratio (storectl files/s ÷ rclone files/s): ${fmt(rc.seconds / st.seconds)}\n`);
    out.push(
      `s3rver CPU during each run (user + system): storectl ${fmt(serverForUs)} s of ${fmt(st.seconds)} s wall (${fmt((serverForUs / built.files) * 1000, 2)} ms per file), ` +
        `rclone ${fmt(serverForRclone)} s of ${fmt(rc.seconds)} s wall (${fmt((serverForRclone / built.files) * 1000, 2)} ms per file)\n`,
    );
    out.push(`load after: \`${execFileSync('uptime').toString().trim()}\`\n`);
  } finally {
    await server.dispose();
    client.destroy();
    fs.rmSync(work, { recursive: true, force: true });
  }
  process.stdout.write(out.join('\n'));
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : err}\n`);
  process.exit(1);
});
