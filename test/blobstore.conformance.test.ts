// One conformance suite for every BlobStore: the local tree and S3 (the loopback s3rver, or
// the endpoint in STORECTL_TEST_S3_ENDPOINT). Each behaviour is checked through the interface
// and, where it matters, against the storage itself (the file on disk, the object in the bucket).
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { tmpDir } from './helpers/env.ts';
import { startS3, type S3Fixture } from './helpers/s3.ts';
import { BlobChecksumError, BlobNotFoundError, type BlobEntry, type BlobStore } from '../src/storage/blob.ts';
import { LocalTreeBlobStore } from '../src/storage/local-blob-store.ts';
import { openBlobStore } from '../src/storage/open.ts';
import { cSorted } from './helpers/c-sort.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function listAll(store: BlobStore, opts?: Parameters<BlobStore['list']>[0]): Promise<BlobEntry[]> {
  const out: BlobEntry[] = [];
  for await (const page of store.list(opts)) out.push(...page);
  return out;
}

/** A stream that yields `good` bytes, then fails: the writer dies half way through. */
function failingStream(good: Buffer): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(good);
      } else {
        this.destroy(new Error('source failed half way'));
      }
    },
  });
}

interface Backend {
  name: string;
  open(): Promise<BlobStore>;
  dispose(): Promise<void>;
}

let s3: S3Fixture | undefined;
const localRoots: string[] = [];

const BACKENDS: Backend[] = [
  {
    name: 'local',
    async open() {
      const root = tmpDir('storectl-blobs-');
      localRoots.push(root);
      return new LocalTreeBlobStore(root);
    },
    async dispose() {
      for (const r of localRoots) fs.rmSync(r, { recursive: true, force: true });
    },
  },
  {
    name: 's3',
    async open() {
      s3 ??= await startS3();
      return openBlobStore(await s3.newRoot(), () => s3!.settings());
    },
    async dispose() {
      await s3?.dispose();
    },
  },
];

