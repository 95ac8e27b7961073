// What an upload to S3 sends to let the server refuse corrupted bytes, seen on the wire (an SDK
// middleware capturing each request's headers, against the real loopback s3rver or the endpoint
// in STORECTL_TEST_S3_ENDPOINT): a single PutObject carries the catalog's SHA-256; a multipart
// upload is created with ChecksumAlgorithm SHA256 and every UploadPart carries the SHA-256 of
// its own bytes. With s3.sendSha256 off, none of them. s3rver stores and checks no checksum, so
// that the server refuses a corrupted part is shown only against a real endpoint.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { startS3, type S3Fixture } from './helpers/s3.ts';
import { openBlobStore } from '../src/storage/open.ts';
import type { S3BlobStore } from '../src/storage/s3/s3-blob-store.ts';
import { BlobChecksumError } from '../src/storage/blob.ts';

const MiB = 1024 * 1024;
const b64sha = (b: Uint8Array) => createHash('sha256').update(b).digest('base64');
const hexsha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

interface Sent {
  command: string;
  headers: Record<string, string>;
  partNumber?: number;
  body?: Uint8Array;
}

let s3: S3Fixture;
before(async () => {
  s3 = await startS3();
});
after(async () => {
  await s3?.dispose();
});

async function storeWith(sendSha256: boolean, corruptParts = false): Promise<{ store: S3BlobStore; sent: Sent[] }> {
  const store = (await openBlobStore(await s3.newRoot(), () => ({ ...s3.settings(), sendSha256, partSize: 5 * MiB, partsInParallel: 2 }))) as S3BlobStore;
  const sent: Sent[] = [];
  store.client.middlewareStack.add(
    (next, context) => async (args) => {
      const req = args.request as { headers: Record<string, string>; query?: Record<string, string>; body?: unknown };
      const body = req.body instanceof Uint8Array ? req.body : undefined;
      if (corruptParts && context.commandName === 'UploadPartCommand' && body) {
        // After the SDK computed the part's checksum: one byte changed on the way.
        const bad = Buffer.from(body);
        bad[0] = bad[0]! ^ 0xff;
        req.body = bad;
      }
      sent.push({ command: context.commandName!, headers: { ...req.headers }, partNumber: req.query?.partNumber ? Number(req.query.partNumber) : undefined, body });
      return next(args);
    },
    { step: 'finalizeRequest', name: 'captureSent', priority: 'high' },
  );
  return { store, sent };
}

/** A stream of `data` in 1 MiB chunks, as a file read would give it. */
const streamOf = (data: Buffer) => Readable.from((function* () {
  for (let i = 0; i < data.length; i += MiB) yield data.subarray(i, i + MiB);
})());

describe(`S3 upload checksums (${process.env.STORECTL_TEST_S3_ENDPOINT ? 'endpoint' : 'loopback s3rver'})`, () => {
  test('a single PutObject carries the SHA-256 given (the catalog\'s)', async () => {
    const { store, sent } = await storeWith(true);
    const data = randomBytes(1000);
    await store.put('cards/one.bin', data, { sha256: hexsha(data) });
    const put = sent.find((s) => s.command === 'PutObjectCommand')!;
    assert.equal(put.headers['x-amz-checksum-sha256'], b64sha(data));
  });

  test('a multipart upload: created with ChecksumAlgorithm SHA256, each part with the SHA-256 of its bytes; the object is whole', async () => {
    const { store, sent } = await storeWith(true);
    const data = randomBytes(11 * MiB + 3);
    const put = await store.put('cards/big.bin', streamOf(data), { sha256: hexsha(data) });
    assert.equal(put.size, data.length);
    assert.equal(put.checksumVerified, false, 'no full-object SHA-256 for multipart: not reported verified');
    const create = sent.find((s) => s.command === 'CreateMultipartUploadCommand');
    assert.ok(create, `multipart was used: ${sent.map((s) => s.command).join(', ')}`);
    assert.equal(create.headers['x-amz-checksum-algorithm'], 'SHA256');
    const parts = sent.filter((s) => s.command === 'UploadPartCommand').sort((a, b) => a.partNumber! - b.partNumber!);
    assert.equal(parts.length, 3);
    parts.forEach((p, i) => {
      const bytes = data.subarray(i * 5 * MiB, (i + 1) * 5 * MiB);
      assert.equal(p.headers['x-amz-checksum-sha256'], b64sha(bytes), `part ${p.partNumber} carries its SHA-256`);
      assert.equal(p.headers['x-amz-trailer'], undefined, 'in a header, not an aws-chunked trailer (which s3rver and some servers refuse)');
    });
    assert.ok((await buffer(await store.get('cards/big.bin'))).equals(data));
  });

  test('with s3.sendSha256 off, no upload carries a checksum', async () => {
    const { store, sent } = await storeWith(false);
    const small = randomBytes(100);
    await store.put('cards/s.bin', small, { sha256: hexsha(small) });
    await store.put('cards/b.bin', streamOf(randomBytes(6 * MiB)));
    for (const s of sent) {
      assert.equal(s.headers['x-amz-checksum-sha256'], undefined, s.command);
      assert.equal(s.headers['x-amz-checksum-algorithm'], undefined, s.command);
    }
    assert.ok(sent.some((s) => s.command === 'UploadPartCommand'));
  });

  test('a part corrupted after its checksum was computed is refused by a server that checks (not by s3rver)', async (t) => {
    const { store } = await storeWith(true, true);
    const data = randomBytes(6 * MiB);
    if (!process.env.STORECTL_TEST_S3_ENDPOINT) {
      // s3rver stores and checks no checksum: the corrupted part is accepted (README, "What the loopback test server cannot show").
      await store.put('cards/corrupt.bin', streamOf(data));
      t.diagnostic('loopback s3rver: checksums are sent but not checked; run with STORECTL_TEST_S3_ENDPOINT to see the refusal');
      return;
    }
    await assert.rejects(store.put('cards/corrupt.bin', streamOf(data)), BlobChecksumError);
    assert.equal(await store.stat('cards/corrupt.bin'), null);
  });
});
