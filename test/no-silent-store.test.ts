// Not silently in the wrong place (issue 22): only the first generate, migrate --create or restore
// creates a store; any other command against a root with no catalog (a mistyped STORECTL_ROOT,
// an unmounted volume) says there is none, exit 2, and leaves the disk as it was. backup refuses
// a --format that contradicts the archive's name. Both dialects where the catalog is involved.
import { describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { DIALECTS, runCli, tmpDir } from './helpers/env.ts';

const catalogFile = (root: string) => path.join(root, '.storectl', 'catalog.db');

describe('no store is created where none exists (embedded SQLite catalog)', () => {
  test('migrate without --create against an empty or missing root: exit 2, no store; --create makes one', async () => {
    const work = tmpDir();
    try {
      const empty = path.join(work, 'mnt-not-mounted');
      fs.mkdirSync(empty);
      const missing = path.join(work, 'typo');
      for (const root of [empty, missing]) {
        const r = await runCli(['--root', root, '--json', 'migrate']);
        assert.equal(r.code, 2, r.stdout + r.stderr);
        assert.equal(r.json.error.code, 'no_catalog');
        assert.match(r.json.error.message, /^no store here: no catalog at /);
        assert.match(r.json.error.hint, /migrate --create/);
        assert.ok(!fs.existsSync(catalogFile(root)), 'no catalog created');
        const t = await runCli(['--root', root, 'migrate']);
        assert.equal(t.code, 2);
        assert.equal(t.stderr.trim().split('\n').length, 1, t.stderr); // one line, its hint included
      }
      assert.deepEqual(fs.readdirSync(empty), [], 'the empty root stays empty');
      assert.ok(!fs.existsSync(missing), 'the mistyped root is not created');

      const created = await runCli(['--root', missing, '--json', 'migrate', '--create']);
      assert.equal(created.code, 0, created.stdout + created.stderr);
      assert.ok(created.json.applied.length >= 1);
      assert.ok(fs.statSync(catalogFile(missing)).isFile());
      const again = await runCli(['--root', missing, '--json', 'migrate']);
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(again.json.applied, []);
      const both = await runCli(['--root', missing, 'migrate', '--create', '--status']);
      assert.equal(both.code, 2);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });

  test('the README deploy script against a mistyped root fails at migrate instead of reporting "0 files"', async () => {
    const work = tmpDir();
    try {
      const root = path.join(work, 'srv-crads');
      const m = await runCli(['--root', root, '--json', 'migrate']);
      assert.notEqual(m.code, 0);
      const s = await runCli(['--root', root, '--json', 'stats', '--check-disk']);
      assert.equal(s.code, 2, s.stdout);
      assert.equal(s.json.error.code, 'no_catalog');
      assert.ok(!fs.existsSync(root));
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });

  test('other commands never create a store: stats, cleanup, put, migrate-images-to-db, import-from-db exit 2', async () => {
    const work = tmpDir();
    try {
      const root = path.join(work, 'empty');
      fs.mkdirSync(root);
      const photos = path.join(work, 'photos');
      fs.mkdirSync(photos);
      await sharp({ create: { width: 16, height: 16, channels: 3, background: '#123456' } }).png().toFile(path.join(photos, 'a.png'));
      fs.writeFileSync(path.join(work, 'a.txt'), 'x');
      const runs = [
        ['stats'],
        ['jobs'],
        ['--yes', 'cleanup-expired'],
        ['--yes', 'cleanup-orphaned'],
        ['put', path.join(work, 'a.txt'), '--job', 'j-1'],
        ['migrate-images-to-db', '--from-dir', photos],
        ['--yes', 'import-from-db', '--source-database', `sqlite:${path.join(work, 'none.db')}`, '--table', 't', '--data-column', 'd', '--role-map', '["a.pdf"]', '--category', 'uploads'],
        ['backup', '--output', path.join(work, 'b.tar.gz')],
      ];
      for (const a of runs) {
        const r = await runCli(['--root', root, '--json', ...a]);
        assert.equal(r.code, 2, `${a.join(' ')}: ${r.stdout}${r.stderr}`);
        assert.equal(r.json.error.code, 'no_catalog', a.join(' '));
        assert.deepEqual(fs.readdirSync(root), [], `${a.join(' ')} left the root empty`);
      }
      assert.ok(fs.existsSync(path.join(photos, 'a.png')));
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });

  test('the quick start still works: generate on a fresh machine creates the store', async () => {
    const work = tmpDir();
    try {
      const root = path.join(work, 'new-store');
      const g = await runCli(['--root', root, '--json', 'generate', '--sample', '1', '--seed', '2', '--workers', '1']);
      assert.equal(g.code, 0, g.stderr);
      assert.ok(fs.statSync(catalogFile(root)).isFile());
      const s = await runCli(['--root', root, '--json', 'stats']);
      assert.equal(s.code, 0, s.stderr);
      assert.ok(s.json.usage.files > 0);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});

for (const d of DIALECTS) {
  describe(`backup: the archive name and --format agree: ${d.name}`, { skip: d.skip }, () => {
    test('--format zip --output x.tar.gz (and the reverse) is refused in one line, nothing written; the name decides otherwise', async () => {
      const store = await d.makeStore();
      const out = tmpDir();
      try {
        const g = await runCli([...store.args, 'generate', '--sample', '1', '--seed', '4', '--workers', '1']);
        assert.equal(g.code, 0, g.stderr);
        for (const [format, name] of [['zip', 'x.tar.gz'], ['tar.gz', 'x.zip'], ['zip', 'x.tgz']] as const) {
          const r = await runCli([...store.args, '--json', 'backup', '--format', format, '--output', path.join(out, name)]);
          assert.equal(r.code, 2, `${format} ${name}: ${r.stdout}`);
          assert.equal(r.json.error.code, 'usage');
          assert.match(r.json.error.message, new RegExp(`--format ${format.replace('.', '\\.')} does not match the archive name .*${name.replace('.', '\\.')}`));
          const t = await runCli([...store.args, 'backup', '--format', format, '--output', path.join(out, name)]);
          assert.equal(t.stderr.trim().split('\n').length, 1, t.stderr);
        }
        assert.deepEqual(fs.readdirSync(out), [], 'nothing written');
        // Agreeing names; the config file's format gives way to the name.
        const cfg = path.join(out, 'cfg.json');
        fs.writeFileSync(cfg, JSON.stringify({ backup: { format: 'zip' } }));
        const z = await runCli([...store.args, '--json', 'backup', '--format', 'zip', '--output', path.join(out, 'ok.zip')]);
        assert.equal(z.code, 0, z.stderr);
        assert.equal(fs.readFileSync(path.join(out, 'ok.zip')).subarray(0, 2).toString('latin1'), 'PK');
        const tg = await runCli([...store.args, '--config', cfg, '--json', 'backup', '--output', path.join(out, 'ok.tar.gz')]);
        assert.equal(tg.code, 0, tg.stderr);
        assert.deepEqual([...fs.readFileSync(path.join(out, 'ok.tar.gz')).subarray(0, 2)], [0x1f, 0x8b], 'gzip');
      } finally {
        fs.rmSync(out, { recursive: true, force: true });
        await store.dispose();
      }
    });
  });
}
