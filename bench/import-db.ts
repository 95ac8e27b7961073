// Benchmark: import-from-db against the shell an operator would write, in the same run.
//   node --import tsx bench/import-db.ts [--quick] [--rows N] [--rss-rows N] [--rounds R]
// A PostgreSQL table of N card rows (default 2,000; --quick 100), each a jsonb card_files_data of
// five base64 files (front.png, back.png: incompressible PNGs of ~0.8 MB; three PDFs of ~0.47 MB:
// about 3 MB a row). Measured, each round in this order:
//   - storectl import-from-db (real CLI, catalog in the same PostgreSQL database, every file
//     fsynced, SHA-256 and catalog rows recorded);
//   - the shell: for each row and key, `psql -c "copy (select card_files_data->>'KEY' ...) to stdout"
//     piped through `base64 -d` into files (no fsync, no hashing, no catalog), one at a time and
//     with xargs -P4 (storectl writes 4 rows at once).
// Peak RSS of storectl is also measured on --rss-rows rows (default N/4) to show it is flat in rows.
// PostgreSQL: STORECTL_BENCH_DATABASE_URL (an admin URL; default postgres://postgres@127.0.0.1:5432/postgres).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import sharp from 'sharp';
import { CATALOG_PSQL, createScratchDatabase } from './lib/scratch-db.ts';
import { BIN, arg, flag, fmt, measure, shell, table, type Measured } from './lib/measure.ts';

const PG_ADMIN = process.env.STORECTL_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const QUICK = flag('--quick');
const ROWS = Number(arg('--rows', QUICK ? '100' : '2000'));
const RSS_ROWS = Number(arg('--rss-rows', String(Math.max(1, Math.floor(ROWS / 4)))));
const ROUNDS = Number(arg('--rounds', '1'));
const TEMPLATES = 8;
const KEYS = { front_image: 'front.png', back_image: 'back.png', front_pdf: 'front.pdf', back_pdf: 'back.pdf', combined_pdf: 'combined.pdf' };

