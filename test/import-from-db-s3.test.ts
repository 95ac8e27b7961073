// import-from-db into an S3 store (--root s3://BUCKET/PREFIX), the real bin against the real
// s3rver, on both dialects: the objects byte-identical in the bucket, the catalog rows, stats
// --check-disk exit 0, and --clear-source clearing a row only once each of its objects reads
// back from the bucket with the right SHA-256.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { pgQuery } from './helpers/pg.ts';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { DIALECTS, runCli, tmpDir } from './helpers/env.ts';
import { startS3, type S3Fixture } from './helpers/s3.ts';
import { openBlobStore } from '../src/storage/open.ts';

const CMD = 'import-from-db';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let s3: S3Fixture;
before(async () => {
  s3 = await startS3();
});
after(async () => {
  await s3?.dispose();
});

const cli = (args: string[]) => runCli(args, { env: s3.env });

async function png(seed: number): Promise<Buffer> {
  const w = 40;
  const h = 30;
  const px = Buffer.alloc(w * h * 3);
  let s = seed * 7919 + 1;
  for (let i = 0; i < px.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    px[i] = s >>> 24;
  }
  return sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
}
const pdf = (seed: number) => Buffer.from(`%PDF-1.4\n% job ${seed}\n1 0 obj <</Type /Catalog>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n`);

async function readAll(s: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c);
  return Buffer.concat(parts);
}

