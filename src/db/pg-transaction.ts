// One PostgreSQL transaction on one pooled client: imports nothing of the catalog, so the SQL
// executor and both catalogs can use it without an import cycle.
/** Runs fn on one client of a PostgreSQL pool between begin and commit (rollback when it throws). */
export async function pgTransaction<T>(pool: import('pg').Pool, fn: (client: import('pg').PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const out = await fn(client);
    await client.query('commit');
    return out;
  } catch (err) {
    await client.query('rollback').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
