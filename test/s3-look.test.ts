// The S3 deletion target's look: keys under a shared parent are looked at with one listing,
// the rest with a HEAD each; either way each key's state is what a HEAD of it says (the
// oracle here), on the real loopback S3 server.
import { after, before, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import type { BlobStore } from '../src/storage/blob.ts';
import { openBlobStore } from '../src/storage/open.ts';
import { S3Target } from '../src/ops/lifecycle/s3-target.ts';
import { startS3, type S3Fixture } from './helpers/s3.ts';

let s3: S3Fixture;
let store: BlobStore;
before(async () => {
  s3 = await startS3();
  store = await openBlobStore(await s3.newRoot(), () => s3.settings());
});
after(async () => {
  await store?.close();
  await s3?.dispose();
});

test('look by listing agrees with a HEAD of each key: present, gone between and after, alone, crowded, unsafe, at the top, a day of several jobs', async () => {
  const present = ['cards/2026/11/01/j1/back.png', 'cards/2026/11/01/j1/front.png', 'cards/2026/11/01/j1/z-last.pdf', 'exports/alone.csv', 'top.txt', 'cards/2026/11/01/j2/front.png', 'cards/2026/11/01/j3/x.png'];
  for (const [i, k] of present.entries()) await store.put(k, Buffer.alloc(10 + i, i));
  // a prefix crowded with keys the look does not want, before and between the wanted ones
  for (let i = 0; i < 40; i++) await store.put(`uploads/crowd/a-${String(i).padStart(3, '0')}`, Buffer.from(String(i)));
  await store.put('uploads/crowd/m-wanted', Buffer.from('wanted'));
  const target = new S3Target(store, true);
  const paths = [
    'cards/2026/11/01/j1/front.png',
    'cards/2026/11/01/j1/c-gone-between.png',
    'cards/2026/11/01/j1/back.png',
    'cards/2026/11/01/j1/zz-gone-after.png',
    'cards/2026/11/01/j1/z-last.pdf',
    'exports/alone.csv',
    'exports/none/gone-alone.csv',
    'uploads/crowd/m-wanted',
    'uploads/crowd/a-007',
    'uploads/crowd/zzz-gone',
    '../outside.png',
    'top.txt',
    'top-gone.txt',
    // a second and third job of the same day: the day is listed once for all three
    'cards/2026/11/01/j2/front.png',
    'cards/2026/11/01/j2/gone.png',
  ];
  const looked = await target.look(paths);
  const headed = await Promise.all(paths.map((p) => target.head(p)));
  assert.deepEqual(looked, headed);
  assert.deepEqual(
    looked.map((s) => s.kind),
    ['file', 'gone', 'file', 'gone', 'file', 'file', 'gone', 'file', 'file', 'gone', 'unsafe', 'file', 'gone', 'file', 'gone'],
  );
  assert.equal((looked[0] as { size: number }).size, 11);
  assert.match((looked[0] as { identity: string }).identity, /^etag:/);
  assert.deepEqual(await target.look([]), []);
});
