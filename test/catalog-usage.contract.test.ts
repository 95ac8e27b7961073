// The usage ledger and quotas, on SQLite and PostgreSQL: the triggers keep usage equal to the
// files table through every kind of write, and a write past a quota fails whole.
import { describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import type { Catalog } from '../src/db/catalog.ts';
import type { NewFile } from '../src/db/types.ts';
import { isQuotaExceeded } from '../src/db/usage.ts';
import { DIALECTS, type Store } from './helpers/env.ts';
import { T0, newFile, useCatalogStore } from './helpers/catalog-fixture.ts';


function file(path: string, owner: string, size: number, over: Partial<NewFile> = {}): NewFile {
  return newFile(path, { jobId: null, role: 'x', category: 'temp', owner, contentType: 'application/octet-stream', size, ...over });
}

for (const d of DIALECTS) {
  describe(`catalog usage contract: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let c: Catalog;
    let c2: Catalog;
    useCatalogStore(
      d,
      (s) => {
        store = s.store;
        c = s.catalogs[0]!;
        c2 = s.catalogs[1]!;
      },
      2,
    );

    const usageOf = async (owner: string) => {
      const u = await c.usage.ownerUsage(owner);
      return { bytes: u.bytes, files: u.files };
    };

    test('inserts, tombstones, missing marks and row deletes move the ledger; recount finds no drift', async () => {
      await c.insertFiles([file('temp/a', 'acme', 100), file('temp/b', 'acme', 50), file('temp/c', 'beta', 7), file('temp/gone', 'acme', 999, { state: 'deleted' })]);
      assert.deepEqual(await usageOf('acme'), { bytes: 150, files: 2 });
      assert.deepEqual(await usageOf('beta'), { bytes: 7, files: 1 });
      const [a] = await c.filesByPaths(['temp/a']);
      // intent keeps the content counted; the tombstone releases it
      await c.markDeleting([a!.id], 'manual');
      assert.deepEqual(await usageOf('acme'), { bytes: 150, files: 2 });
      await c.markFiles(['temp/a'], 'deleted', T0, 'manual');
      assert.deepEqual(await usageOf('acme'), { bytes: 50, files: 1 });
      const [b] = await c.filesByPaths(['temp/b']);
      await c.markMissing([b!.id], []);
      assert.deepEqual(await usageOf('acme'), { bytes: 0, files: 0 });
      assert.deepEqual(await c.usage.drift(), []);
      assert.deepEqual(await c.usage.totals(), { bytes: 7, files: 1 });
    });

    test('a reprint that replaces a row by path counts the new size once', async () => {
      await c.insertJobs([{ id: 'rj', owner: 'gamma', status: 'completed', data: {}, createdAt: T0 }]);
      const f = (size: number): NewFile => ({ ...file('cards/rj/front.png', 'gamma', size), jobId: 'rj', category: 'cards' });
      await c.recordGeneration('rj', [f(300)], {}, T0);
      await c.recordGeneration('rj', [f(120)], {}, T0);
      assert.deepEqual(await usageOf('gamma'), { bytes: 120, files: 1 });
      assert.deepEqual(await c.usage.drift(), []);
    });

    test('recordGeneration with a new job: the job and its files together, or neither when the quota refuses', async () => {
      await c.usage.setQuota({ owner: 'nj', maxBytes: 500, maxFiles: null, warnPercent: 80 }, T0);
      const f = (job: string, size: number): NewFile => ({ ...file(`cards/${job}/front.png`, 'nj', size), jobId: job, category: 'cards' });
      const job = (id: string) => ({ id, owner: 'nj', status: 'completed', data: {}, createdAt: T0 });
      await c.recordGeneration('nj-1', [f('nj-1', 300)], { v: 1 }, T0, { newJob: job('nj-1') });
      const [made] = await c.getJobs(['nj-1']);
      assert.deepEqual([made?.owner, made?.filesState, made?.generation], ['nj', 'on_disk', { v: 1 }]);
      await assert.rejects(c.recordGeneration('nj-2', [f('nj-2', 300)], { v: 1 }, T0, { newJob: job('nj-2') }), (e) => isQuotaExceeded(e));
      assert.deepEqual(await c.getJobs(['nj-2']), [], 'no job left without its files');
      assert.equal((await c.filesByPaths(['cards/nj-2/front.png'])).length, 0);
      assert.deepEqual(await usageOf('nj'), { bytes: 300, files: 1 });
      assert.equal(await c.usage.unsetQuota('nj'), true);
    });

    test('a write past the hard quota fails whole; the ledger and rows are unchanged', async () => {
      await c.usage.setQuota({ owner: 'q', maxBytes: 1000, maxFiles: 3, warnPercent: 80 }, T0);
      await c.insertFiles([file('temp/q1', 'q', 600)]);
      await assert.rejects(c.insertFiles([file('temp/q2', 'q', 300), file('temp/q3', 'q', 200)]), (e) => isQuotaExceeded(e));
      assert.deepEqual(await usageOf('q'), { bytes: 600, files: 1 });
      assert.equal((await c.filesByPaths(['temp/q2', 'temp/q3'])).length, 0);
      await c.insertFiles([file('temp/q2', 'q', 400)]);
      assert.deepEqual(await usageOf('q'), { bytes: 1000, files: 2 });
      // the file cap
      await c.usage.setQuota({ owner: 'q', maxBytes: 10_000, maxFiles: 2, warnPercent: 80 }, T0);
      await assert.rejects(c.insertFiles([file('temp/q4', 'q', 1)]), (e) => isQuotaExceeded(e));
      // deletions are never refused, even over quota
      await c.usage.setQuota({ owner: 'q', maxBytes: 10, maxFiles: null, warnPercent: 80 }, T0);
      await c.markFiles(['temp/q1'], 'deleted', T0, 'manual');
      assert.deepEqual(await usageOf('q'), { bytes: 400, files: 1 });
      const u = await c.usage.ownerUsage('q');
      assert.equal(u.quota?.maxBytes, 10);
      assert.equal(await c.usage.unsetQuota('q'), true);
      assert.equal(await c.usage.unsetQuota('q'), false);
      await c.insertFiles([file('temp/q5', 'q', 5000)]);
    });

    test('two connections racing for the last bytes of a quota: exactly what fits is accepted, no more; the ledger equals a recount', async () => {
      await c.usage.setQuota({ owner: 'race', maxBytes: 1000, maxFiles: null, warnPercent: 80 }, T0);
      await c.insertFiles([file('temp/race-0', 'race', 350)]);
      // 20 writes of 100 bytes, all in flight at once, half on each connection: 6 fit (650 bytes left).
      const tries = Array.from({ length: 20 }, (_, i) => (i % 2 ? c2 : c).insertFiles([file(`temp/race-${i + 1}`, 'race', 100)]));
      const settled = await Promise.allSettled(tries);
      const refused = settled.filter((x) => x.status === 'rejected') as PromiseRejectedResult[];
      assert.ok(refused.every((x) => isQuotaExceeded(x.reason)), String(refused.find((x) => !isQuotaExceeded(x.reason))?.reason));
      assert.equal(settled.length - refused.length, 6, `${settled.length - refused.length} writes accepted`);
      const rows = await c.filesByPaths(Array.from({ length: 21 }, (_, i) => `temp/race-${i}`));
      assert.equal(rows.length, 7);
      assert.deepEqual(await usageOf('race'), { bytes: 950, files: 7 });
      // both connections judge from the same ledger
      assert.deepEqual({ bytes: (await c2.usage.ownerUsage('race')).bytes }, { bytes: 950 });
      assert.deepEqual(await c.usage.drift(), []);
      await c.markFiles(rows.map((r) => r.path), 'deleted', T0, 'manual');
      assert.equal(await c.usage.unsetQuota('race'), true);
    });

    test('recount rebuilds a ledger edited behind its back and reports the drift', async () => {
      const before = await usageOf('beta');
      const raw = c as unknown as { raw?: { prepare(s: string): { run(): void } }; pool?: { query(s: string): Promise<unknown> } };
      if (raw.raw) raw.raw.prepare(`update usage set bytes = bytes + 5 where owner = 'beta'`).run();
      else await raw.pool!.query(`update usage set bytes = bytes + 5 where owner = 'beta'`);
      const drift = await c.usage.drift();
      assert.deepEqual(drift.map((x) => [x.owner, x.recorded.bytes - x.actual.bytes]), [['beta', 5]]);
      const fixed = await c.usage.recount();
      assert.deepEqual(fixed.map((x) => x.owner), ['beta']);
      assert.deepEqual(await usageOf('beta'), before);
      assert.deepEqual(await c.usage.drift(), []);
    });

    test('owners lists owners with content or a quota; snapshots round-trip in time order', async () => {
      await c.usage.setQuota({ owner: 'only-quota', maxBytes: 5, maxFiles: null, warnPercent: 50 }, T0);
      const owners = await c.usage.owners();
      const names = owners.map((o) => o.owner);
      assert.ok(names.includes('only-quota') && names.includes('beta') && !names.includes('acme'), names.join(','));
      assert.equal(owners.find((o) => o.owner === 'only-quota')!.quota!.warnPercent, 50);
      await c.usage.addSnapshot({ takenAt: new Date(T0.getTime() + 2000), runId: null, command: 'stats', bytes: 2, files: 1, orphanFiles: 0, missingFiles: 1, anomalies: 0, usageDrift: 0 });
      await c.usage.addSnapshot({ takenAt: new Date(T0.getTime() + 1000), runId: 'r', command: 'cleanup-expired', bytes: 1, files: 1, orphanFiles: null, missingFiles: null, anomalies: null, usageDrift: null });
      const snaps = await c.usage.snapshots(T0);
      assert.deepEqual(snaps.map((s) => s.bytes), [1, 2]);
      assert.equal(snaps[0]!.takenAt.getTime(), T0.getTime() + 1000);
      assert.equal((await c.usage.lastCheck())!.missingFiles, 1);
    });
  });
}
