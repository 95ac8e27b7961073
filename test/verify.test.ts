// verify end to end: the real bin on both dialects; effects checked on disk and in the catalog.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Catalog } from '../src/db/catalog.ts';
import { DIALECTS, runCli, tmpDir, type Store } from './helpers/env.ts';
import { sqlRows, writeFile } from './helpers/cleanup-fixture.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** n jobs of `perJob` random files each, written and catalogued; returns path -> bytes. */
async function buildStore(root: string, c: Catalog, jobs: number, perJob: number, size = 2000, prefix = 'j'): Promise<Map<string, Buffer>> {
  const created = new Date('2026-11-20T10:00:00Z');
  const out = new Map<string, Buffer>();
  const newJobs = [];
  const newFiles = [];
  for (let j = 0; j < jobs; j++) {
    const id = `${prefix}-${String(j).padStart(5, '0')}`;
    newJobs.push({ id, kind: 'card', owner: j % 2 ? 'acme' : 'globex', status: 'completed', data: {}, createdAt: created, filesState: 'on_disk' });
    for (let k = 0; k < perJob; k++) {
      const rel = `cards/2026/11/20/${id}/f${k}.png`;
      const data = randomBytes(size + ((j * 7 + k) % 50));
      writeFile(root, rel, data);
      out.set(rel, data);
      newFiles.push({ jobId: id, role: `f${k}.png`, category: 'cards', owner: j % 2 ? 'acme' : 'globex', path: rel, contentType: 'image/png', size: data.length, sha256: sha(data), createdAt: created });
    }
  }
  await c.insertJobs(newJobs);
  await c.insertFiles(newFiles);
  return out;
}

