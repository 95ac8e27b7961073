// put on an S3 store, end to end through the real bin against the loopback s3rver (or
// STORECTL_TEST_S3_ENDPOINT), on both dialects: the objects in the bucket, the rows and events
// in the catalog. --on-duplicate link on S3 is a server-side copy (an S3 store has no hard links).
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DIALECTS, tmpDir } from './helpers/env.ts';
import { sqlRows } from './helpers/cleanup-fixture.ts';
import { startS3, type S3Fixture } from './helpers/s3.ts';
import { makeS3Store, readObject, sha, type S3Store } from './helpers/s3-store.ts';

const PDF = Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(3000)]);
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(2000)]);
/** Larger than one part (8 MiB): uploaded multipart. */
const BIG = randomBytes(9 * 1024 * 1024 + 123);

let s3: S3Fixture;
before(async () => {
  s3 = await startS3();
});
after(async () => {
  await s3?.dispose();
});

async function keys(st: S3Store): Promise<string[]> {
  const out: string[] = [];
  for await (const page of st.bucket.list()) for (const e of page) out.push(e.key);
  return out;
}

for (const d of DIALECTS) {
  describe(`put on an S3 store: ${d.name}`, { skip: d.skip }, () => {
    let st: S3Store;
    let src: string;
    before(async () => {
      st = await makeS3Store(d, s3);
      src = tmpDir('storectl-put-s3-src-');
      fs.writeFileSync(path.join(src, 'scan.jpg'), PDF);
      fs.writeFileSync(path.join(src, 'front.png'), PNG);
      fs.writeFileSync(path.join(src, 'big.bin'), BIG);
    });
    after(async () => {
      await st?.dispose();
      fs.rmSync(src, { recursive: true, force: true });
    });
    const put = (...args: string[]) => st.cli('put', ...args);

    test('a checksum mismatch writes nothing: no object, no row, no job, exit 4', async () => {
      const r = await put(path.join(src, 'front.png'), '--job', 'up-0', '--owner', 'acme', '--sha256', sha(PDF));
      assert.equal(r.code, 4, r.stdout + r.stderr);
      assert.equal(r.json.checksumMismatch[0].actual, sha(PNG));
      assert.deepEqual(await keys(st), []);
      assert.deepEqual(await st.c.getJobs(['up-0']), []);
      assert.equal((await st.c.counts()).files, 0);
    });

    test('objects go in under the dated layout before their rows; the right --sha256 is accepted; a large one multipart', async () => {
      const r = await put(path.join(src, 'scan.jpg'), '--job', 'up-1', '--owner', 'acme', '--sha256', sha(PDF));
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(r.stderr, '', 'nothing on stderr (no SDK warning)');
      const rel = r.json.added[0].path as string;
      assert.match(rel, /^uploads\/\d{4}\/\d{2}\/\d{2}\/up-1\/scan\.jpg$/);
      const [row] = await st.c.filesByPaths([rel]);
      assert.equal(row!.contentType, 'application/pdf');
      assert.equal(row!.sha256, sha(PDF));
      assert.equal(row!.size, PDF.length);
      assert.equal(row!.state, 'present');
      assert.deepEqual(await readObject(st.bucket, rel), PDF, 'the object holds the bytes');
      assert.equal((await st.c.getJobs(['up-1']))[0]!.filesState, 'on_disk');

      const big = await put(path.join(src, 'big.bin'), '--job', 'up-big', '--owner', 'acme', '--sha256', sha(BIG));
      assert.equal(big.code, 0, big.stdout + big.stderr);
      const bigRel = big.json.added[0].path as string;
      const back = await readObject(st.bucket, bigRel);
      assert.equal(back.length, BIG.length);
      assert.equal(sha(back), sha(BIG));
      assert.equal((await st.c.filesByPaths([bigRel]))[0]!.sha256, sha(BIG));
      // verify agrees with what put recorded
      const v = await st.cli('verify');
      assert.equal(v.code, 0, v.stdout + v.stderr);
      assert.equal(v.json.ok, 2);
    });

    test('a duplicate: link is a server-side copy (an independent object, no content group), skip records nothing, copy uploads a second copy', async () => {
      const orig = (await st.c.filesOfJob('up-1'))[0]!;
      const link = await put(path.join(src, 'scan.jpg'), '--job', 'up-2', '--owner', 'acme');
      assert.equal(link.code, 0, link.stdout + link.stderr);
      const added = link.json.added[0];
      assert.deepEqual(added.duplicate, { mode: 'copy', of: { path: orig.path, jobId: 'up-1' }, serverSide: true });
      assert.deepEqual(await readObject(st.bucket, added.path), PDF);
      assert.deepEqual(await readObject(st.bucket, orig.path), PDF, 'the original is untouched');
      const [a] = await st.c.filesByPaths([orig.path]);
      const [b] = await st.c.filesByPaths([added.path]);
      assert.equal(a!.contentGroup, null, 'nothing is shared: no content group');
      assert.equal(b!.contentGroup, null);
      assert.equal(b!.contentType, 'application/pdf');
      const ev = await sqlRows<{ action: string; reason: string }>(st.c, `select action, reason from events where path = '${added.path}'`);
      assert.equal(ev.length, 1);
      assert.equal(ev[0]!.action, 'put');
      assert.match(ev[0]!.reason, /server-side copy of .*no hard links/);
      // Deleting the original leaves the copy readable.
      const del = await st.cli('delete', 'up-1', '--yes');
      assert.equal(del.code, 0, del.stdout + del.stderr);
      assert.equal(await st.bucket.stat(orig.path), null);
      assert.deepEqual(await readObject(st.bucket, added.path), PDF);

      const skip = await put(path.join(src, 'scan.jpg'), '--job', 'up-3', '--owner', 'acme', '--on-duplicate', 'skip');
      assert.equal(skip.code, 0, skip.stdout + skip.stderr);
      assert.deepEqual(skip.json.added, []);
      assert.deepEqual(skip.json.skipped[0].existing, { path: added.path, jobId: 'up-2' });
      assert.equal((await st.c.filesOfJob('up-3')).length, 0);
      assert.ok(!(await keys(st)).some((k) => k.includes('/up-3/')), 'no object for a skipped file');

      const copy = await put(path.join(src, 'scan.jpg'), '--job', 'up-4', '--owner', 'acme', '--on-duplicate', 'copy');
      assert.equal(copy.code, 0, copy.stdout + copy.stderr);
      assert.equal(copy.json.added[0].duplicate.mode, 'copy');
      assert.equal(copy.json.added[0].duplicate.serverSide, undefined);
      assert.deepEqual(await readObject(st.bucket, copy.json.added[0].path), PDF);
    });

    test('skip against an original whose object was changed is no duplicate: the file goes in', async () => {
      fs.writeFileSync(path.join(src, 'other.png'), PNG);
      const first = await put(path.join(src, 'front.png'), '--job', 'up-7', '--owner', 'globex');
      assert.equal(first.code, 0, first.stdout + first.stderr);
      await st.bucket.put(first.json.added[0].path, Buffer.from('tampered'));
      const r = await put(path.join(src, 'other.png'), '--job', 'up-8', '--owner', 'globex', '--on-duplicate', 'skip');
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual(r.json.skipped, []);
      assert.equal(r.json.added[0].duplicate, undefined);
      assert.deepEqual(await readObject(st.bucket, r.json.added[0].path), PNG);
    });

    test('an object already in the bucket under the target key, not catalogued: refused (exit 3), left as it is', async () => {
      const r1 = await put(path.join(src, 'front.png'), '--job', 'up-9', '--owner', 'x');
      assert.equal(r1.code, 0);
      const rel = r1.json.added[0].path as string;
      const stray = rel.replace('front.png', 'stray.png');
      await st.bucket.put(stray, Buffer.from('not catalogued'));
      fs.writeFileSync(path.join(src, 'stray.png'), PNG);
      const r = await put(path.join(src, 'stray.png'), '--job', 'up-9', '--owner', 'x');
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.match(r.json.failed[0].reason, /already exists in the bucket/);
      assert.deepEqual(await readObject(st.bucket, stray), Buffer.from('not catalogued'));
      assert.deepEqual(await st.c.filesByPaths([stray]), []);
    });
  });
}
