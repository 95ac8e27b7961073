// The progress bar on a TTY: count of the total, rate, and an ETA while there is work left.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ttyProgress } from '../src/ui/progress.ts';
import type { IO } from '../src/ui/io.ts';

test('a bar with a total shows the count, the rate and an ETA; the final line has no ETA', async () => {
  let err = '';
  const io: IO = { stdout: { write: () => true }, stderr: { write: (s: string) => (err += s), isTTY: true, columns: 100 }, stdinIsTTY: true, env: {}, cwd: '/' };
  const p = ttyProgress(io)('importing', 10);
  await new Promise((r) => setTimeout(r, 20));
  p.tick(4);
  const first = err.split('\r').pop()!;
  assert.match(first, /importing \[#+-+\] 4\/10 \d+\/s eta \d+(\.\d)? (ms|s)/);
  p.tick(6);
  p.done();
  const last = err.split('\r').pop()!;
  assert.match(last, /10\/10 \d+\/s\n$/);
  assert.doesNotMatch(last, /eta/);
});

test('a line never reaches the last column at 80 (or 40) columns: the bar gives way, then the label is shortened in the middle; bytes are shown with their rate', async () => {
  for (const columns of [80, 40]) {
    let err = '';
    const io: IO = { stdout: { write: () => true }, stderr: { write: (s: string) => (err += s), isTTY: true, columns }, stdinIsTTY: true, env: {}, cwd: '/' };
    const label = 'migrating users.profile_photo_path_with_a_long_column_name_for_the_test';
    const p = ttyProgress(io)(label, 123_456);
    await new Promise((r) => setTimeout(r, 20));
    p.tick(61_000, 52_428_800);
    await new Promise((r) => setTimeout(r, 120));
    p.tick(1, 1024);
    p.done();
    const lines = err.split('\r').map((l) => l.replace('\x1b[2K', '').replace(/\n$/, '')).filter(Boolean);
    assert.ok(lines.length >= 2);
    for (const l of lines) assert.ok(l.length <= columns - 1, `${columns} columns: ${JSON.stringify(l)} is ${l.length} long`);
    if (columns === 80) {
      assert.match(lines.at(-1)!, /61001\/123456/);
      assert.match(lines.at(-1)!, /50(\.\d+)? MiB [\d.]+ [KMG]?i?B\/s/);
      assert.match(lines.at(-1)!, /^migrating .*…/, 'the label keeps its start, shortened in the middle');
    }
  }
});

test('fitLabel keeps both ends of a long label', async () => {
  const { fitLabel } = await import('../src/ui/progress.ts');
  assert.equal(fitLabel('short', 10), 'short');
  assert.equal(fitLabel('abcdefghij', 5), 'ab…ij');
  assert.equal(fitLabel('abcdefghij', 1), '');
});
