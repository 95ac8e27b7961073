// delete end to end: the real bin on both dialects, effects on disk and in the catalog.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { buildSyntheticStore } from '../bench/lib/synth.ts';
import { iterateFiles, type Catalog } from '../src/db/catalog.ts';
import { BIN, DIALECTS, REPO, runCli, type Store } from './helpers/env.ts';
import { buildCleanupStore, exists, sqlRows } from './helpers/cleanup-fixture.ts';
import { runMain } from './helpers/run-main.ts';

for (const d of DIALECTS) {
  describe(`delete: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let c: Catalog;
    let paths: Map<string, string[]>;
    before(async () => {
      store = await d.makeStore();
      c = await store.open();
      paths = await buildCleanupStore(store.root, c);
    });
    after(async () => {
      await c?.close();
      await store?.dispose();
    });
    const cli = (...args: string[]) => runCli([...store.args, '--json', 'delete', ...args]);
    const present = (id: string) => paths.get(id)!.filter((p) => exists(store.root, p));

    test('without --yes off a terminal: refused (exit 2), nothing changed', async () => {
      const r = await cli('c-printed');
      assert.equal(r.code, 2);
      assert.equal(r.json.error.code, 'confirmation_required');
      assert.deepEqual(present('c-printed'), paths.get('c-printed'));
    });

    test('--dry-run --list equals the real run; tombstones say manual; show names the command, user and host', async () => {
      const dry = await cli('c-printed', 'e-done-new', 'c-qa', '--dry-run', '--list');
      assert.equal(dry.code, 0, dry.stderr);
      const want = [...paths.get('c-printed')!, ...paths.get('e-done-new')!, ...paths.get('c-qa')!].sort();
      assert.deepEqual(dry.json.list.map((x: { path: string }) => x.path).sort(), want);
      for (const p of want) assert.ok(exists(store.root, p), 'a dry run deletes nothing');
      const real = await cli('c-printed', 'e-done-new', 'c-qa', '--yes', '--list');
      assert.equal(real.code, 0, real.stderr);
      assert.deepEqual(real.json.list.map((x: { path: string }) => x.path).sort(), want);
      assert.equal(real.json.result.files, want.length);
      for (const p of want) assert.equal(exists(store.root, p), false);
      for (const f of await c.filesOfJobs(['c-printed', 'e-done-new', 'c-qa'])) {
        assert.equal(f.state, 'deleted');
        assert.equal(f.deleteReason, 'manual');
        assert.ok(f.deletedAt);
      }
      const [job] = await c.getJobs(['c-printed']);
      assert.equal(job!.filesState, 'deleted');
      const [run] = await c.recentRuns(1, 'delete');
      assert.equal(run!.status, 'ok');
      const show = await runCli([...store.args, '--json', 'show', 'c-printed']);
      const t = show.json.jobs[0].tombstones;
      assert.equal(t.length, paths.get('c-printed')!.length);
      assert.ok(t.every((x: { reason: string; command: string; user: string; host: string; runId: string }) => x.reason === 'manual' && x.command === 'delete' && x.user === run!.user && x.host === run!.host && x.runId === run!.id));
      const gone = await runCli([...store.args, '--json', 'get', 'c-printed', 'front.png']);
      assert.equal(gone.code, 6);
      assert.match(gone.json.error.message, /: manual \(by delete/);
      // again: nothing left to delete
      const again = await cli('c-printed', '--yes');
      assert.equal(again.code, 0);
      assert.deepEqual(again.json.nothingToDelete, ['c-printed']);
    });

    test('jobs in production are refused and listed unless --force', async () => {
      const r = await cli('c-live', 'c-stuck', 'c-reprint', '--yes');
      assert.equal(r.code, 3);
      assert.deepEqual(r.json.refused.map((x: { jobId: string }) => x.jobId).sort(), ['c-live', 'c-stuck']);
      assert.deepEqual(present('c-live'), paths.get('c-live'));
      assert.deepEqual(present('c-reprint'), []);
      const f = await cli('c-live', '--yes', '--force');
      assert.equal(f.code, 0, f.stderr);
      assert.deepEqual(present('c-live'), []);
    });

    test('--max-delete is respected; filters and --from choose the same jobs; unknown ids exit 5', async () => {
      const capped = await cli('c-stuck', '--force', '--yes', '--max-delete', '1');
      assert.equal(capped.code, 2);
      assert.deepEqual(present('c-stuck'), paths.get('c-stuck'));
      const byFilter = await cli('--owner', 'acme', '--status', 'failed', '--older-than', '7d', '--dry-run', '--list');
      assert.equal(byFilter.code, 0, byFilter.stderr);
      assert.deepEqual([...new Set(byFilter.json.list.map((x: { jobId: string }) => x.jobId))], ['c-failed-old']);
      // --kind: the export jobs with files left (e-done-new was deleted above), and with --older-than
      // only the one completed 30 h ago (e-failed was never completed: its created time is 3 h ago).
      const byKind = await cli('--kind', 'export', '--dry-run', '--list');
      assert.equal(byKind.code, 0, byKind.stderr);
      assert.deepEqual([...new Set(byKind.json.list.map((x: { jobId: string }) => x.jobId))].sort(), ['e-done-old', 'e-failed']);
      const byKindAge = await cli('--kind', 'export', '--older-than', '1d', '--dry-run', '--list');
      assert.deepEqual([...new Set(byKindAge.json.list.map((x: { jobId: string }) => x.jobId))], ['e-done-old']);
      for (const p of [...paths.get('e-done-old')!, ...paths.get('e-failed')!]) assert.ok(exists(store.root, p), 'a dry run deletes nothing');
      const fromStdin = await runCli([...store.args, '--json', 'delete', '--from', '-', '--dry-run', '--list'], { input: '# ids\nc-failed-old\n\nc-failed-new\n' });
      assert.deepEqual([...new Set(fromStdin.json.list.map((x: { jobId: string }) => x.jobId))].sort(), ['c-failed-new', 'c-failed-old']);
      const nf = await cli('nope', '--yes');
      assert.equal(nf.code, 5);
      assert.deepEqual(nf.json.notFound, ['nope']);
      assert.equal((await cli('--status', 'bogus', '--dry-run')).code, 2);
      assert.equal((await cli('--dry-run')).code, 2);
    });
  });

  describe(`delete leaves no descriptor open: ${d.name}`, { skip: d.skip }, () => {
    test('runs in one process (real deletions, through the gate): the open descriptors are the same after as before', async () => {
      const store = await d.makeStore();
      const c = await store.open();
      try {
        const paths = await buildCleanupStore(store.root, c);
        await c.close();
        const fds = () => fs.readdirSync('/proc/self/fd').length;
        const del = (...ids: string[]) => runMain([...store.args, '--json', '--yes', 'delete', ...ids]);
        // The first run loads modules and whatever a process keeps once (the drivers): not counted.
        const warm = await del('c-printed');
        assert.equal(warm.code, 0, warm.stdout + warm.stderr);
        // The deletion engine's removal threads, started by the warm run, read their modules
        // while they come up (descriptors of their own, closed once loaded): count once the
        // process's descriptors have settled (the same count three times, 200 ms apart), and the
        // same after.
        const settled = async () => {
          let last = fds();
          for (let same = 0, i = 0; same < 2 && i < 50; i++) {
            await new Promise((r) => setTimeout(r, 200));
            const now = fds();
            same = now === last ? same + 1 : 0;
            last = now;
          }
          return last;
        };
        const before = await settled();
        for (const id of ['c-qa', 'c-reprint', 'c-failed-old', 'e-done-new']) {
          const r = await del(id);
          assert.equal(r.code, 0, r.stdout + r.stderr);
          assert.equal(r.json.result.files, paths.get(id)!.length);
          for (const p of paths.get(id)!) assert.equal(exists(store.root, p), false, p);
        }
        // settled too: a closed client's socket (PostgreSQL) may take a moment to go; a leak stays
        assert.equal(await settled(), before, 'a delete run closes the gate (the root and directories it held open)');
      } finally {
        await store.dispose();
      }
    });
  });

  describe(`delete crash safety: ${d.name}`, { skip: d.skip }, () => {
    test('kill -9 midway, then a rerun converges and stats --check-disk exits 0', async () => {
      const store = await d.makeStore();
      const c = await store.open();
      try {
        await buildSyntheticStore({ root: store.root, databaseUrl: store.databaseUrl || undefined, jobs: 700, filesPerJob: 5, minBytes: 64, maxBytes: 256, days: 30 });
        const dry = await runCli([...store.args, '--json', 'delete', '--older-than', '1s', '--force', '--dry-run', '--list']);
        assert.equal(dry.code, 0, dry.stderr);
        const planned = new Set<string>(dry.json.list.map((x: { path: string }) => x.path));
        assert.ok(planned.size > 1500, `plan too small to interrupt: ${planned.size}`);
        const child = spawn(process.execPath, [BIN, ...store.args, '--yes', 'delete', '--older-than', '1s', '--force'], { cwd: REPO, stdio: 'ignore', env: { ...process.env, STORECTL_ROOT: '', STORECTL_DATABASE_URL: '', DATABASE_URL: '' } });
        const exited = new Promise((r) => child.on('exit', r));
        for (let i = 0; i < 2000; i++) {
          const [n] = await sqlRows<{ n: number }>(c, `select count(*) as n from files where state <> 'present'`);
          if (Number(n!.n) > 0) break;
          await new Promise((r) => setTimeout(r, 10));
        }
        child.kill('SIGKILL');
        await exited;
        const [run] = await c.recentRuns(1, 'delete');
        assert.equal(run!.status, 'running', 'killed before it finished');
        const [done] = await sqlRows<{ n: number }>(c, `select count(*) as n from files where state = 'deleted'`);
        assert.ok(Number(done!.n) < planned.size, 'killed midway');
        const rerun = await runCli([...store.args, '--json', '--yes', 'delete', '--older-than', '1s', '--force']);
        assert.equal(rerun.code, 0, rerun.stderr);
        for await (const f of iterateFiles(c)) {
          assert.equal(exists(store.root, f.path), !planned.has(f.path), f.path);
          if (planned.has(f.path)) assert.deepEqual([f.state, f.deleteReason], ['deleted', 'manual']);
        }
        const check = await runCli([...store.args, '--json', 'stats', '--check-disk']);
        assert.equal(check.code, 0, check.stdout + check.stderr);
      } finally {
        await c.close();
        await store.dispose();
      }
    });
  });
}
