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
  const store = await openBlobStore(root, () => s3.settings());
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