for (const backend of BACKENDS) {
  describe(`BlobStore conformance: ${backend.name}`, () => {
    let store: BlobStore;
    before(async () => {
      store = await backend.open();
    });
    after(async () => {
      await store.close();
      await backend.dispose();
    });

    test('put from a buffer, get, stat', async () => {
      const data = randomBytes(3000);
      const put = await store.put('cards/2026/01/02/j1/front.png', data, { sha256: sha(data) });
      assert.equal(put.size, 3000);
      assert.equal(put.checksumVerified, store.capabilities.verifiesSha256OnPut);
      const got = await buffer(await store.get('cards/2026/01/02/j1/front.png'));
      assert.ok(got.equals(data));
      const st = await store.stat('cards/2026/01/02/j1/front.png');
      assert.ok(st);
      assert.equal(st.size, 3000);
      assert.equal(st.kind, 'file');
      assert.equal(st.identity, put.identity);
      assert.ok(Math.abs(st.mtime.getTime() - Date.now()) < 120_000, 'mtime is about now');
    });

    test('put from a stream (larger than one multipart part on S3), byte-range get', async () => {
      const data = randomBytes(9 * 1024 * 1024 + 123);
      const put = await store.put('exports/big stream.bin', Readable.from([data.subarray(0, 4_000_000), data.subarray(4_000_000)]));
      assert.equal(put.size, data.length);
      const whole = await buffer(await store.get('exports/big stream.bin'));
      assert.equal(sha(whole), sha(data));
      const part = await buffer(await store.get('exports/big stream.bin', { start: 10, end: 19 }));
      assert.ok(part.equals(data.subarray(10, 20)));
      const tail = await buffer(await store.get('exports/big stream.bin', { start: data.length - 5 }));
      assert.ok(tail.equals(data.subarray(data.length - 5)));
    });

    test('overwrite replaces the object whole and changes its identity', async () => {
      const a = await store.put('temp/over.txt', Buffer.from('first version'));
      const b = await store.put('temp/over.txt', Buffer.from('second, longer version'));
      assert.notEqual(a.identity, b.identity);
      assert.equal((await buffer(await store.get('temp/over.txt'))).toString(), 'second, longer version');
    });

    test('a put that fails half way leaves nothing visible (small and multipart)', async () => {
      await assert.rejects(store.put('temp/partial-small.bin', failingStream(randomBytes(1000))));
      await assert.rejects(store.put('temp/partial-big.bin', failingStream(randomBytes(6 * 1024 * 1024))));
      assert.equal(await store.stat('temp/partial-small.bin'), null);
      assert.equal(await store.stat('temp/partial-big.bin'), null);
      const keys = (await listAll(store, { prefix: 'temp/' })).map((e) => e.key);
      assert.ok(!keys.some((k) => k.includes('partial')), `no partial object listed: ${keys.join(', ')}`);
      if (store.capabilities.kind === 'local') {
        const root = (store as LocalTreeBlobStore).root;
        assert.deepEqual(fs.readdirSync(path.join(root, 'temp')).filter((n) => n.includes('partial')), [], 'no temp file left');
      }
    });

    test('a put whose bytes do not match the given SHA-256 is refused where the backend can check', { skip: false }, async (t) => {
      if (!store.capabilities.verifiesSha256OnPut) {
        t.diagnostic(`${backend.name}: this server does not check x-amz-checksum-sha256 (STORECTL_S3_SEND_SHA256=false)`);
        return;
      }
      const data = Buffer.from('the real bytes');
      await assert.rejects(store.put('temp/corrupt.bin', data, { sha256: sha(Buffer.from('other bytes')) }), BlobChecksumError);
      assert.equal(await store.stat('temp/corrupt.bin'), null);
    });

    test('names with UTF-8 and spaces round-trip', async () => {
      const names = ['uploads/été/naïve file.txt', 'uploads/日本語/名前 with space.pdf', 'uploads/emoji 😀.png', 'uploads/a+b=c&d.txt'];
      for (const n of names) await store.put(n, Buffer.from(n));
      for (const n of names) assert.equal((await buffer(await store.get(n))).toString(), n);
      const listed = (await listAll(store, { prefix: 'uploads/' })).map((e) => e.key);
      assert.deepEqual([...listed].sort(), [...names].sort());
    });

    test('list: byte order of the key across pages, prefix, startAfter, sizes', async () => {
      const keys = ['order/a b', 'order/a-b', 'order/a/b', 'order/a0', 'order/aB', 'order/ab', 'order/z', 'order/é', 'order/\u{1F600}', 'order/\uFFFD', 'order/A', 'order/_x'];
      for (const k of keys) await store.put(k, Buffer.from(k + k));
      const expected = cSorted(keys);
      const pages: BlobEntry[][] = [];
      for await (const p of store.list({ prefix: 'order/', pageSize: 4 })) pages.push(p);
      assert.ok(pages.length >= 3, `several pages (${pages.length})`);
      assert.ok(pages.every((p) => p.length <= 4));
      const listed = pages.flat();
      assert.deepEqual(
        listed.map((e) => e.key),
        expected,
      );
      for (const e of listed) {
        assert.equal(e.size, Buffer.byteLength(e.key + e.key));
        assert.equal(e.kind, 'file');
        assert.ok(e.identity);
      }
      const rest = (await listAll(store, { prefix: 'order/', startAfter: 'order/a/b' })).map((e) => e.key);
      assert.deepEqual(rest, expected.slice(expected.indexOf('order/a/b') + 1));
      assert.deepEqual((await listAll(store, { prefix: 'order/a/' })).map((e) => e.key), ['order/a/b']);
      assert.deepEqual(await listAll(store, { prefix: 'nothing-here/' }), []);
    });

    test('a missing key: stat null, get BlobNotFoundError, remove ok', async () => {
      assert.equal(await store.stat('cards/none/such.png'), null);
      await assert.rejects(store.get('cards/none/such.png'), BlobNotFoundError);
      const r = await store.remove('cards/none/such.png');
      assert.equal(r.ok, true);
      if (store.capabilities.kind === 'local') assert.equal(r.missing, true);
    });

    test('readWhole, where the backend has it: the bytes as get gives them, a missing key, too large (S3 has none: its callers read through get)', async () => {
      if (backend.name === 's3') {
        assert.equal(store.readWhole, undefined, 'the S3 store reads as a stream only');
        return;
      }
      assert.ok(store.readWhole, `${backend.name} has readWhole`);
      const data = randomBytes(5000);
      await store.put('whole/a.png', data);
      assert.ok((await store.readWhole('whole/a.png', 5000)).equals(data));
      assert.ok((await store.readWhole('whole/a.png', 1 << 20)).equals(data));
      await store.put('whole/empty.png', Buffer.alloc(0));
      assert.equal((await store.readWhole('whole/empty.png', 10)).length, 0);
      await assert.rejects(store.readWhole('whole/a.png', 4999), /more than the 4999/);
      await assert.rejects(store.readWhole('whole/none.png', 10), BlobNotFoundError);
      await assert.rejects(store.readWhole('../escape.png', 10));
    });

    test('unsafe keys are refused before reaching the storage', async () => {
      for (const bad of ['../escape', '/abs', 'a//b', '.storectl/catalog.db', 'a/./b']) {
        await assert.rejects(store.put(bad, Buffer.from('x')), /unsafe path/);
        await assert.rejects(store.stat(bad), /unsafe path/);
      }
    });

    test('remove one, and a batch with some failures: one result per key, in order', async () => {
      await store.put('rm/one', Buffer.from('1'));
      assert.deepEqual(await store.remove('rm/one'), { key: 'rm/one', ok: true });
      assert.equal(await store.stat('rm/one'), null);

      const good = Array.from({ length: 25 }, (_, i) => `rm/batch/${String(i).padStart(3, '0')} f`);
      for (const k of good) await store.put(k, Buffer.from(k));
      const keys = [good[0]!, '../outside', ...good.slice(1, 10), 'rm/batch/missing', 'a//b', ...good.slice(10)];
      const results = await store.removeMany(keys);
      assert.equal(results.length, keys.length);
      assert.deepEqual(
        results.map((r) => r.key),
        keys,
      );
      const byKey = new Map(results.map((r) => [r.key, r]));
      assert.equal(byKey.get('../outside')!.ok, false);
      assert.match(byKey.get('../outside')!.error!, /unsafe path/);
      assert.equal(byKey.get('a//b')!.ok, false);
      assert.equal(byKey.get('rm/batch/missing')!.ok, true);
      for (const k of good) assert.equal(byKey.get(k)!.ok, true, k);
      assert.deepEqual(await listAll(store, { prefix: 'rm/' }), [], 'every good key is gone from the storage');
    });

    test('capabilities say what the backend is', () => {
      const c = store.capabilities;
      if (c.kind === 'local') {
        assert.equal(c.symlinks, true);
        assert.equal(c.hardLinks, true);
      } else {
        assert.equal(c.symlinks, false);
        assert.equal(c.hardLinks, false);
        assert.equal(c.removeBatchSize, 1000);
        assert.ok(store.url.startsWith('s3://'));
      }
      assert.ok(c.removeConcurrency >= 1);
    });
  });
}

