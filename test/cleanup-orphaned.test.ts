// cleanup-orphaned end to end: the real bin on both dialects.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { Catalog } from '../src/db/catalog.ts';
import { DIALECTS, runCli, tmpDir, type Store } from './helpers/env.ts';
import { buildCleanupStore, exists, sqlRows, writeFile } from './helpers/cleanup-fixture.ts';

const old = new Date(Date.now() - 3 * 3600_000);

for (const d of DIALECTS) {
  describe(`cleanup-orphaned: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let c: Catalog;
    let outside: string;
    let paths: Map<string, string[]>;
    before(async () => {
      store = await d.makeStore();
      c = await store.open();
      paths = await buildCleanupStore(store.root, c);
      outside = tmpDir('storectl-outside-');
      fs.writeFileSync(path.join(outside, 'precious.png'), 'precious');
      fs.utimesSync(path.join(outside, 'precious.png'), old, old);
    });
    after(async () => {
      await c?.close();
      await store?.dispose();
      fs.rmSync(outside, { recursive: true, force: true });
    });
    const cli = (...args: string[]) => runCli([...store.args, '--json', 'cleanup-orphaned', ...args]);

    test('orphans, missing rows, young files, live job dirs, symlinks and a .. row: only true orphans go', async () => {
      const root = store.root;
      const orphans = ['cards/2020/01/01/lost-job/front.png', 'cards/2020/01/01/lost-job/back.png', 'exports/stray.csv'];
      for (const p of orphans) writeFile(root, p, Buffer.from(`orphan ${p}`), old);
      writeFile(root, 'cards/2020/01/02/young/front.png', Buffer.from('being written')); // younger than min-age
      const liveDir = path.dirname(paths.get('c-live')![0]!);
      writeFile(root, `${liveDir}/partial.png`, Buffer.from('in progress'), old); // inside a job being produced
      fs.symlinkSync(outside, path.join(root, 'cards', 'link-out')); // a symlink to outside the root
      fs.symlinkSync(path.join(outside, 'precious.png'), path.join(root, 'exports', 'link-file.png'));
      // a present row whose file is gone, and a row with '..' pointing at the outside file
      const missing = paths.get('c-qa')![0]!;
      fs.rmSync(path.join(root, missing));
      const rel = path.relative(root, path.join(outside, 'precious.png')).split(path.sep).join('/');
      await c.insertFiles([{ jobId: null, role: 'x', category: 'cards', path: rel, contentType: 'image/png', size: 8, sha256: '0'.repeat(64), createdAt: old }]);

      const dry = await cli('--dry-run', '--max-delete', '50%');
      assert.equal(dry.code, 0, dry.stderr);
      assert.deepEqual(dry.json.orphans.paths.sort(), [...orphans].sort());
      assert.deepEqual(dry.json.missing.paths, [missing]);
      assert.equal(dry.json.young, 1);
      assert.equal(dry.json.inProgress, 1);
      assert.equal(dry.json.anomalies.length, 3);
      for (const p of orphans) assert.ok(exists(root, p), 'a dry run deletes nothing');

      const real = await cli('--yes', '--max-delete', '50%');
      assert.equal(real.code, 0, real.stderr);
      assert.equal(real.json.result.deleted, 3);
      assert.equal(real.json.result.markedMissing, 1);
      for (const p of orphans) assert.ok(!exists(root, p), p);
      assert.ok(!exists(root, 'cards/2020/01/01'), 'emptied directories are removed');
      assert.ok(exists(root, 'cards/2020/01/02/young/front.png'));
      assert.ok(exists(root, `${liveDir}/partial.png`));
      assert.ok(fs.lstatSync(path.join(root, 'cards', 'link-out')).isSymbolicLink());
      assert.ok(fs.lstatSync(path.join(root, 'exports', 'link-file.png')).isSymbolicLink());
      assert.equal(fs.readFileSync(path.join(outside, 'precious.png'), 'utf8'), 'precious');
      for (const ps of paths.values()) for (const p of ps) if (p !== missing) assert.ok(exists(root, p), p);
      const [qaRow] = (await c.filesByPaths([missing]));
      assert.equal(qaRow!.state, 'missing');
      const [evilRow] = await c.filesByPaths([rel]);
      assert.equal(evilRow!.state, 'present');
      const ev = await sqlRows<{ action: string; path: string }>(c, `select action, path from events order by path`);
      assert.deepEqual(ev.filter((e) => e.action === 'delete_orphan').map((e) => e.path).sort(), [...orphans].sort());
      assert.deepEqual(ev.filter((e) => e.action === 'mark_missing').map((e) => e.path), [missing]);
      const stats = await runCli([...store.args, '--json', 'stats']);
      assert.equal(stats.json.cleanupHistory[0].command, 'cleanup-orphaned');
      assert.equal(stats.json.cleanupHistory[0].filesDeleted, 3);
    });

    test('the default cap (10% of files walked) refuses a mass deletion, saying how to override', async () => {
      for (let i = 0; i < 10; i++) writeFile(store.root, `temp/junk/${i}.tmp`, Buffer.from('junk'), old);
      const r = await cli('--yes');
      assert.equal(r.code, 2);
      assert.equal(r.json.error.code, 'guard_max_delete');
      assert.match(r.json.error.hint, /--max-delete/);
      assert.ok(exists(store.root, 'temp/junk/0.tmp'));
    });

    test('--quarantine moves orphans aside, outside the data tree', async () => {
      const q = tmpDir('storectl-q-');
      const r = await cli('--yes', '--max-delete', '100%', '--quarantine', q);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.json.result.moved, 10);
      assert.ok(!exists(store.root, 'temp/junk/0.tmp'));
      assert.equal(fs.readFileSync(path.join(q, 'temp/junk/0.tmp'), 'utf8'), 'junk');
      const inside = await cli('--yes', '--quarantine', path.join(store.root, 'cards'));
      assert.equal(inside.code, 2);
      fs.rmSync(q, { recursive: true, force: true });
    });

    test('an empty catalog beside a tree with files refuses (a wrong database)', async () => {
      const other = await d.makeStore();
      try {
        await (await other.open()).close();
        writeFile(other.root, 'cards/2026/01/01/x/front.png', Buffer.from('x'), old);
        const r = await runCli([...other.args, '--json', 'cleanup-orphaned', '--dry-run']);
        assert.equal(r.code, 2, r.stderr);
        assert.equal(r.json.error.code, 'guard_empty_catalog');
      } finally {
        await other.dispose();
      }
    });

    test('fail closed: a directory that cannot be read means no deletion at all', async (t) => {
      writeFile(store.root, 'temp/zz-orphan.tmp', Buffer.from('o'), old);
      // Root ignores permission bits; a bind mount of /proc/1/map_files is a directory even root
      // cannot list (EACCES). Skip where mounting is not allowed.
      const locked = path.join(store.root, 'cards', 'locked');
      fs.mkdirSync(locked);
      try {
        execFileSync('mount', ['--bind', '/proc/1/map_files', locked], { stdio: 'ignore' });
      } catch {
        t.skip('cannot bind-mount an unreadable directory here');
        return;
      }
      try {
        const r = await cli('--yes', '--max-delete', '100%');
        assert.equal(r.code, 1, r.stderr);
        assert.equal(r.json.error.code, 'walk_failed');
        assert.match(r.json.error.message, /cards\/locked.*nothing was deleted/);
        assert.ok(exists(store.root, 'temp/zz-orphan.tmp'));
      } finally {
        execFileSync('umount', [locked]);
        fs.rmdirSync(locked);
      }
    });
  });
}
