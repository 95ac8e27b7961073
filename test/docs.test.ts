// Completions and the man page are generated from the live command tree: no drift, and they work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { REPO } from './helpers/env.ts';
import { generatedDocs } from '../scripts/gen-docs.ts';
import { COMMANDS } from '../src/commands/index.ts';
import { EXIT_CODES } from '../src/errors.ts';

test('committed completions and man page match the command tree (run `npm run docs`)', () => {
  for (const [rel, text] of Object.entries(generatedDocs())) {
    assert.equal(fs.readFileSync(path.join(REPO, rel), 'utf8'), text, `${rel} is stale: run npm run docs`);
  }
});

function bashComplete(line: string): string[] {
  const words = line.split(' ');
  const script = `source ${path.join(REPO, 'completions/storectl.bash')}
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}
_storectl; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

test('bash completion completes commands and their flags', () => {
  assert.deepEqual(bashComplete('storectl gen'), ['generate']);
  assert.deepEqual(bashComplete('storectl ge'), ['generate', 'get']);
  assert.ok(bashComplete('storectl generate --sa').includes('--sample'));
  assert.ok(bashComplete('storectl --js').includes('--json'));
  assert.ok(bashComplete('storectl stats --check').includes('--check-disk'));
  assert.deepEqual(bashComplete('storectl completion f'), ['fish']);
  const cleanup = COMMANDS.filter((c) => c.name.startsWith('cl')).map((c) => c.name).sort();
  assert.deepEqual(bashComplete('storectl cl').sort(), cleanup);
  if (COMMANDS.some((c) => c.name === 'cleanup-expired')) assert.ok(bashComplete('storectl cleanup-expired --d').includes('--dry-run'));
});

test('the man page renders without warnings and names every command and exit code', () => {
  const page = fs.readFileSync(path.join(REPO, 'man/storectl.1'), 'utf8');
  const r = spawnSync('groff', ['-ww', '-man', '-Tutf8', path.join(REPO, 'man/storectl.1')], { encoding: 'utf8' });
  if (r.error) assert.fail(`groff is needed to check the man page: ${r.error.message}`);
  assert.equal(r.stderr, '', r.stderr);
  for (const c of COMMANDS) assert.ok(page.includes(`.SS storectl ${c.name.replace(/-/g, '\\-')}`), `man page lacks ${c.name}`);
  for (const e of EXIT_CODES) assert.ok(page.includes(`.B ${e.code}\n`), `man page lacks exit code ${e.code}`);
});

test('every command has examples in its help', () => {
  for (const c of COMMANDS) {
    assert.ok(c.examples.length > 0, `${c.name} has no examples`);
    const r = spawnSync(process.execPath, [path.join(REPO, 'bin/storectl'), c.name, '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0);
    assert.match(r.stdout, /Examples:\n {2}\$ .*storectl /);
  }
});

test('package.json installs the man page and the bin', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));
  assert.deepEqual(pkg.man, ['man/storectl.1']);
  assert.equal(pkg.bin.storectl, 'bin/storectl');
});

test('the README documents every command and the exit codes, and its Quick start is two commands', () => {
  const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
  for (const c of COMMANDS) assert.match(readme, new RegExp(`^### ${c.name}$`, 'm'), `README lacks a section for ${c.name}`);
  for (const e of EXIT_CODES) assert.match(readme, new RegExp(`^\\| ${e.code} \\| `, 'm'), `README lacks exit code ${e.code}`);
  const quick = readme.split('## Quick start')[1]!.split('\n## ')[0]!;
  const blocks = [...quick.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.trim());
  assert.deepEqual(blocks, ['npm ci && npx storectl generate --sample 200 && npx storectl stats', 'npm test']);
});

test('the build gives way without esbuild (a global install has no devDependencies): no bundle, exit 0, one line', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-build-'));
  try {
    fs.mkdirSync(path.join(dir, 'scripts'));
    fs.copyFileSync(path.join(REPO, 'scripts/build.mjs'), path.join(dir, 'scripts/build.mjs'));
    fs.writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}');
    const r = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^storectl: esbuild is not installed .*runs src\/ through tsx\n$/);
    assert.ok(!fs.existsSync(path.join(dir, 'dist')));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
