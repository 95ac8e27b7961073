// Benchmark of the lifecycle commands against the pipelines an operator would use instead.
//   node --import tsx bench/cleanup.ts [--quick] [--files N] [--dialects sqlite,postgres] [--rounds R] [--shuffled]
// 1. cleanup-orphaned --dry-run over the whole store vs a path list exported from the catalog
//    (sqlite3 / psql) + `find | LC_ALL=C sort | comm -23`.
// 2. cleanup-expired deleting ~10% of the files vs `find -type f -delete` of the same files
//    (copies of them in a separate tree: same count, sizes and layout, same file system), and vs
//    `find -mindepth 5 -delete`, which also removes the job directories, as storectl does.
// The due files are moved aside to keep/ and copied back before each run, so every unlink on
// both sides removes a file's last link (as a real cleanup does).
// This machine's speed swings between runs (shared cores), so each storectl run is paired with
// a baseline run made just before it, and the table gives each round's ratio and their median.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import pg from 'pg';
import { BIN, arg, flag, measure, median, table } from './lib/measure.ts';
import { buildSyntheticStore } from './lib/synth.ts';
import { createScratchDatabase } from './lib/scratch-db.ts';
import { BENCH_CLEANUP_CONFIG, RESET_TOMBSTONES_SQL, copyMissing, moveTree } from './lib/expired-fixture.ts';

const quick = flag('--quick');
const FILES = Number(arg('--files') ?? (quick ? 20_000 : 1_000_000));
const JOBS = Math.ceil(FILES / 5);
const ORPHANS = Math.round(FILES / 100);
const PG_ADMIN = process.env.STORECTL_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const NOW = new Date();
const ROUNDS = Number(arg('--rounds') ?? (quick ? 1 : 3));
// --shuffled: creation times at random, unrelated to job ids and row order (the layout before 2026-12).
const TIME_ORDERED = !flag('--shuffled');

interface Timed {
  wall: number;
  rssMb: number;
  stdout: string;
}

