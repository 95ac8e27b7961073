// migrate-store end to end through bin/storectl: local -> S3 -> local byte-identical with
// `stats --check-disk` 0 at each step, kill -9 in the middle and a rerun that converges without
// copying again, a non-empty target and a corrupt source refused. Both dialects, loopback s3rver.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { BIN, DIALECTS, REPO, runCli, tmpDir } from './helpers/env.ts';
import { startS3, type S3Fixture } from './helpers/s3.ts';
import { openCatalog } from '../src/db/connect.ts';
import { parseDatabaseUrl } from '../src/db/url.ts';
import { storeLocation } from '../src/db/store-location.ts';
import { sqlExec } from '../src/db/sql-exec.ts';
import { openBlobStore } from '../src/storage/open.ts';
import { walkTree } from '../src/storage/walk.ts';

let s3: S3Fixture;
before(async () => {
  s3 = await startS3();
});
after(async () => {
  await s3?.dispose();
});

/** path -> sha256 of every file under a local root (not .storectl/), read independently of storectl. */
function treeDigest(root: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of walkTree(root, { sorted: true })) out.set(e.path, createHash('sha256').update(fs.readFileSync(path.join(root, e.path))).digest('hex'));
  return out;
}

async function bucketDigest(root: string): Promise<Map<string, string>> {
  return bucketDigestOn(s3, root);
}

async function bucketDigestOn(server: S3Fixture, root: string): Promise<Map<string, string>> {
  const store = await openBlobStore(root, () => server.settings());
  const out = new Map<string, string>();
  for await (const page of store.list()) {
    for (const e of page) {
      const h = createHash('sha256');
      for await (const c of await store.get(e.key)) h.update(c as Buffer);
      out.set(e.key, h.digest('hex'));
    }
  }
  await store.close();
  return out;
}

