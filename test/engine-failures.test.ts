// Failures every deleting command must survive (issues 14 and 15), with the real bin run without
// root's permission override (setpriv drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH), so that
// directory modes bite: an unreadable directory (cleanup-expired fails closed), an unlink that
// fails with EACCES (the rest go on, exit 3, the row goes back to 'present'), and a
// migrate-images-to-db original that cannot be unlinked (no later deletion nobody asked for).
import { after, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { buildSyntheticStore } from '../bench/lib/synth.ts';
import { LocalBlobStore } from '../src/storage/blobstore.ts';
import { DIALECTS, runCli, type Store } from './helpers/env.ts';
import { query } from './helpers/images.ts';

const DROP = ['setpriv', '--bounding-set=-dac_override,-dac_read_search', '--inh-caps=-dac_override,-dac_read_search'];
const canDrop = (() => {
  try {
    execFileSync(DROP[0]!, [...DROP.slice(1), 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const cli = (store: Store, ...args: string[]) => runCli([...store.args, '--json', ...args], { wrap: DROP });
const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

async function states(store: Store): Promise<Map<string, string>> {
  return new Map((await query<{ path: string; state: string }>(store, `select path, state from files`)).map((r) => [r.path, r.state]));
}

for (const d of DIALECTS) {
  describe(`deletion failures: ${d.name}`, { skip: d.skip || (!canDrop && 'setpriv cannot drop the permission override here') }, () => {
    const cleanups: (() => Promise<void>)[] = [];
    after(async () => {
      for (const f of cleanups) await f();
    });
    const synthetic = async (o: { jobs: number; orphans?: number }) => {
      const store = await d.makeStore();
      cleanups.push(() => store.dispose());
      await buildSyntheticStore({ root: store.root, databaseUrl: store.databaseUrl || undefined, jobs: o.jobs, filesPerJob: 5, minBytes: 64, maxBytes: 256, days: 30, orphans: o.orphans });
      return store;
    };
    const planned = async (store: Store): Promise<string[]> => {
      const r = await cli(store, 'cleanup-expired', '--dry-run', '--list');
      assert.equal(r.code, 0, r.stdout + r.stderr);
      return r.json.list.map((x: { path: string }) => x.path);
    };

    test('cleanup-expired under a directory it cannot read: exit 1, dry run alike, nothing deleted that run', async () => {
      const store = await synthetic({ jobs: 40 });
      const paths = await planned(store);
      assert.ok(paths.length > 20);
      const locked = path.join(store.root, path.dirname(paths[7]!));
      fs.chmodSync(locked, 0o000);
      try {
        const dry = await cli(store, 'cleanup-expired', '--dry-run');
        assert.equal(dry.code, 1, dry.stdout);
        assert.equal(dry.json.error.code, 'read_failed');
        const r = await cli(store, '--yes', 'cleanup-expired');
        assert.equal(r.code, 1, r.stdout);
        assert.equal(r.json.error.code, 'read_failed');
        assert.match(r.json.error.message, /EACCES.*nothing was deleted/);
        for (const p of paths) assert.ok(fs.existsSync(path.join(store.root, p)) || path.dirname(path.join(store.root, p)) === locked, `deleted in a run that failed closed: ${p}`);
        for (const [p, s] of await states(store)) assert.equal(s, 'present', `${p} is ${s}`);
      } finally {
        fs.chmodSync(locked, 0o750);
      }
      const again = await cli(store, '--yes', 'cleanup-expired');
      assert.equal(again.code, 0, again.stdout);
      assert.equal(again.json.result.files, paths.length);
    });

    test('cleanup-expired: an unlink failing with EACCES keeps that job present, the rest go on, exit 3', async () => {
      const store = await synthetic({ jobs: 40 });
      const paths = await planned(store);
      const stuckDir = path.posix.dirname(paths[3]!);
      fs.chmodSync(path.join(store.root, stuckDir), 0o550);
      try {
        const r = await cli(store, '--yes', 'cleanup-expired');
        assert.equal(r.code, 3, r.stdout);
        const stuck = paths.filter((p) => path.posix.dirname(p) === stuckDir);
        assert.deepEqual(r.json.failed.map((f: { path: string }) => f.path).sort(), stuck.sort());
        const st = await states(store);
        for (const p of paths) assert.equal(st.get(p), stuck.includes(p) ? 'present' : 'deleted', p);
        for (const p of stuck) assert.ok(fs.existsSync(path.join(store.root, p)));
      } finally {
        fs.chmodSync(path.join(store.root, stuckDir), 0o750);
      }
    });

    test('cleanup-orphaned: an unlink failing with EACCES, the rest go on, exit 3, events recorded before', async () => {
      const store = await synthetic({ jobs: 10, orphans: 50 });
      const dir = 'cards/2020/01/01/orphan-0000002';
      fs.chmodSync(path.join(store.root, dir), 0o550);
      try {
        const r = await cli(store, '--yes', 'cleanup-orphaned', '--min-age', '0s', '--max-delete', '100%');
        assert.equal(r.code, 3, r.stdout);
        assert.equal(r.json.failed.length, 5);
        assert.equal(r.json.result.deleted, 45);
        assert.equal(fs.readdirSync(path.join(store.root, dir)).length, 5);
        const ev = await query<{ action: string; n: number }>(store, `select action, count(*) as n from events group by action order by action`);
        const n = new Map(ev.map((e) => [e.action, Number(e.n)]));
        assert.equal(n.get('delete_orphan'), 45);
        assert.equal(n.get('delete_orphan_intent'), 50, 'every orphan deletion is recorded before it is tried');
      } finally {
        fs.chmodSync(path.join(store.root, dir), 0o750);
      }
    });

    test('migrate-images-to-db --delete-originals: an original it cannot unlink stays present, failure recorded; cleanup-expired then deletes nothing', async () => {
      const store = await d.makeStore();
      cleanups.push(() => store.dispose());
      const blobs = new LocalBlobStore(store.root);
      const img = await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 200, g: 30, b: 30 } } }).png().toBuffer();
      const at = new Date('2020-01-01T00:00:00Z');
      const rows = ['uploads/a/1.png', 'uploads/b/2.png', 'uploads/b/3.png'].map((rel) => {
        blobs.put(rel, img);
        return { jobId: null, role: 'photo.png', category: 'uploads', owner: 'acme', path: rel, contentType: 'image/png', size: img.length, sha256: sha(img), createdAt: at };
      });
      const c = await store.open();
      await c.insertFiles(rows);
      await c.close();
      fs.chmodSync(path.join(store.root, 'uploads/a'), 0o550);
      try {
        const r = await cli(store, '--yes', 'migrate-images-to-db', '--delete-originals');
        assert.equal(r.code, 3, r.stdout);
        assert.equal(r.json.deletedOriginals, 2);
        assert.ok(r.json.failures.some((f: { path: string; reason: string }) => f.path === 'uploads/a/1.png' && /original not deleted.*EACCES/.test(f.reason)));
      } finally {
        fs.chmodSync(path.join(store.root, 'uploads/a'), 0o750);
      }
      const st = await states(store);
      assert.deepEqual([...st].sort(), [['uploads/a/1.png', 'present'], ['uploads/b/2.png', 'deleted'], ['uploads/b/3.png', 'deleted']]);
      const failed = await query<{ path: string; reason: string }>(store, `select path, reason from events where action = 'delete_failed'`);
      assert.equal(failed.length, 1);
      assert.equal(failed[0]!.path, 'uploads/a/1.png');
      // No rule selects uploads: a cleanup-expired run deletes nothing.
      const ce = await cli(store, '--yes', 'cleanup-expired');
      assert.equal(ce.code, 0, ce.stdout);
      assert.equal(ce.json.result.files, 0);
      assert.ok(fs.existsSync(path.join(store.root, 'uploads/a/1.png')));
      assert.equal((await states(store)).get('uploads/a/1.png'), 'present');
    });
  });
}
