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
