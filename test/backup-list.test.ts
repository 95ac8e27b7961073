// Backups you can see: each backup is recorded in the catalog's runs once it has ended (archive,
// size, files, read back or not, exit code), stats shows the last ones, and `backup list --dir`
// lists a directory's backups newest first, from the directory alone or with the store's records.
// Both dialects.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DIALECTS, tmpDir, type Store } from './helpers/env.ts';
import { runMain as run } from './helpers/run-main.ts';

for (const d of DIALECTS) {
  describe(`backups recorded and listed: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let work: string;
    before(async () => {
      store = await d.makeStore();
      work = tmpDir();
      const g = await run([...store.args, '--json', 'generate', '--sample', '2', '--seed', '7', '--workers', '1']);
      assert.equal(g.code, 0, g.stderr);
    });
    after(async () => {
      await store?.dispose();
      fs.rmSync(work, { recursive: true, force: true });
    });

    const backupRuns = async () => {
      const c = await store.open();
      try {
        return await c.recentRuns(100, 'backup');
      } finally {
        await c.close();
      }
    };

    test('a backup is recorded once it has ended, with archive, size, files and exit code; its archive holds no running row of itself', async () => {
      const dir = path.join(work, 'one');
      const b = await run([...store.args, '--json', 'backup', '--dir', dir, '--keep', '3']);
      assert.equal(b.code, 0, b.stdout + b.stderr);
      const runs = await backupRuns();
      assert.equal(runs.length, 1);
      const r = runs[0]!;
      assert.equal(r.status, 'ok');
      assert.equal(r.exitCode, 0);
      assert.ok(r.finishedAt && r.finishedAt >= r.startedAt);
      assert.equal(r.totals!.path, b.json.path);
      assert.equal(r.totals!.bytes, fs.statSync(b.json.path).size);
      assert.equal(r.totals!.files, b.json.files);
      assert.equal(r.totals!.verified, true, 'with a retention rule the archive is read back');
      // The archive's own catalog/runs.ndjson: no backup row in it (the row is written after the snapshot).
      const runsInArchive = execFileSync('tar', ['-xzOf', b.json.path, 'catalog/runs.ndjson'], { encoding: 'utf8' });
      const commands = runsInArchive.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l).command);
      assert.ok(commands.includes('generate'));
      assert.ok(!commands.includes('backup'), 'the backup is not in its own snapshot');

      const s = await run([...store.args, '--json', 'stats']);
      assert.equal(s.code, 0, s.stderr);
      assert.equal(s.json.backups.length, 1);
      assert.deepEqual(
        { path: s.json.backups[0].path, files: s.json.backups[0].files, bytes: s.json.backups[0].bytes, exitCode: s.json.backups[0].exitCode, verified: s.json.backups[0].verified },
        { path: b.json.path, files: b.json.files, bytes: b.json.bytes, exitCode: 0, verified: true },
      );
      const text = await run([...store.args, 'stats']);
      assert.ok(text.stdout.includes(b.json.path), 'stats text names the archive');
    });

    test('a backup that left a file out is recorded partial with exit 3 and listed partial; backup list is newest first and records nothing', async () => {
      const dir = path.join(work, 'two');
      const first = await run([...store.args, '--json', 'backup', '--dir', dir, '--metadata-only', '--format', 'zip']);
      assert.equal(first.code, 0, first.stdout);
      const c = await store.open();
      const [row] = await c.filePage({ states: ['present'], limit: 1 });
      await c.close();
      const file = path.join(store.root, row!.path);
      const keep = fs.readFileSync(file);
      fs.rmSync(file);
      const partial = await run([...store.args, '--json', 'backup', '--dir', dir]);
      fs.writeFileSync(file, keep, { mode: 0o600 });
      assert.equal(partial.code, 3, partial.stdout);
      const before = await backupRuns();
      assert.equal(before[0]!.status, 'partial');
      assert.equal(before[0]!.exitCode, 3);
      assert.equal(before[0]!.totals!.notArchived, 1);
      fs.writeFileSync(path.join(dir, 'unrelated.tar.gz'), 'x');

      const list = await run([...store.args, '--json', 'backup', 'list', '--dir', dir]);
      assert.equal(list.code, 0, list.stderr);
      assert.equal(list.json.recordsRead, true);
      assert.deepEqual(
        list.json.backups.map((x: any) => [x.path, x.status, x.files, x.format, x.metadataOnly, x.exitCode, x.bytes]),
        [
          [partial.json.path, 'partial', partial.json.files, 'tar.gz', false, 3, fs.statSync(partial.json.path).size],
          [first.json.path, 'good', 0, 'zip', true, 0, fs.statSync(first.json.path).size],
        ],
        'newest first, unrelated files left out',
      );
      assert.equal((await backupRuns()).length, before.length, 'backup list records no run');
      const text = await run([...store.args, 'backup', 'list', '--dir', dir]);
      assert.match(text.stdout, /partial: files left out/);
      assert.ok(text.stdout.indexOf(path.basename(partial.json.path)) < text.stdout.indexOf(path.basename(first.json.path)));
    });

    test('backup list works from the directory alone (no store); a set-aside archive shows as not verified; bad input exits 2', async () => {
      const dir = path.join(work, 'three');
      const b = await run([...store.args, '--json', 'backup', '--dir', dir]);
      assert.equal(b.code, 0, b.stdout);
      const aside = b.json.path.replace(/\.tar\.gz$/, '.unverified.tar.gz').replace(/T(\d{6})Z/, (_m: string, t: string) => `T${String((Number(t) + 1) % 1e6).padStart(6, '0')}Z`);
      fs.copyFileSync(b.json.path, aside);
      const nowhere = tmpDir();
      const alone = await run(['--root', path.join(nowhere, 'none'), '--json', 'backup', 'list', '--dir', dir]);
      assert.equal(alone.code, 0, alone.stderr);
      assert.equal(alone.json.recordsRead, false);
      assert.deepEqual(alone.json.backups.map((x: any) => [path.basename(x.path), x.status, x.files, x.verified]), [
        [path.basename(aside), 'unverified', null, false],
        [path.basename(b.json.path), 'good', null, null],
      ]);
      assert.ok(!fs.existsSync(path.join(nowhere, 'none')), 'listing creates no store');
      fs.rmSync(nowhere, { recursive: true });
      const missing = await run([...store.args, 'backup', 'list', '--dir', path.join(work, 'nope')]);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /is not a directory/);
      assert.equal((await run([...store.args, 'backup', 'lst', '--dir', dir])).code, 2);
      assert.equal((await run([...store.args, 'backup', 'list', '--dir', dir, '--keep', '1'])).code, 2);
    });
  });
}
