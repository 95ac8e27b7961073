// show and get end to end: the real bin on both dialects; bytes, outcomes and exit codes
// checked against the files on disk and the catalog's rows.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import type { Catalog } from '../src/db/catalog.ts';
import { BIN, DIALECTS, REPO, runCli, tmpDir, type Store } from './helpers/env.ts';
import { buildCleanupStore } from './helpers/cleanup-fixture.ts';
import { execSql, query, smallJpeg, pngWithAlpha, writeFiles } from './helpers/images.ts';
import { cardJob } from './helpers/jobs.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Runs the bin and keeps stdout as bytes. */
function runBytes(args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, env: { ...process.env, NO_COLOR: '1', STORECTL_ROOT: '', STORECTL_DATABASE_URL: '', DATABASE_URL: '' } });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr }));
    child.stdin.end();
  });
}

for (const d of DIALECTS) {
  describe(`show and get: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let c: Catalog;
    let paths: Map<string, string[]>;
    let out: string;
    before(async () => {
      store = await d.makeStore();
      c = await store.open();
      paths = await buildCleanupStore(store.root, c);
      out = tmpDir('storectl-get-');
    });
    after(async () => {
      await c?.close();
      await store?.dispose();
      fs.rmSync(out, { recursive: true, force: true });
    });
    const cli = (...args: string[]) => runCli([...store.args, '--json', ...args]);
    const onDisk = (p: string) => fs.readFileSync(path.join(store.root, p));

    test('get of a present file: exactly its bytes, to -o FILE and to stdout', async () => {
      const p = paths.get('c-printed')![0]!;
      const target = path.join(out, 'front.png');
      const r = await cli('get', 'c-printed', 'front.png', '-o', target);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual(fs.readFileSync(target), onDisk(p));
      assert.equal(r.json.sha256, sha(onDisk(p)));
      assert.equal(r.json.verified, true);
      assert.deepEqual(fs.readdirSync(out), ['front.png'], 'no temp file left beside the target');
      const s = await runBytes([...store.args, 'get', 'c-printed', 'front.png']);
      assert.equal(s.code, 0, s.stderr);
      assert.deepEqual(s.stdout, onDisk(p));
      const byPath = await runBytes([...store.args, 'get', '--path', p, '-o', '-']);
      assert.deepEqual(byPath.stdout, onDisk(p));
    });

    test('never generated: not_found, exit 5; unknown job and path too', async () => {
      const r = await cli('get', 'c-qa', 'combined.pdf', '-o', path.join(out, 'x.pdf'));
      assert.equal(r.code, 5);
      assert.equal(r.json.error.code, 'not_found');
      assert.match(r.json.error.message, /has no file "combined\.pdf"/);
      assert.equal(fs.existsSync(path.join(out, 'x.pdf')), false);
      assert.equal((await cli('get', 'no-such-job', 'front.png')).json.error.exitCode, 5);
      assert.equal((await cli('get', '--path', 'cards/nope.png')).code, 5);
    });

    test('deleted by cleanup-expired: gone, exit 6, with when, the rule and the run; show lists the tombstone', async () => {
      const del = await cli('cleanup-expired', '--yes');
      assert.equal(del.code, 0, del.stdout + del.stderr);
      const row = (await c.filesOfJob('c-done')).find((f) => f.role === 'front.png')!;
      assert.equal(row.state, 'deleted');
      const r = await cli('get', 'c-done', 'front.png', '-o', path.join(out, 'gone.png'));
      assert.equal(r.code, 6);
      assert.equal(r.json.error.code, 'gone');
      assert.equal(r.json.error.tombstone.deletedAt, row.deletedAt!.toISOString());
      assert.equal(r.json.error.tombstone.rule, 'completed-cards');
      assert.equal(r.json.error.tombstone.command, 'cleanup-expired');
      const runs = await query<{ id: string }>(store, `select id from runs where command = 'cleanup-expired'`);
      assert.equal(runs.length, 1);
      assert.equal(r.json.error.tombstone.runId, runs[0]!.id);
      assert.match(r.json.error.message, new RegExp(`deleted at ${row.deletedAt!.toISOString().replace(/\./g, '\\.')}.*rule completed-cards`));
      assert.equal(fs.existsSync(path.join(out, 'gone.png')), false);
      const text = await runCli([...store.args, 'get', 'c-done', 'front.png']);
      assert.equal(text.code, 6);
      assert.match(text.stderr, /was deleted at .*rule completed-cards.*by cleanup-expired/);

      const show = await cli('show', 'c-done');
      assert.equal(show.code, 0, show.stderr);
      const [j] = show.json.jobs;
      assert.equal(j.job.status, 'completed');
      assert.equal(j.files.length, 3);
      assert.ok(j.files.every((f: { state: string }) => f.state === 'deleted'));
      assert.deepEqual(j.tombstones.map((x: { role: string }) => x.role).sort(), ['back.png', 'combined.pdf', 'front.png']);
      assert.ok(j.tombstones.every((x: { rule: string; command: string; user: string }) => x.rule === 'completed-cards' && x.command === 'cleanup-expired' && x.user));
      assert.equal(j.lifecycle.deleteRule.id, 'completed-cards');
      assert.match(j.lifecycle.verdict, /no present files/);
    });

    test('show: several ids, the same rule answer as cleanup-expired --explain, NDJSON, unknown ids exit 5', async () => {
      const r = await cli('show', 'c-failed-new', 'c-printed');
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.json.jobs.map((j: { job: { id: string } }) => j.job.id), ['c-failed-new', 'c-printed']);
      const explain = await cli('cleanup-expired', '--explain', 'c-failed-new');
      assert.deepEqual(r.json.jobs[0].lifecycle.deleteRule, explain.json.deleteRule);
      assert.equal(r.json.jobs[0].lifecycle.verdict, explain.json.verdict);
      const f = r.json.jobs[1].files.find((x: { role: string }) => x.role === 'front.png');
      assert.equal(f.sha256, sha(onDisk(f.path)));
      assert.equal(f.size, onDisk(f.path).length);
      const nd = await runCli([...store.args, '--json', 'show', '--ndjson', 'c-qa', 'nope', 'c-live']);
      assert.equal(nd.code, 5);
      const lines = nd.stdout.trim().split('\n').map((l) => JSON.parse(l));
      assert.deepEqual(lines.map((l) => l.job?.id ?? 'summary'), ['c-qa', 'c-live', 'summary']);
      assert.deepEqual(lines[2].summary.notFound, ['nope']);
      assert.equal((await cli('show', 'nope')).json.error.code, 'not_found');
    });

    test('show: when verify last read each file back, the generation metadata and the failure reason, as the catalog holds them', async () => {
      const g = await runCli([...store.args, '--json', 'generate', '--workers', '1', '--jobs', '-'], { input: JSON.stringify(cardJob('g-shown', 'acme')) });
      assert.equal(g.code, 0, g.stdout + g.stderr);
      const before = await cli('show', 'g-shown');
      assert.equal(before.code, 0, before.stderr);
      assert.ok(before.json.jobs[0].files.length > 0);
      assert.ok(before.json.jobs[0].files.every((f: { lastVerifiedAt: unknown }) => f.lastVerifiedAt === null), 'never verified yet');
      const v = await cli('verify', '--job', 'g-shown');
      assert.equal(v.code, 0, v.stdout + v.stderr);
      const rows = await c.filesOfJob('g-shown');
      const [job] = await c.getJobs(['g-shown']);
      const r = await cli('show', 'g-shown');
      assert.equal(r.code, 0, r.stderr);
      const [j] = r.json.jobs;
      for (const f of j.files as { role: string; lastVerifiedAt: string | null }[]) {
        const row = rows.find((x) => x.role === f.role)!;
        assert.ok(row.verifiedAt, `${f.role} has a verified_at after verify`);
        assert.equal(f.lastVerifiedAt, row.verifiedAt!.toISOString(), f.role);
      }
      assert.ok(job!.generation && Object.keys(job!.generation).length > 0, 'generate recorded generation metadata');
      assert.deepEqual(j.generation, job!.generation);
      assert.equal(j.job.failureReason, null);

      await c.insertJobs([{ id: 'c-jammed', kind: 'card', owner: 'acme', status: 'failed', data: {}, createdAt: new Date(), failureReason: 'printer jam on tray 2' }]);
      const failed = await cli('show', 'c-jammed');
      assert.equal(failed.code, 0, failed.stderr);
      assert.equal(failed.json.jobs[0].job.failureReason, 'printer jam on tray 2');
      assert.deepEqual(failed.json.jobs[0].files, []);
      const table = await runCli([...store.args, 'show', 'c-jammed']);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /printer jam on tray 2/);
    });

    test('a corrupted file: with -o nothing is left at the target (exit 4); to stdout exit 4 and a line on stderr', async () => {
      const p = paths.get('c-reprint')![0]!;
      const abs = path.join(store.root, p);
      const good = fs.readFileSync(abs);
      const bad = Buffer.from(good);
      bad[5] = bad[5]! ^ 0xff;
      fs.writeFileSync(abs, bad);
      const target = path.join(out, 'corrupt.png');
      fs.writeFileSync(target, 'old');
      fs.rmSync(target);
      const r = await cli('get', 'c-reprint', 'front.png', '-o', target);
      assert.equal(r.code, 4);
      assert.equal(r.json.error.code, 'integrity');
      assert.equal(fs.existsSync(target), false);
      assert.deepEqual(fs.readdirSync(out).filter((n) => n.includes('corrupt')), [], 'no temp file left');
      const s = await runBytes([...store.args, 'get', 'c-reprint', 'front.png']);
      assert.equal(s.code, 4);
      assert.deepEqual(s.stdout, bad);
      assert.match(s.stderr, /integrity: .*SHA-256 [0-9a-f]{64} does not match/);
      fs.writeFileSync(abs, good);
    });

    test('get --image reads back what migrate-images-to-db stored (store dir, table mode)', async () => {
      const dir = tmpDir('storectl-img-');
      writeFiles(dir, { 'a.jpg': await smallJpeg(), 'b.png': await pngWithAlpha() });
      try {
        const m = await cli('migrate-images-to-db', '--from-dir', dir);
        assert.equal(m.code, 0, m.stdout + m.stderr);
        const [img] = await query<{ data: Buffer; sha256: string }>(store, `select data, sha256 from images where original_path = $1`, [path.join(dir, 'a.jpg')]);
        const target = path.join(out, 'a.webp');
        const r = await cli('get', '--image', path.join(dir, 'a.jpg'), '-o', target);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.deepEqual(fs.readFileSync(target), img!.data);
        assert.equal(r.json.image.format, 'webp');
        assert.equal(r.json.image.sha256, img!.sha256);
        assert.equal((await cli('get', '--image', 'cards/none.png')).code, 5);

        if (d.name === 'postgres') {
          await execSql(store, `create table parts (id integer primary key, image_paths text[], image_data bytea[]); insert into parts values (1, '{a.jpg,b.png}', null), (2, '{a.jpg}', null);`);
          const t = await cli('migrate-images-to-db', '--table', 'parts', '--path-column', 'image_paths', '--data-column', 'image_data', '--base-dir', dir);
          assert.equal(t.code, 0, t.stdout + t.stderr);
          const [row] = await query<{ image_data: Buffer[] }>(store, `select image_data from parts where id = 1`);
          const s = await runBytes([...store.args, 'get', '--image', '1', '--table', 'parts', '--key', 'id', '--data-column', 'image_data', '--index', '1']);
          assert.equal(s.code, 0, s.stderr);
          assert.deepEqual(s.stdout, row!.image_data[1]);
          assert.equal((await cli('get', '--image', '2', '--table', 'parts', '--data-column', 'image_data', '--index', '1')).code, 5);
          assert.equal((await cli('get', '--image', '9', '--table', 'parts', '--data-column', 'image_data')).code, 5);
        } else {
          await execSql(store, `create table parts (id integer primary key, image_paths text); insert into parts values (1, '["a.jpg","b.png"]');`);
          const t = await cli('migrate-images-to-db', '--table', 'parts', '--path-column', 'image_paths', '--base-dir', dir);
          assert.equal(t.code, 0, t.stdout + t.stderr);
          const [row] = await query<{ data: Buffer }>(store, `select data from images where source = 'parts.image_paths' and source_key = '1' and source_index = 1`);
          const s = await runBytes([...store.args, 'get', '--image', '1', '--table', 'parts', '--path-column', 'image_paths', '--index', '1']);
          assert.equal(s.code, 0, s.stderr);
          assert.deepEqual(s.stdout, row!.data);
        }
        assert.equal((await cli('get', '--image', '1', '--table', 'bad;name', '--data-column', 'x')).code, 2);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
