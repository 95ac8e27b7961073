// Catalog contract for migrate-images-to-db (images table, user tables), on SQLite and PostgreSQL.
import { describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Catalog } from '../src/db/catalog.ts';
import type { NewImage, UserTableTarget } from '../src/db/types.ts';
import { checkIdentifier, quoteIdent } from '../src/db/user-tables.ts';
import { DIALECTS, type Store } from './helpers/env.ts';
import { useCatalogStore } from './helpers/catalog-fixture.ts';
import { execSql, query } from './helpers/images.ts';

const T0 = new Date('2026-11-01T10:00:00.000Z');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function image(source: string, key: string, index = 0, data = Buffer.from(`webp-${source}-${key}-${index}`)): NewImage {
  return {
    source,
    sourceKey: key,
    sourceIndex: index,
    owner: 'acme',
    originalPath: `${key}.jpg`,
    originalBytes: 1000,
    originalFormat: 'jpeg',
    format: 'webp',
    width: 10,
    height: 20,
    bytes: data.length,
    quality: 85,
    sha256: sha(data),
    data,
    createdAt: T0,
  };
}

test('identifiers: plain names pass and are quoted; anything else is a usage error', () => {
  assert.equal(quoteIdent(checkIdentifier('users', 'table', true)), '"users"');
  assert.equal(quoteIdent(checkIdentifier('app.users', 'table', true)), '"app"."users"');
  for (const bad of ['users; drop table jobs', 'a"b', '1abc', '', 'a.b.c', 'x y', 'a-b', 'ü', 'a'.repeat(64)]) {
    assert.throws(() => checkIdentifier(bad, 'table', true), (e: { exitCode?: number }) => e.exitCode === 2, bad);
  }
  assert.throws(() => checkIdentifier('app.users', 'column'), (e: { exitCode?: number }) => e.exitCode === 2);
  assert.throws(() => quoteIdent('a"; --'));
});

