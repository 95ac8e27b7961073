// The generated completions, run in the real shells: zsh (through a pseudo-terminal, as a user
// presses Tab), fish (complete -C) and bash. Global options after a command, files for
// restore's archive, directories for --root, and the choices of --format.
import { describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, tmpDir } from './helpers/env.ts';

const has = (shell: string) => spawnSync('sh', ['-c', `command -v ${shell}`]).status === 0;
const missing = (shell: string) => {
  if (has(shell)) return false;
  // CI installs the shells (.ci/run): there a missing shell is a failure, never a skip.
  if (process.env.CI) throw new Error(`${shell} is not installed: CI must install it (.ci/run)`);
  return `${shell} is not installed`;
};

/** A working directory with one archive and one directory in it. */
function scratch(): string {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'store.tar.gz'), 'x');
  fs.mkdirSync(path.join(dir, 'backups'));
  return dir;
}
const env = { ...process.env, PATH: `${path.join(REPO, 'bin')}:${process.env.PATH}` };

describe('zsh completion, in zsh', { skip: missing('zsh') }, () => {
  const complete = (line: string, cwd: string) => {
    const r = spawnSync('zsh', ['-f', path.join(REPO, 'test/helpers/zsh-complete.zsh'), path.join(REPO, 'completions'), line], { cwd, env, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split(/\s+/).filter(Boolean);
  };
  test('commands, global options after a command, directories for --root, files for restore, --format choices', () => {
    const cwd = scratch();
    try {
      assert.deepEqual(complete('storectl ba', cwd), ['backup']);
      assert.ok(complete('storectl stats --ro', cwd).includes('--root'), 'a global option after the command');
      assert.ok(complete('storectl cleanup-expired --js', cwd).includes('--json'));
      assert.deepEqual(complete('storectl --root ', cwd), ['backups']);
      assert.deepEqual(complete('storectl backup --format ', cwd).sort(), ['tar.gz', 'zip']);
      assert.ok(complete('storectl restore ', cwd).includes('store.tar.gz'), "restore's archive is a file");
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });
});

describe('fish completion, in fish', { skip: missing('fish') }, () => {
  const complete = (line: string, cwd: string) => {
    const r = spawnSync('fish', ['--no-config', '-c', `source ${path.join(REPO, 'completions/storectl.fish')}; complete -C ${JSON.stringify(line)}`], { cwd, env, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split('\n').filter(Boolean).map((l) => l.split('\t')[0]!);
  };
  test('files for restore, directories for --root, --format choices, global options after a command', () => {
    const cwd = scratch();
    try {
      assert.ok(complete('storectl restore ', cwd).includes('store.tar.gz'), "restore's archive is a file");
      assert.deepEqual(complete('storectl --root ', cwd), ['backups/']);
      assert.deepEqual(complete('storectl backup --format ', cwd).sort(), ['tar.gz', 'zip']);
      assert.ok(complete('storectl stats --ro', cwd).includes('--root'));
      assert.deepEqual(complete('storectl stats ', cwd), [], 'stats takes no file argument');
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });
});

describe('bash completion, in bash', () => {
  const complete = (line: string, cwd: string) => {
    const words = line.split(' ');
    const script = `source ${path.join(REPO, 'completions/storectl.bash')}
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}
_storectl; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = spawnSync('bash', ['-c', script], { cwd, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split('\n').filter(Boolean);
  };
  test('directories for --root and --dir, --format choices', () => {
    const cwd = scratch();
    try {
      assert.deepEqual(complete('storectl --root ', cwd), ['backups']);
      assert.deepEqual(complete('storectl backup --dir ', cwd), ['backups']);
      assert.deepEqual(complete('storectl backup --format ', cwd).sort(), ['tar.gz', 'zip']);
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });
});
