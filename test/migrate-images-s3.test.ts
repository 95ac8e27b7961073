// migrate-images-to-db's store mode on an S3 store, end to end through the real bin against the
// loopback s3rver (or STORECTL_TEST_S3_ENDPOINT), on both dialects: images read from the bucket,
// WebP rows in the catalog, --delete-originals through the deletion engine's S3 target (objects
// gone from the bucket, tombstones migrated-to-db), an object replaced after it was read kept (exit 3).
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { DIALECTS } from './helpers/env.ts';
import { sqlRows } from './helpers/cleanup-fixture.ts';
import { inspectWebp, pngWithAlpha, smallJpeg } from './helpers/images.ts';
import { startS3, type S3Fixture } from './helpers/s3.ts';
import { makeS3Store, readObject, sha, type S3Store } from './helpers/s3-store.ts';

const CMD = 'migrate-images-to-db';
let s3: S3Fixture;
const fx: Record<string, Buffer> = {};
before(async () => {
  s3 = await startS3();
  fx.alpha = await pngWithAlpha();
  for (let i = 0; i < 3; i++) fx[`photo${i}`] = await smallJpeg(900, 600, 200 + i);
});
after(async () => {
  await s3?.dispose();
});

for (const d of DIALECTS) {
  describe(`migrate-images-to-db on an S3 store: ${d.name}`, { skip: d.skip }, () => {
    let st: S3Store;
    before(async () => {
      st = await makeS3Store(d, s3);
      const at = new Date('2026-11-01T00:00:00Z');
      const objects: [string, Buffer][] = [
        ['uploads/a.jpg', fx.photo0!],
        ['uploads/b.jpg', fx.photo1!],
        ['uploads/c.png', fx.alpha!],
        ['uploads/readme.txt', Buffer.from('x')],
      ];
      for (const [k, v] of objects) await st.bucket.put(k, v);
      await st.c.insertFiles(objects.map(([rel, data]) => ({ jobId: null, role: rel.split('/').pop()!, category: 'uploads', owner: 'acme', path: rel, contentType: 'image/jpeg', size: data.length, sha256: sha(data), createdAt: at })));
    });
    after(async () => {
      await st?.dispose();
    });

    test('store mode reads the objects: --dry-run writes nothing; a run stores verified WebP rows; --delete-originals removes the objects it verified', async () => {
      const dry = await st.cli(CMD, '--dry-run');
      assert.equal(dry.code, 0, dry.stdout + dry.stderr);
      assert.equal(dry.stderr, '', 'nothing on stderr (no SDK warning)');
      assert.equal(dry.json.migrated, 3);
      assert.equal((await sqlRows(st.c, `select 1 from images`)).length, 0, 'dry run writes nothing');

      const trial = await st.cli(CMD, '--limit', '1');
      assert.equal(trial.code, 0, trial.stdout + trial.stderr);
      assert.equal(trial.json.migrated, 1);

      // b.jpg is replaced once the deletion intent is committed (after it was read and stored):
      // the HEAD re-check sees another ETag and keeps it; the others go.
      const pause = path.join(st.dir, 'pause');
      const running = st.cliEnv({ STORECTL_TEST_PAUSE_AT: `deletion.intent:${pause}` }, '--yes', CMD, '--delete-originals');
      while (!fs.existsSync(pause)) await new Promise((r) => setTimeout(r, 20));
      const replaced = Buffer.concat([fx.photo1!, Buffer.from('replaced')]);
      await st.bucket.put('uploads/b.jpg', replaced);
      fs.rmSync(pause);
      const del = await running;
      assert.equal(del.code, 3, del.stdout + del.stderr);
      assert.equal(del.json.migrated, 2);
      assert.equal(del.json.skipped, 1);
      assert.equal(del.json.deletedOriginals, 1);
      assert.deepEqual(await readObject(st.bucket, 'uploads/b.jpg'), replaced, 'the replaced object is kept');
      const rows = await sqlRows<{ source: string; source_key: string; owner: string; data: Buffer }>(st.c, `select source, source_key, owner, data from images order by source_key`);
      assert.deepEqual(rows.map((x) => [x.source, x.source_key, x.owner]), [
        ['store', 'uploads/a.jpg', 'acme'],
        ['store', 'uploads/b.jpg', 'acme'],
        ['store', 'uploads/c.png', 'acme'],
      ]);
      for (const r of rows) assert.equal((await inspectWebp(Buffer.from(r.data))).format, 'webp');
      const files = await sqlRows<{ path: string; state: string; delete_reason: string | null }>(st.c, `select path, state, delete_reason from files order by path`);
      const gone = files.filter((f) => f.state === 'deleted');
      assert.deepEqual(gone.map((f) => f.path), ['uploads/c.png']);
      for (const f of gone) {
        assert.equal(await st.bucket.stat(f.path), null, `${f.path} is gone from the bucket`);
        assert.match(String(f.delete_reason), /migrated-to-db/);
      }
      const kept = files.filter((f) => f.state === 'present').map((f) => f.path).sort();
      assert.deepEqual(kept, ['uploads/a.jpg', 'uploads/b.jpg', 'uploads/readme.txt'], 'a.jpg was migrated by the earlier run: this one does not delete it');
      for (const p of kept) assert.ok(await st.bucket.stat(p), `${p} is still in the bucket`);
    });
  });
}
