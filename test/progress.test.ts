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
