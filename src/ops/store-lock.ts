import { STORE_LOCK, type LockCatalog } from '../db/catalog.ts';
import { timed } from '../profile.ts';
import type { Context } from '../context.ts';
import { whoAmI } from '../context.ts';
import { formatTime } from '../format.ts';
import type { LockInfo } from '../db/types.ts';

const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;

function holderText(h: LockInfo | null): string {
  return h ? `${h.command || 'a run'} (pid ${h.pid} on ${h.host} since ${formatTime(h.acquiredAt)})` : 'another run';
}

/**
 * Runs fn holding the store lock (one destructive run at a time per store). While it waits
 * (--wait) it says so on stderr, with the holder and how long it will wait; a run that finds at a
 * heartbeat that its lock was broken meanwhile fails once fn returns, so its exit code says so.
 */
export async function withStoreLock<T>(ctx: Pick<Context, 'log' | 'runId'> & { catalog: LockCatalog }, command: string, waitMs: number, fn: () => Promise<T>): Promise<T> {
  const me = whoAmI();
  let waitedFrom = 0;
  let lost: string | null = null;
  const release = await timed('store lock: acquire', () => ctx.catalog.acquireLock(STORE_LOCK, {
    waitMs,
    holder: { pid: me.pid, host: me.host, command, runId: ctx.runId },
    onStaleLock: (s, why) => ctx.log.warn(`broke a stale store lock held by ${holderText(s)}: ${why}`),
    onWait: (h, waited, limit) => {
      if (!waitedFrom) waitedFrom = Date.now() - waited;
      const upTo = Number.isFinite(limit) ? `up to ${seconds(limit)}` : 'as long as it takes';
      ctx.log.info(
        waited < 1000
          ? `waiting for the store lock held by ${holderText(h)}: ${upTo}`
          : `still waiting for the store lock held by ${holderText(h)}: ${seconds(waited)} so far, ${upTo}`,
      );
    },
    onLost: (why) => {
      lost = why;
      ctx.log.error(`lost the store lock while running: ${why}; another run may now work on this store`);
    },
  }));
  if (waitedFrom) ctx.log.info(`got the store lock after waiting ${seconds(Date.now() - waitedFrom)}`);
  let failed = false;
  try {
    const result = await fn();
    if (lost) throw new Error(`this run lost the store lock while it ran (${lost}); check the store with storectl verify`);
    return result;
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    // After a failure (a lost database connection most often) the run's own error is the one
    // line to show: a lock that cannot be released then is gone with its session anyway.
    await release().catch((err) => (failed ? ctx.log.debug : ctx.log.warn)(`could not release the store lock: ${(err as Error).message}`));
  }
}
