// The application-table reader of import-from-db, on both dialects: pages by key, shapes from
// column types, and clearing that leaves a row the application rewrote meanwhile alone.
import { after, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { openSourceRows } from '../src/db/source-rows.ts';
import { parseDatabaseUrl } from '../src/db/url.ts';
import { DIALECTS, type Store } from './helpers/env.ts';
import { execSql, query } from './helpers/images.ts';

for (const d of DIALECTS) {
  describe(`source rows: ${d.name}`, { skip: d.skip }, () => {
    const stores: Store[] = [];
    const pgsql = d.name === 'postgres';
    after(async () => {
      for (const s of stores) await s.dispose();
    });
    const setup = async () => {
      const s = await d.makeStore();
      stores.push(s);
      await (await s.open()).close();
      await execSql(
        s,
        pgsql
          ? `create table legacy (id integer primary key, data bytea, doc jsonb, note text, arr bytea[])`
          : `create table legacy (id integer primary key, data BLOB, doc JSON, note TEXT)`,
      );
      for (let i = 1; i <= 7; i++) {
        await query(s, `insert into legacy (id, data, doc, note) values ($1, $2, $3, $4)`, [i, i === 4 ? null : Buffer.from(`bytes ${i}`), JSON.stringify({ k: String(i) }), `n${i}`]);
      }
      return { s, target: parseDatabaseUrl(s.databaseUrl || undefined, s.root) };
    };

    test('pages by key in order, skipping NULL values; counts the rows with data', async () => {
      const { target } = await setup();
      const src = await openSourceRows(target, { table: 'legacy', key: 'id', dataColumn: 'data' }, { forClearing: false });
      try {
        assert.equal(src.spec.shape, 'bytea');
        assert.equal(await src.count(), 6);
        const keys: number[] = [];
        let after: string | number | undefined;
        for (;;) {
          const page = await src.page(after, 4);
          if (!page.length) break;
          keys.push(...page.map((r) => Number(r.key)));
          after = page[page.length - 1]!.key;
          for (const r of page) assert.ok(Buffer.from(r.value as Buffer).equals(Buffer.from(`bytes ${r.key}`)));
          for (const r of page) assert.equal(r.guard, undefined, 'no guard unless opened for clearing');
        }
        assert.deepEqual(keys, [1, 2, 3, 5, 6, 7]);
        await assert.rejects(src.clear([{ key: 1, guard: null }]), /not opened for clearing/);
      } finally {
        await src.close();
      }
    });

    test('clear sets NULL in one transaction, but not where the value changed since it was read', async () => {
      const { s, target } = await setup();
      const src = await openSourceRows(target, { table: 'legacy', key: 'id', dataColumn: 'data' }, { forClearing: true });
      try {
        const page = await src.page(undefined, 3);
        assert.deepEqual(page.map((r) => Number(r.key)), [1, 2, 3]);
        await query(s, `update legacy set data = $1 where id = 2`, [Buffer.from('rewritten by the application')]);
        const cleared = await src.clear(page.map((r) => ({ key: r.key, guard: r.guard })));
        assert.deepEqual(cleared.map(Number), [1, 3]);
      } finally {
        await src.close();
      }
      const rows = await query<{ id: number; data: Buffer | null }>(s, `select id, data from legacy order by id`);
      assert.deepEqual(rows.map((r) => [Number(r.id), r.data ? Buffer.from(r.data).toString() : null]), [
        [1, null],
        [2, 'rewritten by the application'],
        [3, null],
        [4, null],
        [5, 'bytes 5'],
        [6, 'bytes 6'],
        [7, 'bytes 7'],
      ]);
    });

    test('JSON columns clear by their value too; the shape comes from the column type or must be said', async () => {
      const { s, target } = await setup();
      const src = await openSourceRows(target, { table: 'legacy', key: 'id', dataColumn: 'doc' }, { forClearing: true });
      try {
        assert.equal(src.spec.shape, 'json-base64');
        const page = await src.page(5, 10);
        assert.deepEqual(page.map((r) => Number(r.key)), [6, 7]);
        assert.deepEqual(typeof page[0]!.value === 'string' ? JSON.parse(page[0]!.value) : page[0]!.value, { k: '6' });
        assert.deepEqual((await src.clear(page.map((r) => ({ key: r.key, guard: r.guard })))).map(Number), [6, 7]);
      } finally {
        await src.close();
      }
      assert.equal((await query(s, `select id from legacy where doc is null`)).length, 2);
      const refuse = async (spec: Parameters<typeof openSourceRows>[1], code: string) => {
        await assert.rejects(openSourceRows(target, spec, { forClearing: false }), (e: { exitCode?: number; code?: string }) => e.exitCode === 2 && e.code === code);
      };
      await refuse({ table: 'legacy', key: 'id', dataColumn: 'note' }, 'bad_column'); // text: base64 or JSON?
      await refuse({ table: 'legacy', key: 'id', dataColumn: 'nope' }, 'no_column');
      await refuse({ table: 'legacy', key: 'nope', dataColumn: 'data' }, 'no_column');
      await refuse({ table: 'legacy', key: 'id', dataColumn: 'data', createdColumn: 'nope' }, 'no_column');
      await refuse({ table: 'missing', key: 'id', dataColumn: 'data' }, 'no_table');
      await refuse({ table: 'legacy', key: 'id', dataColumn: 'data', shape: 'bytea-array' }, 'bad_column');
      if (pgsql) {
        await refuse({ table: 'legacy', key: 'id', dataColumn: 'data', shape: 'base64' }, 'bad_column');
        await refuse({ table: 'legacy', key: 'id', dataColumn: 'note', shape: 'bytea' }, 'bad_column');
        const arr = await openSourceRows(target, { table: 'legacy', key: 'id', dataColumn: 'arr' }, { forClearing: false });
        assert.equal(arr.spec.shape, 'bytea-array');
        await arr.close();
      }
      const b64 = await openSourceRows(target, { table: 'legacy', key: 'id', dataColumn: 'note', shape: 'base64' }, { forClearing: false });
      assert.equal(b64.spec.shape, 'base64');
      await b64.close();
    });
  });
}
