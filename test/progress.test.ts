// The progress bar on a TTY: count of the total, rate, and an ETA while there is work left.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
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

// On a real terminal: restore and store-mode migrate-images-to-db know their totals (the
// archive's catalog comes before its files; a listing pass counts the store's images).
const PTY = fileURLToPath(new URL('./helpers/pty-run.py', import.meta.url));
const BIN_PATH = fileURLToPath(new URL('../bin/storectl', import.meta.url));

function inPty(args: string[]) {
  const r = spawnSync('python3', [PTY, 'n', process.execPath, BIN_PATH, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', STORECTL_ROOT: '', STORECTL_DATABASE_URL: '', DATABASE_URL: '', COLUMNS: '100' },
    timeout: 120_000,
  });
  return { code: r.status, screen: (r.stdout ?? '') + (r.stderr ?? '') };
}

/** The progress lines the terminal showed for a label: what each redraw left on the line. */
const bars = (screen: string, label: string) =>
  screen
    .split(/[\r\n]/)
    .map((l) => l.replace(/\x1b\[2K/g, ''))
    .filter((l) => l.startsWith(label));

test('restore and store-mode migrate-images-to-db show N/M and an ETA on a terminal', { timeout: 180_000 }, () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-progress-'));
  try {
    const root = path.join(base, 'a');
    const gen = spawnSync(process.execPath, [BIN_PATH, '--root', root, '--json', 'generate', '--sample', '4'], { encoding: 'utf8' });
    assert.equal(gen.status, 0, gen.stderr);
    // Every file the catalog records: the jobs' files and the sample's stale temp uploads.
    const g = JSON.parse(gen.stdout) as { files: number; temp: { files: number } };
    const files = g.files + g.temp.files;
    const arc = path.join(base, 'arc');
    fs.mkdirSync(arc);
    const b = spawnSync(process.execPath, [BIN_PATH, '--root', root, '--json', 'backup', '--dir', arc], { encoding: 'utf8' });
    assert.equal(b.status, 0, b.stderr);
    const archive = JSON.parse(b.stdout).path as string;

    const r = inPty(['--root', path.join(base, 'b'), 'restore', archive, '--yes']);
    assert.equal(r.code, 0, r.screen);
    const rb = bars(r.screen, 'verify');
    assert.ok(rb.length >= 2, r.screen);
    assert.match(rb[0]!, new RegExp(`\\b1/${files}\\b.* eta \\d`), 'the first redraw has the total and an ETA');
    assert.match(rb.at(-1)!, new RegExp(`\\b${files}/${files}\\b`));

    const images = fs.readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.png')).length;
    assert.ok(images > 1);
    const m = inPty(['--root', root, 'migrate-images-to-db']);
    assert.equal(m.code, 0, m.screen);
    const mb = bars(m.screen, 'migrating store');
    assert.ok(mb.length >= 2, m.screen);
    assert.match(mb[0]!, new RegExp(`\\b1/${images}\\b.* eta \\d`));
    assert.match(mb.at(-1)!, new RegExp(`\\b${images}/${images}\\b`));
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});
