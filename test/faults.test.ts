// Faults end in one clear line that names the path and says what was and was not done: a full
// disk (generate, restore, the SQLite catalog), a read-only store (read-only commands still
// work), a name too long, a file where a directory should be, a directory where a file should be.
// The mounts need root; without it the test is skipped, visibly.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { runCli, tmpDir } from './helpers/env.ts';

const root = process.getuid?.() === 0;
const skip = root ? false : 'not root: mounting a small tmpfs and a read-only bind mount needs root';
if (skip && process.env.CI) throw new Error(`CI runs as root: ${skip}`);

const oneLine = (r: { stderr: string }) => {
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^storectl: error: /);
  return lines[0]!;
};
const dataFiles = (dir: string): string[] =>
  fs.existsSync(dir) ? (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[]).filter((d) => d.isFile() && !path.join(d.parentPath, d.name).includes('/.storectl')).map((d) => d.name) : [];

describe('faults end in one clear line', { skip }, () => {
  let work: string;
  let store: string;
  const mounts: string[] = [];
  const mount = (args: string[], dir: string) => {
    fs.mkdirSync(dir, { recursive: true });
    execFileSync('mount', [...args, dir]);
    mounts.push(dir);
  };
  before(async () => {
    work = tmpDir();
    store = path.join(work, 'store');
    const g = await runCli(['--root', store, '--json', 'generate', '--sample', '4', '--seed', '3', '--workers', '1']);
    assert.equal(g.code, 0, g.stderr);
  });
  after(() => {
    for (const m of mounts.reverse()) spawnUmount(m);
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('ENOSPC in generate: says how many jobs were recorded, and the store stays consistent', async () => {
    const full = path.join(work, 'full-gen');
    mount(['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs'], full);
    const r = await runCli(['--root', path.join(full, 's'), 'generate', '--sample', '20', '--seed', '1', '--workers', '1']);
    assert.equal(r.code, 1, r.stderr);
    const line = oneLine(r);
    // Whichever fills first, the files' disk or the catalog's (both on the tmpfs here), is named.
    assert.match(line, new RegExp(`generate stopped in ${full}/s: (no space left on the device|the SQLite catalog's disk is full)`));
    assert.match(line, /\d+ job\(s\) were rendered and recorded before it, the others were not/);
    const check = await runCli(['--root', path.join(full, 's'), '--json', 'stats', '--check-disk']);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.equal(check.json.drift.orphanFiles, 0, 'no half-written file left');
    assert.equal(check.json.drift.missingFiles, 0);
  });

  test('ENOSPC in restore: nothing restored, no staging left', async () => {
    const archive = path.join(work, 'store.tar.gz');
    assert.equal((await runCli(['--root', store, 'backup', '--output', archive])).code, 0);
    const full = path.join(work, 'full-restore');
    mount(['-t', 'tmpfs', '-o', `size=${Math.floor(fs.statSync(archive).size / 2 / 4096) * 4096}`, 'tmpfs'], full);
    const r = await runCli(['--root', path.join(full, 's'), 'restore', archive]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(oneLine(r), /restore stopped while staging .*: no space left on the device .*; nothing was restored and the staged copy was removed/);
    assert.deepEqual(dataFiles(path.join(full, 's')), []);
    assert.deepEqual(fs.readdirSync(path.join(full, 's', '.storectl')).filter((n) => n.startsWith('restore')), []);
  });

  test("the SQLite catalog's disk full: one line naming the catalog's trouble", async () => {
    const tiny = path.join(work, 'tiny-catalog');
    mount(['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs'], tiny);
    const db = `sqlite:${tiny}/catalog.db`;
    const s = path.join(work, 'store-tiny');
    assert.equal((await runCli(['--root', s, '--database', db, 'migrate', '--create'])).code, 0);
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${path.join(tiny, 'filler')}`, 'bs=4k'], { stdio: 'ignore' });
    } catch {
      /* dd stops at ENOSPC, as meant */
    }
    const r = await runCli(['--root', s, '--database', db, 'generate', '--sample', '30', '--seed', '2', '--workers', '1']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(oneLine(r), /SQLite catalog('s disk is full| could not be written: the disk is full or failing)/);
  });

  test('a read-only store: stats, dry runs and backup work; a real cleanup says the store is read-only', async () => {
    const ro = path.join(work, 'ro');
    mount(['--bind', store], ro);
    execFileSync('mount', ['-o', 'remount,bind,ro', ro]);
    for (const cmd of [['stats'], ['stats', '--check-disk'], ['cleanup-expired', '--dry-run'], ['cleanup-orphaned', '--dry-run'], ['backup', '--output', path.join(work, 'ro.tar.gz')]]) {
      const r = await runCli(['--root', ro, '--json', ...cmd]);
      assert.equal(r.code, 0, `${cmd.join(' ')}: ${r.stdout}${r.stderr}`);
    }
    assert.ok(fs.statSync(path.join(work, 'ro.tar.gz')).size > 0);
    const real = await runCli(['--root', ro, 'cleanup-expired', '--yes']);
    assert.equal(real.code, 1, real.stderr);
    assert.match(oneLine(real), /cannot open SQLite catalog .*read-only mount.*commands that change it cannot run; stats, dry runs and backup can/);
    const gen = await runCli(['--root', ro, 'generate', '--sample', '1']);
    assert.notEqual(gen.code, 0);
    assert.match(oneLine(gen), /is on a read-only file system \(EROFS/);
  });

  test('ENAMETOOLONG, ENOTDIR and EISDIR name the path and what was not done', async () => {
    const long = await runCli(['--root', store, 'backup', '--output', path.join(work, `${'x'.repeat(300)}.tar.gz`)]);
    assert.equal(long.code, 2, long.stderr);
    assert.match(oneLine(long), /a file name is too long: .*xxxx\.tar\.gz \(ENAMETOOLONG.*nothing was written/);
    const notDir = await runCli(['--root', '/etc/hostname/store', 'stats']);
    assert.equal(notDir.code, 2);
    assert.match(oneLine(notDir), /root \/etc\/hostname\/store: a part of the path \/etc\/hostname\/store is a file, not a directory \(ENOTDIR.*nothing was read or changed/);
    const isDir = await runCli(['--root', store, 'generate', '--jobs', work]);
    assert.equal(isDir.code, 2);
    assert.match(oneLine(isDir), new RegExp(`cannot read ${work}: .*is a directory, not a file \\(EISDIR`));
  });
});

function spawnUmount(dir: string): void {
  try {
    execFileSync('umount', ['-l', dir]);
  } catch {
    /* already gone */
  }
}
