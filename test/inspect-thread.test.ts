// The inspect thread answers exactly as the gate on the main thread does, for every kind of entry.
import { test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { DeleteGate } from '../src/ops/lifecycle/gate.ts';
import { openInspector } from '../src/ops/lifecycle/inspect-thread.ts';

test('inspect thread: files, gone, symlinks, a FIFO, a symlinked directory and unsafe paths, as the gate sees them', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-inspect-'));
  const root = path.join(tmp, 'root');
  const outside = path.join(tmp, 'outside');
  fs.mkdirSync(path.join(root, 'cards/2026/11/01/j1'), { recursive: true });
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(root, 'cards/2026/11/01/j1/front.png'), 'x'.repeat(123));
  fs.writeFileSync(path.join(outside, 'secret.png'), 'secret');
  fs.symlinkSync(path.join(outside, 'secret.png'), path.join(root, 'cards/2026/11/01/j1/back.png'));
  fs.symlinkSync(outside, path.join(root, 'cards/2026/11/01/j2'));
  execFileSync('mkfifo', [path.join(root, 'cards/2026/11/01/j1/fifo')]);
  const paths = [
    'cards/2026/11/01/j1/front.png',
    'cards/2026/11/01/j1/missing.png',
    'cards/2026/11/01/j1/back.png',
    'cards/2026/11/01/j1/fifo',
    'cards/2026/11/01/j2/secret.png',
    'cards/../../outside/secret.png',
    '/etc/passwd',
    'cards/nowhere/at/all.png',
  ];
  const inspector = openInspector(root);
  try {
    const gate = new DeleteGate(root, true);
    const expected = paths.map((p) => gate.inspect(p));
    const got = await inspector.inspect(paths);
    assert.deepEqual(got, expected);
    assert.deepEqual(
      got.map((s) => s.kind),
      ['file', 'gone', 'symlink', 'other', 'unsafe', 'unsafe', 'unsafe', 'gone'],
    );
    // size and mtime as coreutils' stat reports them, not as storectl's gate does
    const [size, mtimeS] = execFileSync('stat', ['-c', '%s %.9Y', path.join(root, paths[0]!)], { encoding: 'utf8' }).trim().split(' ');
    assert.equal((got[0] as { size: number }).size, Number(size));
    assert.equal((got[0] as { size: number }).size, 123);
    assert.ok(Math.abs((got[0] as { mtimeMs: number }).mtimeMs - Number(mtimeS) * 1000) < 1, `mtime ${(got[0] as { mtimeMs: number }).mtimeMs} vs stat ${mtimeS}`);
    // many at once, in order; an empty request answers at once
    const many = Array.from({ length: 3000 }, (_, i) => (i % 2 ? paths[0]! : paths[1]!));
    const answers = await inspector.inspect(many);
    assert.equal(answers.length, 3000);
    assert.ok(answers.every((s, i) => s.kind === (i % 2 ? 'file' : 'gone')));
    assert.deepEqual(await inspector.inspect([]), []);
  } finally {
    await inspector.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
