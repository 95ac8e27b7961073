// The PostgreSQL connection pool storectl uses, and a watch on it that turns a call left waiting
// by a lost server into that loss's error.
import pg from 'pg';

/**
 * A pg.Pool whose lost connections end as errors: a client losing its server, idle in the pool
 * or checked out (a backup's snapshot between pages), must not crash the process with an
 * unhandled 'error' event; the next query on it rejects, and that is what is reported.
 */
export function newPgPool(config: pg.PoolConfig): pg.Pool {
  const pool = new pg.Pool(config);
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

/** How long a call may stay pending once the pool has lost its server. */
export const LOSS_GRACE_MS = 2000;

/**
 * Seen in the PostgreSQL fault test under load: the server killed while the deletion engine
 * started a transaction, the pool's client reported the loss, and the transaction's promise
 * never settled (pg 8.23 / pg-pool 3.14; with nothing else left to run, node would have ended
 * the process with exit 0). A call bound here rejects with the loss once it has stayed pending
 * LOSS_GRACE_MS after a client of the pool reported its server gone; a call that settles on its
 * own, as nearly all do, is untouched. A client that connects again clears the loss.
 */
export class ConnectionLossWatch {
  #lost: Error | undefined;
  readonly #waiting = new Set<(err: Error) => void>();

  constructor(pool: pg.Pool) {
    pool.on('connect', (client) => {
      this.#lost = undefined;
      client.on('error', (err: Error) => {
        this.#lost = err;
        for (const arm of this.#waiting) arm(err);
      });
    });
  }

  /** The loss seen since a client last connected, if any. */
  get lost(): Error | undefined {
    return this.#lost;
  }

  bound<T>(call: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const arm = (err: Error) => {
        timer ??= setTimeout(() => reject(new Error(`Connection terminated unexpectedly (${err.message}; the call did not end within ${LOSS_GRACE_MS} ms of it)`)), LOSS_GRACE_MS);
      };
      if (this.#lost) arm(this.#lost);
      this.#waiting.add(arm);
      call.then(resolve, reject).finally(() => {
        clearTimeout(timer);
        this.#waiting.delete(arm);
      });
    });
  }
}
