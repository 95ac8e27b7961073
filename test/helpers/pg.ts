// Direct SQL on a test store's PostgreSQL database, the one way tests open a client there.
import pg from 'pg';
import { DEFAULT_PG_SCHEMA, pgConnectionConfig } from '../../src/db/pg-schema.ts';

/** The schema storectl's tables are in when a test sets none (database.schema's default). */
export const CATALOG_SCHEMA = DEFAULT_PG_SCHEMA;

/**
 * A connected client on URL as the application sees its database, with storectl's schema after
 * the application's: `create table x` makes an application table in public, and storectl's
 * tables are found by their bare names unless the application has one of the same name (then
 * qualify: `${CATALOG_SCHEMA}.images`).
 */
export async function pgClient(url: string, schema: string = CATALOG_SCHEMA): Promise<pg.Client> {
  const c = new pg.Client(pgConnectionConfig(url, ['public', schema]));
  await c.connect();
  return c;
}

/** Runs one query (or several statements, without params) on URL through pgClient; returns its rows. */
export async function pgQuery<T = Record<string, unknown>>(url: string, text: string, params: unknown[] = [], schema?: string): Promise<T[]> {
  const c = await pgClient(url, schema);
  try {
    return (await c.query(text, params)).rows as T[];
  } finally {
    await c.end();
  }
}
