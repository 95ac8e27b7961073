// Usage: the quota check a writer makes (one owner's usage and quota) on a catalog of
// 1,000,000 files and 10,000 owners, on both dialects; and generate's jobs per second with a
// quota set against without, in the same run.
//   node --import tsx bench/usage.ts [--quick] [--database postgres://...]
// Results: bench/results/usage.md
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { openCatalog } from '../src/db/connect.ts';
import { parseDatabaseUrl } from '../src/db/url.ts';
import type { Catalog } from '../src/db/catalog.ts';
import { REPO, arg, flag, fmt, median, storectl, table } from './lib/measure.ts';
import { createScratchDatabase } from './lib/scratch-db.ts';

const quick = flag('--quick');
const FILES = quick ? 100_000 : 1_000_000;
const OWNERS = quick ? 1_000 : 10_000;
const CHECKS = 5_000;
const GEN_JOBS = quick ? 10 : 30;
const ROUNDS = quick ? 1 : 3;
const pgAdmin = arg('--database', process.env.STORECTL_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test')!;
const work = path.join(REPO, 'bench/.work/usage');

async function fill(c: Catalog): Promise<void> {
  // Set-based inserts, so the triggers keep the ledger as they do for any writer.
  const raw = c as unknown as { raw?: { exec(s: string): void }; pool?: { query(s: string): Promise<unknown> } };
  const ts = Date.parse('2026-11-01T00:00:00Z');
  if (raw.raw) {
    raw.raw.exec(`with recursive n(i) as (select 1 union all select i + 1 from n where i < ${FILES})
      insert into files (job_id, role, category, owner, path, content_type, size, sha256, created_at, state)
      select null, 'x', 'temp', 'owner-' || (i % ${OWNERS}), 'temp/' || i, 'application/octet-stream', 1000 + i % 7000, '${'ab'.repeat(32)}', ${ts}, 'present' from n`);
  } else {
    for (let lo = 1; lo <= FILES; lo += 100_000) {
      await raw.pool!.query(`insert into files (job_id, role, category, owner, path, content_type, size, sha256, created_at, state)
        select null, 'x', 'temp', 'owner-' || (i % ${OWNERS}), 'temp/' || i, 'application/octet-stream', 1000 + i % 7000, '${'ab'.repeat(32)}', to_timestamp(${ts / 1000}), 'present'
        from generate_series(${lo}, ${Math.min(FILES, lo + 99_999)}) i`);
    }
  }
  for (let o = 0; o < OWNERS; o += 2) await c.usage.setQuota({ owner: `owner-${o}`, maxBytes: 10 ** 12, maxFiles: null, warnPercent: 80 }, new Date());
}

async function quotaCheck(dialect: 'sqlite' | 'postgres'): Promise<string[]> {
  const root = path.join(work, `check-${dialect}`);
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  const db = dialect === 'postgres' ? await createScratchDatabase(pgAdmin, `storectl_bench_usage_${process.pid}`) : undefined;
  try {
    const c = await openCatalog(parseDatabaseUrl(db?.url, root), { create: true, migrate: 'never' });
    await c.migrate();
    const t0 = performance.now();
    await fill(c);
    const fillS = (performance.now() - t0) / 1000;
    const times: number[] = [];
    for (let i = 0; i < CHECKS; i++) {
      const owner = `owner-${(i * 7919) % OWNERS}`;
      const s = performance.now();
      const u = await c.usage.ownerUsage(owner);
      times.push(performance.now() - s);
      if (u.files === 0) throw new Error(`no usage for ${owner}`);
    }
    await c.close();
    times.sort((a, b) => a - b);
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    return [dialect, FILES.toLocaleString('en-US'), OWNERS.toLocaleString('en-US'), fmt(fillS, 1), fmt(mean, 3), fmt(median(times), 3), fmt(times[Math.floor(times.length * 0.99)]!, 3)];
  } finally {
    await db?.drop();
  }
}

function jobsFile(prefix: string): string {
  const lines = Array.from({ length: GEN_JOBS }, (_, i) =>
    JSON.stringify({ id: `${prefix}-${i}`, owner: 'acme', status: 'completed', createdAt: '2026-11-20T08:00:00Z', data: { holderName: `Holder ${i}`, licenceNumber: 'LOVEL-815', categories: ['B'], issueDate: '2026-11-20', expiryDate: '2036-11-20' } }),
  );
  const file = path.join(work, `${prefix}.ndjson`);
  fs.writeFileSync(file, lines.join('\n'));
  return file;
}

async function generateRound(withQuota: boolean, round: number): Promise<number> {
  const root = path.join(work, `gen-${withQuota ? 'q' : 'n'}-${round}`);
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  const c = await openCatalog(parseDatabaseUrl(undefined, root), { create: true, migrate: 'auto' });
  await c.close();
  if (withQuota) storectl(['--root', root, 'quota', 'set', 'acme', '--bytes', '1TiB']);
  const m = storectl(['--root', root, '--json', 'generate', '--workers', '1', '--jobs', jobsFile(`g${round}`)]);
  const r = JSON.parse(m.stdout) as { jobs: { rendered: number }; durationMs: number };
  if (r.jobs.rendered !== GEN_JOBS) throw new Error('generate did not render every job');
  fs.rmSync(root, { recursive: true, force: true });
  return (r.jobs.rendered / r.durationMs) * 1000;
}

fs.mkdirSync(work, { recursive: true });
const out: string[] = [];
out.push(`Machine: ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}; load before: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
out.push(`Command: \`node --import tsx bench/usage.ts${quick ? ' --quick' : ''}\`\n`);
out.push('### Quota check (one owner\'s usage and quota, in process, warm)\n');
out.push(table(['dialect', 'files', 'owners', 'fill s (with triggers)', 'mean ms', 'median ms', 'p99 ms'], [await quotaCheck('sqlite'), await quotaCheck('postgres')]));
out.push(`\n### generate with and without a quota (${GEN_JOBS} card jobs, 1 worker, SQLite, alternating, ${ROUNDS} rounds)\n`);
const without: number[] = [];
const withQ: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  without.push(await generateRound(false, i));
  withQ.push(await generateRound(true, i));
}
out.push(table(['', 'jobs/s per round', 'median jobs/s'], [
  ['no quota', without.map((x) => fmt(x, 1)).join(' / '), fmt(median(without), 1)],
  ['quota on the owner', withQ.map((x) => fmt(x, 1)).join(' / '), fmt(median(withQ), 1)],
]));
out.push(`\nRatio with/without (medians): ${fmt(median(withQ) / median(without), 3)}. Load after: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
const text = out.join('\n');
process.stdout.write(text);
if (!quick) fs.writeFileSync(path.join(REPO, 'bench/results/usage.md'), `# Usage benchmark\n\n${new Date().toISOString()}\n\n${text}`);
fs.rmSync(work, { recursive: true, force: true });

