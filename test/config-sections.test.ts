// Config that says what it does: every section is validated before any command runs (unknown or
// ill-typed key: exit 2 naming it), and the generate and backup sections work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { tmpDir } from './helpers/env.ts';
import { runMain as run } from './helpers/run-main.ts';

const withConfig = (config: object) => {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'storectl.config.json'), JSON.stringify({ root: 'store', ...config }));
  return dir;
};

test('an unknown or ill-typed key in any section is exit 2 naming it, for every command', async () => {
  const cases: [object, RegExp][] = [
    [{ generate: { wrokers: 2 } }, /unknown key "generate\.wrokers"/],
    [{ generate: { workers: 'two' } }, /"generate\.workers" must be a whole number/],
    [{ backup: { keep: 7, kep: 1 } }, /unknown key "backup\.kep"/],
    [{ backup: { keep: '7' } }, /"backup\.keep" must be a whole number/],
    [{ backup: { format: 'rar' } }, /"backup\.format" must be "tar\.gz" or "zip"/],
    [{ backup: { pruneOlderThan: 'a month' } }, /"backup\.pruneOlderThan" must be an age/],
    [{ backup: [1] }, /"backup" must be an object/],
    [{ cleanup: { maxDelete: '20%', bogus: 1 } }, /cleanup\.bogus/],
    [{ migrateImages: { workerz: 1 } }, /unknown key "workerz"/],
  ];
  for (const [config, why] of cases) {
    const dir = withConfig(config);
    for (const cmd of [['stats'], ['config'], ['backup', '--output', 'x.tar.gz']]) {
      const r = await run(['--json', ...cmd], { cwd: dir });
      assert.equal(r.code, 2, `${JSON.stringify(config)} ${cmd[0]}: ${r.stdout}`);
      assert.equal(r.json.error.code, 'config');
      assert.match(r.json.error.message, why);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the backup section gives backup its dir, format and retention; flags win', async () => {
  const dir = withConfig({ backup: { dir: 'backups', keep: 1, format: 'zip' }, generate: { workers: 1, days: 2 } });
  const g = await run(['--json', 'generate', '--sample', '3', '--seed', '7'], { cwd: dir });
  assert.equal(g.code, 0, g.stdout);
  assert.equal(g.json.workers, 1, 'generate.workers');
  const now = Date.now();
  const s = await run(['--json', 'stats'], { cwd: dir });
  assert.ok(Date.parse(s.json.oldestFile.createdAt) >= now - 3 * 86_400_000, `generate.days: ${s.json.oldestFile?.createdAt}`);
  const b1 = await run(['--json', 'backup'], { cwd: dir });
  assert.equal(b1.code, 0, b1.stdout);
  assert.equal(path.dirname(b1.json.path), path.join(dir, 'backups'));
  assert.equal(b1.json.format, 'zip');
  await new Promise((r) => setTimeout(r, 1100));
  const b2 = await run(['--json', 'backup', '--format', 'tar.gz'], { cwd: dir });
  assert.equal(b2.code, 0, b2.stdout);
  assert.equal(b2.json.format, 'tar.gz', 'the flag wins');
  assert.deepEqual(b2.json.pruned, [b1.json.path], 'backup.keep 1');
  assert.deepEqual(fs.readdirSync(path.join(dir, 'backups')), [path.basename(b2.json.path)]);
  const out = await run(['--json', 'backup', '--output', 'one.zip'], { cwd: dir });
  assert.equal(out.code, 0, out.stdout);
  assert.deepEqual(out.json.pruned, [], '--output: no retention');
  fs.rmSync(dir, { recursive: true, force: true });
});

const LINK_SECRET = 'Sx9-url-section-secret-0123456789';

test('the url section is checked before any command runs: one line naming the key, exit 2, the secret never printed', async () => {
  const base = 'https://files.example.com/store';
  const cases: [object, RegExp][] = [
    [{ url: { base, secret: 'tooShort-9' } }, /"url\.secret" must be at least 16 characters/],
    [{ url: { base, secret: `${LINK_SECRET} x` } }, /"url\.secret" must be at least 16 characters without quotes/],
    [{ url: { base: 'ftp://files.example.com/store', secret: LINK_SECRET } }, /"url\.base" must be an http:\/\/ or https:\/\/ URL, not ftp:/],
    [{ url: { base: 'files.example.com', secret: LINK_SECRET } }, /"url\.base" is not a URL/],
    [{ url: { base: `https://u:${LINK_SECRET}@files.example.com/store`, secretFile: 's.txt' } }, /"url\.base" must be an http\(s\) URL without query, fragment or credentials/],
    [{ url: { base, secret: LINK_SECRET, expires: 'soon' } }, /"url\.expires" must be a duration greater than 0/],
    [{ url: { base, secret: LINK_SECRET, expires: '0' } }, /"url\.expires" must be a duration greater than 0/],
    [{ url: { base, secret: LINK_SECRET, expression: '$uri $secret' } }, /"url\.expression" must use \$secure_link_expires, \$uri and \$secret/],
    [{ url: { base, secret: LINK_SECRET, expression: '$host$uri$secure_link_expires $secret' } }, /"url\.expression" uses \$host/],
    [{ url: { base, secret: LINK_SECRET, secretFile: 's.txt' } }, /"url\.secret" and "url\.secretFile" both given/],
    [{ url: { base, secret: LINK_SECRET, ttl: '1h' } }, /unknown key "url\.ttl"/],
    [{ url: { base, secret: 12345678901234567 } }, /"url\.secret" must be a non-empty string/],
    [{ url: 'https://x' }, /"url" must be an object/],
  ];
  for (const [config, why] of cases) {
    const dir = withConfig(config);
    for (const cmd of [['stats'], ['config'], ['url', '--path', 'a/b.txt']]) {
      const r = await run(['--json', ...cmd], { cwd: dir });
      assert.equal(r.code, 2, `${JSON.stringify(config)} ${cmd[0]}: ${r.stdout}`);
      assert.equal(r.json.error.code, 'config');
      assert.match(r.json.error.message, why);
      assert.ok(!r.stdout.includes(LINK_SECRET) && !r.stdout.includes('tooShort-9'), r.stdout);
      const text = await run(cmd, { cwd: dir });
      assert.equal(text.code, 2);
      assert.equal(text.stderr.trim().split('\n').length, 1, text.stderr);
      assert.ok(!text.stderr.includes(LINK_SECRET) && !text.stderr.includes('tooShort-9'), text.stderr);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }

  // A missing base or secret matters to the url command only.
  for (const [config, why] of [
    [{ url: { base } }, /no secret for links/],
    [{ url: { secret: LINK_SECRET } }, /no base URL for links/],
  ] as [object, RegExp][]) {
    const dir = withConfig(config);
    assert.equal((await run(['--json', 'config'], { cwd: dir })).code, 0);
    const r = await run(['--json', 'url', '--path', 'a/b.txt'], { cwd: dir });
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.json.error.message, why);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('url.secret is masked through the redaction registry (config, errors, log file); url.expires is the default lifetime', async () => {
  const dir = withConfig({ url: { base: 'https://files.example.com/store', secret: LINK_SECRET, expires: '15m' } });
  const log = path.join(dir, 'run.log');
  const shown = await run(['--json', '--log-file', log, 'config'], { cwd: dir });
  assert.equal(shown.code, 0, shown.stdout);
  assert.equal(shown.json.sections.url.secret, '***');
  assert.equal(shown.json.sections.url.expires, '15m');
  const table = await run(['config'], { cwd: dir });
  assert.equal(table.code, 0);
  assert.match(table.stdout, /^url\.secret\s+\*\*\*\s+file$/m);
  assert.ok(!table.stdout.includes(LINK_SECRET), 'the secret itself is not in the table');
  // The registry hides the value wherever it appears, not only under a key named "secret".
  const elsewhere = path.join(dir, `no-such-${LINK_SECRET}`);
  const failed = await run(['--json', '--log-file', log, '--root', elsewhere, 'stats'], { cwd: dir });
  assert.notEqual(failed.code, 0);
  assert.match(failed.json.error.message, /no-such-\*\*\*/);
  const textFailed = await run(['--log-file', log, '--root', elsewhere, 'stats'], { cwd: dir });
  for (const out of [shown.stdout, table.stdout, failed.stdout, textFailed.stderr, fs.readFileSync(log, 'utf8')]) {
    assert.ok(!out.includes(LINK_SECRET), out);
  }

  fs.writeFileSync(path.join(dir, 'a.txt'), 'hello\n');
  assert.equal((await run(['migrate', '--create'], { cwd: dir })).code, 0);
  const put = await run(['--json', 'put', 'a.txt', '--job', 'j-1'], { cwd: dir });
  assert.equal(put.code, 0, put.stdout);
  const before = Date.now();
  const link = await run(['--json', 'url', 'j-1', 'a.txt'], { cwd: dir });
  assert.equal(link.code, 0, link.stdout);
  const lifetime = Date.parse(link.json.expiresAt) - before;
  assert.ok(lifetime > 14 * 60_000 && lifetime <= 15 * 60_000 + 1000, `url.expires 15m: ${link.json.expiresAt}`);
  const flag = await run(['--json', 'url', 'j-1', 'a.txt', '--expires', '2h'], { cwd: dir });
  assert.ok(Date.parse(flag.json.expiresAt) - before > 119 * 60_000, '--expires wins');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('storectl config shows a nested section one setting a row, with dotted keys, not one wide JSON cell', async () => {
  const dir = withConfig({
    cleanup: { maxDelete: '20%', rules: [{ id: 'old-exports', scope: 'jobs', kind: 'export', statuses: ['completed', 'failed'], ageFrom: 'completed_at', age: '2d' }] },
    backup: { dir: 'backups', keep: 7 },
  });
  const r = await run(['config'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const rows = Object.fromEntries(
    r.stdout
      .split('\n')
      .map((l) => l.trim().split(/\s{2,}/))
      .filter((c) => c.length === 3)
      .map(([k, v, src]) => [k, [v, src]]),
  );
  assert.deepEqual(rows['cleanup.maxDelete'], ['20%', 'file']);
  assert.deepEqual(rows['cleanup.rules[0].id'], ['old-exports', 'file']);
  assert.deepEqual(rows['cleanup.rules[0].statuses'], ['completed, failed', 'file']);
  assert.deepEqual(rows['backup.keep'], ['7', 'file']);
  assert.ok(r.stdout.split('\n').every((l) => l.length <= 100), 'no row a screen wide');
  assert.ok(!r.stdout.includes('{"'), 'no JSON cell');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a catalog URL taken from DATABASE_URL (the application\'s) is said so in config and in the error when it cannot be opened', async () => {
  const dir = tmpDir();
  const shared = 'postgres://app:hunter2@127.0.0.1:1/appdb';
  const env = { DATABASE_URL: shared, STORECTL_DATABASE_URL: '', STORECTL_ROOT: '' };
  const shown = await run(['--json', '--root', path.join(dir, 'store'), 'config'], { cwd: dir, env });
  assert.equal(shown.code, 0, shown.stderr);
  assert.deepEqual([shown.json.database.source, shown.json.database.variable], ['env', 'DATABASE_URL']);
  assert.ok(!shown.stdout.includes('hunter2'), 'the password stays hidden');
  const text = await run(['--root', path.join(dir, 'store'), 'config'], { cwd: dir, env });
  assert.match(text.stdout, /^database\s+\S+\s+env DATABASE_URL \(the application's; STORECTL_DATABASE_URL is not set\)$/m);
  const failed = await run(['--root', path.join(dir, 'store'), 'stats'], { cwd: dir, env });
  assert.equal(failed.code, 1, failed.stderr);
  assert.match(failed.stderr, /the database URL came from DATABASE_URL, the application's variable, because STORECTL_DATABASE_URL is not set/);
  // Named for storectl: no such note.
  const own = { ...env, STORECTL_DATABASE_URL: 'postgres://storectl@127.0.0.1:1/storectl' };
  const ownShown = await run(['--json', '--root', path.join(dir, 'store'), 'config'], { cwd: dir, env: own });
  assert.equal(ownShown.json.database.variable, 'STORECTL_DATABASE_URL');
  const ownFailed = await run(['--root', path.join(dir, 'store'), 'stats'], { cwd: dir, env: own });
  assert.notEqual(ownFailed.code, 0);
  assert.doesNotMatch(ownFailed.stderr, /DATABASE_URL, the application's/);
  fs.rmSync(dir, { recursive: true, force: true });
});