for (const d of DIALECTS) {
  describe(`${CMD} into an S3 store: ${d.name}`, { skip: d.skip }, () => {
    test('card rows land as objects byte-identical with catalog rows; --check-disk 0; --clear-source reads each object back and keeps the source of a row whose object does not match', async () => {
      const store = await d.makeStore();
      const dir = tmpDir();
      const pgsql = d.name === 'postgres';
      const file = path.join(dir, 'catalog.db');
      const db = store.databaseUrl || `sqlite:${file}`;
      /** SQL in the catalog's database (where the application's table is too). */
      const sql = async <T = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> => {
        if (pgsql) return pgQuery<T>(store.databaseUrl, text, params);
        const h = new Database(file);
        try {
          const st = h.prepare(text.replace(/\$\d+/g, '?'));
          return (st.reader ? st.all(...params) : (st.run(...params), [])) as T[];
        } finally {
          h.close();
        }
      };
      const root = await s3.newRoot();
      const bucket = await openBlobStore(root, () => s3.settings());
      try {
        const base = ['--root', root, '--database', db];
        if (!pgsql) assert.equal((await cli([...base, 'migrate', '--create'])).code, 0, 'sqlite:PATH catalog created');
        await sql(`create table print_jobs (id text primary key, created_at ${pgsql ? 'timestamptz' : 'text'} not null, card_files_data ${pgsql ? 'jsonb' : 'JSON'})`);
        const expected: { path: string; bytes: Buffer; job: string; role: string }[] = [];
        for (let i = 1; i <= 8; i++) {
          const id = `job-${i}`;
          const files = { front_image: await png(i), back_image: await png(100 + i), front_pdf: pdf(i) };
          const enc = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, v.toString('base64')]));
          if (i === 5) enc.front_pdf = (await png(999)).toString('base64'); // a PDF role holding a PNG
          const created = new Date(Date.UTC(2025, 2, i, 12));
          await sql(`insert into print_jobs (id, created_at, card_files_data) values ($1, $2, $3)`, [id, pgsql ? created : created.toISOString(), JSON.stringify(enc)]);
          if (i === 5) continue;
          for (const [k, role] of [['front_image', 'front.png'], ['back_image', 'back.png'], ['front_pdf', 'front.pdf']] as const) {
            expected.push({ path: `cards/2025/03/0${i}/${id}/${role}`, bytes: files[k], job: id, role });
          }
        }
        expected.sort((a, b) => (a.path < b.path ? -1 : 1));
        const args = [...base, '--json', CMD, '--table', 'print_jobs', '--data-column', 'card_files_data', '--created-column', 'created_at', '--shape', 'json-base64', '--batch-size', '3'];

        const r = await cli(args);
        assert.equal(r.code, 3, r.stdout + r.stderr);
        assert.deepEqual([r.json.imported, r.json.failed, r.json.files], [7, 1, expected.length]);
        assert.deepEqual(r.json.failures.map((f: { key: string; reason: string }) => [f.key, f.reason]), [['job-5', 'front_pdf: bytes are PNG, not PDF as front.pdf says']]);
        // The bucket holds exactly the good rows' objects, byte-identical.
        const keys: string[] = [];
        for await (const page of bucket.list()) keys.push(...page.map((e) => e.key));
        assert.deepEqual(keys, expected.map((e) => e.path));
        for (const e of expected) assert.ok((await readAll(await bucket.get(e.path))).equals(e.bytes), `${e.path} byte-identical in the bucket`);
        // The catalog: a present row per object with its size and SHA-256.
        const rows = await sql<{ job_id: string; role: string; path: string; size: number; sha256: string; state: string; content_type: string }>(
          `select job_id, role, path, size, sha256, state, content_type from files order by path`,
        );
        assert.deepEqual(
          rows.map((x) => [x.path, x.job_id, x.role, Number(x.size), x.sha256, x.state, x.content_type]),
          expected.map((e) => [e.path, e.job, e.role, e.bytes.length, sha(e.bytes), 'present', e.role.endsWith('.png') ? 'image/png' : 'application/pdf']),
        );
        const check = await cli([...base, '--json', 'stats', '--check-disk']);
        assert.equal(check.code, 0, check.stdout + check.stderr);
        assert.equal(check.json.drift.walkedFiles, expected.length);
        assert.equal((await sql(`select id from print_jobs where card_files_data is not null`)).length, 8, 'the source unchanged without --clear-source');

        // An object changed behind the catalog's back: its row keeps its source; the others are cleared.
        const tampered = expected.find((e) => e.job === 'job-2')!;
        await bucket.put(tampered.path, Buffer.concat([tampered.bytes.subarray(0, 20), Buffer.from('tampered'), tampered.bytes.subarray(28)]));
        const c = await cli([...args.slice(0, base.length + 1), '--yes', ...args.slice(base.length + 1), '--clear-source']);
        assert.equal(c.code, 3, c.stdout + c.stderr);
        assert.deepEqual([c.json.imported, c.json.skipped, c.json.cleared], [0, 7, 6]);
        assert.deepEqual(
          c.json.failures.map((f: { key: string; reason: string }) => [f.key, f.reason]).sort(),
          [['job-2', `${tampered.path} does not read back with its SHA-256; source kept`], ['job-5', 'front_pdf: bytes are PNG, not PDF as front.pdf says']],
        );
        assert.deepEqual((await sql<{ id: string }>(`select id from print_jobs where card_files_data is not null order by id`)).map((x) => x.id), ['job-2', 'job-5']);
        // Put right again, the next run clears it.
        await bucket.put(tampered.path, tampered.bytes);
        const again = await cli([...args.slice(0, base.length + 1), '--yes', ...args.slice(base.length + 1), '--clear-source']);
        assert.equal(again.code, 3, again.stdout + again.stderr);
        assert.deepEqual([again.json.cleared, again.json.failed], [1, 1]);
        assert.deepEqual((await sql<{ id: string }>(`select id from print_jobs where card_files_data is not null`)).map((x) => x.id), ['job-5']);
        const events = await sql<{ job_id: string }>(`select job_id from events where action = 'clear-source' order by job_id`);
        assert.deepEqual(events.map((e) => e.job_id), ['job-1', 'job-2', 'job-3', 'job-4', 'job-6', 'job-7', 'job-8']);
        const final = await cli([...base, '--json', 'stats', '--check-disk']);
        assert.equal(final.code, 0, final.stdout + final.stderr);
        // Nothing was written to a local directory named after the URL.
        assert.ok(!fs.existsSync(path.join(process.cwd(), 's3:')));
      } finally {
        await bucket.close();
        await store.dispose();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
