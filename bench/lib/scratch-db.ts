// A throwaway PostgreSQL database for benchmarks and tests: created on the server an admin URL
// names (a leftover of the same name is dropped first), with its URL and a drop.
import pg from 'pg';

async function admin(adminUrl: string, statement: string): Promise<void> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(statement);
  } finally {
    await c.end();
  }
}

export async function createScratchDatabase(adminUrl: string, name: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const drop = () => admin(adminUrl, `drop database if exists "${name}" with (force)`);
  await drop();
  await admin(adminUrl, `create database "${name}"`);
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return { url: u.toString(), drop };
}

/**
 * Prefix for a psql command line that reads storectl's catalog tables by their bare names: they
 * are in storectl's schema (database.schema, default storectl), not on psql's default search_path.
 */
export const CATALOG_PSQL = "PGOPTIONS='-c search_path=storectl' psql";
