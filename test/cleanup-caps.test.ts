// Caps that do not hide the plan (issue 22): with cleanup.maxDelete (config) or --max-delete, a
// dry run shows the plan and says that the real run would be refused, and why; --limit N
// deletes at most N files this run, whole jobs, and leaves the rest for the next. Both dialects;
// effects checked on disk and in the catalog.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Catalog } from '../src/db/catalog.ts';
import { DIALECTS, runCli, tmpDir, type Store } from './helpers/env.ts';
import { buildCleanupStore, exists } from './helpers/cleanup-fixture.ts';

interface ListItem {
  path: string;
  jobId: string | null;
  outcome: string;
}

for (const d of DIALECTS) {
  describe(`cleanup-expired caps and --limit: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let c: Catalog;
    let cfgDir: string;
    before(async () => {
      store = await d.makeStore();
      c = await store.open();
      await buildCleanupStore(store.root, c);
      cfgDir = tmpDir('storectl-cfg-');
    });
    after(async () => {
      await c?.close();
      await store?.dispose();
      fs.rmSync(cfgDir, { recursive: true, force: true });
    });
    const cli = (...args: string[]) => runCli([...store.args, ...args]);
    const withCap = (cap: string) => {
      const cfg = path.join(cfgDir, `cap-${cap.replace('%', 'pc')}.json`);
      fs.writeFileSync(cfg, JSON.stringify({ cleanup: { maxDelete: cap } }));
      return ['--config', cfg];
    };
    const states = async (paths: string[]) => new Map((await c.filesByPaths(paths)).map((r) => [r.path, r.state]));

    test('a configured cap over the plan: the dry run shows the plan and says the real run would be refused; the real run is', async () => {
      const cap = withCap('1');
      const dry = await cli(...cap, '--json', 'cleanup-expired', '--dry-run', '--list');
      assert.equal(dry.code, 0, dry.stdout + dry.stderr);
      const planned = (dry.json.list as ListItem[]).filter((x) => x.outcome === 'delete');
      assert.ok(planned.length > 1, 'the plan is shown');
      assert.equal(dry.json.cap.refused, true);
      assert.equal(dry.json.cap.source, 'cleanup.maxDelete');
      assert.equal(dry.json.cap.cap, 1);
      assert.equal(dry.json.cap.count, planned.length);
      assert.match(dry.json.cap.reason, new RegExp(`would delete ${planned.length} files, over the cap of 1 \\(cleanup.maxDelete 1\\)`));

      const text = await cli(...cap, 'cleanup-expired', '--dry-run', '--list');
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /^delete {2}/m, 'the paths are listed');
      assert.match(text.stdout, /the real run would be refused by the cap: this run would delete \d+ files, over the cap of 1 \(cleanup\.maxDelete 1\); pass a higher --max-delete, or --limit 1/);

      const real = await cli(...cap, '--json', '--yes', 'cleanup-expired');
      assert.equal(real.code, 2, real.stdout);
      assert.equal(real.json.error.code, 'guard_max_delete');
      assert.match(real.json.error.message, /cleanup\.maxDelete 1/);
      assert.match(real.json.error.hint, /--limit N/);
      for (const p of planned) assert.ok(exists(store.root, p.path), `${p.path} kept`);
      assert.ok([...(await states(planned.map((p) => p.path))).values()].every((s) => s === 'present'));
    });

    test('a percentage cap within the plan: the dry run says so; --max-delete on the command line is named as the source', async () => {
      const dry = await cli(...withCap('1%'), '--json', 'cleanup-expired', '--dry-run', '--max-delete', '100%');
      assert.equal(dry.code, 0, dry.stderr);
      assert.equal(dry.json.cap.refused, false);
      assert.equal(dry.json.cap.source, '--max-delete');
      assert.match(dry.json.cap.reason, /within the cap of \d+ \(--max-delete 100% of \d+ present files\)/);
      const none = await cli('--json', 'cleanup-expired', '--dry-run');
      assert.equal(none.json.cap, null);
      assert.equal(none.json.limit, null);
    });

    test('--limit N: at most N files this run, whole jobs; the dry run lists the rest as next_run; the next run deletes it', async () => {
      const dry = await cli('--json', 'cleanup-expired', '--dry-run', '--list', '--limit', '3');
      assert.equal(dry.code, 0, dry.stderr);
      const list = dry.json.list as ListItem[];
      const now = list.filter((x) => x.outcome === 'delete').map((x) => x.path);
      const later = list.filter((x) => x.outcome === 'next_run').map((x) => x.path);
      assert.ok(now.length > 0 && now.length <= 3, `deletes ${now.length}`);
      assert.ok(later.length > 0, 'some are left for the next run');
      assert.equal(dry.json.limit, 3);
      assert.equal(dry.json.plan.deferred.files, later.length);
      assert.ok(dry.json.plan.deferred.jobs > 0);
      // Whole jobs: no job is split between this run and the next.
      const jobsNow = new Set(list.filter((x) => x.outcome === 'delete' && x.jobId).map((x) => x.jobId));
      for (const x of list) if (x.outcome === 'next_run' && x.jobId) assert.ok(!jobsNow.has(x.jobId), `${x.jobId} split`);
      const text = await cli('cleanup-expired', '--dry-run', '--limit', '3');
      assert.match(text.stdout, /--limit 3: \d+ files \(.*\) of \d+ due jobs would be left for the next run/);

      // With the limit the cap counts what this run deletes: a cap of 3 does not refuse it.
      const real = await cli('--json', '--yes', 'cleanup-expired', '--list', '--limit', '3', '--max-delete', '3');
      assert.equal(real.code, 0, real.stdout + real.stderr);
      assert.deepEqual((real.json.list as { path: string }[]).map((x) => x.path).sort(), [...now].sort(), 'the real run deletes what its dry run listed');
      assert.equal(real.json.plan.deferred.files, later.length);
      for (const p of now) assert.ok(!exists(store.root, p), `${p} deleted`);
      for (const p of later) assert.ok(exists(store.root, p), `${p} left for the next run`);
      const st = await states([...now, ...later]);
      for (const p of now) assert.equal(st.get(p), 'deleted');
      for (const p of later) assert.equal(st.get(p), 'present');

      const next = await cli('--json', '--yes', 'cleanup-expired', '--list');
      assert.equal(next.code, 0, next.stderr);
      assert.deepEqual((next.json.list as { path: string }[]).map((x) => x.path).sort(), [...later].sort());
      for (const p of later) assert.ok(!exists(store.root, p));
    });

    test('bad --limit is one line, exit 2', async () => {
      for (const v of ['0', 'x', '-1']) {
        const r = await cli('cleanup-expired', '--dry-run', '--limit', v);
        assert.equal(r.code, 2, `${v}: ${r.stderr}`);
      }
    });
  });
}
