// migrate-images-to-db end to end: the real bin, both dialects, effects checked in the
// database (decoded WebP bytes) and on disk.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { LocalBlobStore } from '../src/storage/blobstore.ts';
import { BIN, DIALECTS, runCli, tmpDir, type Store } from './helpers/env.ts';
import { execSql, inspectWebp, noisyPhoto, pngWithAlpha, query, sidewaysJpeg, smallJpeg, truncatedJpeg, writeFiles } from './helpers/images.ts';

const CMD = 'migrate-images-to-db';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface ImageRow {
  source: string;
  source_key: string;
  source_index: number;
  owner: string;
  original_path: string;
  original_bytes: number;
  original_format: string;
  format: string;
  width: number;
  height: number;
  bytes: number;
  quality: number;
  sha256: string;
  data: Buffer;
}

const fixtures: Record<string, Buffer> = {};
before(async () => {
  fixtures.alpha = await pngWithAlpha();
  fixtures.noisy = await noisyPhoto();
  fixtures.small = await smallJpeg();
  fixtures.sideways = await sidewaysJpeg();
  fixtures.truncated = await truncatedJpeg();
  for (let i = 0; i < 12; i++) fixtures[`photo${i}`] = await smallJpeg(900, 600, 100 + i);
});

for (const d of DIALECTS) {
  describe(`${CMD}: ${d.name}`, { skip: d.skip }, () => {
    const stores: Store[] = [];
    const dirs: string[] = [];
    const newStore = async () => {
      const s = await d.makeStore();
      stores.push(s);
      await (await s.open()).close(); // the embedded catalog exists (and is migrated) before a test's own tables
      return s;
    };
    const newDir = (files: Record<string, Buffer | string>) => {
      const dir = tmpDir('storectl-img-');
      dirs.push(dir);
      writeFiles(dir, files);
      return dir;
    };
    after(async () => {
      for (const s of stores) await s.dispose();
      for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
    });

    test('--from-dir: a symlink named like an image is listed as a failure (exit 3), never followed nor passed over', async () => {
      const s = await newStore();
      const dir = newDir({ 'real.jpg': fixtures.small! });
      const outside = newDir({ 'secret.jpg': fixtures.photo0! });
      fs.symlinkSync('real.jpg', path.join(dir, 'inside-link.jpg'));
      fs.symlinkSync(path.join(outside, 'secret.jpg'), path.join(dir, 'outside-link.jpg'));
      const r = await runCli([...s.args, '--json', CMD, '--from-dir', dir, '--delete-originals', '--yes']);
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.equal(r.json.migrated, 1);
      assert.equal(r.json.failed, 2);
      assert.deepEqual(
        r.json.failures.map((f: { path: string; reason: string }) => [path.basename(f.path), f.reason]).sort(),
        [['inside-link.jpg', 'a symlink: never followed'], ['outside-link.jpg', 'a symlink: never followed']],
      );
      const rows = await query<ImageRow>(s, `select * from images order by source_key`);
      assert.deepEqual(rows.map((x) => x.source_key), ['real.jpg'], 'only the real file is stored');
      assert.ok(fs.lstatSync(path.join(dir, 'inside-link.jpg')).isSymbolicLink(), 'the links are left as they are');
      assert.ok(fs.existsSync(path.join(outside, 'secret.jpg')), 'the target outside is untouched');
      assert.ok(!fs.existsSync(path.join(dir, 'real.jpg')), 'the migrated original was deleted as asked');
    });

    test('compresses PNG with alpha, a noisy photo, a small JPEG and a sideways JPEG, verified in the database', async () => {
      const s = await newStore();
      const dir = newDir({ 'alpha.png': fixtures.alpha!, 'noisy.png': fixtures.noisy!, 'small.jpg': fixtures.small!, 'sub/sideways.jpg': fixtures.sideways! });
      const r = await runCli([...s.args, '--json', CMD, '--from-dir', dir]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(r.json.migrated, 4);
      assert.equal(r.json.failed, 0);
      assert.deepEqual(
        r.json.byFormat.map((f: { format: string; images: number }) => [f.format, f.images]).sort(),
        [['jpeg', 2], ['png', 2]],
      );
      const rows = await query<ImageRow>(s, `select * from images order by source_key`);
      assert.equal(rows.length, 4);
      const by = Object.fromEntries(rows.map((x) => [x.source_key, x]));
      for (const row of rows) {
        assert.equal(row.source, `dir:${dir}`);
        assert.equal(row.format, 'webp');
        assert.ok(Math.max(row.width, row.height) <= 1024);
        assert.ok(Number(row.bytes) <= 500 * 1024);
        assert.equal(Number(row.bytes), row.data.length);
        assert.equal(row.sha256, sha(row.data));
        const img = await inspectWebp(row.data);
        assert.equal(img.format, 'webp');
        assert.deepEqual([img.width, img.height], [row.width, row.height]);
      }
      // PNG with alpha: 1600x1200 -> 1024x768, transparent half flattened onto white.
      const alpha = by['alpha.png']!;
      assert.deepEqual([alpha.width, alpha.height], [1024, 768]);
      const right = await inspectWebp(alpha.data, { x: 900, y: 384 });
      assert.equal(right.hasAlpha, false);
      assert.ok(right.pixel!.every((v) => v >= 245), `transparent area should be white, got ${right.pixel}`);
      const left = await inspectWebp(alpha.data, { x: 100, y: 384 });
      assert.ok(left.pixel![0]! > 180 && left.pixel![1]! < 80, `opaque area should stay red, got ${left.pixel}`);
      // The noisy photo needed a lower quality than 85 to fit.
      assert.ok(by['noisy.png']!.quality < 85, `noisy photo at quality ${by['noisy.png']!.quality}`);
      assert.equal(by['noisy.png']!.original_format, 'png');
      // A small JPEG keeps its size (no enlargement) and the first quality.
      assert.deepEqual([by['small.jpg']!.width, by['small.jpg']!.height, by['small.jpg']!.quality], [320, 240, 85]);
      // EXIF orientation 6: a 600x400 raster displayed upright is portrait.
      assert.deepEqual([by['sub/sideways.jpg']!.width, by['sub/sideways.jpg']!.height], [400, 600]);
      // Originals stay by default.
      assert.ok(fs.existsSync(path.join(dir, 'alpha.png')));

      // A rerun is a no-op: nothing migrated, everything skipped, rows untouched.
      const again = await runCli([...s.args, '--json', CMD, '--from-dir', dir]);
      assert.equal(again.code, 0);
      assert.equal(again.json.migrated, 0);
      assert.equal(again.json.skipped, 4);
      const after2 = await query<ImageRow>(s, `select * from images order by source_key`);
      assert.deepEqual(after2.map((x) => x.sha256), rows.map((x) => x.sha256));
    });

    test('missing file, text named .png and truncated JPEG are listed, the rest migrated, exit 3', async () => {
      const s = await newStore();
      const dir = newDir({ 'ok.jpg': fixtures.small!, 'text.png': 'this is not a picture\n', 'trunc.jpg': fixtures.truncated! });
      const blob = d.name === 'postgres' ? 'bytea' : 'blob';
      await execSql(
        s,
        `create table photos (id integer primary key, path text, data ${blob});
         insert into photos (id, path) values (1, 'ok.jpg'), (2, 'missing.jpg'), (3, 'text.png'), (4, 'trunc.jpg'), (5, '../escape.jpg');`,
      );
      const args = [...s.args, '--json', CMD, '--table', 'photos', '--key', 'id', '--path-column', 'path', '--data-column', 'data', '--base-dir', dir];
      const r = await runCli(args);
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.equal(r.json.migrated, 1);
      assert.equal(r.json.failed, 4);
      const reasons = Object.fromEntries(r.json.failures.map((f: { key: string; reason: string }) => [f.key, f.reason]));
      assert.equal(reasons['2'], 'missing file');
      assert.match(reasons['3'], /not an image/);
      assert.match(reasons['4'], /corrupt/);
      assert.match(reasons['5'], /escapes the base directory/);
      const rows = await query<{ id: number; data: Buffer | null }>(s, `select id, data from photos order by id`);
      assert.ok(rows[0]!.data && (await inspectWebp(rows[0]!.data)).format === 'webp');
      assert.deepEqual(rows.slice(1).map((x) => x.data), [null, null, null, null]);
      // A rerun leaves the migrated row alone and lists the same failures again.
      const again = await runCli(args);
      assert.equal(again.code, 3);
      assert.equal(again.json.migrated, 0);
      assert.equal(again.json.skipped, 1);
      assert.equal(again.json.failed, 4);
    });

    test('killed midway, a rerun completes with no duplicates', async () => {
      const s = await newStore();
      const files = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`p${String(i).padStart(2, '0')}.jpg`, fixtures[`photo${i}`]!]));
      const dir = newDir(files);
      // Create the catalog first so the count below can poll it.
      await runCli([...s.args, '--json', CMD, '--from-dir', dir, '--limit', '1']);
      const child = spawn(process.execPath, [BIN, ...s.args, CMD, '--from-dir', dir, '--workers', '1', '--batch-size', '1'], {
        env: { ...process.env, NO_COLOR: '1' },
        stdio: 'ignore',
      });
      const count = async () => Number((await query<{ n: number }>(s, `select count(*) as n from images`))[0]!.n);
      const deadline = Date.now() + 20_000;
      while ((await count()) < 4 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
      child.kill('SIGKILL');
      await new Promise((res) => child.on('close', res));
      const midway = await count();
      assert.ok(midway >= 4 && midway < 12, `killed with ${midway} of 12 stored`);
      const r = await runCli([...s.args, '--json', CMD, '--from-dir', dir]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(r.json.migrated + r.json.skipped, 12);
      assert.equal(r.json.skipped, midway);
      const rows = await query<ImageRow>(s, `select source_key, sha256, data from images order by source_key`);
      assert.deepEqual(rows.map((x) => x.source_key), Object.keys(files).sort());
      for (const row of rows) assert.equal(row.sha256, sha(row.data));
    });

    test('several images per row: PostgreSQL text[] -> bytea[], SQLite JSON array -> images table', async () => {
      const s = await newStore();
      const dir = newDir({ 'a.jpg': fixtures.small!, 'b.png': fixtures.alpha!, 'c.jpg': fixtures.sideways! });
      if (d.name === 'postgres') {
        await execSql(
          s,
          `create table parts (id integer primary key, image_paths text[], image_data bytea[]);
           insert into parts values (1, '{a.jpg,b.png}', null), (2, '{c.jpg}', null), (3, null, null);`,
        );
        const r = await runCli([...s.args, '--json', CMD, '--table', 'parts', '--path-column', 'image_paths', '--data-column', 'image_data', '--base-dir', dir]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.equal(r.json.migrated, 3);
        assert.equal(r.json.migratedRows, 2);
        const rows = await query<{ id: number; image_data: Buffer[] | null }>(s, `select id, image_data from parts order by id`);
        assert.equal(rows[0]!.image_data!.length, 2);
        assert.deepEqual([(await inspectWebp(rows[0]!.image_data![1]!)).width], [1024]);
        assert.deepEqual([(await inspectWebp(rows[1]!.image_data![0]!)).height], [600]);
        assert.equal(rows[2]!.image_data, null);
      } else {
        await execSql(
          s,
          `create table parts (id integer primary key, image_paths text);
           insert into parts values (1, '["a.jpg","b.png"]'), (2, '["c.jpg"]'), (3, null);`,
        );
        const r = await runCli([...s.args, '--json', CMD, '--table', 'parts', '--path-column', 'image_paths', '--base-dir', dir]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.equal(r.json.migrated, 3);
        assert.equal(r.json.migratedRows, 2);
      }
      if (d.name === 'sqlite') {
        const rows = await query<ImageRow>(s, `select * from images order by source_key, source_index`);
        assert.deepEqual(rows.map((x) => [x.source, x.source_key, x.source_index, x.original_path]), [
          ['parts.image_paths', '1', 0, 'a.jpg'],
          ['parts.image_paths', '1', 1, 'b.png'],
          ['parts.image_paths', '2', 0, 'c.jpg'],
        ]);
        assert.deepEqual([rows[2]!.width, rows[2]!.height], [400, 600]);
        const again = await runCli([...s.args, '--json', CMD, '--table', 'parts', '--path-column', 'image_paths', '--base-dir', dir]);
        assert.equal(again.json.migrated, 0);
        assert.equal(again.json.skipped, 2);
        assert.equal((await query(s, `select 1 from images`)).length, 3);
      }
    });

    test('config file targets run in one go', async () => {
      const s = await newStore();
      const dir = newDir({ 'u1.jpg': fixtures.small!, 'logo.png': fixtures.alpha! });
      const blob = d.name === 'postgres' ? 'bytea' : 'blob';
      await execSql(
        s,
        `create table users (id integer primary key, profile_photo_path text, profile_photo_data ${blob});
         create table organisations (org_id text primary key, logo_path text, logo_data ${blob});
         insert into users values (1, 'u1.jpg', null), (2, null, null);
         insert into organisations values ('acme', 'logo.png', null);`,
      );
      const config = path.join(dir, 'storectl.config.json');
      fs.writeFileSync(
        config,
        JSON.stringify({
          migrateImages: {
            baseDir: '.',
            targets: [
              { table: 'users', key: 'id', pathColumn: 'profile_photo_path', dataColumn: 'profile_photo_data' },
              { table: 'organisations', key: 'org_id', pathColumn: 'logo_path', dataColumn: 'logo_data' },
            ],
          },
        }),
      );
      const r = await runCli([...s.args, '--config', config, '--json', CMD]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual(r.json.sources.map((x: { source: string; migratedImages: number }) => [x.source, x.migratedImages]), [
        ['users.profile_photo_path', 1],
        ['organisations.logo_path', 1],
      ]);
      const logo = await query<{ logo_data: Buffer }>(s, `select logo_data from organisations`);
      assert.equal((await inspectWebp(logo[0]!.logo_data)).width, 1024);
      const bad = path.join(dir, 'bad.json');
      fs.writeFileSync(bad, JSON.stringify({ migrateImages: { targets: [{ table: 'users; drop table jobs', pathColumn: 'p' }] } }));
      const refused = await runCli([...s.args, '--config', bad, '--json', CMD]);
      assert.equal(refused.code, 2);
    });

    test('--delete-originals in table mode: deleted after commit and verify; a shared file outlives its last row', async () => {
      const s = await newStore();
      const dir = newDir({ 'own.jpg': fixtures.small!, 'shared.png': fixtures.alpha!, 'bad.png': 'not a picture' });
      const blob = d.name === 'postgres' ? 'bytea' : 'blob';
      await execSql(
        s,
        `create table users (id integer primary key, photo text, photo_data ${blob});
         insert into users values (1, 'own.jpg', null), (2, 'shared.png', null), (3, 'shared.png', null), (4, 'bad.png', null);`,
      );
      const args = [...s.args, '--json', '--yes', CMD, '--table', 'users', '--path-column', 'photo', '--data-column', 'photo_data', '--base-dir', dir, '--delete-originals', '--batch-size', '1'];
      const first = await runCli([...args, '--limit', '2']);
      assert.equal(first.code, 0, first.stdout + first.stderr);
      assert.equal(first.json.deletedOriginals, 1);
      assert.equal(first.json.keptShared, 1);
      assert.equal(fs.existsSync(path.join(dir, 'own.jpg')), false, 'migrated and verified: deleted');
      assert.ok(fs.existsSync(path.join(dir, 'shared.png')), 'row 3 still needs it');
      const rest = await runCli(args);
      assert.equal(rest.code, 3, 'bad.png fails');
      assert.equal(rest.json.migrated, 1);
      assert.equal(fs.existsSync(path.join(dir, 'shared.png')), false, 'the last row that named it is done');
      assert.ok(fs.existsSync(path.join(dir, 'bad.png')), 'a failed row keeps its file');
      const rows = await query<{ id: number; photo_data: Buffer | null }>(s, `select id, photo_data from users order by id`);
      assert.deepEqual(rows.map((r) => r.photo_data !== null), [true, true, true, false]);
      const events = await query<{ path: string }>(s, `select path from events where action = 'delete' order by path`);
      assert.deepEqual(events.map((e) => path.basename(e.path)), ['own.jpg', 'shared.png']);
    });

    test('hostile and wrong names: exit 2, nothing run', async () => {
      const s = await newStore();
      await execSql(s, `create table users (id integer primary key, photo text, photo_data ${d.name === 'postgres' ? 'bytea' : 'blob'});`);
      const runsBefore = (await query(s, `select id from runs`)).length;
      const hostile = await runCli([...s.args, '--json', CMD, '--table', 'users; drop table jobs', '--path-column', 'photo', '--data-column', 'photo_data']);
      assert.equal(hostile.code, 2);
      assert.equal(hostile.json.error.code, 'bad_identifier');
      const col = await runCli([...s.args, '--json', CMD, '--table', 'users', '--path-column', 'photo"; drop table jobs; --', '--data-column', 'photo_data']);
      assert.equal(col.code, 2);
      assert.equal((await query(s, `select count(*) as n from jobs`)).length, 1, 'jobs table still there');
      assert.equal((await query(s, `select id from runs`)).length, runsBefore, 'no run recorded');
      const missing = await runCli([...s.args, '--json', CMD, '--table', 'users', '--path-column', 'photo', '--data-column', 'photo_bytes']);
      assert.equal(missing.code, 2);
      assert.match(missing.json.error.message, /column users\.photo_bytes does not exist/);
    });

    test('store mode with --dry-run, --limit and --delete-originals (the deleted originals leave the usage ledger)', async () => {
      const s = await newStore();
      const blobs = new LocalBlobStore(s.root);
      const c = await s.open();
      const at = new Date('2026-11-01T00:00:00Z');
      const put = (rel: string, data: Buffer) => {
        blobs.put(rel, data);
        return { jobId: null, role: path.basename(rel), category: 'uploads', owner: 'acme', path: rel, contentType: 'image/jpeg', size: data.length, sha256: sha(data), createdAt: at };
      };
      await c.insertFiles([put('uploads/a.jpg', fixtures.photo0!), put('uploads/b.jpg', fixtures.photo1!), put('uploads/c.png', fixtures.alpha!), put('uploads/readme.txt', Buffer.from('x'))]);
      await c.close();

      const dry = await runCli([...s.args, '--json', CMD, '--dry-run']);
      assert.equal(dry.code, 0, dry.stdout + dry.stderr);
      assert.equal(dry.json.dryRun, true);
      assert.equal(dry.json.migrated, 3);
      assert.ok(dry.json.savedBytes > 0);
      assert.equal((await query(s, `select 1 from images`)).length, 0, 'dry run writes nothing');

      const trial = await runCli([...s.args, '--json', CMD, '--limit', '1']);
      assert.equal(trial.json.migrated, 1);
      assert.equal(trial.json.limitReached, true);

      const refused = await runCli([...s.args, '--json', CMD, '--delete-originals']);
      assert.equal(refused.code, 2, 'no TTY, no --yes: refused');
      assert.ok(fs.existsSync(path.join(s.root, 'uploads/a.jpg')));

      const usage = async () => {
        const o = (await runCli([...s.args, '--json', 'quota', 'show', 'acme'])).json.owner;
        return { bytes: o.bytes as number, files: o.files as number };
      };
      const sizes = { 'uploads/a.jpg': fixtures.photo0!.length, 'uploads/b.jpg': fixtures.photo1!.length, 'uploads/c.png': fixtures.alpha!.length, 'uploads/readme.txt': 1 };
      const held = Object.values(sizes).reduce((a, b) => a + b, 0);
      assert.deepEqual(await usage(), { bytes: held, files: 4 }, 'migrating into the database alone changes no usage');

      const del = await runCli([...s.args, '--json', '--yes', CMD, '--delete-originals']);
      assert.equal(del.code, 0, del.stdout + del.stderr);
      // The deleted originals leave the owner's usage in the same step as their tombstones.
      const deleted = (await query<{ path: keyof typeof sizes }>(s, `select path from files where state = 'deleted'`)).map((f) => f.path);
      assert.deepEqual(await usage(), { bytes: held - deleted.reduce((a, p) => a + sizes[p], 0), files: 4 - deleted.length });
      assert.deepEqual((await runCli([...s.args, '--json', 'quota', 'recount'])).json.corrected, []);
      assert.equal(del.json.migrated, 2);
      assert.equal(del.json.skipped, 1);
      assert.equal(del.json.deletedOriginals, 2, 'the one migrated earlier keeps its original: only this run deletes what it verified');
      const rows = await query<ImageRow>(s, `select source, source_key, owner from images order by source_key`);
      assert.deepEqual(rows.map((x) => [x.source, x.source_key, x.owner]), [
        ['store', 'uploads/a.jpg', 'acme'],
        ['store', 'uploads/b.jpg', 'acme'],
        ['store', 'uploads/c.png', 'acme'],
      ]);
      const files = await query<{ path: string; state: string; delete_reason: string | null }>(s, `select path, state, delete_reason from files order by path`);
      const gone = files.filter((f) => f.state === 'deleted').map((f) => f.path);
      assert.equal(gone.length, 2);
      for (const p of gone) assert.equal(fs.existsSync(path.join(s.root, p)), false);
      assert.ok(fs.existsSync(path.join(s.root, 'uploads/readme.txt')));
      assert.equal(files.find((f) => f.path === 'uploads/readme.txt')!.state, 'present');
    });

    test('store mode --delete-originals: dry run == real run; kill -9 midway, then a rerun converges (check-disk 0, nothing else gone)', async () => {
      const s = await newStore();
      const blobs = new LocalBlobStore(s.root);
      const c = await s.open();
      const at = new Date('2026-11-01T00:00:00Z');
      const rows = [];
      const originals: string[] = [];
      for (let i = 0; i < 12; i++) {
        const rel = `uploads/k/p${String(i).padStart(2, '0')}.jpg`;
        const data = fixtures[`photo${i}`]!;
        blobs.put(rel, data);
        originals.push(rel);
        rows.push({ jobId: null, role: path.basename(rel), category: 'uploads', owner: 'acme', path: rel, contentType: 'image/jpeg', size: data.length, sha256: sha(data), createdAt: at });
      }
      blobs.put('uploads/k/notes.txt', Buffer.from('not an image'));
      rows.push({ jobId: null, role: 'notes.txt', category: 'uploads', owner: 'acme', path: 'uploads/k/notes.txt', contentType: 'text/plain', size: 12, sha256: sha(Buffer.from('not an image')), createdAt: at });
      await c.insertFiles(rows);
      await c.close();

      const dry = await runCli([...s.args, '--json', '--yes', CMD, '--delete-originals', '--dry-run']);
      assert.equal(dry.code, 0, dry.stdout + dry.stderr);
      assert.equal(dry.json.migrated, 12);
      for (const rel of originals) assert.ok(fs.existsSync(path.join(s.root, rel)), 'a dry run deletes nothing');

      const child = spawn(process.execPath, [BIN, ...s.args, '--yes', CMD, '--delete-originals', '--workers', '1', '--batch-size', '1'], { env: { ...process.env, NO_COLOR: '1' }, stdio: 'ignore' });
      const count = async () => Number((await query<{ n: number }>(s, `select count(*) as n from images`))[0]!.n);
      const deadline = Date.now() + 30_000;
      while ((await count()) < 4 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
      child.kill('SIGKILL');
      await new Promise((res) => child.on('close', res));
      const midway = await count();
      assert.ok(midway >= 4 && midway < 12, `killed with ${midway} of 12 stored`);
      // Whatever the kill left: no original is gone without its image stored.
      const stored = new Set((await query<{ source_key: string }>(s, `select source_key from images`)).map((r) => r.source_key));
      for (const rel of originals) if (!fs.existsSync(path.join(s.root, rel))) assert.ok(stored.has(rel), `${rel} deleted before its image was stored`);

      const again = await runCli([...s.args, '--json', '--yes', CMD, '--delete-originals']);
      assert.equal(again.code, 0, again.stdout + again.stderr);
      assert.equal(again.json.migrated, dry.json.migrated - midway, 'the rerun stores what the killed run had not: together, what the dry run planned');
      const images = await query<{ source_key: string; sha256: string; data: Buffer }>(s, `select source_key, sha256, data from images order by source_key`);
      assert.deepEqual(images.map((r) => r.source_key), originals);
      for (const img of images) assert.equal(img.sha256, sha(img.data));
      const files = new Map((await query<{ path: string; state: string }>(s, `select path, state from files`)).map((f) => [f.path, f.state]));
      assert.equal(files.get('uploads/k/notes.txt'), 'present');
      assert.ok(fs.existsSync(path.join(s.root, 'uploads/k/notes.txt')), 'not an image: never deleted');
      for (const rel of originals) {
        const gone = !fs.existsSync(path.join(s.root, rel));
        // migrated originals are deleted by one of the two runs (or, for one the killed run
        // stored but did not get to delete, left present: never lost)
        assert.equal(files.get(rel), gone ? 'deleted' : 'present', rel);
      }
      assert.ok([...files.values()].filter((x) => x === 'deleted').length >= 12 - midway, 'the rerun deleted the originals it migrated');
      const check = await runCli([...s.args, '--json', 'stats', '--check-disk']);
      assert.equal(check.code, 0, check.stdout + check.stderr);
    });
  });
}
