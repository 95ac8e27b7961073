// storectl's PostgreSQL schema: the schema its tables, functions and migrations journal live in
// (default "storectl"), the connection settings that make every catalog session resolve names
// there and only there, how an application's table named by an operator is found in the
// application's own schemas, and the move of a catalog an older storectl kept in "public".
import fs from 'node:fs';
import pg from 'pg';
import { UsageError } from '../errors.ts';
import { MIGRATIONS_TABLE, journal, migrationsFolder } from './migrations.ts';
import type { LayoutChange } from './types.ts';

export const DEFAULT_PG_SCHEMA = 'storectl';

/** Where older storectl versions kept their tables and journal. */
export const LEGACY_PG_SCHEMA = 'public';

/** A schema name storectl accepts: a lower-case identifier, not one PostgreSQL reserves. */
export const PG_SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Why NAME cannot be storectl's schema, or undefined. (config.ts holds the same rule: config imports no db module.) */
export function pgSchemaProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || !PG_SCHEMA_NAME.test(name)) return 'must be a lower-case identifier (letters, digits and underscores, not starting with a digit, at most 63)';
  if (name.startsWith('pg_') || name === 'information_schema') return 'names a schema PostgreSQL reserves';
  return undefined;
}

export function checkPgSchema(name: string): string {
  const why = pgSchemaProblem(name);
  if (why) throw new UsageError(`database schema ${JSON.stringify(name)} ${why}`, 'set database.schema / STORECTL_DATABASE_SCHEMA to a name such as storectl', 'config');
  return name;
}

/** A checked schema name, double-quoted. */
export function quoteSchema(name: string): string {
  return `"${checkPgSchema(name)}"`;
}

/**
 * Connection settings whose sessions start with search_path = SCHEMAS only (a startup option:
 * no session of the pool ever runs a statement before it is set, and none can lose it). An
 * `options` parameter of the URL is kept; the search_path given here comes after it and wins.
 */
export function pgConnectionConfig(url: string, schemas: readonly string[]): pg.ClientConfig {
  const searchPath = `-c search_path=${schemas.map(quoteSchema).join(',')}`;
  let connectionString = url;
  let options = searchPath;
  // pg lets the URL's own options override the config's: take them out and put them first.
  const q = url.indexOf('?');
  if (q >= 0) {
    const params = new URLSearchParams(url.slice(q + 1));
    const own = params.get('options');
    if (own !== null) {
      params.delete('options');
      const rest = params.toString();
      connectionString = url.slice(0, q) + (rest ? `?${rest}` : '');
      options = `${own} ${searchPath}`;
    }
  }
  return { connectionString, options };
}

type Query = Pick<pg.ClientBase, 'query'>;

/**
 * The schema that holds an application's table named without one, as the application sees it:
 * the first schema of a session's search path without storectl's settings (PostgreSQL's default
 * "$user", public, or what the role or database sets) that has a table, view or foreign table of
 * that name. Null when none has. storectl's own schema is never the answer: the application's
 * `events` or `images` is not storectl's.
 */
export async function applicationTableSchema(url: string, ownSchema: string, table: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on('error', () => {});
  await client.connect();
  try {
    return await tableSchemaOnPath(client, table, [ownSchema]);
  } finally {
    await client.end().catch(() => {});
  }
}

/** The first schema of this session's search path (but EXCLUDED) holding a relation TABLE. */
export async function tableSchemaOnPath(q: Query, table: string, excluded: readonly string[]): Promise<string | null> {
  const r = await q.query(
    `select s.nsp from unnest(current_schemas(false)) with ordinality s(nsp, i)
     join pg_namespace n on n.nspname = s.nsp
     join pg_class c on c.relnamespace = n.oid and c.relname = $1 and c.relkind in ('r', 'p', 'v', 'm', 'f')
     where s.nsp <> all($2::text[]) order by s.i limit 1`,
    [table, [...excluded]],
  );
  return (r.rows[0]?.nsp as string | undefined) ?? null;
}

/** The created_at values of a journal table, or null when SCHEMA has none. */
export async function journalIn(q: Query, schema: string): Promise<number[] | null> {
  const t = `${quoteSchema(schema)}."${MIGRATIONS_TABLE}"`;
  const exists = await q.query('select to_regclass($1) as t', [t]);
  if (!exists.rows[0]?.t) return null;
  return (await q.query(`select created_at from ${t}`)).rows.map((r) => Number(r.created_at));
}

/** The schemas of this database other than SCHEMA that hold a storectl journal with rows (other catalogs, or this one under another name). */
export async function otherCatalogSchemas(q: Query, schema: string): Promise<string[]> {
  const r = await q.query(
    `select n.nspname as schema from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relname = $1 and c.relkind = 'r' and n.nspname <> $2 order by 1`,
    [MIGRATIONS_TABLE, schema],
  );
  const out: string[] = [];
  for (const row of r.rows as { schema: string }[]) if ((await journalIn(q, row.schema))?.length) out.push(row.schema);
  return out;
}

/** A catalog an older storectl left in "public": its journal and how many migrations it records. */
export interface LegacyCatalog {
  schema: string;
  applied: number;
}

/**
 * The catalog of an older storectl in "public", when SCHEMA (another one) holds none: a journal
 * there with rows. An empty journal there is what a first `migrate` that failed left (an
 * application's own `events` table in the way); it holds no catalog.
 */
