// verify on an S3 store, end to end through the real bin against the loopback s3rver (or
// STORECTL_TEST_S3_ENDPOINT), on both dialects: objects streamed back and hashed, the verdicts
// checked in the catalog, the objects checked in the bucket (a corrupt one is kept).
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { DIALECTS } from './helpers/env.ts';
import { sqlRows } from './helpers/cleanup-fixture.ts';
import { startS3, type S3Fixture } from './helpers/s3.ts';
import { buildS3Store, makeS3Store, readObject, type S3Store } from './helpers/s3-store.ts';

let s3: S3Fixture;
before(async () => {
  s3 = await startS3();
});
after(async () => {
  await s3?.dispose();
});

for (const d of DIALECTS) {
  describe(`verify on an S3 store: ${d.name}`, { skip: d.skip }, () => {
    let st: S3Store;
    let files: Map<string, Buffer>;
    before(async () => {
      st = await makeS3Store(d, s3);
      files = await buildS3Store(st.bucket, st.c, 10, 4);
    });
    after(async () => {
      await st?.dispose();
    });
    const rowsOf = async () => new Map((await st.c.filesByPaths([...files.keys()])).map((r) => [r.path, r]));

    test('a clean S3 store verifies: exit 0, every row stamped ok', async () => {
      const r = await st.cli('verify');
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(r.stderr, '', 'nothing on stderr (no SDK warning)');
      assert.equal(r.json.checked.files, files.size);
      assert.equal(r.json.checked.bytes, [...files.values()].reduce((n, b) => n + b.length, 0));
      assert.equal(r.json.ok, files.size);
      for (const row of (await rowsOf()).values()) {
        assert.equal(row.verifyResult, 'ok');
        assert.ok(row.verifiedAt instanceof Date);
        assert.equal(row.state, 'present');
      }
    });

    test('an object with a flipped byte, a truncated one, a deleted one: exit 4, exactly those marked; the corrupt objects are kept', async () => {
      const [flipped, truncated, deleted] = [...files.keys()].slice(3, 6) as [string, string, string];
      const bad = Buffer.from(files.get(flipped)!);
      bad[100] = bad[100]! ^ 0x01;
      await st.bucket.put(flipped, bad);
      await st.bucket.put(truncated, files.get(truncated)!.subarray(0, 10));
      assert.ok((await st.bucket.remove(deleted)).ok);

      const r = await st.cli('verify');
      assert.equal(r.code, 4, r.stdout + r.stderr);
      assert.deepEqual(
        r.json.problems.map((p: { path: string; kind: string }) => `${p.kind} ${p.path}`).sort(),
        [`corrupt ${flipped}`, `corrupt ${truncated}`, `missing ${deleted}`].sort(),
      );
      const detail = new Map(r.json.problems.map((p: { path: string; detail: string }) => [p.path, p.detail]));
      assert.match(String(detail.get(flipped)), /SHA-256 .*\(read twice\)/);
      assert.match(String(detail.get(truncated)), /size 10, catalog says \d+ \(read twice\)/);
      assert.equal(r.json.ok, files.size - 3);
      for (const [p, row] of await rowsOf()) {
        const want = p === flipped || p === truncated ? 'corrupt' : p === deleted ? 'missing' : 'present';
        assert.equal(row.state, want, p);
        assert.equal(row.verifyResult, want === 'present' ? 'ok' : want, p);
      }
      assert.deepEqual(await readObject(st.bucket, flipped), bad, 'a corrupt object is kept as it is');
      assert.equal(await st.bucket.stat(deleted), null);
      const ev = await sqlRows<{ action: string }>(st.c, `select action from events where action like 'verify-%'`);
      assert.deepEqual(ev.map((e) => e.action).sort(), ['verify-corrupt', 'verify-corrupt', 'verify-missing']);
      assert.equal((await st.cli('verify')).code, 4, 'a second run still finds them');

      // Put back as catalogued: the rows revive.
      await st.bucket.put(flipped, files.get(flipped)!);
      await st.bucket.put(truncated, files.get(truncated)!);
      await st.bucket.put(deleted, files.get(deleted)!);
      const again = await st.cli('verify');
      assert.equal(again.code, 0, again.stdout + again.stderr);
      assert.equal(again.json.revived, 3);
      for (const row of (await rowsOf()).values()) assert.equal(row.state, 'present', row.path);
    });
  });

  describe(`verify --sample and --max-time on an S3 store: ${d.name}`, { skip: d.skip }, () => {
    let st: S3Store;
    before(async () => {
      st = await makeS3Store(d, s3);
    });
    after(async () => {
      await st?.dispose();
    });
    const verifiedIds = async () => new Set((await sqlRows<{ id: number }>(st.c, `select id from files where verified_at is not null`)).map((r) => Number(r.id)));
    const never = async () => Number((await sqlRows<{ n: number }>(st.c, `select count(*) as n from files where verified_at is null`))[0]!.n);

    test('sampled runs cover every object, never-verified first', async () => {
      await buildS3Store(st.bucket, st.c, 10, 5, 300, 's'); // 50 objects
      let seen = new Set<number>();
      for (let run = 1; run <= 5; run++) {
        const r = await st.cli('verify', '--sample', '20%');
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.equal(r.json.checked.files, 10);
        const now = await verifiedIds();
        assert.equal(now.size, run * 10, 'each run checks objects never verified before');
        for (const id of seen) assert.ok(now.has(id), 'coverage never shrinks');
        seen = now;
      }
    });

    test('--max-time stops cleanly and the next run carries on', async () => {
      await buildS3Store(st.bucket, st.c, 100, 10, 64, 'm'); // 1,000 more objects
      const before = await never();
      assert.equal(before, 1000);
      const r1 = await st.cli('verify', '--max-time', '1ms', '--threads', '1');
      assert.equal(r1.code, 0, r1.stdout + r1.stderr);
      assert.equal(r1.json.stoppedByTime, true);
      assert.ok(r1.json.checked.files > 0 && r1.json.checked.files < 1000, `checked ${r1.json.checked.files}`);
      const after1 = await never();
      assert.equal(after1, before - r1.json.checked.files, 'what it checked is recorded');
      const r2 = await st.cli('verify');
      assert.equal(r2.code, 0, r2.stdout + r2.stderr);
      assert.equal(r2.json.stoppedByTime, false);
      assert.equal(await never(), 0);
    });
  });
}
