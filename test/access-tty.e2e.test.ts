// get, export and delete under a real pseudo-terminal, both dialects: binary bytes and archives
// are never written to a terminal, and delete asks first ("n" keeps everything, "y" deletes the
// job's files and leaves tombstones), as cleanup-expired does.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { Catalog } from '../src/db/catalog.ts';
import { BIN, DIALECTS, REPO, type Store } from './helpers/env.ts';
import { buildCleanupStore, exists } from './helpers/cleanup-fixture.ts';

const PTY = path.join(REPO, 'test/helpers/pty-run.py');

function inPty(answer: string, args: string[]) {
  const r = spawnSync('python3', [PTY, answer, process.execPath, BIN, ...args], {
    encoding: 'latin1',
    env: { ...process.env, NO_COLOR: '1', STORECTL_ROOT: '', STORECTL_DATABASE_URL: '', DATABASE_URL: '' },
    timeout: 120_000,
  });
  return { code: r.status, screen: (r.stdout ?? '') + (r.stderr ?? '') };
}

for (const d of DIALECTS) {
  describe(`access on a terminal: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let c: Catalog;
    let paths: Map<string, string[]>;
    before(async () => {
      store = await d.makeStore();
      c = await store.open();
      paths = await buildCleanupStore(store.root, c);
    });
    after(async () => {
      await c?.close();
      await store?.dispose();
    });

    test('get without -o on a terminal: refused (exit 2), no PNG bytes on the screen; export --output - too', () => {
      const g = inPty('n', [...store.args, 'get', 'c-printed', 'front.png']);
      assert.equal(g.code, 2, g.screen);
      assert.match(g.screen, /refusing to write .* bytes to a terminal/);
      assert.match(g.screen, /-o FILE/);
      const bytes = (paths.get('c-printed')![0]!);
      assert.ok(!g.screen.includes(`c-printed ${bytes}`), 'the file\'s bytes reached the terminal');
      const byPath = inPty('n', [...store.args, 'get', '--path', bytes]);
      assert.equal(byPath.code, 2, byPath.screen);
      const e = inPty('n', [...store.args, 'export', 'c-printed', '--output', '-']);
      assert.equal(e.code, 2, e.screen);
      assert.match(e.screen, /refusing to write an archive to a terminal/);
      assert.ok(!e.screen.includes('\x1f\x8b'), 'gzip bytes reached the terminal');
    });

    test('delete on a terminal asks with the numbers: "n" keeps the files and rows, "y" deletes and leaves tombstones', async () => {
      const want = paths.get('c-reprint')!;
      const no = inPty('n', [...store.args, 'delete', 'c-reprint']);
      assert.match(no.screen, /\(y\/N\)/);
      assert.match(no.screen, new RegExp(`${want.length} files?`));
      assert.equal(no.code, 1, no.screen);
      assert.match(no.screen, /cancelled/);
      for (const p of want) assert.ok(exists(store.root, p), p);
      assert.ok((await c.filesOfJob('c-reprint')).every((f) => f.state === 'present'));
      const yes = inPty('y', [...store.args, 'delete', 'c-reprint']);
      assert.equal(yes.code, 0, yes.screen);
      for (const p of want) assert.equal(exists(store.root, p), false, p);
      const rows = await c.filesOfJob('c-reprint');
      assert.equal(rows.length, want.length);
      assert.ok(rows.every((f) => f.state === 'deleted' && f.deleteReason === 'manual'), JSON.stringify(rows.map((f) => [f.state, f.deleteReason])));
    });
  });
}