export async function findLegacyCatalog(q: Query, schema: string): Promise<LegacyCatalog | null> {
  if (schema === LEGACY_PG_SCHEMA) return null;
  const own = await journalIn(q, schema);
  if (own && own.length) return null;
  const old = await journalIn(q, LEGACY_PG_SCHEMA);
  if (!old || !old.length) return null;
  const last = Math.max(...old);
  return { schema: LEGACY_PG_SCHEMA, applied: journal('postgres').filter((e) => e.when <= last).length };
}


/**
 * The tables and functions the applied migrations made, in order, less those a later one dropped:
 * exactly what an older storectl created in "public" (nothing of the application's of the same
 * name: a migration that met one would have failed).
 */
export function objectsOfMigrations(appliedTags: readonly string[]): { tables: string[]; functions: string[] } {
  const tables = new Set<string>();
  const functions = new Set<string>();
  for (const tag of appliedTags) {
    const text = fs.readFileSync(`${migrationsFolder('postgres')}/${tag}.sql`, 'utf8');
    for (const m of text.matchAll(/\b(CREATE|DROP)\s+(TABLE|FUNCTION)\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?"?([A-Za-z_][A-Za-z0-9_]*)"?/gi)) {
      const set = m[2]!.toUpperCase() === 'TABLE' ? tables : functions;
      if (m[1]!.toUpperCase() === 'CREATE') set.add(m[3]!);
      else set.delete(m[3]!);
    }
  }
  return { tables: [...tables], functions: [...functions] };
}

/**
 * Moves an older storectl's catalog from "public" into SCHEMA in one transaction: its tables
 * (with their indexes, constraints, triggers and serial sequences), its functions and its
 * journal. Run by `migrate` under its advisory lock, before the pending migrations. Also drops
 * an empty journal a failed first migrate left in "public".
 */
export async function moveLegacyCatalog(client: pg.PoolClient, schema: string): Promise<LayoutChange> {
  const change: LayoutChange = { from: LEGACY_PG_SCHEMA, to: schema, moved: [], droppedEmptyJournal: false };
  if (schema === LEGACY_PG_SCHEMA) return change;
  const S = quoteSchema(schema);
  await client.query('BEGIN');
  try {
    const own = await journalIn(client, schema);
    const old = await journalIn(client, LEGACY_PG_SCHEMA);
    if (old && old.length === 0) {
      // Locked and counted again in the transaction: never drop a journal that has just been written.
      await client.query(`lock table public."${MIGRATIONS_TABLE}" in access exclusive mode`);
      if (Number((await client.query(`select count(*) as n from public."${MIGRATIONS_TABLE}"`)).rows[0].n) === 0) {
        await client.query(`drop table public."${MIGRATIONS_TABLE}"`);
        change.droppedEmptyJournal = true;
      }
    } else if (old && old.length && !(own && own.length)) {
      const last = Math.max(...old);
      const { tables, functions } = objectsOfMigrations(journal('postgres').filter((e) => e.when <= last).map((e) => e.tag));
      await client.query(`create schema if not exists ${S}`);
      // An empty journal in the schema (a migrate of this storectl that failed) gives way to the old one.
      if (own) await client.query(`drop table ${S}."${MIGRATIONS_TABLE}"`);
      for (const t of [...tables, MIGRATIONS_TABLE]) {
        const present = await client.query(`select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relname = $1 and c.relkind in ('r', 'p')`, [t]);
        if (!present.rowCount) continue;
        await client.query(`alter table public."${t}" set schema ${S}`);
        change.moved.push(t);
      }
      for (const f of functions) {
        const r = await client.query(
          `select pg_get_function_identity_arguments(p.oid) as args from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'public' and p.proname = $1`,
          [f],
        );
        for (const row of r.rows) {
          await client.query(`alter function public."${f}"(${row.args}) set schema ${S}`);
          change.moved.push(`${f}()`);
        }
      }
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
  return change;
}

/**
 * Fixes the search_path of storectl's functions (the usage triggers on "files") to SCHEMA: a
 * trigger function runs with the search_path of whoever fires it, and a write to "files" from
 * any session (psql, the application) must keep this schema's usage ledger, never reach a
 * "usage" or "quotas" table of the same name elsewhere. Run by every `migrate` after the
 * migrations (idempotent; done in code so that the dialects keep one migration count, which
 * backups record as the schema version).
 */
export async function pinFunctionSearchPath(client: pg.PoolClient, schema: string, appliedTags: readonly string[]): Promise<void> {
  const { functions } = objectsOfMigrations(appliedTags);
  if (!functions.length) return;
  const S = quoteSchema(schema);
  const r = await client.query(
    `select p.proname, pg_get_function_identity_arguments(p.oid) as args, p.proconfig from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname = $1 and p.proname = any($2::text[])`,
    [schema, functions],
  );
  // As PostgreSQL keeps it: identifiers quoted only where they need it (a checked name never does).
  const want = `search_path=${schema}, pg_temp`;
  for (const row of r.rows as { proname: string; args: string; proconfig: string[] | null }[]) {
    if (row.proconfig?.includes(want)) continue;
    await client.query(`alter function ${S}."${row.proname}"(${row.args}) set search_path = ${S}, pg_temp`);
  }
}