for (const dialect of DIALECTS) {
  describe(`migrate-store: ${dialect.name}`, { skip: dialect.skip }, () => {
    test('local -> S3 -> local: byte-identical, --check-disk 0 at each step, the root switched each time', async () => {
      const store = await dialect.makeStore();
      const db = store.databaseUrl || `sqlite:${path.join(store.root, '.storectl', 'catalog.db')}`;
      const cli = (root: string, ...args: string[]) => runCli(['--root', root, '--database', db, '--json', ...args], { env: s3.env });
      const back = path.join(tmpDir(), 'back');
      try {
        assert.equal((await cli(store.root, 'generate', '--sample', '12', '--seed', '11', '--workers', '2')).code, 0);
        const original = treeDigest(store.root);
        assert.ok(original.size > 20);
        const bucket = await s3.newRoot();

        const dry = await cli(store.root, 'migrate-store', '--to', bucket, '--dry-run');
        assert.equal(dry.code, 0, dry.stderr);
        assert.equal(dry.json.files, original.size);
        assert.equal(dry.json.switched, false);
        assert.deepEqual(await bucketDigest(bucket), new Map(), 'a dry run copies nothing');

        const up = await cli(store.root, 'migrate-store', '--to', bucket, '--parallel', '4');
        assert.equal(up.code, 0, up.stderr);
        assert.equal(up.json.copied, original.size);
        // Every copy verified without reading it back: by the server's SHA-256 check where it
        // stores checksums, else (s3rver) by each PUT's ETag being the MD5 of the bytes sent.
        assert.equal(up.json.verified.readBack, 0);
        assert.equal(up.json.verified.onUpload + up.json.verified.etag, original.size);
        if (s3.kind === 'loopback') assert.equal(up.json.verified.etag, original.size);
        assert.equal(up.json.switched, true);
        assert.deepEqual(await bucketDigest(bucket), original, 'the bucket holds the same bytes under the same keys');
        assert.deepEqual(treeDigest(store.root), original, 'the source is left as it was');
        const c = await store.open();
        assert.equal(await storeLocation(c).rootUrl(), bucket);
        await c.close();
        // The old root is no longer the store's.
        assert.equal((await cli(store.root, 'stats')).code, 2);
        const onS3 = await cli(bucket, 'stats', '--check-disk');
        assert.equal(onS3.code, 0, onS3.stderr);
        assert.equal(onS3.json.drift.walkedFiles, original.size);

        const down = await cli(bucket, 'migrate-store', '--to', back, '--delete-source', '--yes');
        assert.equal(down.code, 0, down.stderr);
        assert.equal(down.json.switched, true);
        assert.equal(down.json.sourceDeleted, original.size);
        assert.deepEqual(treeDigest(back), original, 'back on disk, byte for byte');
        assert.deepEqual(await bucketDigest(bucket), new Map(), '--delete-source emptied the old root');
        const local = await cli(back, 'stats', '--check-disk');
        assert.equal(local.code, 0, local.stderr);
        assert.equal(local.json.drift.walkedFiles, original.size);
      } finally {
        await store.dispose();
        fs.rmSync(path.dirname(back), { recursive: true, force: true });
      }
    });

    test('kill -9 in the middle, rerun: converges, nothing copied twice, source intact', async () => {
      const store = await dialect.makeStore();
      const db = store.databaseUrl || `sqlite:${path.join(store.root, '.storectl', 'catalog.db')}`;
      try {
        assert.equal((await runCli(['--root', store.root, '--database', db, 'generate', '--sample', '24', '--seed', '5', '--workers', '2'])).code, 0);
        const original = treeDigest(store.root);
        const bucket = await s3.newRoot();
        const child = spawn(process.execPath, [BIN, '--root', store.root, '--database', db, '--json', 'migrate-store', '--to', bucket, '--parallel', '1'], {
          cwd: REPO,
          env: { ...process.env, ...s3.env, NO_COLOR: '1' },
          stdio: 'ignore',
        });
        const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
        // Kill once the first batch of verified copies is recorded, while more are in flight.
        const c = await store.open();
        const q = sqlExec(c);
        let recorded = 0;
        for (let i = 0; i < 1200 && recorded === 0; i++) {
          await new Promise((r) => setTimeout(r, 100));
          recorded = Number((await q.all<{ n: number }>('SELECT count(*) AS n FROM store_migration'))[0]!.n);
        }
        assert.ok(recorded > 0, 'the run recorded progress before the kill');
        child.kill('SIGKILL');
        const code = await exited;
        assert.notEqual(code, 0, 'killed, not finished');
        const atKill = await bucketDigest(bucket);
        assert.ok(atKill.size < original.size, `killed part way (${atKill.size} of ${original.size})`);
        assert.equal(await storeLocation(c).rootUrl(), store.root, 'not switched by a killed run');

        const rerun = await runCli(['--root', store.root, '--database', db, '--json', 'migrate-store', '--to', bucket, '--parallel', '3'], { env: s3.env });
        assert.equal(rerun.code, 0, rerun.stderr);
        assert.equal(rerun.json.files, original.size);
        // Every object already in the bucket at the kill (recorded, or copied but unrecorded) is kept, not copied again.
        assert.equal(rerun.json.alreadyThere, atKill.size);
        assert.equal(rerun.json.copied, original.size - atKill.size);
        assert.equal(rerun.json.switched, true);
        assert.deepEqual(await bucketDigest(bucket), original);
        assert.deepEqual(treeDigest(store.root), original, 'source intact');
        assert.equal(await storeLocation(c).rootUrl(), bucket);
        assert.equal(Number((await q.all<{ n: number }>('SELECT count(*) AS n FROM store_migration'))[0]!.n), 0, 'progress cleared once switched');
        await c.close();
      } finally {
        await store.dispose();
      }
    });

    test('a leftover object of the right size but other bytes is copied again; a recorded one and an unrecorded good one are kept', async () => {
      const store = await dialect.makeStore();
      const db = store.databaseUrl || `sqlite:${path.join(store.root, '.storectl', 'catalog.db')}`;
      try {
        assert.equal((await runCli(['--root', store.root, '--database', db, 'generate', '--sample', '4', '--seed', '8', '--workers', '1'])).code, 0);
        const original = treeDigest(store.root);
        const bucket = await s3.newRoot();
        const c = await store.open();
        const files = await c.filePage({ states: ['present'], limit: 1000 });
        assert.ok(files.length >= 3);
        const [recorded, unrecorded, wrong] = files;
        // As a killed run leaves it: one copy recorded, one made but not recorded, and one
        // object of the right size with other bytes (a torn or foreign write).
        const target = await openBlobStore(bucket, () => s3.settings());
        const put = await target.put(recorded!.path, fs.readFileSync(path.join(store.root, recorded!.path)));
        await target.put(unrecorded!.path, fs.readFileSync(path.join(store.root, unrecorded!.path)));
        const other = fs.readFileSync(path.join(store.root, wrong!.path));
        other[0] = other[0]! ^ 0xff;
        await target.put(wrong!.path, other);
        await target.close();
        await storeLocation(c).recordMigrated(bucket, [{ path: recorded!.path, size: recorded!.size, sha256: recorded!.sha256, identity: put.identity }], new Date());
        await c.close();

        const run = await runCli(['--root', store.root, '--database', db, '--json', 'migrate-store', '--to', bucket, '--parallel', '2'], { env: s3.env });
        assert.equal(run.code, 0, run.stderr);
        assert.equal(run.json.files, original.size);
        assert.equal(run.json.alreadyThere, 2, 'the recorded copy and the unrecorded good one are kept');
        assert.equal(run.json.copied, original.size - 2, 'the wrong one is copied again with the rest');
        assert.deepEqual(await bucketDigest(bucket), original);
      } finally {
        await store.dispose();
      }
    });

    test('a non-empty target and a corrupt source: refused, nothing switched', async () => {
      const store = await dialect.makeStore();
      const db = store.databaseUrl || `sqlite:${path.join(store.root, '.storectl', 'catalog.db')}`;
      const cli = (...args: string[]) => runCli(['--root', store.root, '--database', db, '--json', ...args], { env: s3.env });
      try {
        assert.equal((await cli('generate', '--sample', '3', '--seed', '2', '--workers', '1')).code, 0);
        const busy = await s3.newRoot();
        const other = await openBlobStore(busy, () => s3.settings());
        await other.put('someone/else.bin', Buffer.from('not ours'));
        await other.close();
        const refused = await cli('migrate-store', '--to', busy);
        assert.equal(refused.code, 2, refused.stderr);
        assert.equal(refused.json.error.code, 'target_not_empty');
        assert.deepEqual([...(await bucketDigest(busy)).keys()], ['someone/else.bin']);

        // Same size, other bytes: the copy is refused, the root stays, exit 3 naming the file.
        const victim = [...treeDigest(store.root).keys()].find((p) => p.endsWith('front.png'))!;
        const abs = path.join(store.root, victim);
        const bytes = fs.readFileSync(abs);
        bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
        fs.writeFileSync(abs, bytes);
        const target = await s3.newRoot();
        const bad = await cli('migrate-store', '--to', target);
        assert.equal(bad.code, 3, bad.stderr);
        assert.deepEqual(
          bad.json.failed.map((f: { path: string }) => f.path),
          [victim],
        );
        assert.match(bad.json.failed[0].error, /the source does not match the catalog/);
        assert.equal(bad.json.switched, false);
        assert.ok(!(await bucketDigest(target)).has(victim), 'the bad copy is not left at the target');
        const c = await store.open();
        assert.equal(await storeLocation(c).rootUrl(), store.root);
        await c.close();
      } finally {
        await store.dispose();
      }
    });
  });
}

