// Foundation benchmarks: `stats` on 1,000,000 catalog rows (SQLite and PostgreSQL) and
// `generate` cards per second with 1 and 2 workers.
//   node --import tsx bench/foundation.ts [--quick] [--rows N] [--cards N]
import fs from 'node:fs';
import path from 'node:path';
import { CATALOG_PSQL, createScratchDatabase } from './lib/scratch-db.ts';
import { buildSyntheticStore } from './lib/synth.ts';
import { arg, flag, fmt, medianOf, REPO, shell, storectl, table } from './lib/measure.ts';

const quick = flag('--quick');
const rows = Number(arg('--rows', quick ? '50000' : '1000000'));
const cards = Number(arg('--cards', quick ? '20' : '200'));
const work = path.join(REPO, 'bench/.work/foundation');
const pgAdmin = process.env.STORECTL_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function freshPgDatabase(name: string): Promise<string> {
  return (await createScratchDatabase(pgAdmin, name)).url;
}

async function statsBench(): Promise<string> {
  const out: (string | number)[][] = [];
  for (const dialect of ['sqlite', 'postgres'] as const) {
    const root = path.join(work, `stats-${dialect}`);
    fs.rmSync(root, { recursive: true, force: true });
    const url = dialect === 'postgres' ? await freshPgDatabase('storectl_bench_stats') : undefined;
    const t0 = performance.now();
    await buildSyntheticStore({ root, databaseUrl: url, jobs: Math.ceil(rows / 5), withFiles: false });
    const buildS = (performance.now() - t0) / 1000;
    const db = url ? ['--database', url] : [];
    if (url) shell(`psql '${url}' -qc 'vacuum analyze'`);
    storectl(['--root', root, ...db, '--json', 'stats']); // warm-up
    const st = medianOf(3, () => storectl(['--root', root, ...db, '--json', 'stats']));
    const report = JSON.parse(st.stdout);
    // What an operator would type instead: one aggregate query in the database's own client.
    const q = "select category, count(*), sum(size) from files where state = 'present' group by category";
    const base = url
      ? medianOf(3, () => shell(`${CATALOG_PSQL} '${url}' -Atc "${q}"`))
      : medianOf(3, () => shell(`sqlite3 '${root}/.storectl/catalog.db' "${q}"`));
    out.push([dialect, report.usage.files, fmt(buildS, 1), fmt(st.seconds), st.maxRssMb, fmt(base.seconds), fmt(st.seconds / base.seconds)]);
  }
  return (
    `### stats on ${rows.toLocaleString('en-US')} file rows\n\n` +
    table(['dialect', 'rows', 'build s', 'storectl stats s (wall, whole CLI)', 'peak RSS MB', 'one aggregate query s', 'ratio'], out)
  );
}

function generateBench(): string {
  const out: (string | number)[][] = [];
  for (const workers of [1, 2]) {
    const root = path.join(work, `generate-${workers}`);
    fs.rmSync(root, { recursive: true, force: true });
    const m = storectl(['--root', root, '--json', 'generate', '--sample', String(cards), '--workers', String(workers)]);
    const r = JSON.parse(m.stdout);
    out.push([workers, r.jobs.rendered, r.files, fmt(r.durationMs / 1000), fmt(r.jobs.rendered / (r.durationMs / 1000), 1), fmt(m.seconds), m.maxRssMb]);
    fs.rmSync(root, { recursive: true, force: true });
  }
  return `### generate --sample ${cards} (render 5 files a card, atomic fsync'ed writes, catalog rows)\n\n` + table(['workers', 'jobs', 'files', 'render s', 'jobs/s', 'CLI wall s', 'peak RSS MB (parent)'], out);
}

fs.mkdirSync(work, { recursive: true });
const only = arg('--only');
const parts: string[] = [];
if (!only || only.includes('stats')) parts.push(await statsBench());
if (!only || only.includes('generate')) parts.push(generateBench());
process.stdout.write(parts.join('\n'));