async function noisyPng(side: number): Promise<Buffer> {
  return sharp(randomBytes(side * side * 3), { raw: { width: side, height: side, channels: 3 } }).png({ compressionLevel: 1 }).toBuffer();
}
const fakePdf = (bytes: number) => Buffer.concat([Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n'), randomBytes(bytes), Buffer.from('\n%%EOF\n')]);

function rmrf(p: string) {
  fs.rmSync(p, { recursive: true, force: true });
}

async function main() {
  const db = await createScratchDatabase(PG_ADMIN, `storectl_bench_import_${process.pid}`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-bench-import-'));
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const out: string[] = [];
  try {
    process.stderr.write(`loading ${ROWS} rows of ~3 MB into ${db.url.replace(/\/\/[^@]*@/, '//')}...\n`);
    await client.query(`create table card_templates (t int primary key, card_files_data jsonb not null)`);
    let rowBytes = 0;
    for (let t = 0; t < TEMPLATES; t++) {
      const files = { front_image: await noisyPng(520), back_image: await noisyPng(520), front_pdf: fakePdf(470_000), back_pdf: fakePdf(470_000), combined_pdf: fakePdf(480_000) };
      rowBytes += Object.values(files).reduce((a, b) => a + b.length, 0);
      await client.query(`insert into card_templates values ($1, $2)`, [t, JSON.stringify(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, v.toString('base64')])))]);
    }
    rowBytes /= TEMPLATES;
    // The application's table (as the card system has it); storage external: no TOAST compression to undo.
    await client.query(`create table print_jobs (id text primary key, created_at timestamptz not null, card_files_data jsonb)`);
    await client.query(`alter table print_jobs alter column card_files_data set storage external`);
    await client.query(
      `insert into print_jobs select 'job-' || lpad(g::text, 6, '0'), timestamptz '2025-01-01' + g * interval '37 minutes', (select card_files_data from card_templates where t = g % ${TEMPLATES})
         from generate_series(1, ${ROWS}) g`,
    );
    await client.query(`vacuum analyze print_jobs`);
    const ids = (await client.query(`select id from print_jobs order by id`)).rows.map((r) => r.id as string);
    fs.writeFileSync(path.join(work, 'ids.txt'), ids.join('\n') + '\n');
    const migrate = measure(process.execPath, [BIN, '--root', path.join(work, 'store'), '--database', db.url, 'migrate']);
    if (migrate.status !== 0) throw new Error(`migrate failed: ${migrate.stderr}`);

    const importRun = (limit?: number): Measured & { report: any } => {
      const store = path.join(work, 'store');
      rmrf(store);
      // A fresh catalog each round: drop what the last round imported.
      const m0 = shell(`${CATALOG_PSQL} -q "${db.url}" -c "delete from files; delete from jobs; delete from runs; delete from events"`);
      if (m0.status !== 0) throw new Error(m0.stderr);
      shell('sync');
      const m = measure(process.execPath, [BIN, '--root', store, '--database', db.url, '--json', 'import-from-db', '--table', 'print_jobs', '--data-column', 'card_files_data', '--created-column', 'created_at', ...(limit ? ['--limit', String(limit)] : [])]);
      if (m.status !== 0) throw new Error(`import-from-db exited ${m.status}: ${m.stderr || m.stdout}`);
      const report = JSON.parse(m.stdout);
      if (report.imported !== (limit ?? ROWS) || report.files !== 5 * (limit ?? ROWS)) throw new Error(`import-from-db imported ${report.imported} rows, ${report.files} files`);
      return { ...m, report };
    };
    // The shell an operator would write: for each key, one psql COPY of the column, each value
    // piped through base64 -d into its file (awk starts one base64 -d per file).
    const oneKey = `k="$1"; name="$2"; psql -qAt "$DB" -c "copy (select id, card_files_data->>'$k' from print_jobs order by id) to stdout" | awk -F'\\t' -v out="$OUT" -v name="$name" '{ cmd = "mkdir -p " out "/" $1 " && base64 -d > " out "/" $1 "/" name; print $2 | cmd; if (close(cmd) != 0) exit 1 }'`;
    fs.writeFileSync(path.join(work, 'one-key.sh'), `set -o pipefail\n${oneKey}\n`);
    fs.writeFileSync(path.join(work, 'keys.txt'), Object.entries(KEYS).map(([k, n]) => `${k} ${n}`).join('\n') + '\n');
    const shellRun = (parallel: number): Measured => {
      const dir = path.join(work, 'shell-out');
      rmrf(dir);
      shell('sync');
      const m = shell(`xargs -P ${parallel} -L 1 bash "${work}/one-key.sh" < "${work}/keys.txt"`, { env: { ...process.env, OUT: dir, DB: db.url } });
      if (m.status !== 0) throw new Error(`shell export failed: ${m.stderr}`);
      const n = Number(shell(`find "${dir}" -type f | wc -l`).stdout.trim());
      if (n !== ROWS * 5) throw new Error(`shell export wrote ${n} files`);
      return m;
    };
    const verifySame = () => {
      // Same bytes both ways: compare one row's files.
      const id = ids[Math.floor(ids.length / 2)]!;
      const storeDir = shell(`find "${work}/store/cards" -type d -name "${id}"`).stdout.trim();
      for (const n of Object.values(KEYS)) {
        const a = fs.readFileSync(path.join(storeDir, n));
        const b = fs.readFileSync(path.join(work, 'shell-out', id, n));
        if (!a.equals(b)) throw new Error(`${id}/${n} differs between storectl and the shell`);
      }
    };

    const rows: (string | number)[][] = [];
    const loadBefore = os.loadavg().map((x) => x.toFixed(2)).join(' ');
    const rate = (m: Measured) => ROWS / m.seconds;
    const mbs = (m: Measured) => (ROWS * rowBytes) / m.seconds / 1e6;
    // Each measurement is logged as it ends, so a run cut short still says what it measured.
    const note = (r: number, how: string, m: Measured, ratio: string) => {
      const row = [r, how, fmt(m.seconds, 1), fmt(rate(m), 1), fmt(mbs(m), 0), m.maxRssMb, ratio];
      rows.push(row);
      process.stderr.write(`  ${row.join(' | ')} (load ${os.loadavg()[0]!.toFixed(1)})\n`);
    };
    for (let r = 1; r <= ROUNDS; r++) {
      process.stderr.write(`round ${r}: storectl import-from-db...\n`);
      const st = importRun();
      note(r, 'storectl import-from-db (fsync, SHA-256, catalog)', st, '1.00');
      process.stderr.write(`round ${r}: shell, the five keys at once...\n`);
      const s5 = shellRun(5);
      verifySame();
      note(r, 'psql copy \\| base64 -d, five keys at once', s5, fmt(rate(st) / rate(s5)));
      process.stderr.write(`round ${r}: shell, one key after the other...\n`);
      const s1 = shellRun(1);
      note(r, 'psql copy \\| base64 -d, one key after the other', s1, fmt(rate(st) / rate(s1)));
    }
    const fullRss = rows[rows.length - 3]![5];
    process.stderr.write(`storectl on ${RSS_ROWS} rows (peak RSS)...\n`);
    const small = importRun(RSS_ROWS);
    out.push(
      `${ROWS} rows x 5 files, ${fmt(rowBytes / 1e6, 2)} MB a row (${fmt((ROWS * rowBytes) / 1e9, 2)} GB), jsonb base64 in PostgreSQL at 127.0.0.1; catalog in the same database.\n`,
      `Machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB; load before: ${loadBefore}\n`,
      table(['round', 'how', 'wall s', 'rows/s', 'MB/s', 'peak RSS MB', 'storectl speed / this'], rows),
      `\nPeak RSS of storectl: ${small.maxRssMb} MB at ${RSS_ROWS} rows, ${fullRss} MB at ${ROWS} rows (default batch of 8 rows, two in memory).\n`,
      `Load after: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}\n`,
    );
    process.stdout.write(out.join('\n'));
  } finally {
    await client.end();
    rmrf(work);
    await db.drop();
  }
}

await main();
