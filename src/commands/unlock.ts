import { defineCommand } from './define.ts';
import type { UnlockReport } from '../ops/unlock.ts';
import { renderPairs } from '../ui/table.ts';
import { safe } from '../ui/format.ts';
import { flag } from './common-options.ts';

export interface UnlockOptions {
  dryRun: boolean;
  force: boolean;
}

export default defineCommand({
  name: 'unlock',
  summary: 'Show who holds the store lock; break it when its holder is gone (a live one only with --force)',
  description:
    'Show the run holding the store lock (command, pid, host, since, last heartbeat) and whether it looks alive. A holder refreshes its heartbeat every 15 s; a lock is stale when its process is gone from this host, or (held from another host, or on PostgreSQL a session that lives on) when its heartbeat is older than 60 s (STORECTL_LOCK_STALE_SECONDS). Runs take over a stale lock by themselves; unlock breaks a stale one at once, and a live one only with --force (a wedged run: it fails at its next heartbeat). On PostgreSQL breaking ends the holder\'s database session, which frees its advisory lock. Each break is recorded as an unlock event with the holder and who broke it. Exit 75 when the lock is live and --force is not given; 0 when nothing holds it.',
  examples: ['storectl unlock --dry-run', 'storectl unlock', 'storectl unlock --force --json'],
  recordRun: true,
  options: (cmd) => cmd.option('--dry-run', 'only show the holder; change nothing').option('--force', 'break the lock even though its holder looks alive'),
  parse: (_args, raw): UnlockOptions => ({ dryRun: flag(raw, 'dryRun'), force: flag(raw, 'force') }),
  async run(opts, env) {
    const ctx = await env.openContext({ createRoot: false, createCatalog: false, s3: true, command: 'unlock' });
    const { unlockStore } = await import('../ops/unlock.ts');
    const report = await unlockStore(ctx, opts);
    if (report.broken) env.ui.log.warn(`broke the store lock held by ${report.holder!.command || 'a run'} (pid ${report.holder!.pid} on ${report.holder!.host})${report.forced ? ' although it looked alive' : ''}`);
    return {
      report,
      dryRun: opts.dryRun,
      text: () => renderUnlock(report),
      totals: { held: report.held, broken: report.broken, forced: report.forced },
    };
  },
});

function renderUnlock(r: UnlockReport): string {
  if (!r.held || !r.holder) return 'the store lock is free\n';
  const h = r.holder;
  return renderPairs([
    ['holder', safe`${h.command || 'a run'} (pid ${h.pid} on ${h.host})`],
    ['run', safe`${h.runId || 'unknown'}`],
    ['since', h.since],
    ['last heartbeat', h.heartbeatAt ? `${h.heartbeatAt} (${r.heartbeatAgeSeconds} s ago)` : 'never'],
    ['state', `${r.live ? 'live' : 'stale'}: ${safe`${r.why ?? ''}`}`],
    ['broken', r.broken ? (r.forced ? 'yes (forced)' : 'yes') : 'no'],
  ]);
}
