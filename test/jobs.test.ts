// storectl jobs (issue 22, "Finding things"): filters, newest first, paging, table, --json and
// --ndjson, on both dialects; and hints that point at it.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import type { Catalog } from '../src/db/catalog.ts';
import type { NewJob } from '../src/db/types.ts';
import { DIALECTS, runCli, type Store } from './helpers/env.ts';
import { newFile } from './helpers/catalog-fixture.ts';

const DAY = 86_400_000;
const NOW = Date.now();
const ago = (days: number) => new Date(NOW - days * DAY);

/** Jobs with known ages, owners, statuses and file states: job-NN is NN days old (created). */
const JOBS: NewJob[] = [
  { id: 'job-01', kind: 'card', owner: 'acme', status: 'completed', data: {}, createdAt: ago(1), completedAt: ago(1), filesState: 'on_disk' },
  { id: 'job-05', kind: 'card', owner: 'acme', status: 'failed', data: {}, createdAt: ago(5), completedAt: null, filesState: 'none' },
  { id: 'job-10', kind: 'export', owner: 'globex', status: 'completed', data: {}, createdAt: ago(10), completedAt: ago(9), filesState: 'partial' },
  { id: 'job-40', kind: 'card', owner: 'acme', status: 'completed', data: {}, createdAt: ago(40), completedAt: ago(39), filesState: 'deleted' },
  { id: 'job-90', kind: 'card', owner: 'globex', status: 'completed', data: {}, createdAt: ago(90), completedAt: ago(89), filesState: 'on_disk' },
];

for (const d of DIALECTS) {
  describe(`storectl jobs: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let c: Catalog;
    const jobs = async (...a: string[]) => {
      const r = await runCli([...store.args, '--json', 'jobs', ...a]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      return r.json as { jobs: { id: string; files: number; bytes: number; filesState: string }[]; count: number; next: string | null };
    };
    const ids = async (...a: string[]) => (await jobs(...a)).jobs.map((j) => j.id);
    before(async () => {
      store = await d.makeStore();
      c = await store.open();
      await c.insertJobs(JOBS);
      await c.insertFiles([
        newFile('cards/2026/11/01/job-01/front.png', { jobId: 'job-01', size: 100 }),
        newFile('cards/2026/11/01/job-01/back.png', { jobId: 'job-01', size: 50 }),
        newFile('exports/csv_job-10.csv', { jobId: 'job-10', size: 7 }),
        newFile('exports/csv_job-10.zip', { jobId: 'job-10', size: 9, state: 'deleted' }),
        newFile('cards/2026/08/01/job-90/front.png', { jobId: 'job-90', size: 10 }),
      ]);
    });
    after(async () => {
      await c?.close();
      await store?.dispose();
    });

    test('newest first; present files and bytes per job', async () => {
      const r = await jobs();
      assert.deepEqual(r.jobs.map((j) => j.id), ['job-01', 'job-05', 'job-10', 'job-40', 'job-90']);
      assert.equal(r.count, 5);
      assert.equal(r.next, null);
      const j1 = r.jobs[0]!;
      assert.equal(j1.files, 2);
      assert.equal(j1.bytes, 150);
      assert.equal(r.jobs[2]!.files, 1, 'a deleted file is not counted');
      assert.equal(r.jobs[2]!.bytes, 7);
    });

    test('filters: owner, status, kind, files state, age, path prefix, combined', async () => {
      assert.deepEqual(await ids('--owner', 'acme'), ['job-01', 'job-05', 'job-40']);
      assert.deepEqual(await ids('--owner', 'acme,globex', '--status', 'failed'), ['job-05']);
      assert.deepEqual(await ids('--kind', 'export'), ['job-10']);
      assert.deepEqual(await ids('--files-state', 'partial', '--files-state', 'deleted'), ['job-10', 'job-40']);
      // Age from completed_at, else created_at (as delete --older-than reads it).
      assert.deepEqual(await ids('--older-than', '30d'), ['job-40', 'job-90']);
      assert.deepEqual(await ids('--newer-than', '7d'), ['job-01', 'job-05']);
      assert.deepEqual(await ids('--older-than', '3d', '--newer-than', '60d'), ['job-05', 'job-10', 'job-40']);
      assert.deepEqual(await ids('--path-prefix', 'cards/2026/'), ['job-01', 'job-90']);
      assert.deepEqual(await ids('--path-prefix', 'exports/csv_'), ['job-10']);
      assert.deepEqual(await ids('--path-prefix', 'cards/2026/11/', '--owner', 'globex'), []);
    });

    test('paging: --limit and --after walk every job once, newest first', async () => {
      const seen: string[] = [];
      let after: string | null = null;
      for (let i = 0; i < 5; i++) {
        const page = await jobs('--limit', '2', ...(after ? ['--after', after] : []));
        seen.push(...page.jobs.map((j) => j.id));
        after = page.next;
        if (!after) break;
        assert.equal(after, page.jobs.at(-1)!.id);
      }
      assert.deepEqual(seen, ['job-01', 'job-05', 'job-10', 'job-40', 'job-90']);
      assert.equal(after, null);
      assert.deepEqual(await ids('--after', 'job-10', '--owner', 'acme'), ['job-40'], 'paging with a filter');
    });

    test('table and NDJSON output', async () => {
      const t = await runCli([...store.args, 'jobs', '--limit', '2']);
      assert.equal(t.code, 0, t.stderr);
      assert.match(t.stdout, /job\s+kind\s+owner\s+status/);
      assert.match(t.stdout, /job-01\s+card\s+acme\s+completed\s+on_disk/);
      assert.match(t.stdout, /2 jobs shown; more with --after job-05/);
      const n = await runCli([...store.args, 'jobs', '--ndjson', '--owner', 'globex']);
      assert.equal(n.code, 0, n.stderr);
      const lines = n.stdout.trim().split('\n').map((l) => JSON.parse(l));
      assert.deepEqual(lines.slice(0, -1).map((j) => j.id), ['job-10', 'job-90']);
      assert.deepEqual(lines.at(-1), { version: 1, command: 'jobs', count: 2, next: null });
      const none = await runCli([...store.args, 'jobs', '--owner', 'nobody']);
      assert.match(none.stdout, /no jobs match/);
    });

    test('bad input is one line, exit 2', async () => {
      for (const a of [['--status', 'nope'], ['--files-state', 'gone'], ['--limit', '0'], ['--limit', 'x'], ['--path-prefix', '../etc'], ['--older-than', 'soon']]) {
        const r = await runCli([...store.args, 'jobs', ...a]);
        assert.equal(r.code, 2, `${a.join(' ')}: ${r.stderr}`);
        assert.equal(r.stderr.trim().split('\n').length <= 2, true, r.stderr);
      }
      const both = await runCli([...store.args, '--json', 'jobs', '--ndjson']);
      assert.equal(both.code, 2);
    });

    test('an unknown job id points at storectl jobs', async () => {
      const r = await runCli([...store.args, '--json', 'show', 'no-such-job']);
      assert.notEqual(r.code, 0);
      assert.match(r.json.error.hint, /storectl jobs/);
    });
  });
}