describe('local tree only: the safeties it had before', () => {
  test('0600 files in 0750 directories; a symlink is listed as one and never followed', async () => {
    const root = tmpDir('storectl-blobs-');
    const outside = tmpDir('storectl-outside-');
    try {
      const store = new LocalTreeBlobStore(root);
      await store.put('cards/2026/01/01/j/front.png', Buffer.from('x'));
      assert.equal(fs.statSync(path.join(root, 'cards/2026/01/01/j/front.png')).mode & 0o777, 0o600);
      assert.equal(fs.statSync(path.join(root, 'cards/2026/01/01/j')).mode & 0o777, 0o750);
      fs.writeFileSync(path.join(outside, 'secret'), 'outside');
      fs.symlinkSync(outside, path.join(root, 'cards/linkdir'));
      fs.symlinkSync(path.join(outside, 'secret'), path.join(root, 'cards/link.png'));
      await assert.rejects(store.put('cards/linkdir/new.png', Buffer.from('y')), /symlink/);
      await assert.rejects(store.get('cards/link.png'), /symlink/);
      await assert.rejects(store.readWhole('cards/link.png', 100), /symlink/);
      await assert.rejects(store.readWhole('cards/linkdir/secret', 100), /symlink/);
      assert.equal((await store.stat('cards/link.png'))!.kind, 'symlink');
      const r = await store.remove('cards/link.png');
      assert.equal(r.ok, false);
      assert.ok(fs.existsSync(path.join(outside, 'secret')), 'the link target is untouched');
      const listed = await listAll(store);
      assert.deepEqual(
        listed.map((e) => [e.key, e.kind]),
        [
          ['cards/2026/01/01/j/front.png', 'file'],
          ['cards/link.png', 'symlink'],
          ['cards/linkdir', 'symlink'],
        ],
      );
      assert.deepEqual(fs.readdirSync(outside), ['secret'], 'nothing written through the link');
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });
});

describe('S3 store across a server crash', () => {
  test('kill -9 of the server: one-line endpoint error, then the same objects after a restart', async (t) => {
    const fx = await startS3();
    try {
      if (!fx.server) {
        t.diagnostic('a real endpoint cannot be killed from here');
        return;
      }
      const store = await openBlobStore(await fx.newRoot(), () => ({ ...fx.settings(), maxAttempts: 1 }));
      await store.put('cards/x/front.png', Buffer.from('survives'));
      await fx.server.kill();
      const err = await store.stat('cards/x/front.png').then(
        () => assert.fail('stat succeeded with the server down'),
        (e: Error & { exitCode?: number }) => e,
      );
      assert.match(err.message, /^cannot reach the S3 endpoint for s3:\/\/t-[^ ]+\/store\/cards\/x\/front\.png: (ECONNREFUSED|ECONNRESET|EPIPE)$/);
      assert.equal(err.exitCode, 2);
      await fx.server.start();
      assert.equal((await buffer(await store.get('cards/x/front.png'))).toString(), 'survives');
      await store.close();
    } finally {
      await fx.dispose();
    }
  });

  test('wrong secret, unknown key id, missing bucket: one line each, exit 2', async () => {
    const fx = await startS3();
    try {
      const root = await fx.newRoot();
      const bad = await openBlobStore(root, () => ({ ...fx.settings(), secretAccessKey: 'wrong-secret' }), { probe: false });
      // GET carries the server's error code; HEAD has no body, so a 403 there reads as access denied.
      await assert.rejects(bad.get('a'), (e: Error & { exitCode?: number; code?: string }) => e.exitCode === 2 && e.code === 's3_credentials' && !e.message.includes('\n') && !e.message.includes('wrong-secret'));
      await assert.rejects(bad.stat('a'), (e: Error & { exitCode?: number; code?: string }) => e.exitCode === 2 && e.code === 's3_access_denied');
      const bucket = /^s3:\/\/([^/]+)/.exec(root)![1]!;
      await assert.rejects(
        openBlobStore(`s3://${bucket}x-none/p/`, () => fx.settings()),
        (e: Error & { exitCode?: number; code?: string }) => e.exitCode === 2 && e.code === 's3_no_bucket' && e.message === `no such bucket: ${bucket}x-none`,
      );
      await bad.close();
    } finally {
      await fx.dispose();
    }
  });
});
