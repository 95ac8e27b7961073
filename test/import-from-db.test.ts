// import-from-db end to end: the real bin, both dialects, application tables created in the
// database, effects checked byte for byte on disk, in the catalog and in the source table.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import sharp from 'sharp';
import Database from 'better-sqlite3';
import { BIN, DIALECTS, runCli, type Store } from './helpers/env.ts';
import { execSql, query } from './helpers/images.ts';

const CMD = 'import-from-db';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A PNG of w x h pixels: flat colour, or noise (incompressible) when noisy. */
async function png(seed: number, w = 24, h = 16, noisy = false): Promise<Buffer> {
  const px = Buffer.alloc(w * h * 3);
  let s = seed * 7919 + 1;
  for (let i = 0; i < px.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    px[i] = noisy ? s >>> 24 : (seed * 37 + (i % 3) * 80) & 0xff;
  }
  return sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
}

function pdf(seed: number): Buffer {
  return Buffer.from(`%PDF-1.4\n% job ${seed}\n1 0 obj <</Type /Catalog>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n`);
}

const CARD_KEYS = { front_image: 'front.png', back_image: 'back.png', front_pdf: 'front.pdf', back_pdf: 'back.pdf', combined_pdf: 'combined.pdf' } as const;
type CardFiles = Record<string, Buffer>;

/** The 20 jobs of the card table: job-07's front_image is not base64, job-13's front_pdf is a PNG. */
async function cardJobs(): Promise<{ id: string; created: Date; files: CardFiles; json: string }[]> {
  const out = [];
  for (let i = 1; i <= 20; i++) {
    const id = `job-${String(i).padStart(2, '0')}`;
    const files: CardFiles = { front_image: await png(i), back_image: await png(100 + i), front_pdf: pdf(i), combined_pdf: pdf(1000 + i) };
    if (i % 2 === 0) files.back_pdf = pdf(500 + i);
    const enc: Record<string, string | null> = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, v.toString('base64')]));
    if (i === 7) enc.front_image = `${enc.front_image!.slice(0, 10)}*not-base64*${enc.front_image!.slice(10)}`;
    if (i === 13) enc.front_pdf = (await png(999)).toString('base64');
    if (i % 5 === 0) enc.back_pdf = null; // a role the job never had
    out.push({ id, created: new Date(Date.UTC(2025, 0, i, 9, 30)), files, json: JSON.stringify(enc) });
  }
  return out;
}

interface FileRow {
  job_id: string;
  role: string;
  category: string;
  path: string;
  content_type: string;
  size: number;
  sha256: string;
  state: string;
}

const files = (s: Store) => query<FileRow>(s, `select job_id, role, category, path, content_type, size, sha256, state from files order by path`);
const dataKeys = async (s: Store, column: string) =>
  (await query<{ id: string }>(s, `select id from print_jobs where ${column} is not null order by id`)).map((r) => r.id);

/** Every non-temporary file under the data tree, relative, sorted. */
function treeFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.name === '.storectl') continue;
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(dir, e.name), r);
      else if (!e.name.includes('.tmp-')) out.push(r);
    }
  };
  if (fs.existsSync(root)) walk(root, '');
  return out.sort();
}

let jobs: Awaited<ReturnType<typeof cardJobs>>;
before(async () => {
  jobs = await cardJobs();
});

