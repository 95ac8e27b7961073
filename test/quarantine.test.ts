// cleanup-orphaned --quarantine (issue 15): never overwrites a file already in the quarantine,
// converges after a kill on another file system (a partial copy, or a copy linked in place
// before the original was unlinked), and refuses a quarantine reaching into the data tree
// through a symlink.
import { after, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { buildSyntheticStore } from '../bench/lib/synth.ts';
import { DIALECTS, runCli, tmpDir, type Store } from './helpers/env.ts';

const ORPHAN_DIR = 'cards/2020/01/01/orphan-0000000';
/** tmpfs: another file system than the store's (a rename there fails with EXDEV). */
const OTHER_FS = fs.existsSync('/dev/shm') && fs.statSync('/dev/shm').dev !== fs.statSync(tmpDir()).dev ? '/dev/shm' : null;

for (const d of DIALECTS) {
  describe(`quarantine: ${d.name}`, { skip: d.skip }, () => {
    const cleanups: (() => Promise<void>)[] = [];
    after(async () => {
      for (const f of cleanups) await f();
    });
    const store5 = async (): Promise<Store> => {
      const store = await d.makeStore();
      cleanups.push(() => store.dispose());
      await buildSyntheticStore({ root: store.root, databaseUrl: store.databaseUrl || undefined, jobs: 4, filesPerJob: 5, minBytes: 64, maxBytes: 256, days: 30, orphans: 5 });
      return store;
    };
    const run = (store: Store, q: string) => runCli([...store.args, '--json', '--yes', 'cleanup-orphaned', '--min-age', '0s', '--max-delete', '100%', '--quarantine', q]);
    const orphansOf = (store: Store) => fs.readdirSync(path.join(store.root, ORPHAN_DIR)).sort().map((n) => ({ rel: `${ORPHAN_DIR}/${n}`, bytes: fs.readFileSync(path.join(store.root, ORPHAN_DIR, n)) }));

    test('a file already in the quarantine is never overwritten: the newcomer is NAME.1', async () => {
      const store = await store5();
      const q = tmpDir('storectl-q-');
      cleanups.push(async () => fs.rmSync(q, { recursive: true, force: true }));
      const orphans = orphansOf(store);
      const first = orphans[0]!;
      fs.mkdirSync(path.join(q, ORPHAN_DIR), { recursive: true });
      fs.writeFileSync(path.join(q, first.rel), 'an earlier quarantined file');
      const r = await run(store, q);
      assert.equal(r.code, 0, r.stdout);
      assert.equal(r.json.result.moved, 5);
      assert.equal(fs.readFileSync(path.join(q, first.rel), 'utf8'), 'an earlier quarantined file');
      assert.deepEqual(fs.readFileSync(path.join(q, `${first.rel}.1`)), first.bytes);
      for (const o of orphans.slice(1)) assert.deepEqual(fs.readFileSync(path.join(q, o.rel)), o.bytes);
    });

    test('on another file system, a rerun after a kill converges: a partial copy is rewritten, a copy already in place counts as moved', { skip: !OTHER_FS && 'no second file system (/dev/shm) here' }, async () => {
      const store = await store5();
      const q = fs.mkdtempSync(path.join(OTHER_FS!, 'storectl-q-'));
      cleanups.push(async () => fs.rmSync(q, { recursive: true, force: true }));
      const orphans = orphansOf(store);
      // What a kill leaves: one orphan's copy cut short, another's copy linked in place with its
      // original not yet unlinked.
      fs.mkdirSync(path.join(q, ORPHAN_DIR), { recursive: true });
      fs.writeFileSync(path.join(q, `${orphans[0]!.rel}.storectl-partial`), orphans[0]!.bytes.subarray(0, 10));
      fs.writeFileSync(path.join(q, orphans[1]!.rel), orphans[1]!.bytes);
      const r = await run(store, q);
      assert.equal(r.code, 0, r.stdout);
      assert.equal(r.json.result.moved, 5);
      for (const o of orphans) {
        assert.deepEqual(fs.readFileSync(path.join(q, o.rel)), o.bytes, o.rel);
        assert.equal(fs.existsSync(path.join(q, `${o.rel}.1`)), false, 'no second copy of the same file');
        assert.equal(fs.existsSync(path.join(store.root, o.rel)), false);
      }
      assert.deepEqual(fs.readdirSync(path.join(q, ORPHAN_DIR)).filter((n) => n.endsWith('.storectl-partial')), []);
      const again = await run(store, q);
      assert.equal(again.code, 0, again.stdout);
      assert.equal(again.json.orphans.files, 0);
    });

    test('a quarantine reaching into the data tree through a symlink is refused (exit 2), nothing moved', async () => {
      const store = await store5();
      const outside = tmpDir('storectl-q-');
      cleanups.push(async () => fs.rmSync(outside, { recursive: true, force: true }));
      fs.symlinkSync(path.join(store.root, 'cards'), path.join(outside, 'link'));
      const before = orphansOf(store);
      for (const q of [path.join(outside, 'link'), path.join(outside, 'link', 'new', 'dir')]) {
        const r = await run(store, q);
        assert.equal(r.code, 2, r.stdout);
        assert.match(r.json.error.message, /inside the data tree.*through a symlink/);
      }
      assert.deepEqual(orphansOf(store), before);
    });
  });
}