for (const d of DIALECTS) {
  describe(`verify: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let c: Catalog;
    let files: Map<string, Buffer>;
    let work: string;
    before(async () => {
      store = await d.makeStore();
      c = await store.open();
      files = await buildStore(store.root, c, 10, 4);
      work = tmpDir('storectl-verify-work-');
    });
    after(async () => {
      await c?.close();
      await store?.dispose();
      fs.rmSync(work, { recursive: true, force: true });
    });
    const cli = (...args: string[]) => runCli([...store.args, '--json', ...args]);
    const rowsOf = async () => new Map((await c.filesByPaths([...files.keys()])).map((r) => [r.path, r]));

    test('a clean store verifies: exit 0, every row stamped ok', async () => {
      const r = await cli('verify');
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.json.checked.files, files.size);
      assert.equal(r.json.ok, files.size);
      for (const row of (await rowsOf()).values()) {
        assert.equal(row.verifyResult, 'ok');
        assert.ok(row.verifiedAt instanceof Date);
        assert.equal(row.state, 'present');
      }
    });

    test('flip a byte, truncate, delete: exit 4, exactly those three marked; --repair-from brings them back', async () => {
      const archive = path.join(work, 'before.tar.gz');
      const b = await runCli([...store.args, '--json', 'backup', '--output', archive]);
      assert.equal(b.code, 0, b.stderr);
      const [flipped, truncated, deleted] = [...files.keys()].slice(3, 6) as [string, string, string];
      const abs = (p: string) => path.join(store.root, p);
      const buf = fs.readFileSync(abs(flipped));
      buf[100] = buf[100]! ^ 0x01;
      fs.writeFileSync(abs(flipped), buf);
      fs.truncateSync(abs(truncated), 10);
      fs.rmSync(abs(deleted));

      const r = await cli('verify');
      assert.equal(r.code, 4, r.stderr);
      assert.deepEqual(
        r.json.problems.map((p: { path: string; kind: string }) => `${p.kind} ${p.path}`).sort(),
        [`corrupt ${flipped}`, `corrupt ${truncated}`, `missing ${deleted}`].sort(),
      );
      assert.equal(r.json.ok, files.size - 3);
      const rows = await rowsOf();
      for (const [p, row] of rows) {
        const want = p === flipped || p === truncated ? 'corrupt' : p === deleted ? 'missing' : 'present';
        assert.equal(row.state, want, p);
        assert.equal(row.verifyResult, want === 'present' ? 'ok' : want, p);
      }
      assert.ok(fs.existsSync(abs(flipped)), 'a corrupt file is kept');
      const ev = await sqlRows<{ action: string; path: string }>(c, `select action, path from events where action like 'verify-%' order by path`);
      assert.deepEqual(ev.map((e) => e.action).sort(), ['verify-corrupt', 'verify-corrupt', 'verify-missing']);

      // stats shows it
      const st = await cli('stats');
      assert.equal(st.json.verification.corrupt.files, 2);
      assert.equal(st.json.verification.missing.files, 1);
      assert.equal(st.json.verification.never.files, 0);

      // a second plain run still exits 4 (the catalog says they are bad)
      assert.equal((await cli('verify')).code, 4);

      const repair = await cli('verify', '--repair-from', archive);
      assert.equal(repair.code, 0, repair.stderr + repair.stdout);
      assert.deepEqual(repair.json.repair.repaired.map((x: { path: string }) => x.path).sort(), [flipped, truncated, deleted].sort());
      assert.deepEqual(repair.json.repair.unrepairable, []);
      for (const p of [flipped, truncated, deleted]) {
        assert.ok(fs.readFileSync(abs(p)).equals(files.get(p)!), `${p} is byte-identical again`);
        assert.equal(fs.statSync(abs(p)).mode & 0o777, 0o600);
      }
      for (const row of (await rowsOf()).values()) assert.equal(row.state, 'present', row.path);
      assert.equal(fs.readdirSync(path.join(store.root, '.storectl', 'staging')).length, 0, 'staging is cleaned up');
      const again = await cli('verify');
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.json.ok, files.size);
    });

    test('--repair-from an archive without the file lists it as unrepairable, exit 4', async () => {
      const extra = await buildStore(store.root, c, 1, 1, 500, 'late');
      const [p] = [...extra.keys()] as [string];
      fs.rmSync(path.join(store.root, p));
      const r = await cli('verify', '--job', 'late-00000', '--repair-from', path.join(work, 'before.tar.gz'));
      assert.equal(r.code, 4, r.stderr);
      assert.deepEqual(r.json.repair.unrepairable.map((x: { path: string }) => x.path), [p]);
      assert.equal(r.json.selected.files, 1, '--job narrows the selection');
      assert.equal((await c.filesByPaths([p]))[0]!.state, 'missing');
      // bring it back for the tests after this one
      writeFile(store.root, p, extra.get(p)!);
      const ok = await cli('verify', '--job', 'late-00000');
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.json.revived, 1);
      files.set(p, extra.get(p)!);
    });

    test('--owner and --category select', async () => {
      const r = await cli('verify', '--owner', 'acme');
      assert.equal(r.code, 0, r.stderr);
      const acme = (await c.filesByPaths([...files.keys()])).filter((x) => x.owner === 'acme').length;
      assert.equal(r.json.checked.files, acme);
      const none = await cli('verify', '--category', 'exports');
      assert.equal(none.json.checked.files, 0);
    });
  });

  describe(`verify --sample and --max-time: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let c: Catalog;
    before(async () => {
      store = await d.makeStore();
      c = await store.open();
    });
    after(async () => {
      await c?.close();
      await store?.dispose();
    });
    const cli = (...args: string[]) => runCli([...store.args, '--json', ...args]);
    const verifiedIds = async () =>
      new Set((await sqlRows<{ id: number }>(c, `select id from files where verified_at is not null`)).map((r) => Number(r.id)));

    test('sampled runs cover every file, never-verified first, coverage growing monotonically', async () => {
      await buildStore(store.root, c, 10, 5, 300, 's'); // 50 files
      let seen = new Set<number>();
      for (let run = 1; run <= 5; run++) {
        const r = await cli('verify', '--sample', '20%');
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.json.checked.files, 10);
        const now = await verifiedIds();
        assert.equal(now.size, run * 10, 'each run checks files never verified before');
        for (const id of seen) assert.ok(now.has(id), 'coverage never shrinks');
        seen = now;
        const st = await cli('stats');
        assert.equal(st.json.verification.never.files, 50 - run * 10);
      }
      // once all are verified, the least recently verified go first: run 6 re-checks run 1's files
      const first = await sqlRows<{ id: number }>(c, `select id from files order by verified_at, id limit 10`);
      await cli('verify', '--sample', '10');
      const rows = await sqlRows<{ id: number; n: number }>(c, `select id from files order by verified_at desc, id limit 10`);
      assert.deepEqual(new Set(rows.map((r) => Number(r.id))), new Set(first.map((r) => Number(r.id))));
    });

    test('--max-time stops cleanly and the next run carries on', async () => {
      await buildStore(store.root, c, 300, 10, 64, 'm'); // 3,000 more files, never verified
      const never = async () => Number((await sqlRows<{ n: number }>(c, `select count(*) as n from files where verified_at is null`))[0]!.n);
      const before = await never();
      assert.equal(before, 3000);
      const r1 = await cli('verify', '--max-time', '1ms', '--threads', '1');
      assert.equal(r1.code, 0, r1.stderr);
      assert.equal(r1.json.stoppedByTime, true);
      assert.ok(r1.json.checked.files > 0 && r1.json.checked.files < 3000, `checked ${r1.json.checked.files}`);
      const after1 = await never();
      assert.equal(after1, before - r1.json.checked.files, 'what it checked is recorded');
      const r2 = await cli('verify', '--max-time', '1ms', '--threads', '1');
      assert.equal(r2.json.stoppedByTime, true);
      assert.equal(await never(), after1 - r2.json.checked.files, 'the second run checked only files not yet verified');
      const r3 = await cli('verify');
      assert.equal(r3.code, 0);
      assert.equal(r3.json.stoppedByTime, false);
      assert.equal(await never(), 0);
    });
  });
}
