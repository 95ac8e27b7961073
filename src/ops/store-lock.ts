import { STORE_LOCK } from '../db/catalog.ts';
import { timed } from '../profile.ts';
import type { Context } from '../context.ts';
import { whoAmI } from '../context.ts';
import { formatTime } from '../format.ts';

/** Runs fn holding the store lock (one destructive run at a time per store). */
export async function withStoreLock<T>(ctx: Context, command: string, waitMs: number, fn: () => Promise<T>): Promise<T> {
  const me = whoAmI();
  const release = await timed('store lock: acquire', () => ctx.catalog.acquireLock(STORE_LOCK, {
    waitMs,
    holder: { pid: me.pid, host: me.host, command, runId: ctx.runId },
    onStaleLock: (s) =>
      ctx.log.warn(`broke a stale store lock held by ${s.command || 'a run'} (pid ${s.pid} on ${s.host} since ${formatTime(s.acquiredAt)}): that process is gone`),
  }));
  let failed = false;
  try {
    return await fn();
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    // After a failure (a lost database connection most often) the run's own error is the one
    // line to show: a lock that cannot be released then is gone with its session anyway.
    await release().catch((err) => (failed ? ctx.log.debug : ctx.log.warn)(`could not release the store lock: ${(err as Error).message}`));
  }
}
