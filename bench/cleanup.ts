// Benchmark of the lifecycle commands against the pipelines an operator would use instead.
//   node --import tsx bench/cleanup.ts [--quick] [--files N] [--dialects sqlite,postgres] [--rounds R] [--layouts oldest,one-owner] [--threadpool N]
//     [--layouts oldest,one-owner] [--shuffled]
// 1. cleanup-orphaned --dry-run over the whole store vs a path list exported from the catalog
//    (sqlite3 / psql) + `find | LC_ALL=C sort | comm -23`.
// 2. cleanup-expired deleting a tenth of the files (100,000 of 1M) vs `find -type f -delete` of
//    the same files (copies of them in a separate tree: same count, sizes and layout, same file
//    system), and vs `find -mindepth 5 -delete`, which also removes the job directories, as
//    storectl does. Once per layout of the due files (expired-fixture.ts): the oldest completed
//    jobs (contiguous, as a retention rule finds them) and one owner's (spread over the store).
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
import { CATALOG_PSQL, createScratchDatabase } from './lib/scratch-db.ts';
import { DUE_LAYOUTS, RESET_TOMBSTONES_SQL, ageForOldestJobs, benchCleanupConfig, copyMissing, moveTree, type DueLayout } from './lib/expired-fixture.ts';

const quick = flag('--quick');
const FILES = Number(arg('--files') ?? (quick ? 20_000 : 1_000_000));
const JOBS = Math.ceil(FILES / 5);
const ORPHANS = Math.round(FILES / 100);
const PG_ADMIN = process.env.STORECTL_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const NOW = new Date();
const ROUNDS = Number(arg('--rounds') ?? (quick ? 1 : 3));
// cleanup-expired deletes a tenth of the files: whole jobs of five files each
const DUE_FILES = Math.round(FILES / 50) * 5;
const layouts = (arg('--layouts') ?? DUE_LAYOUTS.join(',')).split(',') as DueLayout[];
for (const l of layouts) if (!DUE_LAYOUTS.includes(l)) throw new Error(`--layouts: unknown layout ${l} (${DUE_LAYOUTS.join(', ')})`);
// --shuffled: creation times at random, unrelated to job ids and row order (the layout before 2026-12).
const TIME_ORDERED = !flag('--shuffled');
// --threadpool N: each round also runs cleanup-expired with UV_THREADPOOL_SIZE=N (bin/storectl
// sets 16 unless the caller sets it), right after the default run on the same files: a paired
// comparison of libuv's pool size (issue 14, "Docs that tell the truth").
const POOL = arg('--threadpool');

interface Timed {
  wall: number;
  rssMb: number;
  stdout: string;
}

/** Per-phase profiles of the storectl cleanup-expired runs (STORECTL_PROFILE, src/profile.ts). */
const profiles: { dialect: string; layout: string; round: number; wall: number; profile: { wallMs: number; phases: Record<string, { ms: number; calls: number; items: number }> } }[] = [];

/** One table of where the time went: per dialect and layout, each phase's busy seconds (median over rounds). */
function profileTable(): string {
  const keys = [...new Set(profiles.flatMap((p) => Object.keys(p.profile.phases)))];
  const cols = [...new Set(profiles.map((p) => `${p.dialect}, ${p.layout}`))];
  const cell = (col: string, get: (p: (typeof profiles)[number]) => number | undefined) => {
    const v = profiles.filter((p) => `${p.dialect}, ${p.layout}` === col).map(get).filter((x): x is number => x !== undefined);
    return v.length ? median(v).toFixed(2) : '';
  };
  const rows = [
    ['process wall (measured outside)', ...cols.map((c) => cell(c, (p) => p.wall))],
    ['in-process wall (main)', ...cols.map((c) => cell(c, (p) => p.profile.wallMs / 1000))],
    ...keys.map((k) => [k, ...cols.map((c) => cell(c, (p) => (p.profile.phases[k] ? p.profile.phases[k]!.ms / 1000 : undefined)))]),
  ];
  return table(['phase (busy seconds, median of rounds; phases overlap in the pipeline)', ...cols], rows);
}

