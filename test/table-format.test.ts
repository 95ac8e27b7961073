// Tables people read: numbers with thousands separators, columns of numbers and sizes
// right-aligned (heads too), and NO_COLOR giving the same table as --no-color on a terminal.
import { describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { renderTable } from '../src/ui/table.ts';
import { BIN, REPO, tmpDir } from './helpers/env.ts';

const PTY = path.join(REPO, 'test/helpers/pty-run.py');

describe('tables', () => {
  test('counts are separated and right-aligned with their head; text columns stay left; a column of dashes is text', () => {
    const out = renderTable(
      ['owner', 'files', 'bytes', 'size', 'note'],
      [
        ['acme', 7, 1234567, '1.18 MiB', '-'],
        ['initech-long-name', 12345, 0, '0 B', '-'],
      ],
      { tty: false },
    );
    const lines = out.trimEnd().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[1]!, /^acme\s+7\s+1,234,567\s+1\.18 MiB\s+-$/);
    assert.match(lines[2]!, /^initech-long-name\s+12,345\s+0\s+0 B\s+-$/);
    // Right-aligned: every row of a numeric column ends at the same place as its head.
    for (const head of ['files', 'bytes', 'size']) {
      const end = lines[0]!.indexOf(head) + head.length;
      const cells = head === 'files' ? ['7', '12,345'] : head === 'bytes' ? ['1,234,567', '0'] : ['1.18 MiB', '0 B'];
      cells.forEach((c, i) => assert.equal(lines[i + 1]!.lastIndexOf(c, end) + c.length, end, `${head}: ${c} ends under its head`));
    }
    // Left-aligned text: owner and note start where their head starts.
    assert.equal(lines[2]!.indexOf('initech'), lines[0]!.indexOf('owner'));
    assert.equal(lines[1]!.lastIndexOf('-'), lines[0]!.indexOf('note'));
  });

  test('NO_COLOR=1 and --no-color print the same table on a terminal, with no escape codes', () => {
    const root = tmpDir();
    try {
      assert.equal(runCliSync(['--root', root, 'migrate', '--create']), 0);
      // cli-table3's colours are off wherever a CI variable is set (its colour detection): the
      // terminal here is the pseudo-terminal, so the test runs the CLI without it.
      const { CI: _ci, ...withoutCi } = process.env;
      const pty = (env: Record<string, string>, extra: string[]) =>
        spawnSync('python3', [PTY, 'n', process.execPath, BIN, '--root', root, ...extra, 'stats'], {
          encoding: 'utf8',
          env: { ...withoutCi, STORECTL_ROOT: '', STORECTL_DATABASE_URL: '', DATABASE_URL: '', NO_COLOR: '', ...env },
          timeout: 60_000,
        }).stdout;
      const viaEnv = pty({ NO_COLOR: '1' }, []);
      const viaFlag = pty({}, ['--no-color']);
      const coloured = pty({}, []);
      assert.ok(viaEnv.includes('category'), viaEnv);
      assert.equal(viaEnv, viaFlag);
      assert.ok(!viaEnv.includes('\x1b['), 'no escape codes with NO_COLOR');
      assert.ok(coloured.includes('\x1b[1m'), 'bold heads on a terminal by default (the test can tell)');
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

function runCliSync(args: string[]): number | null {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, STORECTL_ROOT: '', STORECTL_DATABASE_URL: '', DATABASE_URL: '' } }).status;
}

test('wrapWords breaks at spaces, never inside a word or a number', async () => {
  const { wrapWords } = await import('../src/ui/format.ts');
  const q = 'Delete 1,234,567 files (12.6 GiB) of 98,765 jobs and mark 3 stuck jobs failed?';
  const wrapped = wrapWords(q, 30);
  for (const line of wrapped.split('\n')) assert.ok(line.length <= 30, line);
  assert.equal(wrapped.replace(/\n/g, ' '), q, 'only spaces became line breaks');
  assert.ok(wrapped.split('\n').some((l) => l.includes('1,234,567')), 'the number stays whole');
  assert.equal(wrapWords('a /very/long/path/that/does/not/fit b', 10), 'a\n/very/long/path/that/does/not/fit\nb');
});
