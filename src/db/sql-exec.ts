// A minimal SQL executor over either dialect's driver, so a catalog role whose SQL is the same
// on both (placeholders `?`, literals, standard functions) is written once. Transactions are
// a list of statements run in one go: synchronous on SQLite (better-sqlite3 cannot roll back
// an async callback), BEGIN/COMMIT on one pooled client on PostgreSQL.
import type { Catalog } from './catalog.ts';
import type { PgCatalog } from './pg.ts';
import type { SqliteCatalog } from './sqlite.ts';

export interface Statement {
  sql: string;
  params: unknown[];
}

export interface SqlExec {
  readonly dialect: 'sqlite' | 'postgres';
  all<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs the statements in one transaction; returns each one's changed-row count. */
  transaction(stmts: readonly Statement[]): Promise<number[]>;
  /** A Date as the dialect binds a timestamp column. */
  at(d: Date): unknown;
  /** A timestamp column's value as read back, as a Date. */
  date(v: unknown): Date | null;
}

/** `(?, ?, ...)` for n values. */
export function placeholders(n: number): string {
  return `(${Array.from({ length: n }, () => '?').join(', ')})`;
}

function toDollars(sql: string): string {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
}

export function sqlExec(catalog: Catalog): SqlExec {
  if (catalog.dialect === 'sqlite') {
    const raw = (catalog as SqliteCatalog).raw;
    const cache = new Map<string, { all(...p: unknown[]): unknown[]; run(...p: unknown[]): { changes: number } }>();
    const prep = (sql: string) => {
      let s = cache.get(sql);
      if (!s) cache.set(sql, (s = raw.prepare(sql) as unknown as { all(...p: unknown[]): unknown[]; run(...p: unknown[]): { changes: number } }));
      return s;
    };
    return {
      dialect: 'sqlite',
      async all<T>(sql: string, params: unknown[] = []) {
        return prep(sql).all(...params) as T[];
      },
      async transaction(stmts) {
        return raw.transaction(() => stmts.map((s) => prep(s.sql).run(...s.params).changes))();
      },
      at: (d) => d.getTime(),
      date: (v) => (v === null || v === undefined ? null : new Date(Number(v))),
    };
  }
  const pool = (catalog as PgCatalog).pool;
  return {
    dialect: 'postgres',
    async all<T>(sql: string, params: unknown[] = []) {
      return (await pool.query(toDollars(sql), params)).rows as T[];
    },
    async transaction(stmts) {
      const client = await pool.connect();
      try {
        await client.query('begin');
        const counts: number[] = [];
        for (const s of stmts) counts.push((await client.query(toDollars(s.sql), s.params)).rowCount ?? 0);
        await client.query('commit');
        return counts;
      } catch (err) {
        await client.query('rollback').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },
    at: (d) => d,
    date: (v) => (v === null || v === undefined ? null : v instanceof Date ? v : new Date(v as string)),
  };
}
