// The deletion gate's removal threads (storage/removal-threads.ts): lstats, unlinks and rmdirs
// made off the main thread on names resolved against directories the batch holds open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { DeleteGate, type Expected } from '../src/ops/lifecycle/gate.ts';
import { Limiter } from '../src/ops/pool.ts';

function tree(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-removal-'));
  for (const [rel, body] of Object.entries(files)) {
    fs.mkdirSync(path.join(root, path.dirname(rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), body);
  }
  return root;
}

const expectOf = (root: string, rel: string): Expected => {
  const st = fs.lstatSync(path.join(root, rel));
  return { size: st.size, mtimeMs: st.mtimeMs };
};
const fds = () => fs.readdirSync('/proc/self/fd').length;

test('nested directories in one call: every planned file unlinked, emptied directories removed, no descriptor left open', { skip: process.platform !== 'linux' }, async () => {
  const files = ['c/2026/01/02/j1/a.png', 'c/2026/01/02/j1/b.png', 'c/2026/01/02/j1/sub/c.png', 'c/2026/01/02/j1/sub/deep/d.png', 'c/2026/01/02/j2/e.png', 'c/top.txt'];
  const root = tree(Object.fromEntries(files.map((f, i) => [f, `body ${i}`])));
  const gate = new DeleteGate(root, false);
  try {
    // Warm the process's pool first (its threads are kept for the process, not counted): one
    // removal on every thread, then wait for the count to settle.
    const warmRoot = tree(Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`w/d${i}/f`, 'x'])));
    const warmGate = new DeleteGate(warmRoot, false);
    const warm = warmGate.batch();
    await warm.removePlanned(Array.from({ length: 64 }, (_, i) => ({ path: `w/d${i}/f`, expect: expectOf(warmRoot, `w/d${i}/f`) })), new Limiter(4));
    warm.close();
    warmGate.close();
    fs.rmSync(warmRoot, { recursive: true, force: true });
    await new Promise((r) => setTimeout(r, 300));
    const before = fds();
    const beforeSet = new Set(fs.readdirSync('/proc/self/fd').map((f) => { try { return f + ' ' + fs.readlinkSync('/proc/self/fd/' + f); } catch { return f; } }));
    const batch = gate.batch();
    const work = files.map((p) => ({ path: p, expect: expectOf(root, p) }));
    const checked = await batch.inspectMany(files);
    assert.deepEqual(checked.map((c) => c.kind), files.map(() => 'file'));
    const removed = await batch.removePlanned(work.map((w, i) => ({ ...w, checked: checked[i] })), new Limiter(4));
    assert.deepEqual(removed.results.map((r) => r.outcome), files.map(() => 'deleted'));
    for (const f of files) assert.equal(fs.existsSync(path.join(root, f)), false, f);
    // Leaves removed by the threads as they emptied; their parents by pruneEmptied, never 'c' itself.
    assert.ok(removed.dirsRemoved.includes('c/2026/01/02/j1/sub/deep'), removed.dirsRemoved.join(' '));
    assert.ok(removed.dirsRemoved.includes('c/2026/01/02/j2'), removed.dirsRemoved.join(' '));
    await batch.pruneEmptied(removed.dirsRemoved, 4);
    assert.deepEqual(fs.readdirSync(path.join(root, 'c')), []);
    assert.deepEqual(batch.swapped(), []);
    batch.close();
    gate.close();
    const extra = fs.readdirSync('/proc/self/fd').map((f) => { try { return f + ' ' + fs.readlinkSync('/proc/self/fd/' + f); } catch { return f; } }).filter((x) => !beforeSet.has(x));
    assert.equal(fds(), before, extra.join(', ') + ' every directory the batch opened is closed: by the threads (handed over) or by the batch');
  } finally {
    gate.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('a file changed since planning is kept with its reason, and keeps its directory; the others go', async () => {
  const root = tree({ 'c/j/a': 'aaaa', 'c/j/b': 'bbbb', 'c/k/c': 'cccc' });
  const gate = new DeleteGate(root, false);
  try {
    const plan = ['c/j/a', 'c/j/b', 'c/k/c'].map((p) => ({ path: p, expect: expectOf(root, p) }));
    fs.writeFileSync(path.join(root, 'c/j/b'), 'bigger now');
    fs.rmSync(path.join(root, 'c/k/c'));
    const batch = gate.batch();
    // No batch re-check given: the threads re-check each file before unlinking it.
    const removed = await batch.removePlanned(plan, new Limiter(4));
    assert.deepEqual(removed.results, [{ outcome: 'deleted' }, { outcome: 'changed', reason: 'size changed (4 -> 10)' }, { outcome: 'gone' }]);
    assert.equal(fs.readFileSync(path.join(root, 'c/j/b'), 'utf8'), 'bigger now');
    assert.equal(fs.existsSync(path.join(root, 'c/j/a')), false);
    assert.deepEqual(removed.dirsRemoved, ['c/k'], 'c/j keeps the changed file; c/k lost its only planned file');
    batch.close();
  } finally {
    gate.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

// Root ignores directory modes: as root the directory is made immutable instead (chattr +i).
const asRoot = process.getuid?.() === 0;
const lock = (dir: string, on: boolean) => (asRoot ? execFileSync('chattr', [on ? '+i' : '-i', dir]) : fs.chmodSync(dir, on ? 0o500 : 0o750));

test('an unlink the file system refuses is a failure with its reason, the rest go on', async () => {
  const root = tree({ 'c/j/a': 'a', 'c/k/b': 'b' });
  const gate = new DeleteGate(root, false);
  try {
    const plan = ['c/j/a', 'c/k/b'].map((p) => ({ path: p, expect: expectOf(root, p) }));
    lock(path.join(root, 'c/j'), true);
    const batch = gate.batch();
    const removed = await batch.removePlanned(plan, new Limiter(4));
    assert.equal(removed.results[0]!.outcome, 'failed');
    assert.match((removed.results[0] as { reason: string }).reason, /permission denied|not permitted/i);
    assert.equal(fs.existsSync(path.join(root, 'c/j/a')), true);
    assert.deepEqual(removed.results[1], { outcome: 'deleted' });
    batch.close();
  } finally {
    lock(path.join(root, 'c/j'), false);
    gate.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('a dry-run gate refuses before any thread acts', async () => {
  const root = tree({ 'c/j/a': 'a' });
  const gate = new DeleteGate(root, true);
  try {
    const batch = gate.batch();
    await assert.rejects(batch.removePlanned([{ path: 'c/j/a', expect: expectOf(root, 'c/j/a') }], new Limiter(1)), /refusing to delete c\/j\/a in a dry run/);
    assert.equal(fs.existsSync(path.join(root, 'c/j/a')), true);
    batch.close();
  } finally {
    gate.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
});
