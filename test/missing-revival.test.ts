// Rows marked 'missing' come back to 'present' when their file reappears with the row's size and
// SHA-256 (a lost mount that came back); a file that differs is left alone and never deleted as
// an orphan. Both dialects.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { DIALECTS, tmpDir, type Store } from './helpers/env.ts';
import { runMain as run } from './helpers/run-main.ts';

for (const d of DIALECTS) {
  describe(`missing -> present: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let out: string;
    before(async () => {
      store = await d.makeStore();
      out = tmpDir();
      const g = await run([...store.args, '--json', 'generate', '--sample', '2', '--seed', '9', '--workers', '1']);
      assert.equal(g.code, 0, g.stderr);
    });
    after(async () => {
      await store?.dispose();
      fs.rmSync(out, { recursive: true, force: true });
    });

    test('a file that comes back with its bytes revives its row; one that differs stays missing and on disk', async () => {
      const c = await store.open();
      const rows = await c.filePage({ states: ['present'], limit: 2 });
      await c.close();
      const [a, b] = rows.map((r) => ({ row: r, abs: path.join(store.root, r.path), bytes: fs.readFileSync(path.join(store.root, r.path)) }));
      fs.renameSync(a!.abs, path.join(out, 'a'));
      fs.renameSync(b!.abs, path.join(out, 'b'));
      const lost = await run([...store.args, '--json', 'cleanup-orphaned', '--yes', '--min-age', '0s']);
      assert.equal(lost.code, 0, lost.stdout);
      assert.equal(lost.json.result.markedMissing, 2);

      // Backup of a store with missing rows archives the present ones: exit 0, nothing to leave out.
      fs.renameSync(path.join(out, 'a'), a!.abs);
      fs.writeFileSync(b!.abs, Buffer.concat([b!.bytes.subarray(0, -1), Buffer.from([b!.bytes.at(-1)! ^ 1])]));
      const dry = await run([...store.args, '--json', 'cleanup-orphaned', '--dry-run', '--min-age', '0s']);
      assert.equal(dry.code, 0, dry.stdout);
      assert.deepEqual(dry.json.revived.paths, [a!.row.path]);
      assert.equal(dry.json.orphans.files, 0, 'neither file is an orphan');
      assert.ok(dry.json.anomalies.some((x: string) => x.startsWith(`${b!.row.path} (reappeared`)), JSON.stringify(dry.json.anomalies));

      const real = await run([...store.args, '--json', 'cleanup-orphaned', '--yes', '--min-age', '0s']);
      assert.equal(real.code, 0, real.stdout);
      assert.equal(real.json.result.revived, 1);
      assert.equal(real.json.result.deleted, 0);
      assert.ok(fs.existsSync(a!.abs) && fs.existsSync(b!.abs), 'both files are still on disk');
      const c2 = await store.open();
      const now = await c2.filesByPaths([a!.row.path, b!.row.path]);
      const presentRows = (await c2.filePage({ states: ['present'], limit: 1000 })).length;
      const snap = await c2.openSnapshot();
      const events: any[] = [];
      for await (const page of snap.tableRows('events', 1000)) events.push(...page);
      await snap.close();
      await c2.close();
      assert.deepEqual(Object.fromEntries(now.map((r) => [r.path, r.state])), { [a!.row.path]: 'present', [b!.row.path]: 'missing' });
      assert.deepEqual(events.filter((e) => e.action === 'revive_missing').map((e) => e.path), [a!.row.path]);

      const backup = await run([...store.args, '--json', 'backup', '--output', path.join(out, 'x.tar.gz')]);
      assert.equal(backup.code, 0, backup.stdout);
      assert.equal(backup.json.files, presentRows, 'the revived file is archived; the missing one is not expected');
      assert.equal(backup.json.skipped.count, 0);
    });
  });
}
