// export end to end: archives read back with the real tar and unzip, on both dialects.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import type { Catalog } from '../src/db/catalog.ts';
import { BIN, DIALECTS, REPO, runCli, tmpDir, type Store } from './helpers/env.ts';
import { buildCleanupStore } from './helpers/cleanup-fixture.ts';

function listTar(file: string): string[] {
  return execFileSync('tar', ['tzf', file], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
}

for (const d of DIALECTS) {
  describe(`export: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let c: Catalog;
    let paths: Map<string, string[]>;
    let out: string;
    before(async () => {
      store = await d.makeStore();
      c = await store.open();
      paths = await buildCleanupStore(store.root, c);
      out = tmpDir('storectl-export-');
      const del = await runCli([...store.args, '--json', 'cleanup-expired', '--yes']);
      assert.equal(del.code, 0, del.stdout + del.stderr);
    });
    after(async () => {
      await c?.close();
      await store?.dispose();
      fs.rmSync(out, { recursive: true, force: true });
    });
    const cli = (...args: string[]) => runCli([...store.args, '--json', ...args]);
    const onDisk = (p: string) => fs.readFileSync(path.join(store.root, p));

    test('tar.gz: exactly the chosen jobs\' present files, byte-identical, and a manifest with the tombstones', async () => {
      const file = path.join(out, 'a.tar.gz');
      const r = await cli('export', 'c-printed', 'c-qa', 'c-done', '--output', file);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const present = [...paths.get('c-printed')!, ...paths.get('c-qa')!];
      assert.deepEqual(listTar(file), [...present.map((p) => `files/${p}`), 'manifest.ndjson'].sort());
      const x = path.join(out, 'x');
      fs.mkdirSync(x);
      execFileSync('tar', ['xzf', file, '-C', x]);
      for (const p of present) assert.deepEqual(fs.readFileSync(path.join(x, 'files', p)), onDisk(p));
      const manifest = fs.readFileSync(path.join(x, 'manifest.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      const deleted = manifest.filter((m) => m.state === 'deleted');
      assert.deepEqual(deleted.map((m) => m.path).sort(), [...paths.get('c-done')!].sort());
      assert.ok(deleted.every((m) => m.job === 'c-done' && m.reason === 'expired: rule completed-cards' && m.deletedAt));
      const rows = await c.filesOfJobs(['c-printed', 'c-qa']);
      for (const row of rows) {
        const m = manifest.find((e) => e.path === row.path);
        assert.deepEqual([m.job, m.role, m.size, m.sha256, m.state], [row.jobId, row.role, row.size, row.sha256, 'archived']);
      }
      assert.equal(r.json.archived.files, present.length);
      assert.equal(r.json.deleted, paths.get('c-done')!.length);
    });

    test('zip with filters, readable by unzip; stdout tar.gz read by tar', async () => {
      const file = path.join(out, 'b.zip');
      const r = await cli('export', '--owner', 'acme', '--status', 'printed,reprint', '--output', file);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(r.json.jobs, 2);
      const t = spawnSync('unzip', ['-t', file], { encoding: 'utf8' });
      assert.equal(t.status, 0, t.stdout + t.stderr);
      const z = path.join(out, 'z');
      execFileSync('unzip', ['-q', file, '-d', z]);
      const want = [...paths.get('c-printed')!, ...paths.get('c-reprint')!];
      for (const p of want) assert.deepEqual(fs.readFileSync(path.join(z, 'files', p)), onDisk(p));
      assert.equal(fs.readdirSync(path.join(z, 'files', 'cards')).length > 0, true);
      assert.equal((await cli('export', '--owner', 'nobody', '--output', path.join(out, 'none.zip'))).json.jobs, 0);

      const piped = spawnSync('bash', ['-c', `printf 'c-printed\\n' | "${process.execPath}" "${BIN}" ${store.args.map((a) => `'${a}'`).join(' ')} export --from - --output - | tar tzf -`], { cwd: REPO, encoding: 'utf8' });
      assert.equal(piped.status, 0, piped.stderr);
      assert.deepEqual(piped.stdout.trim().split('\n').sort(), [...paths.get('c-printed')!.map((p) => `files/${p}`), 'manifest.ndjson'].sort());
    });

    test('a corrupted file is not archived as good: listed as mismatch, exit 4; unknown ids exit 5', async () => {
      const p = paths.get('c-reprint')![0]!;
      const abs = path.join(store.root, p);
      const good = fs.readFileSync(abs);
      const bad = Buffer.from(good);
      bad[0] = bad[0]! ^ 1;
      fs.writeFileSync(abs, bad);
      try {
        const file = path.join(out, 'c.tar.gz');
        const r = await cli('export', 'c-reprint', '--output', file);
        assert.equal(r.code, 4);
        assert.deepEqual(r.json.problems.map((x: { path: string; state: string }) => [x.path, x.state]), [[p, 'mismatch']]);
        const names = listTar(file);
        assert.ok(!names.includes(`files/${p}`));
        assert.ok(names.includes(`files/${paths.get('c-reprint')![1]!}`));
      } finally {
        fs.writeFileSync(abs, good);
      }
      const nf = await cli('export', 'nope', 'c-qa', '--output', path.join(out, 'd.tar.gz'));
      assert.equal(nf.code, 5);
      assert.deepEqual(nf.json.notFound, ['nope']);
      assert.equal((await cli('export', '--output', path.join(out, 'e.tar.gz'))).code, 2);
      assert.equal((await cli('export', 'c-qa', '--output', path.join(out, 'e.rar'))).code, 2);
      assert.equal(fs.existsSync(path.join(out, 'e.tar.gz')), false);
    });
  });
}
