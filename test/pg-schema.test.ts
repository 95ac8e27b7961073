// The catalog in its own PostgreSQL schema (issue 22): migrate puts every table, function and the
// journal in `storectl` (database.schema) and nothing in public; an application's own `events`,
// `images`, `jobs` in public neither break migrate nor are touched, and table mode reads them,
// not storectl's; a catalog an older storectl kept in public is moved by migrate.
import { after, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate as drizzleMigrate } from 'drizzle-orm/node-postgres/migrator';
import { createScratchDatabase } from '../bench/lib/scratch-db.ts';
import { pgSchemaProblem as configSchemaProblem } from '../src/config.ts';
import { STORE_LOCK } from '../src/db/catalog.ts';
import { openCatalog } from '../src/db/connect.ts';
import { MIGRATIONS_TABLE, migrationsFolder, schemaVersion } from '../src/db/migrations.ts';
import { pgConnectionConfig, pgSchemaProblem } from '../src/db/pg-schema.ts';
import { parseDatabaseUrl } from '../src/db/url.ts';
import { runCli, tmpDir } from './helpers/env.ts';
import { smallJpeg, writeFiles } from './helpers/images.ts';
import { CATALOG_SCHEMA, pgQuery } from './helpers/pg.ts';
import { runMain } from './helpers/run-main.ts';

const PG_URL = process.env.STORECTL_TEST_DATABASE_URL;
const skip = PG_URL ? false : 'STORECTL_TEST_DATABASE_URL is not set';
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups) await c().catch(() => {});
});

async function scratch(): Promise<string> {
  const db = await createScratchDatabase(PG_URL!, `storectl_schema_${process.pid}_${randomBytes(4).toString('hex')}`);
  cleanups.push(db.drop);
  return db.url;
}

function newRoot(): string {
  const root = tmpDir();
  cleanups.push(async () => fs.rmSync(root, { recursive: true, force: true }));
  return root;
}

/** Tables (relkind r) and functions per schema, outside the system schemas. */
async function layout(url: string): Promise<Record<string, string[]>> {
  const rows = await pgQuery<{ schema: string; name: string }>(
    url,
    `select n.nspname as schema, c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind = 'r' and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'
     union all select n.nspname, p.proname || '()' from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname not in ('pg_catalog', 'information_schema')
`,
  );
  const out: Record<string, string[]> = {};
  for (const r of rows) (out[r.schema] ??= []).push(r.name);
  for (const names of Object.values(out)) names.sort();
  return out;
}

const STORECTL_TABLES = [MIGRATIONS_TABLE, 'events', 'files', 'images', 'jobs', 'locks', 'quotas', 'runs', 'store_meta', 'store_migration', 'usage', 'usage_snapshots'];
const STORECTL_FUNCTIONS = ['storectl_files_usage()', 'storectl_files_usage_truncate()'];

/** The application's tables, as the application sees them: rows and columns. */
async function appTables(url: string) {
  const cols = await pgQuery(url, `select table_name, column_name, data_type from information_schema.columns where table_schema = 'public' order by table_name, ordinal_position`);
  const rows = await pgQuery(url, `select (select json_agg(e order by id) from public.events e) as events, (select json_agg(j order by id) from public.jobs j) as jobs, (select json_agg(i order by id) from public.images i) as images, (select json_agg(u order by owner) from public.usage u) as usage`);
  return { cols, rows };
}

const APP_TABLES = `
  create table events (id serial primary key, what text not null, at timestamptz default now());
  insert into events (what) values ('signup'), ('login'), ('logout');
  create table jobs (id text primary key, title text);
  insert into jobs values ('j1', 'printer'), ('j2', 'courier');
  create table images (id integer primary key, photo text, photo_data bytea);
  create table usage (owner text primary key, bytes bigint);
  insert into usage values ('acme', 7);`;

