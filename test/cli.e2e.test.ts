// The CLI contract: exit codes, one-line errors, JSON errors, redaction, lazy loading.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BIN, REPO, runCli, tmpDir } from './helpers/env.ts';

test('--root that is a file: exit 2 with the reason', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 'afile');
  fs.writeFileSync(file, 'x');
  const r = await runCli(['--root', file, 'generate', '--sample', '1']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /root .*afile is not a directory/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  fs.rmSync(dir, { recursive: true });
});

test('a root that cannot be created: exit 1 with the reason', async () => {
  const r = await runCli(['--root', '/proc/storectl-nope/store', 'generate', '--sample', '1']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot create root \/proc\/storectl-nope\/store/);
});

test('unreachable database: exit 1, one line, password redacted, JSON error document', async () => {
  const url = 'postgres://alice:s3cret-pw@127.0.0.1:1/nowhere';
  const r = await runCli(['--database', url, 'stats']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.ok(!r.stderr.includes('s3cret-pw'));
  assert.match(r.stderr, /alice:\*\*\*@127\.0\.0\.1:1/);
  const j = await runCli(['--json', '--database', url, 'stats']);
  assert.equal(j.code, 1);
  assert.equal(j.json.error.code, 'db_unreachable');
  assert.equal(j.json.error.exitCode, 1);
  assert.ok(!j.stdout.includes('s3cret-pw'));
});

test('usage errors exit 2, also as JSON', async () => {
  const r = await runCli(['stats', '--no-such-flag']);
  assert.equal(r.code, 2);
  const j = await runCli(['--json', 'generate', '--sample', 'lots']);
  assert.equal(j.code, 2);
  assert.equal(j.json.error.code, 'usage');
  const both = await runCli(['--json', 'generate', '--sample', '2', '--pending']);
  assert.equal(both.code, 2);
  assert.match(both.json.error.message, /exactly one of/);
});

test('stats on a root with no catalog: exit 2, nothing created', async () => {
  const dir = tmpDir();
  const r = await runCli(['--root', path.join(dir, 'typo'), 'stats']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no catalog at/);
  assert.ok(!fs.existsSync(path.join(dir, 'typo')));
  fs.rmSync(dir, { recursive: true });
});

test('--help and --version load no database driver, no sharp and no AWS SDK', () => {
  const hooks = path.join(REPO, 'test/helpers/trace-imports.mjs');
  for (const args of [['--help'], ['--version'], ['generate', '--help'], ['stats', '--help']]) {
    const r = spawnSync(process.execPath, ['--import', hooks, BIN, ...args], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const loaded = r.stderr.split('\n').filter((l) => l.startsWith('import: '));
    assert.ok(loaded.length > 0, 'the trace hook saw imports');
    const heavy = loaded.filter((l) => /better-sqlite3|node_modules\/pg\/|\/sharp\/|drizzle-orm|pdf-lib|@aws-sdk|@smithy/.test(l));
    assert.deepEqual(heavy, [], `${args.join(' ')} loaded ${heavy.join(', ')}`);
  }
});

test('config shows each value and its source, password redacted; a bad key is exit 2', async () => {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'storectl.config.json'), JSON.stringify({ root: 'data', database: 'postgres://bob:pw123@db/x' }));
  const r = await runCli(['--json', 'config'], { cwd: dir, env: { STORECTL_ROOT: '' } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.root.value, path.join(dir, 'data'));
  assert.equal(r.json.root.source, 'file');
  assert.equal(r.json.database.value, 'postgres://bob:***@db/x');
  const flag = await runCli(['--json', '--root', '/srv/x', 'config'], { cwd: dir });
  assert.equal(flag.json.root.source, 'flag');
  const env = await runCli(['--json', 'config'], { cwd: dir, env: { STORECTL_ROOT: '/srv/env' } });
  assert.equal(env.json.root.source, 'env');
  fs.writeFileSync(path.join(dir, 'storectl.config.json'), JSON.stringify({ rooot: 'x' }));
  const bad = await runCli(['config'], { cwd: dir });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown key "rooot"/);
  fs.rmSync(dir, { recursive: true });
});

test('a YAML config file works the same; invalid YAML is exit 2', async () => {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'storectl.config.yaml'), 'root: yroot\ndatabase: postgres://carol:hush@db/x\n');
  const r = await runCli(['--json', 'config'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.root.value, path.join(dir, 'yroot'));
  assert.equal(r.json.database.value, 'postgres://carol:***@db/x');
  fs.writeFileSync(path.join(dir, 'storectl.config.yaml'), 'root: [unclosed\n');
  const bad = await runCli(['config'], { cwd: dir });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /not valid YAML/);
  fs.rmSync(dir, { recursive: true });
});

test('--log-file appends JSON lines with the command and run id, also recorded in runs', async () => {
  const dir = tmpDir();
  const root = path.join(dir, 'store');
  const log = path.join(dir, 'storectl.jsonl');
  const r = await runCli(['--root', root, '--log-file', log, '--json', 'generate', '--sample', '2', '--seed', '1', '--workers', '1']);
  assert.equal(r.code, 0, r.stderr);
  const again = await runCli(['--root', root, '--json', 'stats'], { env: { STORECTL_LOG_FILE: log } });
  assert.equal(again.code, 0);
  const lines = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const gen = lines.filter((l) => l.command === 'generate');
  assert.ok(gen.length >= 1, 'generate logged');
  assert.ok(lines.some((l) => l.command === 'stats'), 'stats logged through STORECTL_LOG_FILE');
  for (const l of lines) {
    assert.ok(l.time && l.level && l.message && l.runId, JSON.stringify(l));
  }
  const done = gen.find((l) => l.message === 'generate done')!;
  assert.equal(done.level, 'info');
  assert.equal(done.exitCode, 0);
  assert.equal(done.files, 10);
  assert.equal(again.json.recentRuns[0].id, done.runId);
  fs.rmSync(dir, { recursive: true });
});

test('bin runs the dist bundle when it is fresh, and the sources through tsx otherwise', () => {
  const hooks = path.join(REPO, 'test/helpers/trace-imports.mjs');
  const run = (env: NodeJS.ProcessEnv) => spawnSync(process.execPath, ['--import', hooks, BIN, '--version'], { encoding: 'utf8', env: { ...process.env, ...env } });
  const src = run({ STORECTL_FROM_SOURCE: '1' });
  assert.equal(src.status, 0, src.stderr);
  assert.match(src.stderr, /import: file:.*\/src\/main\.ts/);
  // After `npm ci` (CI) the prepare script has built dist/ from these very sources.
  const newest = (dir: string): number =>
    Math.max(0, ...fs.readdirSync(dir, { withFileTypes: true }).map((d) => (d.isDirectory() ? newest(path.join(dir, d.name)) : fs.statSync(path.join(dir, d.name)).mtimeMs)));
  const built = fs.statSync(path.join(REPO, 'dist/main.js'), { throwIfNoEntry: false });
  if (process.env.CI || (built && built.mtimeMs >= newest(path.join(REPO, 'src')))) {
    const fast = run({});
    assert.equal(fast.status, 0, fast.stderr);
    assert.match(fast.stderr, /import: file:.*\/dist\/main\.js/);
    assert.doesNotMatch(fast.stderr, /tsx/);
  }
});

test('a closed pipe on stdout is not a crash (storectl --help | head -1)', () => {
  const r = spawnSync('bash', ['-c', `"${process.execPath}" "${BIN}" --help | head -1; exit \${PIPESTATUS[0]}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /EPIPE|Error/);
});