/** measure(), failing loudly: a benchmark of a failed run measures nothing. */
function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Timed {
  const m = measure(cmd, args, { env: { ...process.env, NO_COLOR: '1', ...env } });
  if (m.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${m.status}: ${m.stderr.slice(-2000)}`);
  return { wall: m.seconds, rssMb: m.maxRssMb, stdout: m.stdout };
}

const sh = (script: string) => timed('bash', ['-c', `set -o pipefail; ${script}`]);

interface Dialect {
  name: string;
  args: string[];
  exportCmd: string;
  resetSql: (sql: string) => string;
  drop?: () => Promise<void>;
}

/**
 * cleanup-expired rounds in one layout of due files; returns three table rows per dialect (one
 * per baseline). The store is left as it was found: due files copied back, rows present again.
 */
function expiredRounds(layout: DueLayout, dialects: Dialect[], work: string, root: string): string[][] {
  const first = dialects[0]!;
  const cfg = path.join(work, `bench-${layout}.config.json`);
  const asOf = ['--as-of', NOW.toISOString()];
  const dryList = () => {
    const dry = timed(process.execPath, [BIN, ...first.args, '--config', cfg, '--json', 'cleanup-expired', '--dry-run', '--list', ...asOf]);
    return JSON.parse(dry.stdout).list as { path: string; jobId: string | null; dueAt?: string }[];
  };
  // every candidate first (age 0), then the age that makes the oldest DUE_FILES / 5 jobs due
  fs.writeFileSync(cfg, JSON.stringify(benchCleanupConfig(layout)));
  const age = ageForOldestJobs(dryList(), DUE_FILES / 5, NOW);
  fs.writeFileSync(cfg, JSON.stringify(benchCleanupConfig(layout, age)));
  const due = dryList().map((x) => x.path);
  if (due.length !== DUE_FILES) throw new Error(`${layout}: ${due.length} files due, ${DUE_FILES} wanted`);
  log(`${layout}: ${due.length} files due (rule age ${age}); moving them to keep/`);
  const keep = path.join(work, 'keep');
  const baseline = path.join(work, 'baseline');
  const resetCatalog = (d: Dialect) => sh(d.resetSql(RESET_TOMBSTONES_SQL));
  moveTree(root, due, keep);
  const results = new Map<string, { s: Timed; pool?: Timed; base: Timed; base2: Timed; base3: Timed; deleted: number }[]>(dialects.map((d) => [d.name, []]));
  // The fastest baseline measured here (issue 14): the same files by name, 16 rm processes of
  // 500 names each, then the emptied job directories the same way.
  const dueList = path.join(work, 'due.lst');
  const dirList = path.join(work, 'due-dirs.lst');
  fs.writeFileSync(dueList, due.join('\0'));
  fs.writeFileSync(dirList, [...new Set(due.map((p) => path.posix.dirname(p)))].join('\0'));
  const parallelRm = () => {
    copyMissing(keep, due, baseline);
    sh('sync');
    log(`baseline: xargs -0 -P16 -n 500 rm -f of ${due.length} files, then rmdir of their job directories (${layout})`);
    return sh(`cd ${baseline} && xargs -0 -P16 -n 500 rm -f < ${dueList} && xargs -0 -P16 -n 500 rmdir < ${dirList}`);
  };
  for (let round = 0; round < ROUNDS; round++) {
    for (const d of dialects) {
      copyMissing(keep, due, baseline);
      sh('sync');
      log(`baseline: find -type f -delete of ${due.length} files (${layout}, round ${round + 1}, before ${d.name})`);
      const base = sh(`find ${baseline} -type f -delete`);
      // The same work as storectl on disk: the files and the job directories they empty
      // (baseline/cards/YYYY/MM/DD/<job>/<file>: depths 5 and 6). Made after the storectl
      // run, so the two baselines bracket it.
      const sameWork = () => {
        copyMissing(keep, due, baseline);
        sh('sync');
        log(`baseline: find -mindepth 5 -delete of ${due.length} files and their job directories (${layout}, round ${round + 1}, after ${d.name})`);
        return sh(`find ${baseline} -mindepth 5 -delete`);
      };
      const copied = copyMissing(keep, due, root);
      // a previous round or layout may have tombstoned these rows: make them present again
      resetCatalog(d);
      sh('sync');
      log(`${d.name}: cleanup-expired deleting ${due.length} files (${layout}, copied back ${copied}), round ${round + 1}`);
      const profileFile = path.join(work, `profile-${d.name}-${layout}-${round}.ndjson`);
      const s = timed(process.execPath, [BIN, ...d.args, '--config', cfg, '--json', '--yes', 'cleanup-expired', ...asOf], { STORECTL_PROFILE: profileFile });
      profiles.push({ dialect: d.name, layout, round, wall: s.wall, profile: JSON.parse(fs.readFileSync(profileFile, 'utf8').trim().split('\n').pop()!) });
      const deleted = JSON.parse(s.stdout).result.files as number;
      if (deleted !== due.length) log(`  note: deleted ${deleted} of ${due.length}`);
      let pool: Timed | undefined;
      if (POOL) {
        copyMissing(keep, due, root);
        resetCatalog(d);
        sh('sync');
        log(`${d.name}: cleanup-expired with UV_THREADPOOL_SIZE=${POOL} (${layout}), round ${round + 1}`);
        pool = timed(process.execPath, [BIN, ...d.args, '--config', cfg, '--json', '--yes', 'cleanup-expired', ...asOf], { UV_THREADPOOL_SIZE: POOL });
        const n = JSON.parse(pool.stdout).result.files as number;
        if (n !== deleted) throw new Error(`UV_THREADPOOL_SIZE=${POOL}: deleted ${n}, the default run ${deleted}`);
      }
      results.get(d.name)!.push({ s, ...(pool ? { pool } : {}), base, base2: sameWork(), base3: parallelRm(), deleted });
    }
  }
  // leave the store whole for the next layout
  copyMissing(keep, due, root);
  for (const d of dialects) resetCatalog(d);
  fs.rmSync(keep, { recursive: true, force: true });
  fs.rmSync(baseline, { recursive: true, force: true });

  const rows: string[][] = [];
  for (const d of dialects) {
    const runs = results.get(d.name)!;
    const task = `cleanup-expired, ${layout} (${runs[0]!.deleted.toLocaleString('en-US')} files deleted, ${(due.length / 5).toLocaleString('en-US')} job directories removed)`;
    const storectl = [runs.map((r) => r.s.wall.toFixed(2)).join(' / '), String(Math.max(...runs.map((r) => r.s.rssMb)))];
    const baselines = [
      ['find -type f -delete (files only, before)', runs.map((r) => r.base)],
      ['find -mindepth 5 -delete (files and job directories, after)', runs.map((r) => r.base2)],
      ['xargs -0 -P16 -n 500 rm -f, then rmdir of the job directories (after)', runs.map((r) => r.base3)],
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
    if (POOL) {
      const ratios = runs.map((r) => r.pool!.wall / r.s.wall);
      rows.push([
        d.name,
        `${task}, UV_THREADPOOL_SIZE=${POOL}`,
        runs.map((r) => r.pool!.wall.toFixed(2)).join(' / '),
        String(Math.max(...runs.map((r) => r.pool!.rssMb))),
        'the same command with UV_THREADPOOL_SIZE=16 (the default run above)',
        ...storectl.slice(0, 1),
        storectl[1]!,
        ratios.map((x) => x.toFixed(2)).join(' / '),
        `**${median(ratios).toFixed(2)}**`,
      ]);
    }
  }
  return rows;
}

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
  const dialects: Dialect[] = [];
  const rows: string[][] = [];
  try {
    log(`building ${FILES} files (${JOBS} jobs, ${ORPHANS} orphans) under ${root}`);
    let t = Date.now();
    const built = await buildSyntheticStore({ root, jobs: JOBS, orphans: ORPHANS, seed: 7, now: NOW, days: 120, timeOrdered: TIME_ORDERED, onProgress: (n) => n % 20000 === 0 && log(`  ${n} jobs`) });
    log(`built ${built.files} files + ${built.orphans} orphans in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    if (wanted.includes('sqlite')) {
      const db = path.join(root, '.storectl', 'catalog.db');
      dialects.push({ name: 'sqlite', args: ['--root', root], exportCmd: `sqlite3 ${db} "select path from files where state in ('present','deleting') order by path"`, resetSql: (sql) => `sqlite3 ${db} "${sql}"` });
    }
    if (wanted.includes('postgres')) {
      if (!(await pgReachable())) log(`PostgreSQL at ${PG_ADMIN} unreachable: skipping it`);
      else {
        const db = await createScratchDatabase(PG_ADMIN, `storectl_bench_${process.pid}`);
        t = Date.now();
        // Same seed and clock: the same rows (paths, sizes, statuses) as the tree on disk.
        await buildSyntheticStore({ root, databaseUrl: db.url, jobs: JOBS, seed: 7, now: NOW, days: 120, timeOrdered: TIME_ORDERED, withFiles: false });
        log(`loaded ${built.files} PostgreSQL rows in ${((Date.now() - t) / 1000).toFixed(1)} s`);
        dialects.push({ name: 'postgres', args: ['--root', root, '--database', db.url], exportCmd: `${CATALOG_PSQL} '${db.url}' -Atc "select path from files where state in ('present','deleting') order by path"`, resetSql: (sql) => `${CATALOG_PSQL} '${db.url}' -qc "${sql}"`, drop: db.drop });
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

    // 2. deletion of a tenth of the files, in each layout: per round and catalog, find -delete
    //    of a copy of the due files, then storectl deleting them from the store
    for (const layout of layouts) if (dialects.length) rows.push(...expiredRounds(layout, dialects, work, root));
  } finally {
    for (const d of dialects) await d.drop?.().catch(() => {});
    log(`removing ${work}`);
    execFileSync('rm', ['-rf', work]);
  }
  const head = ['catalog', 'task', 'storectl s (per round)', 'storectl peak RSS MB', 'baseline', 'baseline s (per round)', 'baseline RSS MB', 'ratio per round', 'median ratio (storectl / baseline)'];
  console.log(`\n### cleanup (${FILES.toLocaleString('en-US')} files${TIME_ORDERED ? '' : ', shuffled creation times'}, ${ROUNDS} rounds, ${os.cpus().length} cores, ${NOW.toISOString().slice(0, 10)})\n`);
  console.log(table(head, rows));
  if (profiles.length) console.log(`\n#### where cleanup-expired's time goes\n\n${profileTable()}`);
}

await main();
