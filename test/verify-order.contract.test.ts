// verify's order, paged: never-verified rows first (from the pivot up, then below it), then the
// least recently verified, by (verified_at, id), each row exactly once however small the page
// and however many rows share one verification time. Both dialects.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import type { Catalog } from '../src/db/catalog.ts';
import { integrityCatalog, type VerifyCursor } from '../src/db/integrity.ts';
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
  });
}