// Faults of the loopback server (test/helpers/s3rver-main.cjs): these run on it even when
// STORECTL_TEST_S3_ENDPOINT names a real server, which cannot be asked to damage an upload.
describe('migrate-store: uploads damaged on the way, and ETags that are not the MD5', () => {
  for (const dialect of DIALECTS) {
    test(`${dialect.name}: a damaged upload is caught (its ETag is not the MD5 of the bytes sent), removed, and the root not switched`, { skip: dialect.skip }, async () => {
      const faulty = await startS3({ serverEnv: { S3RVER_FAULT_CORRUPT_PUT: 'front\\.png$' } });
      const store = await dialect.makeStore();
      const db = store.databaseUrl || `sqlite:${path.join(store.root, '.storectl', 'catalog.db')}`;
      try {
        assert.equal((await runCli(['--root', store.root, '--database', db, 'generate', '--sample', '4', '--seed', '3', '--workers', '1'])).code, 0);
        const original = treeDigest(store.root);
        const damaged = [...original.keys()].filter((p) => p.endsWith('front.png')).sort();
        assert.ok(damaged.length > 0 && damaged.length < original.size);
        const bucket = await faulty.newRoot();
        const run = await runCli(['--root', store.root, '--database', db, '--json', 'migrate-store', '--to', bucket, '--parallel', '3'], { env: faulty.env });
        assert.equal(run.code, 3, run.stderr);
        assert.deepEqual(run.json.failed.map((f: { path: string }) => f.path).sort(), damaged);
        for (const f of run.json.failed) assert.match(f.error, /is not the MD5 of the bytes sent/);
        assert.equal(run.json.copied, original.size - damaged.length);
        assert.equal(run.json.verified.etag, original.size - damaged.length);
        assert.equal(run.json.switched, false);
        const there = await bucketDigestOn(faulty, bucket);
        for (const p of damaged) assert.ok(!there.has(p), `${p}: the damaged copy is not left at the target`);
        for (const [p, sum] of there) assert.equal(sum, original.get(p), `${p}: what is kept is intact`);
        assert.deepEqual(treeDigest(store.root), original, 'source intact');
        const c = await store.open();
        assert.equal(await storeLocation(c).rootUrl(), store.root);
        await c.close();
      } finally {
        await store.dispose();
        await faulty.dispose();
      }
    });

    test(`${dialect.name}: ETags that are not the MD5 (as for SSE-KMS): every copy read back instead, byte-identical`, { skip: dialect.skip }, async () => {
      const opaque = await startS3({ serverEnv: { S3RVER_FAULT_OPAQUE_ETAG: '.' } });
      const store = await dialect.makeStore();
      const db = store.databaseUrl || `sqlite:${path.join(store.root, '.storectl', 'catalog.db')}`;
      try {
        assert.equal((await runCli(['--root', store.root, '--database', db, 'generate', '--sample', '3', '--seed', '4', '--workers', '1'])).code, 0);
        const original = treeDigest(store.root);
        const bucket = await opaque.newRoot();
        const run = await runCli(['--root', store.root, '--database', db, '--json', 'migrate-store', '--to', bucket, '--parallel', '3'], { env: opaque.env });
        assert.equal(run.code, 0, run.stderr);
        assert.equal(run.json.copied, original.size);
        assert.equal(run.json.verified.etag, 0);
        assert.equal(run.json.verified.readBack, original.size);
        assert.equal(run.json.switched, true);
        assert.deepEqual(await bucketDigestOn(opaque, bucket), original);
      } finally {
        await store.dispose();
        await opaque.dispose();
      }
    });
  }
});
