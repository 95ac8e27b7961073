// Destructive commands under a real pseudo-terminal ask first, with numbers; without a TTY
// they never prompt and never hang: they refuse with exit 2 unless --yes.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BIN, REPO, runCli, tmpDir } from './helpers/env.ts';
import { listTree } from './helpers/tree.ts';

const PTY = path.join(REPO, 'test/helpers/pty-run.py');

function inPty(answer: string, args: string[]) {
  const r = spawnSync('python3', [PTY, answer, process.execPath, BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', STORECTL_ROOT: '', STORECTL_DATABASE_URL: '', DATABASE_URL: '' },
    timeout: 120_000,
  });
  return { code: r.status, screen: (r.stdout ?? '') + (r.stderr ?? '') };
}

describe('confirmation before destructive work', () => {
  let root: string;
  before(async () => {
    root = path.join(tmpDir(), 'store');
    const g = await runCli(['--root', root, '--json', 'generate', '--sample', '30', '--days', '60', '--seed', '7', '--workers', '1']);
    assert.equal(g.code, 0, g.stderr);
  });
  after(() => {});

  test('without a TTY and without --yes: exit 2, nothing deleted, no hang', async () => {
    const before = listTree(root).length;
    const r = await runCli(['--root', root, 'cleanup-expired'], { input: '\n' });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--yes/);
    assert.match(r.stderr, /--dry-run/);
    assert.equal(listTree(root).length, before);
  });

  test('on a TTY: the prompt states files and bytes; "n" cancels, "y" deletes', () => {
    const before = listTree(root).length;
    const no = inPty('n', ['--root', root, 'cleanup-expired']);
    assert.match(no.screen, /Delete \d+ files \([\d.]+ [KMG]?i?B\) of \d+ jobs/);
    assert.equal(no.code, 1, no.screen);
    assert.match(no.screen, /cancelled/);
    assert.equal(listTree(root).length, before);
    const yes = inPty('y', ['--root', root, 'cleanup-expired']);
    assert.equal(yes.code, 0, yes.screen);
    assert.ok(listTree(root).length < before, 'files were deleted');
  });
});
