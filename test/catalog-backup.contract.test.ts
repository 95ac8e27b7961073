// Catalog behaviour backup and restore rely on, run against SQLite and PostgreSQL.
import { describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import type { Catalog } from '../src/db/catalog.ts';
import { decodeRow, encodeRow, type DumpRow } from '../src/db/dump.ts';
import { DIALECTS, type Store } from './helpers/env.ts';
import { useCatalogStore } from './helpers/catalog-fixture.ts';

const T0 = new Date('2026-11-01T10:00:00.123Z');
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

function fileRow(id: number, path: string, over: DumpRow = {}): DumpRow {
  return {
    id,
    jobId: 'j1',
    role: 'front.png',
    category: 'cards',
    owner: 'acme',
    path,
    contentType: 'image/png',
    size: 10,
    sha256: 'ab'.repeat(32),
    mtime: T0,
    createdAt: T0,
    expiresAt: null,
    deletedAt: null,
    deleteReason: null,
    state: 'present',
    ...over,
  };
}

const imageRow: DumpRow = {
  id: 7,
  source: 'legacy',
  sourceKey: 'k1',
  sourceIndex: 0,
  owner: 'acme',
  originalPath: 'uploads/a.png',
  originalBytes: 256,
  originalFormat: 'png',
  format: 'webp',
  width: 16,
  height: 16,
  bytes: 256,
  quality: 80,
  sha256: 'cd'.repeat(32),
  data: ALL_BYTES,
  createdAt: T0,
};

async function collect(c: Catalog, table: 'jobs' | 'files' | 'runs' | 'events' | 'images', pageSize?: number): Promise<DumpRow[]> {
  const snap = await c.openSnapshot();
  try {
    const out: DumpRow[] = [];
    for await (const page of snap.tableRows(table, pageSize)) out.push(...page);
    return out;
  } finally {
    await snap.close();
  }
}

for (const d of DIALECTS) {
  describe(`catalog backup contract: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let c: Catalog;
    useCatalogStore(d, (s) => {
      store = s.store;
      c = s.catalogs[0]!;
    });

    test('importTables rolls back whole when a later table fails', async () => {
      const jobs = [{ id: 'j1', kind: 'card', owner: 'acme', status: 'completed', data: { a: 1 }, createdAt: T0, updatedAt: T0, completedAt: null, filesState: 'on_disk', generation: null, failureReason: null }];
      await assert.rejects(
        c.importTables(
          [
            { table: 'jobs', batches: [jobs] },
            { table: 'files', batches: [[fileRow(1, 'cards/a.png')], [fileRow(2, 'cards/a.png')]] },
          ],
          { replace: false },
        ),
      );
      assert.deepEqual(await c.tableCounts(), { jobs: 0, files: 0, runs: 0, events: 0, images: 0, quotas: 0 });
    });

    test('importTables keeps ids, round-trips every column kind, and serial ids continue after them', async () => {
      const counts = await c.importTables(
        [
          { table: 'jobs', batches: [[{ id: 'j1', kind: 'card', owner: 'acme', status: 'completed', data: { name: 'Zoë', n: [1, 2] }, createdAt: T0, updatedAt: T0, completedAt: T0, filesState: 'on_disk', generation: { v: 'x' }, failureReason: null }]] },
          { table: 'files', batches: [[fileRow(5, 'cards/b.png'), fileRow(9, 'cards/a.png', { state: 'deleted', deletedAt: T0, deleteReason: 'expired' })]] },
          { table: 'runs', batches: [[{ id: 'r1', command: 'generate', args: { x: 1 }, dryRun: true, status: 'ok', exitCode: 0, user: 'u', host: 'h', pid: 1, startedAt: T0, finishedAt: T0, totals: { files: 2 } }]] },
          { table: 'events', batches: [[{ id: 3, runId: 'r1', at: T0, action: 'delete', path: 'cards/a.png', jobId: 'j1', bytes: 10, reason: 'expired' }]] },
          { table: 'images', batches: [[imageRow]] },
        ],
        { replace: false, events: [{ runId: 'r2', at: T0, action: 'restore', path: null, jobId: null, bytes: 1, reason: 'test' }] },
      );
      assert.deepEqual(counts, { jobs: 1, files: 2, runs: 1, events: 1, images: 1, quotas: 0 });
      assert.deepEqual(await c.tableCounts(), { jobs: 1, files: 2, runs: 1, events: 2, images: 1, quotas: 0 });
      const files = await collect(c, 'files', 1);
      assert.deepEqual(files.map((f) => f.id), [5, 9]);
      assert.equal((files[1]!.deletedAt as Date).toISOString(), T0.toISOString());
      const [img] = await collect(c, 'images');
      assert.ok(Buffer.isBuffer(img!.data), 'images.data comes back as a Buffer');
      assert.ok(ALL_BYTES.equals(img!.data as Buffer), 'every byte value survives BLOB/BYTEA');
      // Through the neutral NDJSON form and back, rows are unchanged.
      for (const [table, rows] of [['images', [img!]], ['files', files], ['jobs', await collect(c, 'jobs')], ['runs', await collect(c, 'runs')]] as const) {
        for (const row of rows) assert.deepEqual(decodeRow(table, encodeRow(table, row)), row);
      }
      const events = await collect(c, 'events');
      assert.deepEqual(events.map((e) => e.id), [3, 4], 'the appended event takes the next id');
      await c.insertFiles([{ jobId: 'j1', role: 'back.png', category: 'cards', path: 'cards/c.png', contentType: 'image/png', size: 1, sha256: 'ef'.repeat(32), createdAt: T0 }]);
      const [added] = await c.filesOfJob('j1').then((fs) => fs.filter((f) => f.path === 'cards/c.png'));
      assert.equal(added!.id, 10, 'a new file row continues after the highest imported id');
    });

    test('a snapshot does not see writes made after it opened', async () => {
      const snap = await c.openSnapshot();
      try {
        await c.insertJobs([{ id: 'j-later', status: 'queued', data: {}, createdAt: T0 }]);
        await c.insertFiles([{ jobId: 'j-later', role: 'x.png', category: 'cards', path: 'cards/later.png', contentType: 'image/png', size: 1, sha256: 'ab'.repeat(32), createdAt: T0 }]);
        const jobs: DumpRow[] = [];
        for await (const page of snap.tableRows('jobs')) jobs.push(...page);
        assert.deepEqual(jobs.map((j) => j.id), ['j1']);
        const page = await snap.filePage({ states: ['present'], limit: 100 });
        assert.deepEqual(page.map((f) => f.path), ['cards/b.png', 'cards/c.png']);
      } finally {
        await snap.close();
        await snap.close();
      }
      assert.equal((await c.tableCounts()).jobs, 2);
    });

    test('quotas: dumped in owner order; an import that carries them replaces the target\'s, one without keeps them', async () => {
      const q = (owner: string, maxBytes: number) => ({ owner, maxBytes, maxFiles: null, warnPercent: 80, updatedAt: T0 });
      await c.usage.setQuota({ owner: 'zeta', maxBytes: 5, maxFiles: null, warnPercent: 80 }, T0);
      await c.usage.setQuota({ owner: 'alpha', maxBytes: 7, maxFiles: 3, warnPercent: 50 }, T0);
      const snap = await c.openSnapshot();
      const dumped: DumpRow[] = [];
      try {
        for await (const page of snap.tableRows('quotas', 1)) dumped.push(...page);
      } finally {
        await snap.close();
      }
      assert.deepEqual(dumped.map((r) => [r.owner, r.maxBytes, r.maxFiles, r.warnPercent]), [['alpha', 7, 3, 50], ['zeta', 5, null, 80]]);
      for (const row of dumped) assert.deepEqual(decodeRow('quotas', encodeRow('quotas', row)), row);
      // Without quotas in the import (an older archive), even a replacing one keeps them.
      await c.importTables([{ table: 'files', batches: [[fileRow(1, 'cards/q.png')]] }], { replace: true });
      assert.deepEqual((await c.usage.owners()).filter((o) => o.quota).map((o) => o.owner), ['alpha', 'zeta']);
      // With quotas, the import's replace the target's, also into a store that is otherwise empty.
      await c.importTables([{ table: 'quotas', batches: [[q('beta', 9)]] }], { replace: false });
      assert.deepEqual((await c.usage.owners()).filter((o) => o.quota).map((o) => [o.owner, o.quota!.maxBytes]), [['beta', 9]]);
      await c.importTables([{ table: 'quotas', batches: [[]] }], { replace: true });
      assert.deepEqual((await c.usage.owners()).filter((o) => o.quota), []);
    });

    test('importTables with replace empties every table first, in the same transaction', async () => {
      await c.importTables([{ table: 'files', batches: [[fileRow(1, 'cards/only.png')]] }], { replace: true });
      assert.deepEqual(await c.tableCounts(), { jobs: 0, files: 1, runs: 0, events: 0, images: 0, quotas: 0 });
    });
  });
}
