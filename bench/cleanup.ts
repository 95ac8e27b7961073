// Benchmark of the lifecycle commands against the pipelines an operator would use instead.
//   node --import tsx bench/cleanup.ts [--quick] [--files N] [--dialects sqlite,postgres]
// 1. cleanup-orphaned --dry-run over the whole store vs a path list exported from the catalog
//    (sqlite3 / psql) + `find | LC_ALL=C sort | comm -23`.
// 2. cleanup-expired deleting ~10% of the files vs `find -type f -delete` of the same files
//    (copies of them in a separate tree: same count, sizes and layout, same file system).
// The due files are moved aside to keep/ and copied back before each run, so every unlink on
// both sides removes a file's last link (as a real cleanup does).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import pg from 'pg';
import { BIN, arg, flag, measure, table } from './lib/measure.ts';
import { buildSyntheticStore } from './lib/synth.ts';

const quick = flag('--quick');
const FILES = Number(arg('--files') ?? (quick ? 20_000 : 1_000_000));
const JOBS = Math.ceil(FILES / 5);
const ORPHANS = Math.round(FILES / 100);
const PG_ADMIN = process.env.STORECTL_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const NOW = new Date();

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

async function createPgDb(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `storectl_bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN });
  await admin.connect();
  await admin.query(`drop database if exists "${name}" with (force)`);
  await admin.query(`create database "${name}"`);
  await admin.end();
  const u = new URL(PG_ADMIN);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_ADMIN });
      await c.connect();
      await c.query(`drop database if exists "${name}" with (force)`);
      await c.end();
    },
  };
}

function moveTree(root: string, paths: string[], destRoot: string): void {
  for (const p of paths) {
    const dest = path.join(destRoot, p);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.renameSync(path.join(root, p), dest);
  }
}

/** Copies (new inodes, one link each) the files missing under root from keepRoot. */
function copyMissing(keepRoot: string, paths: string[], root: string): number {
  let n = 0;
  for (const p of paths) {
    const dest = path.join(root, p);
    if (fs.existsSync(dest)) continue;
    fs.mkdirSync(path.dirname(dest), { recursive: true, mode: 0o750 });
    fs.copyFileSync(path.join(keepRoot, p), dest);
    n++;
  }
  return n;
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
    const built = await buildSyntheticStore({ root, jobs: JOBS, orphans: ORPHANS, seed: 7, now: NOW, days: 120, onProgress: (n) => n % 20000 === 0 && log(`  ${n} jobs`) });
    log(`built ${built.files} files + ${built.orphans} orphans in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    if (wanted.includes('sqlite')) {
      const db = path.join(root, '.storectl', 'catalog.db');
      dialects.push({ name: 'sqlite', args: ['--root', root], exportCmd: `sqlite3 ${db} "select path from files where state in ('present','deleting') order by path"` });
    }
    if (wanted.includes('postgres')) {
      if (!(await pgReachable())) log(`PostgreSQL at ${PG_ADMIN} unreachable: skipping it`);
      else {
        const db = await createPgDb();
        t = Date.now();
        // Same seed and clock: the same rows (paths, sizes, statuses) as the tree on disk.
        await buildSyntheticStore({ root, databaseUrl: db.url, jobs: JOBS, seed: 7, now: NOW, days: 120, withFiles: false });
        log(`loaded ${built.files} PostgreSQL rows in ${((Date.now() - t) / 1000).toFixed(1)} s`);
        dialects.push({ name: 'postgres', args: ['--root', root, '--database', db.url], exportCmd: `psql '${db.url}' -Atc "select path from files where state in ('present','deleting') order by path"`, drop: db.drop });
      }
    }
    // Warm the page cache for both sides alike.
    sh(`find ${root} -type f | wc -l`);

    // 1. orphan detection
    for (const d of dialects) {
      log(`${d.name}: cleanup-orphaned --dry-run`);
      const s = timed(process.execPath, [BIN, ...d.args, '--json', 'cleanup-orphaned', '--dry-run', '--max-delete', '100%']);
      const found = JSON.parse(s.stdout).orphans.files as number;
      const known = path.join(work, 'known.txt');
      const ex = sh(`${d.exportCmd} > ${known}`);
      const pipe = sh(`cd ${root} && find . -path ./.storectl -prune -o -type f -printf '%P\\n' | LC_ALL=C sort | LC_ALL=C comm -23 - ${known} | wc -l`);
      const baseFound = Number(pipe.stdout.trim());
      if (found !== baseFound) log(`  note: storectl found ${found} orphans, the pipeline ${baseFound}`);
      const base = ex.wall + pipe.wall;
      rows.push([d.name, `cleanup-orphaned --dry-run (${FILES.toLocaleString('en-US')} files, ${found.toLocaleString('en-US')} orphans)`, s.wall.toFixed(2), String(s.rssMb), `export + find \\| sort \\| comm`, `${base.toFixed(2)} (${ex.wall.toFixed(2)} + ${pipe.wall.toFixed(2)})`, String(Math.max(ex.rssMb, pipe.rssMb)), (s.wall / base).toFixed(2)]);
    }

    // 2. deletion of ~10% of the files
    const cfg = path.join(work, 'bench.config.json');
    fs.writeFileSync(cfg, JSON.stringify({ cleanup: { replaceDefaults: true, rules: [{ id: 'bench', kind: 'card', statuses: ['completed'], owner: ['acme'], ageFrom: 'completed_at', age: '0' }] } }));
    if (dialects.length) {
      const first = dialects[0]!;
      const dry = timed(process.execPath, [BIN, ...first.args, '--config', cfg, '--json', 'cleanup-expired', '--dry-run', '--list']);
      const due = (JSON.parse(dry.stdout).list as { path: string }[]).map((x) => x.path);
      log(`${due.length} files due; preparing keep/ and baseline/ trees`);
      const keep = path.join(work, 'keep');
      const baseline = path.join(work, 'baseline');
      moveTree(root, due, keep);
      copyMissing(keep, due, baseline);
      sh(`find ${baseline} -type f | wc -l`);
      const base = sh(`find ${baseline} -type f -delete`);
      // The last run repeats the first catalog's with a larger libuv pool set from outside the
      // process (setting it inside, after the module loader has started the pool, has no effect).
      const runs = [...dialects.map((d) => ({ d, env: {} as NodeJS.ProcessEnv, note: '' })), { d: first, env: { UV_THREADPOOL_SIZE: '16' }, note: ', UV_THREADPOOL_SIZE=16' }];
      for (const { d, env, note } of runs) {
        const copied = copyMissing(keep, due, root);
        log(`  copied ${copied} due files back for ${d.name}${note}`);
        if (copied && note) {
          // the first run tombstoned these rows: make them present again for the repeat
          const reset = `update files set state = 'present', deleted_at = null, delete_reason = null where delete_reason like 'expired:%'`;
          sh(d.name === 'sqlite' ? `sqlite3 ${path.join(root, '.storectl', 'catalog.db')} "${reset}; update jobs set files_state = 'on_disk';"` : `psql '${d.args[3]}' -qc "${reset}; update jobs set files_state = 'on_disk';"`);
        }
        log(`${d.name}: cleanup-expired deleting ${due.length} files${note}`);
        const s = timed(process.execPath, [BIN, ...d.args, '--config', cfg, '--json', '--yes', 'cleanup-expired'], env);
        const deleted = JSON.parse(s.stdout).result.files as number;
        if (deleted !== due.length) log(`  note: deleted ${deleted} of ${due.length}`);
        rows.push([d.name, `cleanup-expired (${deleted.toLocaleString('en-US')} files deleted${note})`, s.wall.toFixed(2), String(s.rssMb), 'find -type f -delete', base.wall.toFixed(2), String(base.rssMb), (s.wall / base.wall).toFixed(2)]);
      }
    }
  } finally {
    for (const d of dialects) await d.drop?.().catch(() => {});
    log(`removing ${work}`);
    execFileSync('rm', ['-rf', work]);
  }
  const head = ['catalog', 'task', 'storectl s', 'storectl RSS MB', 'baseline', 'baseline s', 'baseline RSS MB', 'ratio (storectl / baseline)'];
  console.log(`\n### cleanup (${FILES.toLocaleString('en-US')} files, ${os.cpus().length} cores, ${NOW.toISOString().slice(0, 10)})\n`);
  console.log(table(head, rows));
}

await main();
