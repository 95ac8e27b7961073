// Destructive commands under a real pseudo-terminal ask first, with numbers; without a TTY
// they never prompt and never hang: they refuse with exit 2 unless --yes.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
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

  test('on a TTY: cleanup-orphaned names the orphans before it asks; "n" keeps them', () => {
    const orphan = path.join(root, 'cards', '2020', '01', '01', 'stray-orphan.png');
    fs.mkdirSync(path.dirname(orphan), { recursive: true });
    fs.writeFileSync(orphan, 'stray');
    const old = new Date(Date.now() - 3 * 86_400_000);
    fs.utimesSync(orphan, old, old);
    const no = inPty('n', ['--root', root, 'cleanup-orphaned']);
    assert.equal(no.code, 1, no.screen);
    const named = no.screen.indexOf('cards/2020/01/01/stray-orphan.png');
    const question = no.screen.indexOf('Delete 1 orphan');
    assert.ok(named >= 0 && question > named, no.screen);
    assert.match(no.screen, /come back only from a backup/);
    assert.ok(fs.existsSync(orphan));
    fs.rmSync(path.join(root, 'cards', '2020'), { recursive: true });
  });

  test('on a TTY: the prompt states files and bytes; "n" cancels, "y" deletes', () => {
    const before = listTree(root).length;
    const no = inPty('n', ['--root', root, 'cleanup-expired']);
    assert.match(no.screen, /Delete \d+ files \([\d.]+ [KMG]?i?B\) of \d+ jobs/);
    assert.equal(no.code, 1, no.screen);
    assert.match(no.screen, /storectl: cancelled: nothing was changed/);
    assert.doesNotMatch(no.screen, /error/, 'a "no" is a notice, not an error');
    // The plan per rule and what cannot be undone come before the question.
    const question = no.screen.indexOf('Delete ');
    const planAt = no.screen.search(/completed-cards\s+delete\s+\d+\s+\d+/);
    assert.ok(planAt >= 0 && planAt < question, no.screen);
    const warned = no.screen.indexOf('Deleting cannot be undone');
    assert.ok(warned >= 0 && warned < question, 'the irreversible part is said before the question');
    assert.equal(listTree(root).length, before);
    const interrupted = inPty('\x03', ['--root', root, 'cleanup-expired']);
    assert.equal(interrupted.code, 1, interrupted.screen);
    assert.match(interrupted.screen, /storectl: cancelled: nothing was changed/, 'Ctrl-C at the prompt cancels');
    assert.equal(listTree(root).length, before);
    const yes = inPty('y', ['--root', root, 'cleanup-expired']);
    assert.equal(yes.code, 0, yes.screen);
    assert.ok(listTree(root).length < before, 'files were deleted');
  });
});
