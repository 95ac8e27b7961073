// A minimal SQL executor over either dialect's driver, so a catalog role whose SQL is the same
// on both (placeholders `?`, literals, standard functions) is written once. Two kinds of
// transaction: a list of statements run in one go (synchronous on SQLite, BEGIN/COMMIT on one
// pooled client on PostgreSQL), and an interactive one for read-then-write work (SQLite:
// BEGIN IMMEDIATE, so the write lock is held from the first read; PostgreSQL: one client, and
// optionally a table locked in EXCLUSIVE mode).
import type Database from 'better-sqlite3';
import type pg from 'pg';
import { pgTransaction } from './pg-transaction.ts';

export interface Statement {
  sql: string;
  params: unknown[];
}

export interface SqlExec {
  readonly dialect: 'sqlite' | 'postgres';
  all<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** Rows as arrays of column values, in select order (no object per row: for large pages). */
  rows(sql: string, params?: readonly unknown[]): Promise<unknown[][]>;
  /** Runs one statement; returns the rows it changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
  /** Runs the statements in one transaction; returns each one's changed-row count. */
  transaction(stmts: readonly Statement[]): Promise<number[]>;
  /**
   * Runs `fn` in one write transaction on one connection. `lockTable` (PostgreSQL) is locked in
   * EXCLUSIVE mode first: writers whose triggers touch it wait for `fn`, and `fn` for them.
   */
  interactive<T>(fn: (tx: SqlExec) => Promise<T>, opts?: { lockTable?: string }): Promise<T>;
  /** A Date as the dialect binds a timestamp column. */
  at(d: Date): unknown;
  /** A timestamp column's value as read back, as a Date. */
  date(v: unknown): Date | null;
  /** A boolean as the dialect binds a boolean column (SQLite: 0 or 1). */
  flag(b: boolean): unknown;
}

/** `(?, ?, ...)` for n values. */
export function placeholders(n: number): string {
  return `(${Array.from({ length: n }, () => '?').join(', ')})`;
}

function toDollars(sql: string): string {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
}

/**
 * The executor over a catalog's own connection: SqliteCatalog's `raw` database or PgCatalog's
 * `pool` (typed by shape, so this module imports neither catalog and they can import it).
 */
export function sqlExec(catalog: { readonly dialect: 'sqlite' | 'postgres' }): SqlExec {
  return catalog.dialect === 'sqlite' ? sqliteExec((catalog as unknown as { raw: Database.Database }).raw) : pgExec((catalog as unknown as { pool: pg.Pool }).pool);
}

type Prepared = { all(...p: unknown[]): unknown[]; run(...p: unknown[]): { changes: number }; raw(on: boolean): Prepared };

export function sqliteExec(raw: Database.Database): SqlExec {
  const cache = new Map<string, Prepared>();
  const prep = (sql: string) => {
    let s = cache.get(sql);
    if (!s) cache.set(sql, (s = raw.prepare(sql) as unknown as Prepared));
    return s;
  };
  // A statement in raw mode stays so: those have a cache of their own.
  const rawCache = new Map<string, Prepared>();
  const exec: SqlExec = {
    dialect: 'sqlite',
    async all<T>(sql: string, params: readonly unknown[] = []) {
      return prep(sql).all(...params) as T[];
    },
    async rows(sql, params = []) {
      let s = rawCache.get(sql);
      if (!s) rawCache.set(sql, (s = (raw.prepare(sql) as unknown as Prepared).raw(true)));
      return s.all(...params) as unknown[][];
    },
    async run(sql, params = []) {
      return prep(sql).run(...params).changes;
    },
    async transaction(stmts) {
      return raw.transaction(() => stmts.map((s) => prep(s.sql).run(...s.params).changes))();
    },
    async interactive(fn) {
      raw.exec('begin immediate');
      try {
        const out = await fn(exec);
        raw.exec('commit');
        return out;
      } catch (err) {
        if (raw.inTransaction) raw.exec('rollback');
        throw err;
      }
    },
    at: (d) => d.getTime(),
    date: (v) => (v === null || v === undefined ? null : new Date(Number(v))),
    flag: (b) => (b ? 1 : 0),
  };
  return exec;
}

type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

export function pgExec(pool: pg.Pool, on: Queryable = pool): SqlExec {
  return {
    dialect: 'postgres',
    async all<T>(sql: string, params: readonly unknown[] = []) {
      return (await on.query(toDollars(sql), [...params])).rows as T[];
    },
    async rows(sql, params = []) {
      return (await on.query({ text: toDollars(sql), values: [...params], rowMode: 'array' })).rows as unknown[][];
    },
    async run(sql, params = []) {
      return (await on.query(toDollars(sql), [...params])).rowCount ?? 0;
    },
    async transaction(stmts) {
      return pgTransaction(pool, async (client) => {
        const counts: number[] = [];
        for (const st of stmts) counts.push((await client.query(toDollars(st.sql), st.params)).rowCount ?? 0);
        return counts;
      });
    },
    async interactive(fn, opts) {
      return pgTransaction(pool, async (client) => {
        if (opts?.lockTable) await client.query(`lock table "${opts.lockTable.replace(/"/g, '""')}" in exclusive mode`);
        return fn(pgExec(pool, client));
      });
    },
    at: (d) => d,
    date: (v) => (v === null || v === undefined ? null : v instanceof Date ? v : new Date(v as string)),
    flag: (b) => b,
  };
}