for (const d of DIALECTS) {
  describe(`catalog images contract: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let c: Catalog;
    const blob = d.name === 'postgres' ? 'bytea' : 'blob';
    useCatalogStore(d, async (s) => {
      store = s.store;
      c = s.catalogs[0]!;
      await execSql(
        store,
        `create table users (id integer primary key, photo text, photo_data ${blob}, age integer);
         insert into users values (1, 'a.jpg', null, 1), (2, 'b.jpg', null, 2), (3, null, null, 3), (4, 'd.jpg', null, 4);`,
      );
    });

    test('insertImages skips what is stored; keys and digests read back', async () => {
      assert.equal(await c.insertImages([image('store', 'x/a.jpg'), image('store', 'x/b.jpg')]), 2);
      assert.equal(await c.insertImages([image('store', 'x/a.jpg'), image('store', 'x/c.jpg')]), 1);
      assert.deepEqual((await c.storedImageKeys('store', ['x/a.jpg', 'x/c.jpg', 'x/z.jpg'])).sort(), ['x/a.jpg', 'x/c.jpg']);
      assert.deepEqual(await c.storedImageKeys('other', ['x/a.jpg']), []);
      const digests = await c.storedImageDigests('store', ['x/a.jpg', 'x/b.jpg']);
      assert.deepEqual(
        digests.sort((a, b) => a.sourceKey.localeCompare(b.sourceKey)),
        [
          { sourceKey: 'x/a.jpg', sourceIndex: 0, sha256: sha(Buffer.from('webp-store-x/a.jpg-0')) },
          { sourceKey: 'x/b.jpg', sourceIndex: 0, sha256: sha(Buffer.from('webp-store-x/b.jpg-0')) },
        ],
      );
    });

    test('describeUserTable names the missing table or column', async () => {
      const t: UserTableTarget = { table: 'users', key: 'id', pathColumn: 'photo', dataColumn: 'photo_data' };
      assert.deepEqual(await c.describeUserTable(t), { pathIsArray: false, source: 'users.photo' });
      await assert.rejects(c.describeUserTable({ ...t, table: 'nope' }), /table nope does not exist/);
      await assert.rejects(c.describeUserTable({ ...t, key: 'uid' }), /column users\.uid does not exist/);
      await assert.rejects(c.describeUserTable({ ...t, dataColumn: 'blob' }), /column users\.blob does not exist/);
      if (d.name === 'postgres') await assert.rejects(c.describeUserTable({ ...t, dataColumn: 'age' }), /users\.age is int4, expected bytea/);
    });

    test('pending rows page by key; writes are idempotent; digests read the data column back', async () => {
      const t: UserTableTarget = { table: 'users', key: 'id', pathColumn: 'photo', dataColumn: 'photo_data' };
      const shape = await c.describeUserTable(t);
      assert.deepEqual(await c.countUserRows(t, shape), { total: 3, pending: 3 });
      const first = await c.pendingUserRows(t, shape, undefined, 2);
      assert.deepEqual(first.map((r) => [r.key, r.paths]), [[1, 'a.jpg'], [2, 'b.jpg']]);
      assert.deepEqual((await c.pendingUserRows(t, shape, 2, 2)).map((r) => r.key), [4]);
      const w = await c.writeUserRowImages(t, shape, [{ key: 1, images: [image('users.photo', '1')] }]);
      assert.deepEqual(w, [1]);
      assert.deepEqual(await c.writeUserRowImages(t, shape, [{ key: 1, images: [image('users.photo', '1', 0, Buffer.from('other'))] }]), [], 'a written row is not overwritten');
      assert.deepEqual(await c.countUserRows(t, shape), { total: 3, pending: 2 });
      assert.deepEqual((await c.pendingUserRows(t, shape, undefined, 10)).map((r) => r.key), [2, 4]);
      assert.deepEqual(await c.storedUserRowDigests(t, shape, [1, 2]), [{ sourceKey: '1', sourceIndex: 0, sha256: sha(Buffer.from('webp-users.photo-1-0')) }]);
    });

    test('a failing batch rolls back whole', async () => {
      const t: UserTableTarget = { table: 'users', key: 'id', pathColumn: 'photo', dataColumn: 'photo_data' };
      const shape = await c.describeUserTable(t);
      await assert.rejects(
        c.writeUserRowImages(t, shape, [
          { key: 2, images: [image('users.photo', '2')] },
          { key: 4, images: [image('users.photo', '4', 0), image('users.photo', '4', 1)] },
        ]),
      );
      const rows = await query<{ id: number; photo_data: Buffer | null }>(store, `select id, photo_data from users where id in (2, 4) order by id`);
      assert.deepEqual(rows.map((r) => r.photo_data), [null, null]);
    });

    test('images-table mode: rows link by key and index; a row counts as done once stored', async () => {
      const t: UserTableTarget = { table: 'users', key: 'id', pathColumn: 'photo' };
      const shape = await c.describeUserTable(t);
      assert.equal(shape.source, 'users.photo');
      assert.deepEqual(await c.countUserRows(t, shape), { total: 3, pending: 3 });
      const w = await c.writeUserRowImages(t, shape, [{ key: 4, images: [image('users.photo', '4', 0), image('users.photo', '4', 1)] }]);
      assert.deepEqual(w, [4]);
      assert.deepEqual((await c.pendingUserRows(t, shape, undefined, 10)).map((r) => r.key), [1, 2]);
      const digests = await c.storedUserRowDigests(t, shape, [4]);
      assert.deepEqual(digests.map((x) => x.sourceIndex).sort(), [0, 1]);
    });

    test('countPendingReferences: rows not migrated yet that name a path', async () => {
      const t: UserTableTarget = { table: 'users', key: 'id', pathColumn: 'photo', dataColumn: 'photo_data' };
      const shape = await c.describeUserTable(t);
      // users: 1 a.jpg (migrated above), 2 b.jpg, 4 d.jpg pending.
      assert.equal(await c.countPendingReferences(t, shape, 'a.jpg'), 0);
      assert.equal(await c.countPendingReferences(t, shape, 'b.jpg'), 1);
      assert.equal(await c.countPendingReferences(t, shape, 'zzz.jpg'), 0);
      if (d.name === 'postgres') {
        await execSql(store, `create table parts (id integer primary key, paths text[], data bytea[]); insert into parts values (1, '{x.jpg,y.jpg}', null), (2, '{y.jpg}', '{}');`);
        const pt: UserTableTarget = { table: 'parts', key: 'id', pathColumn: 'paths', dataColumn: 'data' };
        const ps = await c.describeUserTable(pt);
        assert.equal(ps.pathIsArray, true);
        assert.equal(await c.countPendingReferences(pt, ps, 'y.jpg'), 1);
        assert.equal(await c.countPendingReferences(pt, ps, 'z.jpg'), 0);
      } else {
        await execSql(store, `create table parts (id integer primary key, paths text); insert into parts values (1, '["x.jpg","y.jpg"]'), (2, 'y.jpg'), (3, 'not json [');`);
        const pt: UserTableTarget = { table: 'parts', key: 'id', pathColumn: 'paths' };
        const ps = await c.describeUserTable(pt);
        assert.equal(await c.countPendingReferences(pt, ps, 'y.jpg'), 2);
        assert.equal(await c.countPendingReferences(pt, ps, 'x.jpg'), 1);
        await c.writeUserRowImages(pt, ps, [{ key: 1, images: [image('parts.paths', '1', 0), image('parts.paths', '1', 1)] }]);
        assert.equal(await c.countPendingReferences(pt, ps, 'x.jpg'), 0);
        assert.equal(await c.countPendingReferences(pt, ps, 'y.jpg'), 1);
      }
    });

    test('markFiles: deleting, then deleted with time and reason', async () => {
      await c.insertFiles([{ jobId: null, role: 'a.jpg', category: 'uploads', path: 'uploads/a.jpg', contentType: 'image/jpeg', size: 1, sha256: 'ab'.repeat(32), createdAt: T0 }]);
      await c.markFiles(['uploads/a.jpg'], 'deleting', T0, 'migrated-to-db');
      assert.equal((await c.filePage({ limit: 10 }))[0]!.state, 'deleting');
      await c.markFiles(['uploads/a.jpg'], 'deleted', T0, 'migrated-to-db');
      const [f] = await c.filePage({ limit: 10 });
      assert.equal(f!.state, 'deleted');
      assert.equal(f!.deleteReason, 'migrated-to-db');
      assert.equal(f!.deletedAt!.getTime(), T0.getTime());
    });
  });
}
