// Foundation benchmarks: `stats` on 1,000,000 catalog rows (SQLite and PostgreSQL) and
// `generate` cards per second with 1 and 2 workers on the same jobs (a fixed --seed), beside a
// Pillow process drawing the same cards and writing the same five files each.
//   node --import tsx bench/foundation.ts [--quick] [--rows N] [--cards N] [--seed N] [--only stats|generate]
import fs from 'node:fs';
import { createRequire } from 'node:module';
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

/** The fixed seed: every run, and each worker count, renders the same jobs (same day, same --days). */
const SEED = Number(arg('--seed', '7'));
const FONT_DIR = path.join(path.dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json')), 'ttf');
/** Debian's python3 with python3-pil (apt-get install python3-pil), not a pyenv one on PATH. */
const PYTHON = process.env.STORECTL_BENCH_PYTHON ?? '/usr/bin/python3';

function generateBench(): string {
  const out: (string | number)[][] = [];
  let cardJobs = 0;
  const jobsFile = path.join(work, 'generate-cards.ndjson');
  for (const workers of [1, 2]) {
    const root = path.join(work, `generate-${workers}`);
    fs.rmSync(root, { recursive: true, force: true });
    const m = storectl(['--root', root, '--json', 'generate', '--sample', String(cards), '--seed', String(SEED), '--days', '30', '--workers', String(workers)]);
    const r = JSON.parse(m.stdout);
    if (workers === 1) {
      // The card jobs storectl just rendered, for the baseline to draw the same cards.
      const q = "select json_object('id', id, 'data', json(data)) from jobs where kind = 'card' order by id";
      fs.writeFileSync(jobsFile, shell(`sqlite3 '${root}/.storectl/catalog.db' "${q}"`).stdout);
      cardJobs = fs.readFileSync(jobsFile, 'utf8').trim().split('\n').length;
    }
    out.push([`storectl, ${workers} worker${workers > 1 ? 's' : ''}`, r.jobs.rendered, r.files, fmt(r.durationMs / 1000), fmt(r.jobs.rendered / (r.durationMs / 1000), 1), fmt(m.seconds), m.maxRssMb]);
    fs.rmSync(root, { recursive: true, force: true });
  }
  const pillowOut = path.join(work, 'generate-pillow');
  fs.rmSync(pillowOut, { recursive: true, force: true });
  const p = shell(`'${PYTHON}' '${path.join(REPO, 'bench/lib/pillow_card.py')}' '${pillowOut}' '${jobsFile}' '${FONT_DIR}'`);
  if (p.status !== 0) throw new Error(`the Pillow baseline failed (${PYTHON}; apt-get install python3-pil): ${p.stderr}`);
  const pr = JSON.parse(p.stdout);
  out.push(['Pillow, 1 process (baseline)', pr.jobs, pr.files, fmt(pr.seconds), fmt(pr.jobs / pr.seconds, 1), fmt(p.seconds), p.maxRssMb]);
  fs.rmSync(pillowOut, { recursive: true, force: true });
  return (
    `### generate --sample ${cards} --seed ${SEED} (render 5 files a card, atomic fsync'ed writes, catalog rows)\n\n` +
    table(['renderer', 'jobs', 'files', 'render s', 'jobs/s', 'wall s', 'peak RSS MB (parent)'], out) +
    `\nThe baseline draws the ${cardJobs} card jobs of the same sample (read from the catalog storectl wrote) with the same layout, ` +
    `writes the same five files each (PNG at zlib level 6; PDFs by Pillow's writer, which stores the pages as JPEG where storectl embeds ` +
    `the PNG data losslessly) through temp file, fsync and rename, and keeps no catalog and no SHA-256: bench/lib/pillow_card.py. ` +
    `storectl's jobs include the sample's export jobs (one CSV each).\n`
  );
}

fs.mkdirSync(work, { recursive: true });
const only = arg('--only');
const parts: string[] = [];
if (!only || only.includes('stats')) parts.push(await statsBench());
if (!only || only.includes('generate')) parts.push(generateBench());
process.stdout.write(parts.join('\n'));
