// One suite, every catalog behaviour, run against SQLite and PostgreSQL.
import { describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { iterateFiles, type Catalog } from '../src/db/catalog.ts';
import { DIALECTS, type Store } from './helpers/env.ts';
import { T0, newFile, useCatalogStore } from './helpers/catalog-fixture.ts';

const day = 86_400_000;

const file = newFile;

for (const d of DIALECTS) {
  describe(`catalog contract: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let c: Catalog;
    useCatalogStore(d, (s) => {
      store = s.store;
      c = s.catalogs[0]!;
    });

    test('migrate is idempotent and status lists every migration applied', async () => {
      assert.deepEqual(await c.migrate(), []);
      const status = await c.migrationStatus();
      assert.ok(status.length >= 1);
      assert.ok(status.every((m) => m.applied));
    });

    test('jobs round-trip with dates and JSON intact', async () => {
      await c.insertJobs([
        { id: 'j1', owner: 'acme', status: 'completed', data: { holderName: 'Zoë', n: [1, 2] }, createdAt: T0, completedAt: new Date(T0.getTime() + 5000) },
        { id: 'j2', status: 'queued', data: {}, createdAt: new Date(T0.getTime() + day) },
      ]);
      const [j1] = await c.getJobs(['j1']);
      assert.equal(j1!.owner, 'acme');
      assert.equal(j1!.kind, 'card');
      assert.deepEqual(j1!.data, { holderName: 'Zoë', n: [1, 2] });
      assert.equal(j1!.createdAt.toISOString(), T0.toISOString());
      assert.equal(j1!.completedAt!.getTime(), T0.getTime() + 5000);
      assert.equal(j1!.filesState, 'none');
      assert.deepEqual((await c.existingJobIds(['j1', 'nope', 'j2'])).sort(), ['j1', 'j2']);
      assert.deepEqual(await c.pendingJobIds('card', 10), ['j1', 'j2']);
      assert.deepEqual(await c.pendingJobIds('card', 10, 'j1'), ['j2']);
    });

    test('insertJobs is all or nothing on a duplicate id', async () => {
      await assert.rejects(c.insertJobs([{ id: 'j3', status: 'queued', data: {}, createdAt: T0 }, { id: 'j1', status: 'queued', data: {}, createdAt: T0 }]));
      assert.deepEqual(await c.existingJobIds(['j3']), []);
    });

    test('recordGeneration writes files and job metadata together, and replaces on reprint', async () => {
      const files = [file('cards/2026/11/01/j1/front.png'), file('cards/2026/11/01/j1/back.png', { size: 50 })];
      await c.recordGeneration('j1', files, { generatorVersion: 'x', totalBytes: 150 }, T0);
      const [j1] = await c.getJobs(['j1']);
      assert.equal(j1!.filesState, 'on_disk');
      assert.deepEqual(j1!.generation, { generatorVersion: 'x', totalBytes: 150 });
      assert.equal((await c.filesOfJob('j1')).length, 2);
      // a reprint over a tombstone: same path, row becomes present again with the new hash
      await c.recordGeneration('j1', [file('cards/2026/11/01/j1/back.png', { size: 60, sha256: 'cd'.repeat(32) })], { generatorVersion: 'y' }, T0);
      const rows = await c.filesOfJob('j1');
      assert.equal(rows.length, 2);
      const back = rows.find((r) => r.path.endsWith('back.png'))!;
      assert.equal(back.size, 60);
      assert.equal(back.sha256, 'cd'.repeat(32));
      assert.equal(back.state, 'present');
      assert.deepEqual(await c.pendingJobIds('card', 10), ['j2']);
    });

    test('recordGeneration rolls back whole when a row is bad', async () => {
      const before = await c.counts();
      await assert.rejects(
        c.recordGeneration('j2', [file('cards/2026/11/02/j2/front.png', { jobId: 'j2' }), file('cards/2026/11/02/j2/back.png', { jobId: 'j2', sha256: null as unknown as string })], { v: 1 }, T0),
      );
      assert.deepEqual(await c.counts(), before);
      const [j2] = await c.getJobs(['j2']);
      assert.equal(j2!.filesState, 'none');
    });

    test('insertFiles fails whole on a duplicate path', async () => {
      const before = await c.counts();
      await assert.rejects(c.insertFiles([file('temp/a.tmp', { jobId: null }), file('cards/2026/11/01/j1/front.png')]));
      assert.deepEqual(await c.counts(), before);
    });

    test('filePage streams in UTF-8 byte order, by state, in keyset pages', async () => {
      const paths = ['temp/a-c', 'temp/a/b', 'temp/Z', 'temp/é', 'temp/\u{1F600}', 'temp/\uFF5E', 'temp/a.b'];
      await c.insertFiles(paths.map((p, i) => file(p, { jobId: null, state: i === 0 ? 'deleted' : 'present' })));
      const all: string[] = [];
      for await (const f of iterateFiles(c, ['present'], 2)) if (f.path.startsWith('temp/')) all.push(f.path);
      const expected = paths.slice(1).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      assert.deepEqual(all, expected);
    });

    test('aggregates group files by state, category, owner and age', async () => {
      await c.insertFiles([file('exports/x.csv', { jobId: null, category: 'exports', owner: 'globex', size: 1000, createdAt: new Date(T0.getTime() - 40 * day) })]);
      const agg = await c.aggregates(T0);
      const exp = agg.fileGroups.find((g) => g.category === 'exports')!;
      assert.deepEqual(exp, { state: 'present', category: 'exports', owner: 'globex', ageBucket: '30-90d', files: 1, bytes: 1000 });
      const cards = agg.fileGroups.filter((g) => g.category === 'cards' && g.state === 'present');
      assert.equal(cards.reduce((a, g) => a + g.bytes, 0), 160);
      assert.equal(cards[0]!.ageBucket, '<1d');
      assert.equal(typeof cards[0]!.files, 'number');
      assert.equal(agg.oldestFile!.path, 'exports/x.csv');
      const jobs = agg.jobGroups.reduce((a, g) => a + g.jobs, 0);
      assert.equal(jobs, 2);
    });

    test('runs and events are recorded', async () => {
      await c.startRun({ id: 'r1', command: 'generate', args: { sample: 3 }, dryRun: false, status: 'running', exitCode: null, user: 'u', host: 'h', pid: 1, startedAt: T0, finishedAt: null, totals: null });
      await c.finishRun('r1', { status: 'ok', exitCode: 0, finishedAt: new Date(T0.getTime() + 1000), totals: { files: 3 } });
      const [r] = await c.recentRuns(5, 'generate');
      assert.equal(r!.status, 'ok');
      assert.equal(r!.dryRun, false);
      assert.deepEqual(r!.totals, { files: 3 });
      await c.addEvents([
        { runId: 'r1', at: T0, action: 'delete', path: 'temp/Z', jobId: null, bytes: 100, reason: 'test' },
        { runId: 'r1', at: new Date(T0.getTime() + 5), action: 'delete_missing', path: 'temp/Y', jobId: 'j9', bytes: 0, reason: 'gone' },
      ]);
      // read back: each event with its run, action, bytes and reason; a path without events has none
      const back = await c.eventsOfPaths(['temp/Z', 'temp/Y', 'temp/none']);
      const byPath = new Map(back.map((e) => [e.path, e]));
      assert.equal(back.length, 2);
      assert.equal(byPath.get('temp/Z')!.action, 'delete');
      assert.equal(byPath.get('temp/Y')!.action, 'delete_missing');
      assert.ok(!byPath.has('temp/none'));
      const z = byPath.get('temp/Z')!;
      const y = byPath.get('temp/Y')!;
      assert.deepEqual([z.runId, z.bytes, z.reason, z.jobId, z.at.toISOString()], ['r1', 100, 'test', null, T0.toISOString()]);
      assert.deepEqual([y.runId, y.bytes, y.reason, y.jobId], ['r1', 0, 'gone', 'j9']);
      // with the run that wrote it
      assert.equal(z.run!.command, 'generate');
      assert.equal(z.run!.user, 'u');
      assert.equal(z.run!.startedAt.toISOString(), T0.toISOString());
    });
  });
}
