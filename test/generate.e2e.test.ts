// generate, stats and migrate through the real bin/storectl, on SQLite and PostgreSQL.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { DIALECTS, runCli, tmpDir, type Store } from './helpers/env.ts';
import { listDirs, listTree, sha256File } from './helpers/tree.ts';

const card = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  owner: 'acme',
  status: 'queued',
  createdAt: '2026-11-20T08:00:00Z',
  data: { holderName: 'Ada Lovelace', licenceNumber: 'LOVEL-815', categories: ['B'], issueDate: '2026-11-20', expiryDate: '2036-11-20', ...extra },
});

for (const d of DIALECTS) {
  describe(`generate and stats: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    before(async () => {
      store = await d.makeStore();
    });
    after(async () => store?.dispose());

    test('generate --sample: stats agrees exactly with the tree; PNG 1012x638, PDFs, 0600/0750', async () => {
      const gen = await runCli([...store.args, '--json', 'generate', '--sample', '12', '--days', '20', '--seed', '7', '--workers', '2']);
      assert.equal(gen.code, 0, gen.stderr);
      assert.equal(gen.json.command, 'generate');
      assert.equal(gen.json.jobs.rendered, 12);
      const stats = await runCli([...store.args, '--json', 'stats']);
      assert.equal(stats.code, 0, stats.stderr);
      const tree = listTree(store.root);
      assert.equal(stats.json.usage.files, tree.length);
      assert.equal(stats.json.usage.totalBytes, tree.reduce((a, f) => a + f.size, 0));
      // The report counts what it wrote: the jobs' files, and apart from them the stale temp uploads.
      const temp = tree.filter((f) => f.path.startsWith('temp/'));
      assert.ok(temp.length > 0, 'seed 7 gives stale temp uploads');
      assert.deepEqual(gen.json.temp, { files: temp.length, bytes: temp.reduce((a, f) => a + f.size, 0) });
      assert.equal(gen.json.files + gen.json.temp.files, tree.length);
      assert.equal(stats.json.jobs.total, 12);
      assert.ok(tree.every((f) => f.mode === 0o600), 'files are 0600');
      assert.ok(listDirs(store.root).every((x) => x.mode === 0o750), 'directories are 0750');
      const pngs = tree.filter((f) => f.path.endsWith('.png'));
      assert.ok(pngs.length >= 2);
      for (const f of pngs.slice(0, 4)) {
        const meta = await sharp(path.join(store.root, f.path)).metadata();
        assert.equal(`${meta.width}x${meta.height}`, '1012x638');
      }
      for (const f of tree.filter((x) => x.path.endsWith('.pdf')).slice(0, 3)) {
        assert.equal(fs.readFileSync(path.join(store.root, f.path)).subarray(0, 5).toString(), '%PDF-');
      }
      assert.ok(tree.every((f) => /^(cards\/\d{4}\/\d{2}\/\d{2}\/[^/]+\/(front|back)\.(png|pdf)|cards\/\d{4}\/\d{2}\/\d{2}\/[^/]+\/combined\.pdf|exports\/[a-z]+_exp-[^/]+_\d{8}_\d{6}\.csv|temp\/.+)$/.test(f.path)), tree.map((f) => f.path).join('\n'));
      const check = await runCli([...store.args, '--json', 'stats', '--check-disk']);
      assert.equal(check.code, 0, check.stdout);
      assert.equal(check.json.drift.orphanFiles, 0);
      assert.equal(check.json.drift.missingFiles, 0);
      // a second sample run adds new jobs (a new seed each run) instead of colliding
      const more = await runCli([...store.args, '--json', 'generate', '--sample', '3', '--workers', '1']);
      assert.equal(more.code, 0, more.stderr + more.stdout);
      assert.equal(more.json.jobs.created, 3);
    });

    test('--jobs: renders into cards/YYYY/MM/DD/<id>/ and a reprint gives identical SHA-256s', async () => {
      const input = [card('ada-1'), card('ada-2', { holderName: "Zoë O'Brien <&>" })].map((j) => JSON.stringify(j)).join('\n');
      const r = await runCli([...store.args, '--json', 'generate', '--jobs', '-'], { input });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const dir = path.join(store.root, 'cards/2026/11/20/ada-1');
      const names = fs.readdirSync(dir).sort();
      assert.deepEqual(names, ['back.pdf', 'back.png', 'combined.pdf', 'front.pdf', 'front.png']);
      const before = Object.fromEntries(names.map((n) => [n, sha256File(path.join(dir, n))]));
      const c = await store.open();
      const rows = await c.filesOfJob('ada-1');
      await c.close();
      assert.deepEqual(Object.fromEntries(rows.map((x) => [x.role, x.sha256])), before);
      // a reprint after the files are gone gives the same bytes
      fs.rmSync(dir, { recursive: true });
      const again = await runCli([...store.args, '--json', 'generate', 'ada-1']);
      assert.equal(again.code, 0, again.stderr + again.stdout);
      assert.deepEqual(Object.fromEntries(names.map((n) => [n, sha256File(path.join(dir, n))])), before);
    });

    test('malformed jobs input: exit 2 naming the line and field, nothing written', async () => {
      const c0 = await store.open();
      const before = await c0.counts();
      await c0.close();
      const treeBefore = listTree(store.root).length;
      const bad = [JSON.stringify(card('ok-1')), JSON.stringify(card('bad-1', { expiryDate: '2036-13-45' }))].join('\n');
      const r = await runCli([...store.args, '--json', 'generate', '--jobs', '-'], { input: bad });
      assert.equal(r.code, 2);
      assert.match(r.json.error.message, /line 2: field "data\.expiryDate"/);
      const r2 = await runCli([...store.args, 'generate', '--jobs', '-'], { input: '{"id": "x",' });
      assert.equal(r2.code, 2);
      assert.match(r2.stderr, /line 1: not valid JSON/);
      const c = await store.open();
      assert.deepEqual(await c.counts(), before);
      await c.close();
      assert.equal(listTree(store.root).length, treeBefore);
    });

    test('a job whose photo is missing or not an image fails alone: exit 3', async () => {
      const dir = tmpDir();
      fs.writeFileSync(path.join(dir, 'not-a-photo.jpg'), 'hello');
      await sharp({ create: { width: 300, height: 400, channels: 3, background: '#a0b0c0' } }).jpeg().toFile(path.join(dir, 'ok.jpg'));
      const input = JSON.stringify([
        card('photo-ok', { photo: 'ok.jpg' }),
        card('photo-missing', { photo: 'nope.jpg' }),
        card('photo-text', { photo: 'not-a-photo.jpg' }),
      ]);
      const r = await runCli([...store.args, '--json', 'generate', '--jobs', '-'], { input, cwd: dir });
      assert.equal(r.code, 3, r.stderr);
      assert.equal(r.json.jobs.rendered, 1);
      assert.deepEqual(r.json.failures.map((f: { jobId: string }) => f.jobId), ['photo-missing', 'photo-text']);
      assert.match(r.json.failures[0].reason, /photo not found/);
      assert.match(r.json.failures[1].reason, /not an image/);
      assert.ok(fs.existsSync(path.join(store.root, 'cards/2026/11/20/photo-ok/front.png')));
      assert.ok(!fs.existsSync(path.join(store.root, 'cards/2026/11/20/photo-missing')));
      fs.rmSync(dir, { recursive: true });
    });

    test('existing and unknown job ids are refused with exit 2', async () => {
      const dup = await runCli([...store.args, 'generate', '--jobs', '-'], { input: JSON.stringify(card('ada-1')) });
      assert.equal(dup.code, 2);
      assert.match(dup.stderr, /job ada-1 already exists/);
      const unknown = await runCli([...store.args, 'generate', 'no-such-job']);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /unknown job id no-such-job/);
    });

    test('stats --check-disk reports drift and exits 4', async () => {
      const extra = path.join(store.root, 'cards/2026/11/20/ada-2/stray.png');
      fs.writeFileSync(extra, 'stray');
      fs.rmSync(path.join(store.root, 'cards/2026/11/20/ada-2/back.pdf'));
      const r = await runCli([...store.args, '--json', 'stats', '--check-disk']);
      assert.equal(r.code, 4);
      assert.equal(r.json.drift.orphanFiles, 1);
      assert.equal(r.json.drift.orphanBytes, 5);
      assert.deepEqual(r.json.drift.sample.orphans, ['cards/2026/11/20/ada-2/stray.png']);
      assert.deepEqual(r.json.drift.sample.missing, ['cards/2026/11/20/ada-2/back.pdf']);
    });

    test('migrate twice: the second is a no-op', async () => {
      const r = await runCli([...store.args, '--json', 'migrate']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.json.applied, []);
      assert.deepEqual(r.json.pending, []);
      const s = await runCli([...store.args, '--json', 'migrate', '--status']);
      assert.ok(s.json.migrations.every((m: { applied: boolean }) => m.applied));
    });
  });
}

describe('migrate on an empty PostgreSQL database', { skip: DIALECTS[1]!.skip }, () => {
  test('first run applies, second is a no-op; other commands demand it first', async () => {
    const store = await DIALECTS[1]!.makeStore({ migrate: false });
    try {
      const stale = await runCli([...store.args, 'stats']);
      assert.equal(stale.code, 2);
      assert.match(stale.stderr, /missing \d+ schema migration\(s\).*storectl migrate/);
      const first = await runCli([...store.args, '--json', 'migrate']);
      assert.equal(first.code, 0, first.stderr);
      assert.ok(first.json.applied.length >= 1);
      const second = await runCli([...store.args, '--json', 'migrate']);
      assert.equal(second.code, 0);
      assert.deepEqual(second.json.applied, []);
    } finally {
      await store.dispose();
    }
  });
});