test('database.schema: the same rule in config and in the catalog; storectl config shows it and where it came from', async () => {
  for (const name of ['storectl', 'other', '_x1', 'a'.repeat(63), 'Storectl', '1abc', 'pg_x', 'information_schema', 'a-b', 'a"b', '', 'a'.repeat(64)]) {
    assert.equal(configSchemaProblem(name), pgSchemaProblem(name), name);
  }
  const dir = tmpDir();
  try {
    const byDefault = await runMain(['--root', dir, '--json', 'config']);
    assert.deepEqual(byDefault.json.databaseSchema, { value: 'storectl', source: 'default', variable: null });
    fs.writeFileSync(path.join(dir, 'storectl.config.json'), JSON.stringify({ database: { url: 'postgres://u@db/app', schema: 'other' } }));
    const file = await runMain(['--json', 'config'], { cwd: dir });
    assert.equal(file.code, 0, file.stdout);
    assert.deepEqual(file.json.databaseSchema, { value: 'other', source: 'file', variable: null });
    assert.equal(file.json.database.value, 'postgres://u@db/app');
    const text = await runMain(['config'], { cwd: dir });
    assert.match(text.stdout, /^database\.schema\s+other\s+file$/m);
    const env = await runCli(['--json', 'config'], { cwd: dir, env: { STORECTL_DATABASE_SCHEMA: 'mine' } });
    assert.deepEqual(env.json.databaseSchema, { value: 'mine', source: 'env', variable: 'STORECTL_DATABASE_SCHEMA' });
    const envText = await runCli(['config'], { cwd: dir, env: { STORECTL_DATABASE_SCHEMA: 'mine' } });
    assert.match(envText.stdout, /^database\.schema\s+mine\s+env STORECTL_DATABASE_SCHEMA$/m);
    const bad = await runCli(['--json', 'stats'], { cwd: dir, env: { STORECTL_DATABASE_SCHEMA: 'pg_mine' } });
    assert.equal(bad.code, 2);
    assert.match(bad.json.error.message, /STORECTL_DATABASE_SCHEMA names a schema PostgreSQL reserves/);
    for (const [database, why] of [
      [{ url: 'postgres://u@db/app', schema: 'Bad-Name' }, /"database\.schema" must be a lower-case identifier/],
      [{ url: 'postgres://u@db/app', shema: 'x' }, /unknown key "database\.shema"/],
      [['postgres://u@db/app'], /"database" must be a URL string or an object \{ url, schema \}/],
    ] as const) {
      fs.writeFileSync(path.join(dir, 'storectl.config.json'), JSON.stringify({ database }));
      const r = await runMain(['--json', 'config'], { cwd: dir });
      assert.equal(r.code, 2, JSON.stringify(database));
      assert.match(r.json.error.message, why);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a URL's own options are kept and its search_path is overridden", () => {
  const c = pgConnectionConfig('postgres://u@h/db?sslmode=disable&options=-c%20statement_timeout%3D5s%20-c%20search_path%3Dapp', ['storectl']);
  assert.equal(c.connectionString, 'postgres://u@h/db?sslmode=disable');
  assert.equal(c.options, '-c statement_timeout=5s -c search_path=app -c search_path="storectl"');
  assert.deepEqual(pgConnectionConfig('postgres://u@h/db', ['storectl']), { connectionString: 'postgres://u@h/db', options: '-c search_path="storectl"' });
});

describe('the catalog in its own PostgreSQL schema', { skip }, () => {
  test('a fresh migrate creates every table, function and the journal in storectl and nothing in public; sessions resolve names there alone', async () => {
    const url = await scratch();
    const root = newRoot();
    const m = await runMain(['--root', root, '--database', url, '--json', 'migrate']);
    assert.equal(m.code, 0, m.stdout + m.stderr);
    assert.equal(m.json.applied.length, schemaVersion('postgres'));
    assert.match(m.json.catalog, /, schema storectl$/);
    assert.deepEqual(await layout(url), { [CATALOG_SCHEMA]: [...STORECTL_TABLES, ...STORECTL_FUNCTIONS].sort() });
    // The trigger functions do not depend on the caller's search_path.
    const fns = await pgQuery<{ proconfig: string[] }>(url, `select proconfig from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = $1`, [CATALOG_SCHEMA]);
    assert.deepEqual(fns.map((f) => f.proconfig), [['search_path=storectl, pg_temp'], ['search_path=storectl, pg_temp']]);
    const again = await runMain(['--root', root, '--database', url, '--json', 'migrate']);
    assert.deepEqual(again.json.applied, []);
    // A catalog session sees storectl's schema only.
    const c = await openCatalog(parseDatabaseUrl(url, root), { create: false, migrate: 'auto' });
    try {
      const pool = (c as unknown as { pool: pg.Pool }).pool;
      assert.deepEqual((await pool.query('select current_schemas(false)::text[] as s')).rows[0].s, [CATALOG_SCHEMA]);
    } finally {
      await c.close();
    }
  });

  test("an application with its own events, images, jobs and usage in public: migrate succeeds, commands work, table mode reads the application's images, and the application's tables are untouched", async () => {
    const url = await scratch();
    const root = newRoot();
    await pgQuery(url, APP_TABLES);
    const photos = tmpDir();
    cleanups.push(async () => fs.rmSync(photos, { recursive: true, force: true }));
    writeFiles(photos, { 'a.jpg': await smallJpeg(400, 300, 1), 'b.jpg': await smallJpeg(400, 300, 2) });
    await pgQuery(url, `insert into images values (1, 'a.jpg', null), (2, 'b.jpg', null), (3, null, null)`);
    const before = await appTables(url);
    const args = ['--root', root, '--database', url, '--json'];

    const m = await runMain([...args, 'migrate']);
    assert.equal(m.code, 0, m.stdout + m.stderr);
    assert.deepEqual((await layout(url)).public, ['events', 'images', 'jobs', 'usage']);
    const g = await runMain([...args, 'generate', '--sample', '3', '--seed', '4', '--workers', '1']);
    assert.equal(g.code, 0, g.stdout + g.stderr);
    const s = await runMain([...args, 'stats', '--check-disk']);
    assert.equal(s.code, 0, s.stdout + s.stderr);
    assert.equal(s.json.jobs.total, 3);
    const v = await runMain([...args, 'verify']);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.deepEqual(await appTables(url), before, 'generate, stats and verify leave the application alone');

    // A write to storectl's files from another session (the application's search_path) keeps storectl's ledger, not public.usage.
    const ledger = await pgQuery<{ bytes: number }>(url, `select coalesce(sum(bytes), 0)::bigint as bytes from ${CATALOG_SCHEMA}.usage`);
    const plain = new pg.Client({ connectionString: url });
    await plain.connect();
    try {
      await plain.query(`delete from ${CATALOG_SCHEMA}.files where id = (select min(id) from ${CATALOG_SCHEMA}.files where state = 'present')`);
    } finally {
      await plain.end();
    }
    const after1 = await pgQuery<{ bytes: number }>(url, `select coalesce(sum(bytes), 0)::bigint as bytes from ${CATALOG_SCHEMA}.usage`);
    assert.ok(Number(after1[0]!.bytes) < Number(ledger[0]!.bytes), 'storectl.usage followed the delete');
    assert.deepEqual(await appTables(url), before, "public.usage was not the trigger's");

    // Table mode: the bare name `images` is the application's table, never storectl's.
    const t = await runMain([...args, 'migrate-images-to-db', '--table', 'images', '--path-column', 'photo', '--data-column', 'photo_data', '--base-dir', photos]);
    assert.equal(t.code, 0, t.stdout + t.stderr);
    assert.equal(t.json.migrated, 2);
    const filled = await pgQuery<{ id: number; webp: boolean }>(url, `select id, substring(photo_data from 9 for 4) = 'WEBP'::bytea as webp from public.images where photo_data is not null order by id`);
    assert.deepEqual(filled, [{ id: 1, webp: true }, { id: 2, webp: true }]);
    // Without a data column the bytes go to storectl's images, keyed by the application's rows.
    await pgQuery(url, `update public.images set photo_data = null`);
    const ti = await runMain([...args, 'migrate-images-to-db', '--table', 'public.images', '--path-column', 'photo', '--base-dir', photos]);
    assert.equal(ti.code, 0, ti.stdout + ti.stderr);
    assert.equal(ti.json.migrated, 2);
    assert.deepEqual(
      await pgQuery(url, `select source, source_key from ${CATALOG_SCHEMA}.images order by source_key`),
      [{ source: 'public.images.photo', source_key: '1' }, { source: 'public.images.photo', source_key: '2' }],
    );
    const own = await runMain([...args, 'migrate-images-to-db', '--table', `${CATALOG_SCHEMA}.images`, '--path-column', 'original_path', '--base-dir', photos]);
    assert.equal(own.code, 2);
    assert.match(own.json.error.message, /is in storectl's own schema/);
    // A bare name the application does not have is not storectl's table of that name either.
    const theirs = await runMain([...args, 'migrate-images-to-db', '--table', 'runs', '--key', 'id', '--path-column', 'command', '--base-dir', photos]);
    assert.equal(theirs.code, 2, theirs.stdout);
    assert.equal(theirs.json.error.code, 'no_table');
    assert.match(theirs.json.error.message, /table runs does not exist/);
    const after2 = await appTables(url);
    assert.deepEqual(after2.cols, before.cols, 'no column of the application changed');
    assert.deepEqual(
      { events: after2.rows[0]!.events, jobs: after2.rows[0]!.jobs, usage: after2.rows[0]!.usage },
      { events: before.rows[0]!.events, jobs: before.rows[0]!.jobs, usage: before.rows[0]!.usage },
    );
  });

  test('database.schema: other puts the catalog in schema other; two schemas of one database are two stores, their store locks apart', async () => {
    const url = await scratch();
    const rootA = newRoot();
    const rootB = newRoot();
    const dir = tmpDir();
    cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    fs.writeFileSync(path.join(dir, 'storectl.config.json'), JSON.stringify({ root: rootB, database: { url, schema: 'other' } }));
    const m = await runMain(['--json', 'migrate'], { cwd: dir });
    assert.equal(m.code, 0, m.stdout + m.stderr);
    assert.match(m.json.catalog, /, schema other$/);
    assert.deepEqual(await layout(url), { other: [...STORECTL_TABLES, ...STORECTL_FUNCTIONS].sort() });
    const fns = await pgQuery<{ proconfig: string[] }>(url, `select proconfig from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'other'`);
    assert.deepEqual(fns.map((f) => f.proconfig), [['search_path=other, pg_temp'], ['search_path=other, pg_temp']]);
    assert.equal((await runMain(['--json', 'generate', '--sample', '2', '--seed', '1', '--workers', '1'], { cwd: dir })).code, 0);
    // A schema with no catalog beside one that has it (a mistyped database.schema) is refused, naming the other.
    const typo = await runCli(['--json', 'stats'], { cwd: dir, env: { STORECTL_DATABASE_SCHEMA: 'othr' } });
    assert.equal(typo.code, 2, typo.stdout);
    assert.match(typo.json.error.message, /no storectl catalog at .*, schema othr; this database holds one in schema other$/);
    assert.match(typo.json.error.hint, /check database\.schema \/ STORECTL_DATABASE_SCHEMA/);
    assert.equal((await runMain(['--root', rootA, '--database', url, 'migrate'])).code, 0);
    assert.equal((await runMain(['--root', rootA, '--database', url, 'generate', '--sample', '1', '--seed', '2', '--workers', '1'])).code, 0);
    assert.deepEqual(await pgQuery(url, `select (select count(*)::int from other.jobs) as other, (select count(*)::int from ${CATALOG_SCHEMA}.jobs) as storectl`), [{ other: 2, storectl: 1 }]);
    const open = (schema: string, root: string) => openCatalog(parseDatabaseUrl(url, root, schema), { create: false, migrate: 'auto' });
    const a = await open(CATALOG_SCHEMA, rootA);
    const b = await open('other', rootB);
    const b2 = await open('other', rootB);
    const holder = (runId: string) => ({ pid: process.pid, host: 'test', command: 'test', runId });
    try {
      const releaseA = await a.acquireLock(STORE_LOCK, { holder: holder('a') });
      const releaseB = await b.acquireLock(STORE_LOCK, { holder: holder('b') });
      await assert.rejects(b2.acquireLock(STORE_LOCK, { holder: holder('b2') }), (err: Error & { exitCode?: number }) => err.exitCode === 75 || /lock/i.test(err.message));
      assert.equal((await b2.lockStatus(STORE_LOCK))?.info.runId, 'b');
      assert.equal((await a.lockStatus(STORE_LOCK))?.info.runId, 'a');
      await releaseA();
      await releaseB();
    } finally {
      await Promise.all([a.close(), b.close(), b2.close()]);
    }
  });

  test('a catalog an older storectl kept in public: other commands say so (exit 2); migrate moves it whole into storectl, and it works as before', async () => {
    const url = await scratch();
    const root = newRoot();
    // The old layout, made as storectl did before the schema: drizzle's migrator, journal in public, default search_path.
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    try {
      await drizzleMigrate(drizzle(pool), { migrationsFolder: migrationsFolder('postgres'), migrationsTable: MIGRATIONS_TABLE, migrationsSchema: 'public' });
    } finally {
      await pool.end();
    }
    // Rows in it as an older storectl wrote them (the same SQL, pointed at public).
    const old = { STORECTL_DATABASE_SCHEMA: 'public' };
    assert.equal((await runCli(['--root', root, '--database', url, 'generate', '--sample', '4', '--seed', '3', '--workers', '1'], { env: old })).code, 0);
    assert.deepEqual(await layout(url), { public: [...STORECTL_TABLES, ...STORECTL_FUNCTIONS].sort() });
    const counts = async (schema: string) =>
      (await pgQuery<{ jobs: number; files: number; runs: number; usage: unknown }>(url, `select (select count(*)::int from ${schema}.jobs) as jobs, (select count(*)::int from ${schema}.files) as files, (select count(*)::int from ${schema}.runs) as runs, (select json_agg(u order by owner) from ${schema}.usage u) as usage`))[0];
    const before = await counts('public');
    assert.ok(before!.files >= 4);

    const args = ['--root', root, '--database', url, '--json'];
    const stale = await runMain([...args, 'stats']);
    assert.equal(stale.code, 2, stale.stdout);
    assert.match(stale.json.error.message, /holds storectl's catalog in schema public, where older versions kept it/);
    assert.match(stale.json.error.hint, /run `storectl migrate`: it moves the tables into schema storectl/);
    assert.deepEqual(await layout(url), { public: [...STORECTL_TABLES, ...STORECTL_FUNCTIONS].sort() }, 'nothing moved by stats');

    // --status says why every migration of schema storectl is pending, and changes nothing.
    const st = await runMain([...args, 'migrate', '--status']);
    assert.equal(st.code, 0, st.stdout + st.stderr);
    assert.equal(st.json.oldLayout?.schema, 'public', JSON.stringify(st.json));
    assert.equal(st.json.oldLayout.to, 'storectl');
    // every migration is applied in public and (so far) pending in storectl
    assert.equal(st.json.oldLayout.applied, st.json.pending.length);
    assert.ok(st.json.oldLayout.applied > 0);
    const stText = await runMain(['--root', root, '--database', url, 'migrate', '--status']);
    assert.match(stText.stdout, /schema storectl holds no catalog yet: this database holds one in schema public \(\d+ migration\(s\) applied there\), where older versions kept it; `storectl migrate` moves it/);
    assert.deepEqual(await layout(url), { public: [...STORECTL_TABLES, ...STORECTL_FUNCTIONS].sort() }, 'nothing moved by migrate --status');

    const m = await runMain([...args, 'migrate']);
    assert.equal(m.code, 0, m.stdout + m.stderr);
    assert.deepEqual(m.json.applied, []);
    // once moved, --status has nothing of the old layout to say
    assert.equal((await runMain([...args, 'migrate', '--status'])).json.oldLayout, undefined);
    assert.equal(m.json.layoutChange.from, 'public');
    assert.equal(m.json.layoutChange.to, 'storectl');
    assert.deepEqual([...m.json.layoutChange.moved].sort(), [...STORECTL_TABLES, ...STORECTL_FUNCTIONS].sort());
    assert.match(m.stderr, /moved storectl's catalog from schema public into schema storectl/);
    assert.deepEqual(await layout(url), { [CATALOG_SCHEMA]: [...STORECTL_TABLES, ...STORECTL_FUNCTIONS].sort() });
    assert.deepEqual(await counts(CATALOG_SCHEMA), before);
    // The serial sequences and triggers went with their tables.
    const seqs = await pgQuery<{ schema: string }>(url, `select distinct n.nspname as schema from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind = 'S' and n.nspname not in ('pg_catalog', 'information_schema')`);
    assert.deepEqual(seqs, [{ schema: CATALOG_SCHEMA }]);
    const triggers = await pgQuery<{ n: number }>(url, `select count(*)::int as n from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and not t.tgisinternal`, [CATALOG_SCHEMA]);
    assert.equal(triggers[0]!.n, 4);

    const s = await runMain([...args, 'stats', '--check-disk']);
    assert.equal(s.code, 0, s.stdout + s.stderr);
    assert.equal(s.json.jobs.total, 4);
    assert.equal((await runMain([...args, 'generate', '--sample', '1', '--seed', '9', '--workers', '1'])).code, 0);
    const v = await runMain([...args, 'verify']);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const now = await counts(CATALOG_SCHEMA);
    assert.ok(now!.files > before!.files, 'new ids continue after the moved rows');
    assert.equal(now!.jobs, 5);
    const again = await runMain([...args, 'migrate']);
    assert.equal(again.code, 0);
    assert.equal(again.json.layoutChange, undefined);
  });

  test("a first migrate that an application's events table broke (an empty journal left in public) is cleaned up by the next one", async () => {
    const url = await scratch();
    await pgQuery(url, `create table events (id serial primary key, what text); insert into events (what) values ('x')`);
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    try {
      await assert.rejects(drizzleMigrate(drizzle(pool), { migrationsFolder: migrationsFolder('postgres'), migrationsTable: MIGRATIONS_TABLE, migrationsSchema: 'public' }), /Failed query: CREATE TABLE "events"/);
    } finally {
      await pool.end();
    }
    assert.deepEqual((await layout(url)).public, [MIGRATIONS_TABLE, 'events']);
    const m = await runMain(['--root', newRoot(), '--database', url, '--json', 'migrate']);
    assert.equal(m.code, 0, m.stdout + m.stderr);
    assert.equal(m.json.layoutChange.droppedEmptyJournal, true);
    assert.deepEqual(m.json.layoutChange.moved, []);
    const l = await layout(url);
    assert.deepEqual(l.public, ['events']);
    assert.deepEqual(l[CATALOG_SCHEMA], [...STORECTL_TABLES, ...STORECTL_FUNCTIONS].sort());
    assert.deepEqual(await pgQuery(url, 'select what from public.events'), [{ what: 'x' }]);
  });
});