/** measure(), failing loudly: a benchmark of a failed run measures nothing. */
function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Timed {
  const m = measure(cmd, args, { env: { ...process.env, NO_COLOR: '1', ...env } });
  if (m.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${m.status}: ${m.stderr.slice(-2000)}`);
  return { wall: m.seconds, rssMb: m.maxRssMb, stdout: m.stdout };
}

const sh = (script: string) => timed('bash', ['-c', `set -o pipefail; ${script}`]);

async function pgReachable(): Promise<boolean> {
  const c = new pg.Client({ connectionString: PG_ADMIN, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}

const log = (s: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);

async function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-bench-cleanup-'));
  const root = path.join(work, 'store');
  const wanted = (arg('--dialects') ?? 'sqlite,postgres').split(',');
  const dialects: { name: string; args: string[]; exportCmd: string; drop?: () => Promise<void> }[] = [];
  const rows: string[][] = [];
  try {
    log(`building ${FILES} files (${JOBS} jobs, ${ORPHANS} orphans) under ${root}`);
    let t = Date.now();
    const built = await buildSyntheticStore({ root, jobs: JOBS, orphans: ORPHANS, seed: 7, now: NOW, days: 120, timeOrdered: TIME_ORDERED, onProgress: (n) => n % 20000 === 0 && log(`  ${n} jobs`) });
    log(`built ${built.files} files + ${built.orphans} orphans in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    if (wanted.includes('sqlite')) {
      const db = path.join(root, '.storectl', 'catalog.db');
      dialects.push({ name: 'sqlite', args: ['--root', root], exportCmd: `sqlite3 ${db} "select path from files where state in ('present','deleting') order by path"` });
    }
    if (wanted.includes('postgres')) {
      if (!(await pgReachable())) log(`PostgreSQL at ${PG_ADMIN} unreachable: skipping it`);
      else {
        const db = await createScratchDatabase(PG_ADMIN, `storectl_bench_${process.pid}`);
        t = Date.now();
        // Same seed and clock: the same rows (paths, sizes, statuses) as the tree on disk.
        await buildSyntheticStore({ root, databaseUrl: db.url, jobs: JOBS, seed: 7, now: NOW, days: 120, timeOrdered: TIME_ORDERED, withFiles: false });
        log(`loaded ${built.files} PostgreSQL rows in ${((Date.now() - t) / 1000).toFixed(1)} s`);
        dialects.push({ name: 'postgres', args: ['--root', root, '--database', db.url], exportCmd: `psql '${db.url}' -Atc "select path from files where state in ('present','deleting') order by path"`, drop: db.drop });
      }
    }
    // Let the new tree reach the disk (writeback would run under the first measurements), then
    // warm the page cache for both sides alike.
    sh('sync');
    sh(`find ${root} -type f | wc -l`);

    // 1. orphan detection: storectl, then the pipeline, ROUNDS times
    const known = path.join(work, 'known.txt');
    for (const d of dialects) {
      const runs: { s: Timed; ex: Timed; pipe: Timed }[] = [];
      let found = 0;
      for (let round = 0; round < ROUNDS; round++) {
        log(`${d.name}: cleanup-orphaned --dry-run, round ${round + 1}`);
        const s = timed(process.execPath, [BIN, ...d.args, '--json', 'cleanup-orphaned', '--dry-run', '--max-delete', '100%']);
        found = JSON.parse(s.stdout).orphans.files as number;
        const ex = sh(`${d.exportCmd} > ${known}`);
        const pipe = sh(`cd ${root} && find . -path ./.storectl -prune -o -type f -printf '%P\\n' | LC_ALL=C sort | LC_ALL=C comm -23 - ${known} | wc -l`);
        const baseFound = Number(pipe.stdout.trim());
        if (found !== baseFound) log(`  note: storectl found ${found} orphans, the pipeline ${baseFound}`);
        runs.push({ s, ex, pipe });
      }
      const ratios = runs.map((r) => r.s.wall / (r.ex.wall + r.pipe.wall));
      rows.push([
        d.name,
        `cleanup-orphaned --dry-run (${FILES.toLocaleString('en-US')} files, ${found.toLocaleString('en-US')} orphans)`,
        runs.map((r) => r.s.wall.toFixed(2)).join(' / '),
        String(Math.max(...runs.map((r) => r.s.rssMb))),
        'export + find \\| sort \\| comm',
        runs.map((r) => `${(r.ex.wall + r.pipe.wall).toFixed(2)} (${r.ex.wall.toFixed(2)} + ${r.pipe.wall.toFixed(2)})`).join(' / '),
        String(Math.max(...runs.map((r) => Math.max(r.ex.rssMb, r.pipe.rssMb)))),
        ratios.map((x) => x.toFixed(2)).join(' / '),
        `**${median(ratios).toFixed(2)}**`,
      ]);
    }

    // 2. deletion of ~10% of the files: per round and catalog, find -delete of a copy of the
    //    due files, then storectl deleting them from the store
    const cfg = path.join(work, 'bench.config.json');
    fs.writeFileSync(cfg, JSON.stringify(BENCH_CLEANUP_CONFIG));
    if (dialects.length) {
      const first = dialects[0]!;
      const dry = timed(process.execPath, [BIN, ...first.args, '--config', cfg, '--json', 'cleanup-expired', '--dry-run', '--list']);
      const due = (JSON.parse(dry.stdout).list as { path: string }[]).map((x) => x.path);
      log(`${due.length} files due; moving them to keep/`);
      const keep = path.join(work, 'keep');
      const baseline = path.join(work, 'baseline');
      moveTree(root, due, keep);
      const results = new Map<string, { s: Timed; base: Timed; base2: Timed; deleted: number }[]>(dialects.map((d) => [d.name, []]));
      for (let round = 0; round < ROUNDS; round++) {
        for (const d of dialects) {
          copyMissing(keep, due, baseline);
          sh('sync');
          log(`baseline: find -type f -delete of ${due.length} files (round ${round + 1}, before ${d.name})`);
          const base = sh(`find ${baseline} -type f -delete`);
          // The same work as storectl on disk: the files and the job directories they empty
          // (baseline/cards/YYYY/MM/DD/<job>/<file>: depths 5 and 6). Made after the storectl
          // run, so the two baselines bracket it.
          const sameWork = () => {
            copyMissing(keep, due, baseline);
            sh('sync');
            log(`baseline: find -mindepth 5 -delete of ${due.length} files and their job directories (round ${round + 1}, after ${d.name})`);
            return sh(`find ${baseline} -mindepth 5 -delete`);
          };
          const copied = copyMissing(keep, due, root);
          if (round > 0) {
            // the previous round tombstoned these rows: make them present again
            sh(d.name === 'sqlite' ? `sqlite3 ${path.join(root, '.storectl', 'catalog.db')} "${RESET_TOMBSTONES_SQL}"` : `psql '${d.args[3]}' -qc "${RESET_TOMBSTONES_SQL}"`);
          }
          sh('sync');
          log(`${d.name}: cleanup-expired deleting ${due.length} files (copied back ${copied}), round ${round + 1}`);
          const s = timed(process.execPath, [BIN, ...d.args, '--config', cfg, '--json', '--yes', 'cleanup-expired']);
          const deleted = JSON.parse(s.stdout).result.files as number;
          if (deleted !== due.length) log(`  note: deleted ${deleted} of ${due.length}`);
          results.get(d.name)!.push({ s, base, base2: sameWork(), deleted });
        }
      }
      for (const d of dialects) {
        const runs = results.get(d.name)!;
        const task = `cleanup-expired (${runs[0]!.deleted.toLocaleString('en-US')} files deleted, ${due.length / 5} job directories removed)`;
        const storectl = [runs.map((r) => r.s.wall.toFixed(2)).join(' / '), String(Math.max(...runs.map((r) => r.s.rssMb)))];
        const baselines = [
          ['find -type f -delete (files only, before)', runs.map((r) => r.base)],
          ['find -mindepth 5 -delete (files and job directories, after)', runs.map((r) => r.base2)],
        ] as const;
        for (const [name, base] of baselines) {
          const ratios = runs.map((r, i) => r.s.wall / base[i]!.wall);
          rows.push([
            d.name,
            task,
            ...storectl,
            name,
            base.map((b) => b.wall.toFixed(2)).join(' / '),
            String(Math.max(...base.map((b) => b.rssMb))),
            ratios.map((x) => x.toFixed(2)).join(' / '),
            `**${median(ratios).toFixed(2)}**`,
          ]);
        }
      }
    }
  } finally {
    for (const d of dialects) await d.drop?.().catch(() => {});
    log(`removing ${work}`);
    execFileSync('rm', ['-rf', work]);
  }
  const head = ['catalog', 'task', 'storectl s (per round)', 'storectl peak RSS MB', 'baseline', 'baseline s (per round)', 'baseline RSS MB', 'ratio per round', 'median ratio (storectl / baseline)'];
  console.log(`\n### cleanup (${FILES.toLocaleString('en-US')} files${TIME_ORDERED ? '' : ', shuffled creation times'}, ${ROUNDS} rounds, ${os.cpus().length} cores, ${NOW.toISOString().slice(0, 10)})\n`);
  console.log(table(head, rows));
}

await main();
