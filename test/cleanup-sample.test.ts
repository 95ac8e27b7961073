// On a `generate --sample` store (rendered cards, exports, temp files, stuck jobs): a real
// cleanup-expired run deletes exactly what its dry run listed, and cleanup-orphaned then finds
// a clean store.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { iterateFiles, type Catalog } from '../src/db/catalog.ts';
import { DIALECTS, runCli, type Store } from './helpers/env.ts';

for (const d of DIALECTS) {
  describe(`cleanup on a sample store: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let c: Catalog;
    before(async () => {
      store = await d.makeStore();
      const gen = await runCli([...store.args, '--json', 'generate', '--sample', '30', '--days', '20', '--seed', '5', '--workers', '2']);
      assert.equal(gen.code, 0, gen.stderr);
      c = await store.open();
    });
    after(async () => {
      await c?.close();
      await store?.dispose();
    });

    test('dry run == real run; only planned files gone; the tree then has no drift', async () => {
      const dry = await runCli([...store.args, '--json', 'cleanup-expired', '--dry-run', '--list']);
      assert.equal(dry.code, 0, dry.stderr);
      const planned = new Set<string>(dry.json.list.map((x: { path: string }) => x.path));
      assert.ok(planned.size > 0);
      const before = new Map<string, string>();
      for await (const f of iterateFiles(c, ['present'])) before.set(f.path, f.state);
      const real = await runCli([...store.args, '--json', '--yes', 'cleanup-expired', '--list']);
      assert.equal(real.code, 0, real.stderr);
      assert.deepEqual(real.json.list.map((x: { path: string }) => x.path).sort(), [...planned].sort());
      assert.equal(real.json.result.markedFailed, dry.json.plan.markFailed);
      for (const p of before.keys()) assert.equal(fs.existsSync(path.join(store.root, p)), !planned.has(p), p);
      const orphans = await runCli([...store.args, '--json', 'cleanup-orphaned', '--dry-run']);
      assert.equal(orphans.code, 0, orphans.stderr);
      assert.equal(orphans.json.orphans.files, 0);
      assert.equal(orphans.json.missing.files, 0);
      const stats = await runCli([...store.args, '--json', 'stats', '--check-disk']);
      assert.equal(stats.code, 0, JSON.stringify(stats.json?.drift));
    });
  });
}
