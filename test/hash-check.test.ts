// The hash threads' check (verify's first read): each file against its expected size and
// SHA-256, a verdict per file. A file that reads back as expected is read once (one byte more
// than expected asked for); anything else is read again the careful way for its detail. Real
// files on real threads: appended, truncated, flipped, missing, a symlink, a FIFO (must not
// hang), an empty file, one larger than a read chunk.
import { after, before, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CHECK_MISMATCH, CHECK_MISSING, CHECK_OK, CHECK_UNREADABLE, checkBatch, openHashPool, type HashPool } from '../src/storage/hash-pool.ts';
import { tmpDir } from './helpers/env.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
let root: string;
let pool: HashPool;
const files: { rel: string; size: number; sha256: string; code: number; detail?: RegExp | { size: number; sha256: string } }[] = [];

before(() => {
  root = tmpDir('storectl-hash-check-');
  fs.mkdirSync(path.join(root, 'd'), { recursive: true });
  const put = (rel: string, data: Buffer) => fs.writeFileSync(path.join(root, rel), data);
  const a = randomBytes(5000);
  put('d/ok', a);
  files.push({ rel: 'd/ok', size: a.length, sha256: sha(a), code: CHECK_OK });
  const grown = Buffer.concat([a, Buffer.from('x')]);
  put('d/grown', grown);
  files.push({ rel: 'd/grown', size: a.length, sha256: sha(a), code: CHECK_MISMATCH, detail: { size: grown.length, sha256: sha(grown) } });
  put('d/short', a.subarray(0, 4000));
  files.push({ rel: 'd/short', size: a.length, sha256: sha(a), code: CHECK_MISMATCH, detail: { size: 4000, sha256: sha(a.subarray(0, 4000)) } });
  const flipped = Buffer.from(a);
  flipped[100] = flipped[100]! ^ 1;
  put('d/flipped', flipped);
  files.push({ rel: 'd/flipped', size: a.length, sha256: sha(a), code: CHECK_MISMATCH, detail: { size: a.length, sha256: sha(flipped) } });
  files.push({ rel: 'd/gone', size: 10, sha256: sha(Buffer.alloc(10)), code: CHECK_MISSING, detail: /missing/ });
  fs.symlinkSync(path.join(root, 'd/ok'), path.join(root, 'd/link'));
  files.push({ rel: 'd/link', size: a.length, sha256: sha(a), code: CHECK_UNREADABLE, detail: /symlink/ });
  execFileSync('mkfifo', [path.join(root, 'd/fifo')]);
  files.push({ rel: 'd/fifo', size: 0, sha256: sha(Buffer.alloc(0)), code: CHECK_UNREADABLE, detail: /not a regular file/ });
  files.push({ rel: 'd/fifo', size: 7, sha256: sha(Buffer.alloc(7)), code: CHECK_UNREADABLE, detail: /not a regular file/ });
  put('d/empty', Buffer.alloc(0));
  files.push({ rel: 'd/empty', size: 0, sha256: sha(Buffer.alloc(0)), code: CHECK_OK });
  const big = randomBytes((1 << 20) + 12345);
  put('d/big', big);
  files.push({ rel: 'd/big', size: big.length, sha256: sha(big), code: CHECK_OK });
  files.push({ rel: 'd/big', size: big.length - 1, sha256: sha(big), code: CHECK_MISMATCH, detail: { size: big.length, sha256: sha(big) } });
  files.push({ rel: 'd/../d/ok', size: a.length, sha256: sha(a), code: CHECK_UNREADABLE, detail: /\.\./ });
  pool = openHashPool(root, 2);
});

after(async () => {
  await pool?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

function expectVerdicts(codes: Uint8Array, found: (i: number) => unknown) {
  files.forEach((f, i) => {
    assert.equal(codes[i], f.code, `${f.rel} (expected size ${f.size})`);
    const d = found(i) as { ok: boolean; size?: number; sha256?: string; reason?: string } | undefined;
    if (f.code === CHECK_OK) return assert.equal(d, undefined, f.rel);
    if (f.detail instanceof RegExp) assert.match(d!.reason!, f.detail, f.rel);
    else assert.deepEqual({ size: d!.size, sha256: d!.sha256 }, f.detail, f.rel);
  });
}

test('on a thread: ok files come back ok and nothing else; every other file with what was read or why not', async () => {
  const sizes = Float64Array.from(files.map((f) => f.size));
  const got = await pool.check(files.map((f) => f.rel), sizes, files.map((f) => f.sha256).join(''));
  expectVerdicts(got.codes, (i) => got.details.get(i));
  assert.equal(got.details.size, files.filter((f) => f.code !== CHECK_OK).length);
});

test('inline (the thread body): the same verdicts, missing flagged as missing', () => {
  const r = checkBatch(root, files.map((f) => f.rel), Float64Array.from(files.map((f) => f.size)), files.map((f) => f.sha256).join(''));
  expectVerdicts(r.codes, (i) => {
    const v = r.found[i];
    if (!v) return undefined;
    return r.codes[i] === CHECK_MISMATCH ? { ok: true, size: v[0], sha256: v[1] } : { ok: false, reason: v[1], missing: v[0] };
  });
  assert.deepEqual(r.found[files.findIndex((f) => f.rel === 'd/gone')]?.[0], true);
});