for (const d of DIALECTS) {
  describe(`${CMD}: ${d.name}`, { skip: d.skip }, () => {
    const stores: Store[] = [];
    const pgsql = d.name === 'postgres';
    const newStore = async () => {
      const s = await d.makeStore();
      stores.push(s);
      await (await s.open()).close(); // the catalog exists before the application's table is added to its database
      return s;
    };
    after(async () => {
      for (const s of stores) await s.dispose();
    });

    /** The application's table: JSON card files, a bytea/BLOB column, base64 text, and (PostgreSQL) bytea[]. */
    const cardTable = async (s: Store) => {
      await execSql(
        s,
        pgsql
          ? `create table print_jobs (id text primary key, created_at timestamptz not null, card_files_data jsonb, photo bytea, photo_b64 text, scans bytea[])`
          : `create table print_jobs (id text primary key, created_at text not null, card_files_data JSON, photo BLOB, photo_b64 text)`,
      );
      for (const [i, j] of jobs.entries()) {
        const photo = i % 4 === 3 ? null : await png(200 + i);
        const cols = ['id', 'created_at', 'card_files_data', 'photo', 'photo_b64'];
        const values: unknown[] = [j.id, pgsql ? j.created : j.created.toISOString().replace('T', ' ').slice(0, 19), j.json, photo, photo?.toString('base64') ?? null];
        if (pgsql) {
          cols.push('scans');
          values.push(i % 3 === 0 ? [await png(300 + i), pdf(300 + i)] : null);
        }
        await query(s, `insert into print_jobs (${cols.join(', ')}) values (${cols.map((_, n) => `$${n + 1}`).join(', ')})`, values);
      }
    };

    test('20 jobs of card_files_data: the good rows land byte-identical with catalog rows, the two bad ones are listed, exit 3', async () => {
      const s = await newStore();
      await cardTable(s);
      const args = [...s.args, '--json', CMD, '--table', 'print_jobs', '--key', 'id', '--data-column', 'card_files_data', '--created-column', 'created_at', '--batch-size', '6'];
      if (!pgsql) args.push('--shape', 'json-base64');
      const r = await runCli(args);
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.equal(r.json.total, 20);
      assert.equal(r.json.imported, 18);
      assert.equal(r.json.failed, 2);
      assert.equal(r.json.source.shape, 'json-base64');
      assert.deepEqual(
        r.json.failures.map((f: { key: string; reason: string }) => [f.key, f.reason]),
        [
          ['job-07', 'front_image: invalid base64: character "*" at offset 10'],
          ['job-13', 'front_pdf: bytes are PNG, not PDF as front.pdf says'],
        ],
      );
      const rows = await files(s);
      const expected: { path: string; bytes: Buffer; role: string; job: string }[] = [];
      for (const j of jobs) {
        if (j.id === 'job-07' || j.id === 'job-13') continue;
        const day = String(j.created.getUTCDate()).padStart(2, '0');
        for (const [k, bytes] of Object.entries(j.files)) {
          const i = Number(j.id.slice(4));
          if (k === 'back_pdf' && i % 5 === 0) continue;
          const role = CARD_KEYS[k as keyof typeof CARD_KEYS];
          expected.push({ path: `cards/2025/01/${day}/${j.id}/${role}`, bytes, role, job: j.id });
        }
      }
      expected.sort((a, b) => (a.path < b.path ? -1 : 1));
      assert.equal(r.json.files, expected.length);
      assert.deepEqual(rows.map((x) => x.path), expected.map((e) => e.path));
      assert.deepEqual(treeFiles(s.root), expected.map((e) => e.path));
      for (const [i, e] of expected.entries()) {
        const abs = path.join(s.root, e.path);
        assert.ok(fs.readFileSync(abs).equals(e.bytes), `${e.path} is byte-identical`);
        assert.equal(fs.statSync(abs).mode & 0o777, 0o600);
        assert.equal(fs.statSync(path.dirname(abs)).mode & 0o777, 0o750);
        const row = rows[i]!;
        assert.equal(row.sha256, sha(e.bytes));
        assert.equal(Number(row.size), e.bytes.length);
        assert.equal(row.job_id, e.job);
        assert.equal(row.role, e.role);
        assert.equal(row.category, 'cards');
        assert.equal(row.state, 'present');
        assert.equal(row.content_type, e.role.endsWith('.png') ? 'image/png' : 'application/pdf');
      }
      // Jobs made, with where their files came from.
      const jobRows = await query<{ id: string; kind: string; status: string; files_state: string; generation: unknown }>(s, `select id, kind, status, files_state, generation from jobs order by id`);
      assert.equal(jobRows.length, 18);
      const g = (typeof jobRows[0]!.generation === 'string' ? JSON.parse(jobRows[0]!.generation) : jobRows[0]!.generation) as Record<string, any>;
      assert.equal(jobRows[0]!.id, 'job-01');
      assert.deepEqual([jobRows[0]!.kind, jobRows[0]!.status, jobRows[0]!.files_state], ['card', 'completed', 'on_disk']);
      assert.deepEqual({ ...g.importedFrom['front.png'], database: undefined }, { database: undefined, table: 'print_jobs', keyColumn: 'id', key: 'job-01', dataColumn: 'card_files_data', shape: 'json-base64', part: 'front_image' });
      assert.equal(g.filesOnDisk, 4);
      // Nothing changed in the source without --clear-source.
      assert.equal((await dataKeys(s, 'card_files_data')).length, 20);
      const check = await runCli([...s.args, '--json', 'stats', '--check-disk']);
      assert.equal(check.code, 0, check.stdout + check.stderr);
      // A rerun adds nothing.
      const again = await runCli(args);
      assert.equal(again.code, 3);
      assert.deepEqual([again.json.imported, again.json.skipped, again.json.failed], [0, 18, 2]);
      assert.equal((await files(s)).length, expected.length);
    });

    test('bytea/BLOB, base64 text and (PostgreSQL) bytea[] columns: one file a value or an element, content type from the bytes', async () => {
      const s = await newStore();
      await cardTable(s);
      const photos = jobs.map((_, i) => i).filter((i) => i % 4 !== 3);
      const r = await runCli([...s.args, '--json', CMD, '--table', 'print_jobs', '--data-column', 'photo', '--category', 'uploads', '--kind', 'photo']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(r.json.source.shape, 'bytea');
      assert.equal(r.json.imported, photos.length);
      for (const i of photos) {
        const j = jobs[i]!;
        const p = treeFiles(s.root).find((x) => x.endsWith(`/${j.id}/file.png`))!;
        assert.ok(p, `${j.id} has file.png`);
        assert.ok(p.startsWith(`uploads/${new Date().getUTCFullYear()}/`), `${p} is dated now (no --created-column)`);
        assert.ok(fs.readFileSync(path.join(s.root, p)).equals(await png(200 + i)));
      }
      const kinds = await query<{ kind: string; n: number }>(s, `select kind, count(*) as n from jobs group by kind`);
      assert.deepEqual(kinds.map((k) => [k.kind, Number(k.n)]), [['photo', photos.length]]);
      // base64 text of the same photos into another role of the same jobs: the jobs keep their directory.
      const b = await runCli([...s.args, '--json', CMD, '--table', 'print_jobs', '--data-column', 'photo_b64', '--shape', 'base64', '--category', 'uploads', '--role-map', '["photo.png"]']);
      assert.equal(b.code, 0, b.stdout + b.stderr);
      assert.equal(b.json.imported, photos.length);
      const rows = await files(s);
      assert.equal(rows.length, photos.length * 2);
      for (const i of photos) {
        const mine = rows.filter((x) => x.job_id === jobs[i]!.id);
        assert.deepEqual(mine.map((x) => x.role), ['file.png', 'photo.png']);
        assert.equal(mine[0]!.sha256, mine[1]!.sha256);
        assert.equal(path.dirname(mine[0]!.path), path.dirname(mine[1]!.path));
      }
      if (pgsql) {
        const a = await runCli([...s.args, '--json', CMD, '--table', 'print_jobs', '--data-column', 'scans', '--category', 'uploads', '--role-map', '["scan.png","scan.pdf"]']);
        assert.equal(a.code, 0, a.stdout + a.stderr);
        assert.equal(a.json.source.shape, 'bytea-array');
        const withScans = jobs.map((_, i) => i).filter((i) => i % 3 === 0);
        assert.equal(a.json.imported, withScans.length);
        const scans = (await files(s)).filter((x) => x.role.startsWith('scan.'));
        assert.equal(scans.length, withScans.length * 2);
        for (const i of withScans) {
          const mine = scans.filter((x) => x.job_id === jobs[i]!.id);
          assert.deepEqual(mine.map((x) => [x.role, x.content_type, x.sha256]), [
            ['scan.pdf', 'application/pdf', sha(pdf(300 + i))],
            ['scan.png', 'image/png', sha(await png(300 + i))],
          ]);
          for (const m of mine) assert.ok(fs.readFileSync(path.join(s.root, m.path)).equals(m.role.endsWith('.pdf') ? pdf(300 + i) : await png(300 + i)));
        }
      } else {
        const a = await runCli([...s.args, '--json', CMD, '--table', 'print_jobs', '--data-column', 'photo', '--shape', 'bytea-array']);
        assert.equal(a.code, 2, 'SQLite has no arrays');
      }
      const check = await runCli([...s.args, 'stats', '--check-disk']);
      assert.equal(check.code, 0, check.stdout + check.stderr);
    });

    test('--dry-run decodes and reports rows, files, bytes and failures, and writes nothing', async () => {
      const s = await newStore();
      await cardTable(s);
      const args = [...s.args, '--json', CMD, '--table', 'print_jobs', '--data-column', 'card_files_data', '--shape', 'json-base64', '--dry-run', '--clear-source'];
      const r = await runCli(args);
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.equal(r.json.dryRun, true);
      assert.equal(r.json.imported, 18);
      assert.equal(r.json.failed, 2);
      assert.ok(r.json.bytes > 0 && r.json.files > 70);
      assert.equal((await files(s)).length, 0);
      assert.deepEqual(treeFiles(s.root), []);
      assert.equal((await dataKeys(s, 'card_files_data')).length, 20);
    });

    test('killed midway, a rerun adds no file twice; no row is cleared whose files are not all verified; --clear-source then clears exactly the imported rows', async () => {
      const s = await newStore();
      await execSql(s, pgsql ? `create table print_jobs (id integer primary key, card_files_data jsonb)` : `create table print_jobs (id integer primary key, card_files_data JSON)`);
      const big: { front: Buffer; back: Buffer }[] = [];
      for (let i = 0; i < 40; i++) {
        const front = await png(i, 160, 160, true);
        const back = await png(50 + i, 160, 160, true);
        big.push({ front, back });
        const json = JSON.stringify({ front_image: front.toString('base64'), back_image: i === 25 ? '' : back.toString('base64') });
        await query(s, `insert into print_jobs (id, card_files_data) values ($1, $2)`, [i + 1, json]);
      }
      const args = [...s.args, CMD, '--table', 'print_jobs', '--data-column', 'card_files_data', '--shape', 'json-base64', '--batch-size', '1', '--workers', '1'];
      const child = spawn(process.execPath, [BIN, ...args, '--clear-source', '--yes'], { env: { ...process.env, NO_COLOR: '1' }, stdio: 'ignore' });
      let exited: number | null | undefined;
      const closed = new Promise((res) => child.on('close', (code) => res((exited = code))));
      const count = async () => Number((await query<{ n: number }>(s, `select count(*) as n from files`))[0]!.n);
      // Kill it once the catalog shows progress (16 of 78 files recorded), however long a
      // loaded machine takes to get there: no fixed deadline decides when.
      while (exited === undefined && (await count()) < 16) await new Promise((res) => setTimeout(res, 5));
      assert.equal(exited, undefined, `the import ended (exit ${exited}) before it could be killed midway`);
      child.kill('SIGKILL');
      await closed;
      const midway = await count();
      assert.ok(midway >= 16 && midway < 78, `killed with ${midway} of 78 files recorded`);
      // Every cleared row has both files recorded and on disk with the right bytes.
      const remaining = new Set((await query<{ id: number }>(s, `select id from print_jobs where card_files_data is not null`)).map((r) => Number(r.id)));
      const cleared = big.map((_, i) => i + 1).filter((id) => !remaining.has(id));
      assert.ok(cleared.length < 40);
      const recorded = await files(s);
      for (const id of cleared) {
        const mine = recorded.filter((f) => f.job_id === String(id));
        assert.deepEqual(mine.map((f) => [f.role, f.sha256]), [['back.png', sha(big[id - 1]!.back)], ['front.png', sha(big[id - 1]!.front)]], `row ${id} cleared only with both files`);
        for (const f of mine) assert.equal(sha(fs.readFileSync(path.join(s.root, f.path))), f.sha256);
      }
      // The rerun without --clear-source completes the import and changes no source row.
      const r = await runCli([...s.args, '--json', ...args.slice(s.args.length)]);
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.deepEqual(r.json.failures.map((f: { key: string; reason: string }) => [f.key, f.reason]), [['26', 'back_image: empty value']]);
      assert.equal(r.json.imported + r.json.skipped, 39 - cleared.length);
      const after = await files(s);
      assert.equal(after.length, 78);
      assert.equal(new Set(after.map((f) => f.path)).size, 78);
      assert.deepEqual(treeFiles(s.root), after.map((f) => f.path));
      for (const f of after) {
        const i = Number(f.job_id) - 1;
        assert.ok(fs.readFileSync(path.join(s.root, f.path)).equals(f.role === 'front.png' ? big[i]!.front : big[i]!.back));
      }
      assert.equal(new Set((await query<{ id: number }>(s, `select id from print_jobs where card_files_data is not null`)).map((x) => Number(x.id))).size, remaining.size);
      // --clear-source clears exactly the imported rows: every row but the bad one.
      const c = await runCli([...s.args, '--json', '--yes', ...args.slice(s.args.length), '--clear-source']);
      assert.equal(c.code, 3, c.stdout + c.stderr);
      assert.equal(c.json.cleared, remaining.size - 1);
      assert.deepEqual((await query<{ id: number }>(s, `select id from print_jobs where card_files_data is not null`)).map((x) => Number(x.id)), [26]);
      assert.equal((await files(s)).length, 78);
      // A write the kill cut short leaves its temp file (`.NAME.tmp-<pid>-*`): an orphan by
      // design, which cleanup-orphaned removes after its grace age. Remove exactly the killed
      // process's own, as that would; anything else left over is still drift.
      const killedTmp = `.tmp-${child.pid}-`;
      for (const e of fs.readdirSync(s.root, { recursive: true, withFileTypes: true }) as fs.Dirent[]) {
        if (e.isFile() && e.name.includes(killedTmp)) fs.rmSync(path.join(e.parentPath, e.name));
      }
      const check = await runCli([...s.args, 'stats', '--check-disk']);
      assert.equal(check.code, 0, check.stdout + check.stderr);
    });

    test('--source-database: the table in another database (SQLite), the catalog here; --job-column names the jobs', async () => {
      const s = await newStore();
      const file = path.join(s.root, '..', `${path.basename(s.root)}-app.db`);
      const app = new Database(file);
      app.exec(`create table scans (id integer primary key, ref text, created integer, pages BLOB)`);
      const scans = [pdf(1), pdf(2), await png(3)];
      scans.forEach((b, i) => app.prepare(`insert into scans values (?, ?, ?, ?)`).run(i + 1, `scan-${100 + i}`, Date.UTC(2024, 5, 1 + i) / 1000, b));
      app.close();
      try {
        const r = await runCli([...s.args, '--json', CMD, '--source-database', `sqlite:${file}`, '--table', 'scans', '--data-column', 'pages', '--job-column', 'ref', '--created-column', 'created', '--role-map', '["scan.pdf"]', '--category', 'uploads', '--kind', 'scan', '--clear-source', '--yes']);
        assert.equal(r.code, 3, r.stdout + r.stderr);
        assert.deepEqual(r.json.failures, [{ key: '3', jobId: 'scan-102', reason: 'value: bytes are PNG, not PDF as scan.pdf says' }]);
        assert.equal(r.json.cleared, 2);
        const rows = await files(s);
        assert.deepEqual(rows.map((x) => [x.path, x.sha256]), [
          ['uploads/2024/06/01/scan-100/scan.pdf', sha(scans[0]!)],
          ['uploads/2024/06/02/scan-101/scan.pdf', sha(scans[1]!)],
        ]);
        const left = new Database(file, { readonly: true });
        assert.deepEqual(left.prepare(`select id from scans where pages is not null`).all(), [{ id: 3 }]);
        left.close();
        const jobsMade = await query<{ id: string; kind: string }>(s, `select id, kind from jobs order by id`);
        assert.deepEqual(jobsMade.map((j) => [j.id, j.kind]), [['scan-100', 'scan'], ['scan-101', 'scan']]);
        const events = await query<{ action: string; job_id: string; bytes: number; reason: string }>(s, `select action, job_id, bytes, reason from events where action = 'clear-source' order by job_id`);
        assert.deepEqual(events.map((e) => [e.job_id, Number(e.bytes), e.reason]), [
          ['scan-100', scans[0]!.length, 'import-from-db scans.pages key 1'],
          ['scan-101', scans[1]!.length, 'import-from-db scans.pages key 2'],
        ]);
      } finally {
        for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
      }
    });

    test('a hostile --table, --key or --data-column exits 2 and runs nothing', async () => {
      const s = await newStore();
      await cardTable(s);
      const base = { table: 'print_jobs', key: 'id', 'data-column': 'card_files_data' };
      const hostile = [
        { table: 'print_jobs; drop table print_jobs' },
        { table: 'print_jobs"--' },
        { key: 'id) or 1=1 --' },
        { key: 'id"' },
        { 'data-column': 'card_files_data = null; --' },
        { 'data-column': 'a.b' },
        { 'owner-column': 'owner; delete from jobs' },
        { 'created-column': 'created_at"' },
      ];
      for (const h of hostile) {
        const flags = Object.entries({ ...base, ...h }).flatMap(([k, v]) => [`--${k}`, v]);
        const r = await runCli([...s.args, '--json', CMD, ...flags, '--shape', 'json-base64', '--clear-source', '--yes']);
        assert.equal(r.code, 2, `${JSON.stringify(h)}: ${r.stdout}${r.stderr}`);
        assert.equal(r.json.error.code, 'bad_identifier');
      }
      assert.equal((await dataKeys(s, 'card_files_data')).length, 20);
      assert.equal((await files(s)).length, 0);
      assert.equal((await query(s, `select id from runs where command = $1`, [CMD])).length, 0);
      assert.deepEqual(treeFiles(s.root), []);
    });
  });
}
