// The deletion engine's contract (issue 14): typed reasons that read back, and a rerun that
// finishes only what the same kind of run started.
import { after, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { decodeReason, encodeReason, type DeletionReason } from '../src/ops/lifecycle/engine.ts';
import { reasonPattern } from '../src/ops/lifecycle/reasons.ts';
import { LocalBlobStore } from '../src/storage/blobstore.ts';
import { DIALECTS, runCli, type Store } from './helpers/env.ts';
import { execSql, query } from './helpers/images.ts';

test('reasons: every kind encodes to delete_reason text and reads back the same; its LIKE pattern matches it', () => {
  const all: DeletionReason[] = [
    { kind: 'rule', rule: 'completed-cards' },
    { kind: 'migrated-to-db' },
    { kind: 'manual' },
    { kind: 'manual', note: 'ticket 42' },
    { kind: 'orphan' },
    { kind: 'dedup', keep: 'cards/2026/01/01/j/front.png' },
    { kind: 'transition', to: 'cold' },
  ];
  for (const r of all) {
    const s = encodeReason(r);
    assert.deepEqual(decodeReason(s), r, s);
    const re = new RegExp(`^${reasonPattern(r.kind).replace(/%/g, '.*')}$`);
    assert.match(s, re);
    for (const other of all.filter((o) => o.kind !== r.kind)) assert.doesNotMatch(encodeReason(other), re, `${r.kind} pattern matches ${other.kind}`);
  }
  assert.equal(encodeReason({ kind: 'rule', rule: 'x' }), 'expired: rule x', 'the form earlier versions wrote');
  assert.equal(decodeReason('something else'), null);
});

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

for (const d of DIALECTS) {
  describe(`deletion engine: ${d.name}`, { skip: d.skip }, () => {
    const cleanups: (() => Promise<void>)[] = [];
    after(async () => {
      for (const f of cleanups) await f();
    });

    test("a row a killed migrate-images-to-db left 'deleting': cleanup-expired leaves it alone, the next migrate run finishes it", async () => {
      const store: Store = await d.makeStore();
      cleanups.push(() => store.dispose());
      const blobs = new LocalBlobStore(store.root);
      const img = await sharp({ create: { width: 24, height: 24, channels: 3, background: { r: 10, g: 200, b: 10 } } }).png().toBuffer();
      const at = new Date('2020-01-01T00:00:00Z');
      const rows = ['uploads/k/1.png', 'uploads/k/2.png'].map((rel) => {
        blobs.put(rel, img);
        return { jobId: null, role: 'photo.png', category: 'uploads', owner: 'acme', path: rel, contentType: 'image/png', size: img.length, sha256: sha(img), createdAt: at };
      });
      const c = await store.open();
      await c.insertFiles(rows);
      await c.close();
      // Migrate without deleting, then leave one row as a run killed after its intent would.
      const m = await runCli([...store.args, '--json', 'migrate-images-to-db']);
      assert.equal(m.code, 0, m.stdout);
      await execSql(store, `update files set state = 'deleting', delete_reason = 'migrated-to-db' where path = 'uploads/k/1.png'`);

      const ce = await runCli([...store.args, '--json', '--yes', 'cleanup-expired']);
      assert.equal(ce.code, 0, ce.stdout);
      assert.equal(ce.json.result.recovered, 0, 'not the kind of run that started it');
      assert.equal(ce.json.result.files, 0);
      assert.ok(fs.existsSync(path.join(store.root, 'uploads/k/1.png')));
      assert.equal((await query<{ state: string }>(store, `select state from files where path = 'uploads/k/1.png'`))[0]!.state, 'deleting');

      const again = await runCli([...store.args, '--json', '--yes', 'migrate-images-to-db', '--delete-originals']);
      assert.equal(again.code, 0, again.stdout);
      assert.equal(fs.existsSync(path.join(store.root, 'uploads/k/1.png')), false);
      const st = await query<{ path: string; state: string; delete_reason: string }>(store, `select path, state, delete_reason from files order by path`);
      assert.deepEqual(st.map((x) => [x.path, x.state, x.delete_reason]), [
        ['uploads/k/1.png', 'deleted', 'migrated-to-db'],
        ['uploads/k/2.png', 'present', null],
      ], 'only the interrupted deletion is finished: 2.png was migrated by a run that did not ask for its original to go');
      const ev = await query<{ path: string; action: string }>(store, `select path, action from events where action like 'delete%' order by path`);
      assert.deepEqual(ev.map((e) => [e.path, e.action]), [['uploads/k/1.png', 'delete']]);
      const check = await runCli([...store.args, '--json', 'stats', '--check-disk']);
      assert.equal(check.code, 0, check.stdout);
    });
  });
}

test('removeTreeIn and removeUntracked: a symlink inside is unlinked, never followed; nothing outside is touched', async () => {
  const { removeTreeIn, removeUntracked } = await import('../src/ops/lifecycle/engine.ts');
  const { tmpDir } = await import('./helpers/env.ts');
  const base = tmpDir('storectl-tree-');
  const outside = tmpDir('storectl-outside-');
  try {
    fs.writeFileSync(path.join(outside, 'keep.txt'), 'precious');
    fs.mkdirSync(path.join(base, 'set-aside/cards/2026/j1'), { recursive: true });
    fs.writeFileSync(path.join(base, 'set-aside/cards/2026/j1/front.png'), 'x');
    fs.symlinkSync(outside, path.join(base, 'set-aside/cards/2026/j2'));
    fs.symlinkSync(path.join(outside, 'keep.txt'), path.join(base, 'link.tar.gz'));
    removeTreeIn(base, 'set-aside');
    assert.equal(fs.existsSync(path.join(base, 'set-aside')), false);
    assert.throws(() => removeUntracked(base, 'link.tar.gz'), /not a regular file/);
    assert.equal(fs.readFileSync(path.join(outside, 'keep.txt'), 'utf8'), 'precious');
    fs.writeFileSync(path.join(base, 'old.tar.gz'), 'old');
    assert.equal(removeUntracked(base, 'old.tar.gz'), true);
    assert.equal(removeUntracked(base, 'old.tar.gz'), false);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
    fs.rmSync(outside, { recursive: true, force: true });
  }
});
