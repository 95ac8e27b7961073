// Crash safety and one-run-at-a-time, with the real bin: kill -9 midway, two runs at once.
import { after, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { buildSyntheticStore } from '../bench/lib/synth.ts';
import { STORE_LOCK, iterateFiles, type Catalog } from '../src/db/catalog.ts';
import { BIN, DIALECTS, REPO, runCli, type Store } from './helpers/env.ts';
import { sqlExec, sqlRows } from './helpers/cleanup-fixture.ts';

async function syntheticStore(d: (typeof DIALECTS)[number], jobs: number): Promise<{ store: Store; c: Catalog }> {
  const store = await d.makeStore();
  await buildSyntheticStore({ root: store.root, databaseUrl: store.databaseUrl || undefined, jobs, filesPerJob: 5, minBytes: 64, maxBytes: 256, days: 30 });
  return { store, c: await store.open() };
}

async function plannedPaths(store: Store): Promise<string[]> {
  const r = await runCli([...store.args, '--json', 'cleanup-expired', '--dry-run', '--list']);
  assert.equal(r.code, 0, r.stderr);
  return r.json.list.map((x: { path: string }) => x.path);
}

/** Invariants of the delete protocol, checked on disk and in the catalog. */
async function checkConsistent(store: Store, c: Catalog, opts: { finished: boolean }) {
  const eventsByPath = new Map<string, number>();
  for (const e of await sqlRows<{ path: string }>(c, `select path from events where action in ('delete', 'delete_missing')`)) {
    eventsByPath.set(e.path, (eventsByPath.get(e.path) ?? 0) + 1);
  }
  for await (const f of iterateFiles(c)) {
    const onDisk = fs.existsSync(path.join(store.root, f.path));
    if (f.state === 'present') assert.ok(onDisk, `present row without its file: ${f.path}`);
    if (f.state === 'deleted') {
      assert.ok(!onDisk, `tombstone with a file still there: ${f.path}`);
      assert.ok(f.deletedAt && f.deleteReason, `tombstone without time or reason: ${f.path}`);
      assert.equal(eventsByPath.get(f.path), 1, `deleted file without exactly one event: ${f.path}`);
    }
    if (opts.finished) assert.notEqual(f.state, 'deleting', `left deleting: ${f.path}`);
  }
}

for (const d of DIALECTS) {
  describe(`cleanup crash safety and locking: ${d.name}`, { skip: d.skip }, () => {
    const cleanups: (() => Promise<void>)[] = [];
    after(async () => {
      for (const f of cleanups) await f();
    });

    test('kill -9 in the middle of a run, then a rerun: consistent, complete, nothing unexpired gone', async () => {
      const { store, c } = await syntheticStore(d, 700);
      cleanups.push(async () => {
        await c.close();
        await store.dispose();
      });
      const planned = await plannedPaths(store);
      assert.ok(planned.length > 1500, `plan too small to interrupt: ${planned.length}`);
      const child = spawn(process.execPath, [BIN, ...store.args, '--yes', 'cleanup-expired'], { cwd: REPO, stdio: 'ignore', env: { ...process.env, STORECTL_ROOT: '', STORECTL_DATABASE_URL: '', DATABASE_URL: '' } });
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      // Wait for the first committed intent ('deleting' rows), then kill without warning.
      for (let i = 0; i < 2000; i++) {
        const [n] = await sqlRows<{ n: number }>(c, `select count(*) as n from files where state <> 'present'`);
        if (Number(n!.n) > 0) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      child.kill('SIGKILL');
      await exited;
      const [run] = await c.recentRuns(1, 'cleanup-expired');
      assert.equal(run!.status, 'running', 'the run was killed before it finished');
      const before = await sqlRows<{ n: number }>(c, `select count(*) as n from files where state = 'deleted'`);
      assert.ok(Number(before[0]!.n) < planned.length, 'killed midway');
      await checkConsistent(store, c, { finished: false });

      const rerun = await runCli([...store.args, '--json', '--yes', 'cleanup-expired']);
      assert.equal(rerun.code, 0, rerun.stderr);
      if (d.name === 'sqlite') assert.match(rerun.stderr, /broke a stale store lock held by cleanup-expired .*: process \d+ is gone from this host/);
      await checkConsistent(store, c, { finished: true });
      const plannedSet = new Set(planned);
      for await (const f of iterateFiles(c)) {
        const onDisk = fs.existsSync(path.join(store.root, f.path));
        assert.equal(onDisk, !plannedSet.has(f.path), `${f.path}: ${plannedSet.has(f.path) ? 'planned but still there' : 'unexpired but gone'}`);
      }
    });

    test('a catalog failure while batches are in flight: exit 1 with the error, the catalog never claims a deletion, a rerun finishes', async () => {
      const { store, c } = await syntheticStore(d, 1600);
      cleanups.push(async () => {
        await c.close();
        await store.dispose();
      });
      const planned = await plannedPaths(store);
      assert.ok(planned.length > 4500, `needs three batches or more: ${planned.length}`);
      // The second batch's tombstone transaction fails while the third batch is being prepared.
      const fail = `(select count(*) from events where action = 'delete') >= 2500`;
      if (d.name === 'sqlite') {
        await sqlExec(c, `create trigger fail_events before insert on events when ${fail} begin select raise(abort, 'injected failure'); end`);
      } else {
        await sqlExec(c, `create function fail_events() returns trigger language plpgsql as $$ begin if ${fail} then raise exception 'injected failure'; end if; return null; end $$`);
        await sqlExec(c, `create trigger fail_events before insert on events for each statement execute function fail_events()`);
      }
      const r = await runCli([...store.args, '--json', '--yes', 'cleanup-expired']);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.json.error.message, /injected failure/);
      await checkConsistent(store, c, { finished: false });

      await sqlExec(c, d.name === 'sqlite' ? 'drop trigger fail_events' : 'drop trigger fail_events on events');
      const rerun = await runCli([...store.args, '--json', '--yes', 'cleanup-expired']);
      assert.equal(rerun.code, 0, rerun.stderr);
      assert.ok(rerun.json.result.recovered > 0, 'the rows left deleting are finished first');
      await checkConsistent(store, c, { finished: true });
      const plannedSet = new Set(planned);
      for await (const f of iterateFiles(c)) {
        assert.equal(fs.existsSync(path.join(store.root, f.path)), !plannedSet.has(f.path), f.path);
      }
    });

    test('a held lock: exit 75 naming the holder; --wait gets through once it is released', async () => {
      const store = await d.makeStore();
      const c = await store.open();
      cleanups.push(async () => {
        await c.close();
        await store.dispose();
      });
      const release = await c.acquireLock(STORE_LOCK, { holder: { pid: process.pid, host: os.hostname(), command: 'backup', runId: 'held' } });
      const r = await runCli([...store.args, '--json', '--yes', 'cleanup-orphaned']);
      assert.equal(r.code, 75);
      assert.match(r.json.error.message, /locked by backup \(pid \d+/);
      const waiting = runCli([...store.args, '--json', '--yes', 'cleanup-expired', '--wait', '30']);
      await new Promise((res) => setTimeout(res, 1500));
      await release();
      const w = await waiting;
      assert.equal(w.code, 0, w.stderr);
    });

    for (const wait of [false, true]) {
      test(`two runs at once${wait ? ' with --wait' : ''}: ${wait ? 'both finish' : 'one exits 75 or finds nothing'}, no file deleted twice, counts add up`, async () => {
        const { store, c } = await syntheticStore(d, 300);
        cleanups.push(async () => {
          await c.close();
          await store.dispose();
        });
        const planned = await plannedPaths(store);
        const args = [...store.args, '--json', '--yes', 'cleanup-expired', ...(wait ? ['--wait', '60'] : [])];
        const [a, b] = await Promise.all([runCli(args), runCli(args)]);
        for (const r of [a, b]) assert.ok(r.code === 0 || (!wait && r.code === 75), `exit ${r.code}: ${r.stderr}`);
        const ok = [a, b].filter((r) => r.code === 0);
        assert.ok(ok.length >= 1);
        for (const r of [a, b]) if (r.code === 75) assert.match(r.json.error.message, /locked by cleanup-expired/);
        const deleted = ok.reduce((n, r) => n + r.json.result.files, 0);
        assert.equal(deleted, planned.length);
        const events = await sqlRows<{ path: string }>(c, `select path from events where action in ('delete', 'delete_missing')`);
        assert.equal(events.length, planned.length);
        assert.equal(new Set(events.map((e) => e.path)).size, planned.length, 'no file deleted twice');
        for (const p of planned) assert.ok(!fs.existsSync(path.join(store.root, p)));
        await checkConsistent(store, c, { finished: true });
      });
    }
  });
}
