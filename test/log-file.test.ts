// --log-file: every run ends with one line at the level its outcome deserves (info, warn,
// error), with exit code, error code and message and the command's counts; failed runs
// (exit 1, 2, 75) are logged and the file is created; an unwritable log file is a warning.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { STORE_LOCK } from '../src/db/catalog.ts';
import { DIALECTS, runCli, tmpDir, type Store } from './helpers/env.ts';

const lines = (file: string) => fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const last = (file: string) => lines(file).at(-1)!;

describe('--log-file without a store', () => {
  test('exit 2 (no catalog): the file is created and holds an error line', async () => {
    const dir = tmpDir();
    const log = path.join(dir, 'new.jsonl');
    const r = await runCli(['--root', path.join(dir, 'none'), '--log-file', log, 'stats']);
    assert.equal(r.code, 2);
    const l = last(log);
    assert.equal(l.level, 'error');
    assert.equal(l.exitCode, 2);
    assert.equal(l.code, 'no_catalog');
    assert.match(l.error, /no catalog at/);
    assert.equal(l.command, 'stats');
    assert.equal((fs.statSync(log).mode & 0o777).toString(8), '600');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('exit 1 (database unreachable), a bad flag and a bad config file are logged too', async () => {
    const dir = tmpDir();
    const log = path.join(dir, 'l.jsonl');
    const r1 = await runCli(['--root', dir, '--database', 'postgres://u@127.0.0.1:1/x', '--log-file', log, 'stats']);
    assert.equal(r1.code, 1);
    assert.deepEqual([last(log).level, last(log).exitCode, last(log).code], ['error', 1, 'db_unreachable']);
    const r2 = await runCli(['--log-file', log, 'stats', '--no-such-flag']);
    assert.equal(r2.code, 2);
    assert.deepEqual([last(log).level, last(log).exitCode, last(log).code], ['error', 2, 'usage']);
    assert.match(last(log).error, /no-such-flag/);
    fs.writeFileSync(path.join(dir, 'bad.json'), '{"root": 5}');
    const r3 = await runCli(['--config', path.join(dir, 'bad.json'), 'stats'], { env: { STORECTL_LOG_FILE: log } });
    assert.equal(r3.code, 2);
    assert.deepEqual([last(log).exitCode, last(log).code], [2, 'config']);
    assert.equal(lines(log).length, 3);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('an unwritable log file is a warning on stderr; the run still works', async () => {
    const dir = tmpDir();
    const gen = await runCli(['--root', dir, '--json', 'generate', '--sample', '1', '--seed', '1', '--workers', '1']);
    assert.equal(gen.code, 0, gen.stderr);
    for (const bad of [path.join(dir, 'no', 'such', 'dir', 'x.log'), '/dev/full', dir]) {
      const r = await runCli(['--root', dir, '--log-file', bad, '--json', 'stats']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`warn: cannot write log file ${bad.replace(/[/.]/g, '\\$&')}`));
      assert.equal(r.json.command, 'stats');
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

for (const d of DIALECTS) {
  describe(`--log-file outcome lines: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let dir: string;
    before(async () => {
      store = await d.makeStore();
      dir = tmpDir();
    });
    after(async () => {
      await store?.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    test('done is info with the counts; the backup line has path, size and pruned archives', async () => {
      const log = path.join(dir, 'ok.jsonl');
      const gen = await runCli([...store.args, '--log-file', log, 'generate', '--sample', '2', '--seed', '4', '--workers', '1']);
      assert.equal(gen.code, 0, gen.stderr);
      assert.deepEqual([last(log).level, last(log).message, last(log).exitCode, last(log).files], ['info', 'generate done', 0, 10]);
      const backups = path.join(dir, 'b');
      const b1 = await runCli([...store.args, '--log-file', log, 'backup', '--dir', backups]);
      assert.equal(b1.code, 0, b1.stderr);
      const first = last(log);
      assert.equal(first.level, 'info');
      assert.ok(fs.existsSync(first.path));
      assert.equal(first.bytes, fs.statSync(first.path).size);
      assert.equal(first.files, 10);
      await new Promise((r) => setTimeout(r, 1100));
      const b2 = await runCli([...store.args, '--log-file', log, 'backup', '--dir', backups, '--keep', '1']);
      assert.equal(b2.code, 0, b2.stderr);
      assert.deepEqual(last(log).pruned, [first.path]);
      assert.ok(!fs.existsSync(first.path));
    });

    test('exit 3 is a warn line; exit 75 an error line with code locked', async () => {
      const log = path.join(dir, 'fail.jsonl');
      const c = await store.open();
      const [row] = await c.filePage({ states: ['present'], limit: 1 });
      await c.close();
      const file = path.join(store.root, row!.path);
      const keep = fs.readFileSync(file);
      fs.rmSync(file);
      const b = await runCli([...store.args, '--log-file', log, 'backup', '--output', path.join(dir, 'p.tar.gz')]);
      fs.writeFileSync(file, keep, { mode: 0o600 });
      assert.equal(b.code, 3, b.stderr);
      assert.deepEqual([last(log).level, last(log).exitCode, last(log).code], ['warn', 3, 'partial']);
      assert.ok(last(log).notArchived >= 1);
      const held = await store.open();
      const release = await held.acquireLock(STORE_LOCK, { holder: { pid: process.pid, host: os.hostname(), command: 'cleanup-expired', runId: 'held' } });
      try {
        const l = await runCli([...store.args, '--log-file', log, 'backup', '--output', path.join(dir, 'l.tar.gz')]);
        assert.equal(l.code, 75);
      } finally {
        await release();
        await held.close();
      }
      assert.deepEqual([last(log).level, last(log).exitCode, last(log).code], ['error', 75, 'locked']);
      assert.match(last(log).error, /cleanup-expired/);
    });
  });
}
