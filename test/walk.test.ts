// The threaded walk gives exactly what the plain sorted walk gives, in the same byte order.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cSorted } from './helpers/c-sort.ts';
import { walkTree, type TreeEntry } from '../src/storage/walk.ts';
import { planUnits, walkTreeChunks, KIND_BY_CODE } from '../src/storage/walk-chunks.ts';

async function collect(root: string, opts: Parameters<typeof walkTreeChunks>[1]): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  for await (const c of walkTreeChunks(root, opts)) {
    assert.ok(c.paths.length > 0, 'no empty chunks');
    c.paths.forEach((p, i) => out.push({ path: p, kind: KIND_BY_CODE[c.kinds[i]!]! }));
  }
  return out;
}

describe('threaded sorted walk', () => {
  let root: string;
  let outside: string;
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-walk-'));
    outside = fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-walk-out-'));
    const put = (rel: string) => {
      fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      fs.writeFileSync(path.join(root, rel), rel);
    };
    // Enough day directories that the planner cuts the tree below the month level.
    for (let m = 1; m <= 3; m++) for (let d = 1; d <= 30; d++) for (let j = 0; j < (d % 4) + 1; j++) {
      const day = `cards/2026/${String(m).padStart(2, '0')}/${String(d).padStart(2, '0')}`;
      put(`${day}/job-${m}-${d}-${j}/front.png`);
      if (j % 2 === 0) put(`${day}/job-${m}-${d}-${j}/back.pdf`);
    }
    // Names whose UTF-16 and UTF-8 orders differ, '/'-vs-'-' sibling order, files at every level.
    for (const name of ['é.png', 'ｚ.png', '😀.png', 'a-b', 'a.png']) put(`cards/2026/01/01/odd/${name}`);
    put('cards/2026/01/01/odd/a/inner.png');
    put('top.txt');
    put('cards/loose.tmp');
    put('temp/x/1.tmp');
    fs.mkdirSync(path.join(root, 'cards/2026/02/empty'), { recursive: true });
    fs.writeFileSync(path.join(outside, 'secret'), 's');
    fs.symlinkSync(outside, path.join(root, 'cards/2026/01/02/link-out'));
    fs.symlinkSync(path.join(outside, 'secret'), path.join(root, 'temp/link-file'));
    execFileSync('mkfifo', [path.join(root, 'temp/fifo')]);
    put('.storectl/catalog.db');
  });
  after(() => {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(outside, { recursive: true, force: true });
  });

  test('same entries, kinds and byte order as walkTree, whatever the threads, chunk size and window', async () => {
    const expected = [...walkTree(root, { sorted: true })];
    const paths = expected.map((e) => e.path);
    // byte order, as `LC_ALL=C sort` (not storectl's comparator) has it
    assert.deepEqual(paths, cSorted(paths));
    assert.ok(expected.some((e) => e.kind === 'symlink') && expected.some((e) => e.kind === 'other'));
    assert.ok(!paths.some((p) => p.startsWith('.storectl')));
    assert.ok(planUnits(root).filter((i) => 'unit' in i).length >= 64, 'the tree is cut into many units');
    for (const opts of [{ threads: 1 }, { threads: 2 }, { threads: 3, chunkSize: 7, maxInFlight: 1 }, { threads: 2, chunkSize: 1 }]) {
      assert.deepEqual(await collect(root, opts), expected, JSON.stringify(opts));
    }
  });

  test('a missing root yields nothing; a root without directories is walked on the main thread', async () => {
    assert.deepEqual(await collect(path.join(root, 'nope'), {}), []);
    const flat = fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-walk-flat-'));
    try {
      fs.writeFileSync(path.join(flat, 'b'), '');
      fs.writeFileSync(path.join(flat, 'a'), '');
      assert.deepEqual((await collect(flat, {})).map((e) => e.path), ['a', 'b']);
    } finally {
      fs.rmSync(flat, { recursive: true });
    }
  });

  test('stopping early ends the threads (no hang)', async () => {
    for await (const c of walkTreeChunks(root, { chunkSize: 2, maxInFlight: 1 })) {
      assert.ok(c.paths.length);
      break;
    }
  });
});
