// dedup --dry-run on a catalog of 1,000,000 present files (goal: under 2 s on both dialects).
// A fifth of the files are a second copy of another file of the same owner (200,000 groups of
// two at full size), over 1,000 owners; the rows are inserted set-based, as bench/usage.ts does.
// Measured: the real bin end to end (process start, catalog open, the grouping query, the
// report with the default --top 20 as JSON), median of 5; and the grouping query alone, in process.
//   node --import tsx bench/dedup.ts [--quick] [--rows N] [--database postgres://...]
// Results: bench/results/dedup.md (not written by --quick)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openCatalog } from '../src/db/connect.ts';
import { parseDatabaseUrl } from '../src/db/url.ts';
import type { Catalog } from '../src/db/catalog.ts';
import { integrityCatalog } from '../src/db/integrity.ts';
import { spawnSync } from 'node:child_process';
import { BIN, REPO, arg, flag, fmt, median, table } from './lib/measure.ts';
import { createScratchDatabase } from './lib/scratch-db.ts';

const quick = flag('--quick');
const ROWS = Number(arg('--rows', quick ? '100000' : '1000000'));
/** Distinct contents: every row past this many repeats an earlier content. */
const CONTENTS = Math.round(ROWS * 0.8);
const OWNERS = 1_000;
const RUNS = 5;
const pgAdmin = arg('--database', process.env.STORECTL_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test')!;
const work = path.join(REPO, 'bench/.work/dedup');

async function fill(c: Catalog): Promise<void> {
  const raw = c as unknown as { raw?: { exec(s: string): void }; pool?: { query(s: string): Promise<unknown> } };
  const ts = Date.parse('2026-11-01T00:00:00Z');
  // Content k = i % CONTENTS: its SHA-256 (k in hex, 64 digits), size and owner follow from k.
  if (raw.raw) {
    raw.raw.exec(`with recursive n(i) as (select 0 union all select i + 1 from n where i < ${ROWS - 1})
      insert into files (job_id, role, category, owner, path, content_type, size, sha256, created_at, state)
      select null, 'x', 'temp', 'owner-' || ((i % ${CONTENTS}) % ${OWNERS}), 'temp/' || i, 'application/octet-stream', 1000 + (i % ${CONTENTS}) % 7000,
             printf('%064x', i % ${CONTENTS}), ${ts}, 'present' from n`);
    raw.raw.exec('analyze');
  } else {
    for (let lo = 0; lo < ROWS; lo += 100_000) {
      await raw.pool!.query(`insert into files (job_id, role, category, owner, path, content_type, size, sha256, created_at, state)
        select null, 'x', 'temp', 'owner-' || ((i % ${CONTENTS}) % ${OWNERS}), 'temp/' || i, 'application/octet-stream', 1000 + (i % ${CONTENTS}) % 7000,
               lpad(to_hex(i % ${CONTENTS}), 64, '0'), to_timestamp(${ts / 1000}), 'present'
        from generate_series(${lo}, ${Math.min(ROWS, lo + 100_000) - 1}) i`);
    }
    // As autovacuum leaves a table after a bulk load: statistics and the visibility map (index-only scans).
    await raw.pool!.query('vacuum analyze files');
  }
}

async function run(dialect: 'sqlite' | 'postgres'): Promise<string[]> {
  const root = path.join(work, dialect);
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  const db = dialect === 'postgres' ? await createScratchDatabase(pgAdmin, `storectl_bench_dedup_${process.pid}`) : undefined;
  try {
    const c = await openCatalog(parseDatabaseUrl(db?.url, root), { create: true, migrate: 'never' });
    await c.migrate();
    const t0 = performance.now();
    await fill(c);
    const fillS = (performance.now() - t0) / 1000;
    const ic = integrityCatalog(c);
    const q: number[] = [];
    const qCpu: number[] = [];
    let groups = 0;
    for (let i = 0; i < RUNS; i++) {
      const s = performance.now();
      const cpu = process.cpuUsage();
      groups = (await ic.contentGroups({ acrossOwners: false })).length;
      q.push((performance.now() - s) / 1000);
      const used = process.cpuUsage(cpu);
      qCpu.push((used.user + used.system) / 1e6);
    }
    await c.close();
    const args = ['--root', root, ...(db ? ['--database', db.url] : []), '--json', 'dedup', '--dry-run'];
    const cli: number[] = [];
    const cliCpu: number[] = [];
    let rss = 0;
    let plan: { groups: number; freeableBytes: number } | undefined;
    for (let i = 0; i < RUNS; i++) {
      // GNU time: wall, user and system seconds (the CPU the process used, whatever the load), peak RSS.
      const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', process.execPath, BIN, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
      if (r.status !== 0) throw new Error(`storectl dedup --dry-run failed (${r.status}): ${r.stderr}`);
      const [wall, user, sys, kb] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
      cli.push(wall!);
      cliCpu.push(user! + sys!);
      rss = Math.max(rss, Math.round(kb! / 1024));
      plan = (JSON.parse(r.stdout) as { plan: { groups: number; freeableBytes: number } }).plan;
    }
    if (plan!.groups !== groups || groups !== ROWS - CONTENTS) throw new Error(`expected ${ROWS - CONTENTS} groups, the query found ${groups}, the CLI ${plan!.groups}`);
    return [dialect, ROWS.toLocaleString('en-US'), groups.toLocaleString('en-US'), fmt(fillS, 1), fmt(median(q), 2), fmt(median(qCpu), 2), fmt(median(cli), 2), cli.map((x) => fmt(x, 2)).join(' / '), fmt(median(cliCpu), 2), String(rss)];
  } finally {
    await db?.drop();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

fs.mkdirSync(work, { recursive: true });
const out: string[] = [];
out.push(`Machine: ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}; load before: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
out.push(`Command: \`node --import tsx bench/dedup.ts${quick ? ' --quick' : ''}${arg('--rows') ? ` --rows ${ROWS}` : ''}\`\n`);
out.push(`Catalog: ${ROWS.toLocaleString('en-US')} present files, ${CONTENTS.toLocaleString('en-US')} distinct contents (every file past those is a second copy of one, same owner), ${OWNERS.toLocaleString('en-US')} owners. Goal: \`dedup --dry-run\` under 2 s.\n`);
const rows = [await run('sqlite'), await run('postgres')];
out.push(table(['dialect', 'files', 'groups', 'fill s', 'grouping query s (median)', 'query CPU s', 'storectl --json dedup --dry-run s (median)', 'runs s', 'CLI CPU s (user+sys, median)', 'peak RSS MB'], rows));
out.push('\nCPU seconds are the process\'s own (PostgreSQL\'s server-side work is not in them): on a loaded machine the wall time is the CPU time stretched by the load.');
out.push(`\nLoad after: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
const text = out.join('\n');
process.stdout.write(text);
if (!quick) fs.writeFileSync(path.join(REPO, 'bench/results/dedup.md'), `# dedup --dry-run benchmark\n\n${new Date().toISOString()}\n\n${text}`);
fs.rmSync(work, { recursive: true, force: true });
