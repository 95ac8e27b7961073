// STORECTL_PROFILE: a cleanup-expired run appends one JSON line saying where its time went, per
// phase, with the files each phase handled; without the variable nothing is written.
import { describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { DIALECTS, runCli, tmpDir } from './helpers/env.ts';
import { FIXTURE_JOBS, buildCleanupStore } from './helpers/cleanup-fixture.ts';

for (const d of DIALECTS) {
  describe(`STORECTL_PROFILE: ${d.name}`, { skip: d.skip }, () => {
    test('cleanup-expired writes its phases: plan, intent, unlink, tombstones, with the files each handled', async () => {
      const store = await d.makeStore();
      const work = tmpDir();
      try {
        const c = await store.open();
        const paths = await buildCleanupStore(store.root, c);
        await c.close();
        const due = FIXTURE_JOBS.filter((j) => j.expect === 'delete').reduce((n, j) => n + paths.get(j.id)!.length, 0);
        const file = path.join(work, 'profile.ndjson');
        const r = await runCli([...store.args, '--json', '--yes', 'cleanup-expired'], { env: { STORECTL_PROFILE: file } });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const deleted = (r.json as { result: { files: number } }).result.files;
        assert.ok(deleted >= due && due > 0, `deleted ${deleted}, fixture due ${due}`);
        const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
        assert.equal(lines.length, 1);
        const p = JSON.parse(lines[0]!) as { command: string; wallMs: number; phases: Record<string, { ms: number; calls: number; items: number }> };
        assert.match(p.command, /cleanup-expired/);
        assert.ok(p.wallMs > 0);
        for (const k of ['plan (wall)', 'apply (wall)', 'apply: catalog intent', 'apply: unlink', 'apply: catalog tombstones and events', 'apply: rmdir emptied parents']) {
          assert.ok(p.phases[k], `phase ${k} in ${Object.keys(p.phases).join(', ')}`);
          assert.ok(p.phases[k]!.ms <= p.wallMs + 1, `${k} busy ${p.phases[k]!.ms} ms within the wall ${p.wallMs} ms`);
        }
        assert.equal(p.phases['apply: unlink']!.items, deleted);
        assert.equal(p.phases['apply: catalog intent']!.items, deleted);
        assert.equal(p.phases['apply (wall)']!.items, deleted);
        // Without the variable: nothing written anywhere.
        fs.rmSync(file);
        const again = await runCli([...store.args, '--json', '--yes', 'cleanup-expired']);
        assert.equal(again.code, 0, again.stdout + again.stderr);
        assert.ok(!fs.existsSync(file));
      } finally {
        fs.rmSync(work, { recursive: true, force: true });
        await store.dispose();
      }
    });
  });
}
