import { STORE_LOCK, type LockCatalog, type RunsCatalog } from '../db/catalog.ts';
import type { Context } from '../context.ts';
import { whoAmI } from '../context.ts';
import { LockedError } from '../errors.ts';
import { describeHolder } from '../db/shared.ts';

export interface UnlockReport {
  /** Whether a lock was held when the command looked. */
  held: boolean;
  holder: { command: string; pid: number; host: string; runId: string; since: string; heartbeatAt: string | null } | null;
  /** Whether the holder looked alive (a live lock is broken only with --force). */
  live: boolean | null;
  /** Why it looked live or stale. */
  why: string | null;
  heartbeatAgeSeconds: number | null;
  broken: boolean;
  forced: boolean;
}

/**
 * storectl unlock: shows who holds the store lock; breaks a stale one, a live one only with
 * force (LockedError, exit 75, otherwise). The break is recorded as an `unlock` event naming the
 * holder and who broke it.
 */
export async function unlockStore(ctx: Pick<Context, 'runId'> & { catalog: LockCatalog & Pick<RunsCatalog, 'addEvents'> }, opts: { force: boolean; dryRun?: boolean }): Promise<UnlockReport> {
  const st = await ctx.catalog.lockStatus(STORE_LOCK);
  if (!st) return { held: false, holder: null, live: null, why: null, heartbeatAgeSeconds: null, broken: false, forced: false };
  const h = st.info;
  const base: UnlockReport = {
    held: true,
    holder: { command: h.command, pid: h.pid, host: h.host, runId: h.runId, since: h.acquiredAt.toISOString(), heartbeatAt: h.heartbeatAt?.toISOString() ?? null },
    live: st.live,
    why: st.why,
    heartbeatAgeSeconds: Math.round(st.heartbeatAgeMs / 1000),
    broken: false,
    forced: false,
  };
  if (opts.dryRun) return base;
  if (st.live && !opts.force) {
    throw new LockedError(
      `the store lock is held by ${describeHolder(h)}, which looks alive: ${st.why}`,
      'wait for it to finish; if it is wedged, storectl unlock --force breaks the lock (the run then fails at its next heartbeat)',
    );
  }
  const broken = await ctx.catalog.breakLock(STORE_LOCK, h.runId);
  if (broken) {
    const me = whoAmI();
    await ctx.catalog.addEvents([
      {
        runId: ctx.runId,
        at: new Date(),
        action: 'unlock',
        path: null,
        jobId: null,
        bytes: null,
        reason: `${st.live ? 'forced: broke a live' : 'broke a stale'} store lock held by ${describeHolder(h)} (run ${h.runId || 'unknown'}; ${st.why}); by ${me.user}@${me.host} pid ${me.pid}`,
      },
    ]);
  }
  return { ...base, broken, forced: st.live };
}
