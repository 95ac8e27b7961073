// A small SQL runner over either driver, for catalog roles written once for both dialects
// (placeholders are `?`; PostgreSQL's `$n` are numbered here).
import type Database from 'better-sqlite3';
import type pg from 'pg';
import type { SqlRunner } from './usage.ts';

export function sqliteRunner(db: Database.Database): SqlRunner {
  const runner: SqlRunner = {
    dialect: 'sqlite',
    async all<T>(sql: string, params: readonly unknown[] = []) {
      return db.prepare(sql).all(...params) as T[];
    },
    async run(sql, params = []) {
      return db.prepare(sql).run(...params).changes;
    },
    async transaction(fn) {
      // BEGIN IMMEDIATE takes SQLite's write lock up front: the ledger cannot move under us.
      db.exec('begin immediate');
      try {
        const out = await fn(runner);
        db.exec('commit');
        return out;
      } catch (err) {
        if (db.inTransaction) db.exec('rollback');
        throw err;
      }
    },
  };
  return runner;
}

function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

export function pgRunner(pool: pg.Pool, on: Queryable = pool): SqlRunner {
  const runner: SqlRunner = {
    dialect: 'postgres',
    async all<T>(sql: string, params: readonly unknown[] = []) {
      return (await on.query(numbered(sql), [...params])).rows as T[];
    },
    async run(sql, params = []) {
      return (await on.query(numbered(sql), [...params])).rowCount ?? 0;
    },
    async transaction(fn, opts) {
      const client = await pool.connect();
      try {
        await client.query('begin');
        // EXCLUSIVE: concurrent writers' triggers wait for the rebuild, and it waits for them.
        if (opts?.lockUsage) await client.query('lock table usage in exclusive mode');
        const out = await fn(pgRunner(pool, client));
        await client.query('commit');
        return out;
      } catch (err) {
        await client.query('rollback').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },
  };
  return runner;
}
