// Catalog behaviours of the lifecycle area (store lock, delete protocol), on SQLite and PostgreSQL.
import { describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import { STORE_LOCK, type Catalog } from '../src/db/catalog.ts';
import type { EventRecord } from '../src/db/types.ts';
import { LockedError } from '../src/errors.ts';
import { DIALECTS, type Store } from './helpers/env.ts';
import { T0, newFile, useCatalogStore } from './helpers/catalog-fixture.ts';


const file = newFile;
const holder = (runId: string, pid = process.pid) => ({ pid, host: os.hostname(), command: 'test', runId });

/** A pid that is certainly dead: a child that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  return r.pid!;
}

for (const d of DIALECTS) {
  describe(`catalog lifecycle contract: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let c: Catalog;
    let c2: Catalog;
    useCatalogStore(
      d,
      (s) => {
        store = s.store;
        [c, c2] = s.catalogs as [Catalog, Catalog];
      },
      2,
    );

    test('hasFiles on a catalog without file rows', async () => {
      assert.deepEqual(await c.hasFiles(), { any: false, present: false });
    });

    test('the store lock: one holder; the second gets LockedError naming it; released, it can be taken', async () => {
      const release = await c.acquireLock(STORE_LOCK, { holder: holder('run-a') });
      await assert.rejects(c2.acquireLock(STORE_LOCK, { holder: holder('run-b') }), (err: Error) => {
        assert.ok(err instanceof LockedError);
        assert.equal(err.exitCode, 75);
        assert.match(err.message, /locked by test \(pid \d+ on /);
        return true;
      });
      // another name is another lock
      const other = await c2.acquireLock('other', { holder: holder('run-b') });
      await other();
      await release();
      await release(); // twice is harmless
      const again = await c2.acquireLock(STORE_LOCK, { holder: holder('run-b') });
      await again();
    });

    test('--wait: a waiting run gets the lock once the holder releases it', async () => {
      const release = await c.acquireLock(STORE_LOCK, { holder: holder('run-c') });
      setTimeout(() => void release(), 300);
      const t = Date.now();
      const second = await c2.acquireLock(STORE_LOCK, { holder: holder('run-d'), waitMs: 5000 });
      assert.ok(Date.now() - t >= 250);
      await second();
    });

    if (d.name === 'sqlite') {
      test('a lock whose process is dead on this host is broken, with a warning', async () => {
        const dead = deadPid();
        await c.acquireLock(STORE_LOCK, { holder: holder('run-dead', dead) });
        let stale: { pid: number } | undefined;
        const release = await c2.acquireLock(STORE_LOCK, { holder: holder('run-e'), onStaleLock: (s) => (stale = s) });
        assert.equal(stale?.pid, dead);
        await release();
      });

      test('a lock held on another host is not broken while its heartbeat is fresh (lock-heartbeat.test.ts: when it is stale)', async () => {
        const dead = deadPid();
        await c.acquireLock(STORE_LOCK, { holder: { ...holder('run-far', dead), host: 'elsewhere' } });
        await assert.rejects(c2.acquireLock(STORE_LOCK, { holder: holder('run-f') }), LockedError);
        (c as unknown as { raw: { prepare(s: string): { run(): void } } }).raw.prepare(`delete from locks`).run();
      });
    }

    test('delete protocol: intent only on present rows, tombstones + events + job metadata in one go', async () => {
      await c.insertJobs([{ id: 'j1', status: 'completed', data: {}, createdAt: T0, completedAt: T0, filesState: 'on_disk', generation: { totalBytes: 300 } }]);
      await c.insertFiles([file('cards/a/j1/front.png'), file('cards/a/j1/back.png'), file('cards/a/j1/front.pdf', { state: 'deleted' })]);
      const rows = await c.filesOfJobs(['j1']);
      assert.equal(rows.length, 3);
      const marked = await c.markDeleting(rows.map((r) => r.id), 'rule:test');
      assert.deepEqual(marked.map((r) => r.path).sort(), ['cards/a/j1/back.png', 'cards/a/j1/front.png']);
      assert.ok(marked.every((r) => r.state === 'deleting' && r.jobId === 'j1'));
      assert.ok((await c.filesByIds(marked.map((r) => r.id))).every((r) => r.deleteReason === 'rule:test'));
      // a second intent on the same rows marks nothing: no file is deleted twice
      assert.deepEqual(await c.markDeleting(rows.map((r) => r.id), 'rule:test'), []);
      const [front, back] = [marked.find((r) => r.path.endsWith('front.png'))!, marked.find((r) => r.path.endsWith('back.png'))!];
      const ev: EventRecord = { runId: 'r1', at: T0, action: 'delete', path: front.path, jobId: 'j1', bytes: 100, reason: 'rule:test' };
      await c.finishDeletions({
        deleted: [{ id: front.id, at: T0, reason: 'rule:test' }],
        restored: [back.id],
        events: [ev],
        jobs: [{ id: 'j1', patch: { cleanup: { filesDeleted: 1, bytesFreed: 100 } } }],
      });
      const after1 = await c.filesOfJobs(['j1']);
      assert.equal(after1.find((r) => r.id === front.id)!.state, 'deleted');
      assert.equal(after1.find((r) => r.id === front.id)!.deletedAt!.getTime(), T0.getTime());
      assert.equal(after1.find((r) => r.id === back.id)!.state, 'present');
      assert.equal(after1.find((r) => r.id === back.id)!.deleteReason, null);
      let [j1] = await c.getJobs(['j1']);
      assert.equal(j1!.filesState, 'partial');
      assert.deepEqual(j1!.generation, { totalBytes: 300, cleanup: { filesDeleted: 1, bytesFreed: 100 } });
      // the rest of the job goes: files_state becomes deleted
      await c.markDeleting([back.id], 'rule:test');
      await c.finishDeletions({ deleted: [{ id: back.id, at: T0, reason: 'rule:test' }], restored: [], events: [{ ...ev, path: back.path }], jobs: [{ id: 'j1', patch: { cleanup: { filesDeleted: 1, bytesFreed: 100 } } }] });
      [j1] = await c.getJobs(['j1']);
      assert.equal(j1!.filesState, 'deleted');
    });

    test('finishDeletions rolls back whole when one part fails', async () => {
      await c.insertFiles([file('cards/b/j2/front.png', { jobId: 'j2' })]);
      const [row] = await c.filesOfJobs(['j2']);
      await c.markDeleting([row!.id], 'rule:test');
      const bad = { runId: 'r1', at: T0, action: null as unknown as string, path: row!.path, jobId: 'j2', bytes: 1, reason: null };
      await assert.rejects(c.finishDeletions({ deleted: [{ id: row!.id, at: T0, reason: 'x' }], restored: [], events: [bad], jobs: [] }));
      assert.equal((await c.filesByIds([row!.id]))[0]!.state, 'deleting');
    });

    test('jobPage and looseFilePage stream in keyset order with filters', async () => {
      await c.insertJobs([
        { id: 'k-b', status: 'failed', data: {}, createdAt: T0, filesState: 'on_disk' },
        { id: 'k-a', status: 'queued', data: {}, createdAt: T0, filesState: 'none' },
        { id: 'k-c', status: 'failed', data: {}, createdAt: T0, filesState: 'on_disk' },
      ]);
      const page = await c.jobPage({ limit: 10, statuses: ['failed'], afterId: 'k' });
      assert.deepEqual(page.map((j) => j.id), ['k-b', 'k-c']);
      assert.deepEqual((await c.jobPage({ limit: 10, afterId: 'k-a', statuses: ['failed', 'queued'] })).map((j) => j.id), ['k-b', 'k-c']);
      assert.deepEqual((await c.jobPage({ limit: 1, filesStates: ['on_disk'], afterId: 'k' })).map((j) => j.id), ['k-b']);
      await c.insertFiles([file('temp/x/1.tmp', { jobId: null, category: 'temp' }), file('temp/x/2.tmp', { jobId: null, category: 'temp' })]);
      const loose = await c.looseFilePage({ limit: 1, states: ['present'] });
      assert.deepEqual(loose.map((f) => f.path), ['temp/x/1.tmp']);
      assert.deepEqual((await c.looseFilePage({ limit: 5, afterPath: 'temp/x/1.tmp' })).map((f) => f.path), ['temp/x/2.tmp']);
      assert.deepEqual((await c.filesByPaths(['temp/x/2.tmp', 'nope'])).map((f) => f.path), ['temp/x/2.tmp']);
      // live paths: the paths of filePage over present and deleting rows, same order and keyset
      const [someone] = await c.filePage({ states: ['present'], limit: 1 });
      await c.markDeleting([someone!.id], 'rule:test');
      const live = await c.filePage({ states: ['present', 'deleting'], limit: 1000 });
      assert.ok(live.some((f) => f.state === 'deleting') && live.length >= 3);
      assert.deepEqual(await c.livePaths({ limit: 1000 }), live.map((f) => f.path));
      assert.deepEqual(await c.livePaths({ afterPath: live[0]!.path, limit: 2 }), live.slice(1, 3).map((f) => f.path));
      const tombstones = await c.filePage({ states: ['deleted'], limit: 1000 });
      assert.ok(tombstones.length > 0);
      assert.ok(!(await c.livePaths({ limit: 1000 })).includes(tombstones[0]!.path));
      // rows in one state, any order
      const inState = (await c.filesInState('deleting', 1000)).map((f) => f.id).sort((x, y) => x - y);
      const deleting = live.filter((f) => f.state === 'deleting').map((f) => f.id).sort((x, y) => x - y);
      assert.deepEqual(inState, deleting);
      assert.ok(inState.includes(someone!.id));
      assert.equal((await c.filesInState('deleted', 1)).length, 1);
      assert.deepEqual(await c.hasFiles(), { any: true, present: true });
      await c.finishDeletions({ deleted: [], restored: [someone!.id], events: [], jobs: [] });
      const ofJobs = await c.pathsOfJobs(['j2', 'j1'], ['deleted']);
      assert.deepEqual(ofJobs.map((r) => r.path), ['cards/a/j1/back.png', 'cards/a/j1/front.pdf', 'cards/a/j1/front.png']);
    });

    test('jobPage with due clauses: only jobs due under one of them (status, kind, owner, age timestamp)', async () => {
      const H = 3_600_000;
      const at = (h: number) => new Date(T0.getTime() + h * H);
      await c.insertJobs([
        { id: 'd-1', kind: 'card', owner: 'acme', status: 'completed', data: {}, createdAt: at(0), completedAt: at(1), filesState: 'on_disk' },
        { id: 'd-2', kind: 'card', owner: 'acme', status: 'completed', data: {}, createdAt: at(0), completedAt: at(5), filesState: 'on_disk' },
        // no completed_at: counts from updated_at (4 h)
        { id: 'd-3', kind: 'card', owner: 'acme', status: 'completed', data: {}, createdAt: at(0), updatedAt: at(4), filesState: 'on_disk' },
        { id: 'd-4', kind: 'card', owner: 'globex', status: 'completed', data: {}, createdAt: at(0), completedAt: at(1), filesState: 'on_disk' },
        { id: 'd-5', kind: 'export', owner: 'acme', status: 'failed', data: {}, createdAt: at(0), updatedAt: at(2), filesState: 'on_disk' },
        { id: 'd-6', kind: 'card', owner: 'acme', status: 'qa_failed', data: {}, createdAt: at(0), completedAt: at(1), filesState: 'on_disk' },
      ]);
      const ids = async (due: Parameters<Catalog['jobPage']>[0]['due']) => (await c.jobPage({ limit: 100, afterId: 'd-', due })).map((j) => j.id).filter((id) => id.startsWith('d-'));
      const cards = { statuses: ['completed'], kinds: ['card'], owners: ['acme'], ageFrom: 'completed_at' as const };
      // the boundary is inclusive: due at exactly `before`
      assert.deepEqual(await ids([{ ...cards, before: at(4) }]), ['d-1', 'd-3']);
      assert.deepEqual(await ids([{ ...cards, before: at(5) }]), ['d-1', 'd-2', 'd-3']);
      assert.deepEqual(await ids([{ ...cards, owners: undefined, before: at(1) }]), ['d-1', 'd-4']);
      assert.deepEqual(
        await ids([
          { ...cards, before: at(1) },
          { statuses: ['failed'], ageFrom: 'updated_at', before: at(2) },
          { statuses: ['qa_failed'], ageFrom: 'created_at', before: at(0) },
        ]),
        ['d-1', 'd-5', 'd-6'],
      );
      assert.deepEqual(await ids([{ statuses: ['failed'], ageFrom: 'updated_at', before: at(1.9) }]), []);
      assert.deepEqual(await ids([]), []);
    });

    test('the deletion lane: re-check reads, intents and tombstones of the catalog (SQLite: from its own thread)', async () => {
      await c.insertJobs([{ id: 'lane-1', status: 'completed', data: {}, createdAt: T0, completedAt: T0, filesState: 'on_disk' }]);
      await c.insertFiles([file('cards/l/lane-1/front.png', { jobId: 'lane-1' }), file('cards/l/lane-1/back.png', { jobId: 'lane-1' })]);
      const rows = await c.filesOfJobs(['lane-1']);
      const lane = await c.openDeletionLane();
      try {
        assert.deepEqual((await lane.getJobs(['lane-1'])).map((j) => [j.id, j.status, j.completedAt?.getTime()]), [['lane-1', 'completed', T0.getTime()]]);
        const marked = await lane.markDeleting(rows.map((r) => r.id), 'rule:lane');
        assert.equal(marked.length, 2);
        // what the lane committed, the catalog sees
        assert.ok((await c.filesByIds(rows.map((r) => r.id))).every((r) => r.state === 'deleting'));
        await lane.finishDeletions({
          deleted: marked.map((r) => ({ id: r.id, at: T0, reason: 'rule:lane' })),
          restored: [],
          events: marked.map((r) => ({ runId: 'lane', at: T0, action: 'delete', path: r.path, jobId: 'lane-1', bytes: r.size, reason: 'rule:lane' })),
          jobs: [{ id: 'lane-1', patch: { cleanup: { filesDeleted: 2 } } }],
        });
        assert.ok((await c.filesByIds(rows.map((r) => r.id))).every((r) => r.state === 'deleted' && r.deletedAt?.getTime() === T0.getTime()));
        assert.equal((await c.getJobs(['lane-1']))[0]!.filesState, 'deleted');
        // a failing call rejects with the driver's reason, and the lane goes on serving
        const bad = { runId: 'lane', at: T0, action: null as unknown as string, path: 'x', jobId: null, bytes: 1, reason: null };
        await assert.rejects(lane.finishDeletions({ deleted: [], restored: [], events: [bad], jobs: [] }), /null|not-null|NOT NULL/i);
        assert.deepEqual(await lane.markDeleting(rows.map((r) => r.id), 'rule:lane'), []);
      } finally {
        await lane.close();
      }
      // the catalog itself is still open and usable
      assert.equal((await c.getJobs(['lane-1'])).length, 1);
    });

    test('markJobsFailed only touches jobs still as planned', async () => {
      const [a] = await c.getJobs(['k-a']);
      const at = new Date(T0.getTime() + 1000);
      const marked = await c.markJobsFailed(
        [
          { id: 'k-a', status: 'queued', updatedAt: a!.updatedAt },
          { id: 'k-b', status: 'queued', updatedAt: a!.updatedAt },
        ],
        'stuck',
        at,
      );
      assert.deepEqual(marked, ['k-a']);
      const [a2] = await c.getJobs(['k-a']);
      assert.equal(a2!.status, 'failed');
      assert.equal(a2!.failureReason, 'stuck');
      assert.equal(a2!.updatedAt.getTime(), at.getTime());
    });

    test('markMissing marks present rows only and writes their events', async () => {
      const [t1, t2] = (await c.filesByPaths(['temp/x/1.tmp', 'temp/x/2.tmp'])).sort((x, y) => x.id - y.id);
      await c.markDeleting([t2!.id], 'x');
      const ev = (p: string): EventRecord => ({ runId: 'r2', at: T0, action: 'mark_missing', path: p, jobId: null, bytes: 100, reason: 'gone' });
      assert.equal(await c.markMissing([t1!.id, t2!.id], [ev(t1!.path), ev(t2!.path)]), 1);
      const [m] = await c.filesByIds([t1!.id]);
      assert.equal(m!.state, 'missing');
    });
  });
}
