// The pack object's format (src/storage/pack-format.ts): members back to back from offset 0, a
// JSON index, a 32-byte footer; keys under .packs/, safe catalog paths whatever the job id.
import { test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { buildPack, FOOTER_BYTES, isPackKey, packKey, readPackIndex } from '../src/storage/pack-format.ts';
import { isSafeRelPath } from '../src/storage/paths.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('a pack is its members back to back, then an index and a footer that find them again', () => {
  const a = Buffer.from('first file');
  const b = Buffer.alloc(0);
  const c = Buffer.from([0, 1, 2, 255]);
  const built = buildPack('job-1', [
    { path: 'cards/a', stored: a, size: a.length, sha256: sha(a), encoding: null },
    { path: 'cards/b', stored: b, size: 0, sha256: sha(b), encoding: null },
    { path: 'cards/c', stored: c, size: 40, sha256: 'x'.repeat(64), encoding: 'gzip' },
  ]);
  assert.deepEqual(built.entries.map((e) => [e.offset, e.length]), [[0, a.length], [a.length, 0], [a.length, c.length]]);
  assert.ok(built.body.subarray(0, a.length + c.length).equals(Buffer.concat([a, c])), 'members from offset 0, nothing between them');
  assert.equal(built.sha256, sha(built.body));
  const footer = built.body.subarray(built.body.length - FOOTER_BYTES).toString('ascii');
  assert.match(footer, /^STORECTL-PACK1 [0-9a-f]{16}\n$/);
  assert.equal(Number.parseInt(footer.slice(15, 31), 16), a.length + c.length, 'the footer names where the index starts');
  const idx = readPackIndex(built.body);
  assert.equal(idx.jobId, 'job-1');
  assert.deepEqual(idx.members, built.entries);
  assert.throws(() => readPackIndex(built.body.subarray(0, built.body.length - 1)), /not a storectl pack/);
  assert.throws(() => readPackIndex(Buffer.from('short')), /not a storectl pack/);
});

test('pack keys are safe catalog paths under .packs/, distinct per salt', () => {
  for (const job of ['card-20261108-0503c700', '../../etc', 'a/b\\c', '', 'ü'.repeat(200)]) {
    const k = packKey(job, 'run-1');
    assert.ok(isPackKey(k), k);
    assert.ok(isSafeRelPath(k), `${k} is a safe path`);
    assert.match(k, /^\.packs\/[A-Za-z0-9._-]+-[0-9a-f]{12}\.pack$/);
    assert.notEqual(k, packKey(job, 'run-2'));
  }
});
