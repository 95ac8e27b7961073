// verify's order, paged: never-verified rows first (from the pivot up, then below it), then the
// least recently verified, by (verified_at, id), each row exactly once however small the page
// and however many rows share one verification time. Both dialects.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import type { Catalog } from '../src/db/catalog.ts';
import { integrityCatalog, type VerifyCursor } from '../src/db/integrity.ts';
import { sqlExec } from '../src/db/sql-exec.ts';
import type { NewFile } from '../src/db/types.ts';
import { DIALECTS, type Store } from './helpers/env.ts';

for (const d of DIALECTS) {
  describe(`verify order: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let c: Catalog;
    before(async () => {
      store = await d.makeStore();
      c = await store.open();
    });
    after(async () => {
      await c?.close();
      await store?.dispose();
    });

    test('pages of 2 walk every row once: never verified from the pivot, wrapping, then by (verified_at, id) with ties', async () => {
      const at = new Date('2026-11-01T00:00:00Z');
      const files: NewFile[] = Array.from({ length: 11 }, (_, i) => ({
        jobId: null, role: 'x', category: 'temp', owner: 'o', path: `temp/f${String(i).padStart(2, '0')}`, contentType: 'application/octet-stream', size: 10 + i, sha256: 'ab'.repeat(32), createdAt: at,
      }));
      await c.insertFiles(files);
      const rows = await c.filePage({ states: ['present'], limit: 100 });
      const ids = rows.map((r) => r.id).sort((a, b) => a - b);
      const ic = integrityCatalog(c);
      // Verified: ids[0..4] at t2 (a tie of five), ids[5..6] at t1 (earlier); ids[7..10] never.
      const t1 = new Date('2026-11-20T00:00:00Z');
      const t2 = new Date('2026-11-21T00:00:00Z');
      await ic.recordVerifications(ids.slice(0, 5).map((id) => ({ id, result: 'ok' as const })), t2, []);
      await ic.recordVerifications(ids.slice(5, 7).map((id) => ({ id, result: 'ok' as const })), t1, []);
      const pivot = ids[9]!;
      const seen: number[] = [];
      let cursor: VerifyCursor | null = { phase: 0, afterId: 0 };
      for (let guard = 0; cursor && guard < 50; guard++) {
        const page: { rows: { id: number }[]; next: VerifyCursor | null } = await ic.verifyPage({}, cursor, { pivot, notSince: new Date('2026-12-01T00:00:00Z'), limit: 2 });
        seen.push(...page.rows.map((r) => r.id));
        cursor = page.rows.length ? page.next : null;
      }
      assert.deepEqual(seen, [ids[9], ids[10], ids[7], ids[8], ids[5], ids[6], ids[0], ids[1], ids[2], ids[3], ids[4]]);
      // Verified since notSince: not in this run's order at all.
      const none = await ic.verifyPage({}, { phase: 2, afterId: 0 }, { pivot, notSince: new Date('2026-11-19T00:00:00Z'), limit: 5 });
      assert.deepEqual(none.rows, []);
    });

    test('verdicts of 1,500 rows in one call, each as its state was read: changed states left as their writer left them', async () => {
      const at = new Date('2026-11-01T00:00:00Z');
      await c.insertFiles(Array.from({ length: 1500 }, (_, i) => ({
        jobId: null, role: 'x', category: 'temp', owner: 'o', path: `many/f${String(i).padStart(4, '0')}`, contentType: 'application/octet-stream', size: 1, sha256: 'cd'.repeat(32), createdAt: at,
      })));
      const x = sqlExec(c);
      const ids = (await x.all<{ id: unknown }>(`select id from files where path like 'many/%' order by id`)).map((r) => Number(r.id));
      const ic = integrityCatalog(c);
      // Rows 0-9 were read as corrupt (their state is corrupt); 10-19 were read present, then
      // another run marked them corrupt; 20-29 were read present, then a cleanup took them.
      await x.run(`update files set state = 'corrupt' where id in (${ids.slice(0, 20).join(', ')})`);
      await x.run(`update files set state = 'deleting' where id in (${ids.slice(20, 30).join(', ')})`);
      const when = new Date('2026-11-25T00:00:00Z');
      await ic.recordVerifications(
        [
          ...ids.slice(0, 10).map((id) => ({ id, result: 'ok' as const, was: 'corrupt' })),
          ...ids.slice(10, 1400).map((id) => ({ id, result: 'ok' as const, was: 'present' })),
          ...ids.slice(1400, 1450).map((id) => ({ id, result: 'missing' as const, was: 'present' })),
          ...ids.slice(1450).map((id) => ({ id, result: 'unreadable' as const, was: 'present' })),
        ],
        when,
        [],
      );
      const rows = await x.all<{ id: unknown; state: string; verify_result: string | null; verified_at: unknown }>(`select id, state, verify_result, verified_at from files where path like 'many/%' order by id`);
      const got = rows.map((r) => `${r.state}/${r.verify_result ?? '-'}/${x.date(r.verified_at)?.getTime() === when.getTime() ? 'now' : 'old'}`);
      const want = [
        ...Array(10).fill('present/ok/now'),
        ...Array(10).fill('corrupt/-/old'),
        ...Array(10).fill('deleting/-/old'),
        ...Array(1370).fill('present/ok/now'),
        ...Array(50).fill('missing/missing/now'),
        ...Array(50).fill('present/unreadable/now'),
      ];
      assert.deepEqual(got, want);
      // Without `was` (repair's outcomes): the state follows the verdict whatever it was.
      await ic.recordVerifications(ids.slice(10, 20).map((id) => ({ id, result: 'ok' as const })), when, []);
      const back = await x.all<{ n: unknown }>(`select count(*) as n from files where id in (${ids.slice(10, 20).join(', ')}) and state = 'present' and verify_result = 'ok'`);
      assert.equal(Number(back[0]!.n), 10);
    });
  });
}
