import { InvalidArgumentError } from 'commander';
import { defineCommand } from './define.ts';
import { EXIT, UsageError } from '../errors.ts';
import type { QuotaRow } from '../ops/quota.ts';
import { parseSize } from '../units.ts';
import { formatBytes, formatCount } from '../ui/format.ts';
import { renderTable } from '../ui/table.ts';
import { num, parseWait, text, waitOption } from './common-options.ts';

const ACTIONS = ['set', 'unset', 'show', 'list', 'check', 'recount'] as const;
type Action = (typeof ACTIONS)[number];

function sizeOption(value: string): number {
  const n = parseSize(value);
  if (n === undefined) throw new InvalidArgumentError('not a size (e.g. 50GiB, 500MB, 1048576)');
  return n;
}

function countOption(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('not a whole number');
  return Number(value);
}

/** What `quota` is asked: an action, its owner, and for set the limits. */
export interface QuotaOptions {
  action: Action;
  owner?: string;
  maxBytes?: number;
  maxFiles?: number;
  /** set: the warning level (default 80). */
  warnPercent: number;
  /** check --warn: also fail past the warning level. */
  strict: boolean;
  waitMs: number;
}

export default defineCommand({
  name: 'quota',
  args: '<action> [owner]',
  summary: 'Per-owner storage quotas: set, unset, show, list, check, recount',
  description:
    'Manage per-owner hard quotas and read the usage ledger. `set OWNER --bytes SIZE [--files N] [--warn PCT]` (sizes like 50GiB or 500MB; warning at 80% by default), `unset OWNER`, `show OWNER`, `list` (every owner with files or a quota: used bytes and files, quota, percent, state ok|warn|over), `check` (exit 7 when any owner is over its quota; with --warn also when any is past its warning level), `recount [OWNER]` or `recount --owner OWNER` (rebuild usage from the files table, of every owner or of that one, and report the drift it corrected). Usage counts the files held (present, deleting or corrupt), tombstones do not count, and shared content counts for every owner that holds it. Every write that adds content (generate, put, import-from-db, restore) is refused for a job that would pass its owner\'s quota; the job fails alone and writes nothing.',
  examples: [
    'storectl quota set acme --bytes 50GiB --warn 90',
    'storectl quota list',
    'storectl quota check --warn || echo "quota alert"',
    'storectl quota recount --json',
    'storectl quota recount --owner acme',
  ],
  options: (cmd) =>
    cmd
      .option('--bytes <size>', 'set: the hard byte quota (50GiB, 500MB, bytes)', sizeOption)
      .option('--files <n>', 'set: a hard cap on the number of files', countOption)
      .option('--warn [percent]', 'set: warning level in percent of the quota (default 80); check: also fail past the warning level')
      .option('--owner <owner>', 'recount: only this owner (the same as recount OWNER)')
      .addOption(waitOption('set, unset, recount: wait for another run holding the store lock (as long as it takes without SECONDS)')),
  changesStore: true,
  parse(args, raw): QuotaOptions {
    const action = args[0] as Action;
    if (!ACTIONS.includes(action)) throw new UsageError(`unknown quota action ${JSON.stringify(action)}`, `use one of: ${ACTIONS.join(', ')}`);
    if (raw.owner !== undefined && action !== 'recount') throw new UsageError('--owner goes with `quota recount`', `storectl quota ${action} OWNER`);
    if (raw.owner !== undefined && args[1] !== undefined) throw new UsageError('quota recount takes OWNER or --owner OWNER, not both');
    const owner = args[1] ?? text(raw, 'owner');
    const needsOwner = action === 'set' || action === 'unset' || action === 'show';
    if (needsOwner && owner === undefined) throw new UsageError(`quota ${action} needs an OWNER`, `storectl quota ${action} OWNER`);
    if (!needsOwner && action !== 'recount' && owner !== undefined) throw new UsageError(`quota ${action} takes no OWNER`);
    if (action !== 'set' && (raw.bytes !== undefined || raw.files !== undefined)) throw new UsageError('--bytes and --files go with `quota set`');
    let warnPercent = 80;
    if (action === 'set') {
      if (raw.bytes === undefined) throw new UsageError('quota set needs --bytes SIZE');
      if (raw.warn !== undefined) {
        if (raw.warn === true || !/^\d+$/.test(String(raw.warn)) || Number(raw.warn) < 1 || Number(raw.warn) > 100) {
          throw new UsageError(`bad --warn ${JSON.stringify(raw.warn)}`, 'give a percent from 1 to 100');
        }
        warnPercent = Number(raw.warn);
      }
    }
    return { action, owner, maxBytes: num(raw, 'bytes'), maxFiles: num(raw, 'files'), warnPercent, strict: raw.warn !== undefined, waitMs: parseWait(raw) };
  },
  async run(opts, env) {
    const { action, owner } = opts;
    const ctx = await env.openContext({ createRoot: false, createCatalog: false, s3: true });
    const ops = await import('../ops/quota.ts');
    const { withStoreLock } = await import('../ops/store-lock.ts');
    // The actions that write the catalog take the store lock, as every changing command does.
    const locked = <T>(fn: () => Promise<T>) => withStoreLock(ctx, 'quota', opts.waitMs, fn);
    const tty = env.ui.stdoutTTY;
    switch (action) {
      case 'set': {
        const row = await locked(() => ops.setQuota(ctx, { owner: owner!, maxBytes: opts.maxBytes!, maxFiles: opts.maxFiles ?? null, warnPercent: opts.warnPercent }));
        return { report: { action, owner: row }, text: () => renderRows([row], tty) };
      }
      case 'unset': {
        const r = await locked(() => ops.unsetQuota(ctx, owner!));
        return { report: { action, ...r }, text: () => (r.removed ? `quota of ${owner} removed\n` : `${owner} had no quota\n`) };
      }
      case 'show': {
        const row = await ops.showQuota(ctx, owner!);
        return { report: { action, owner: row }, text: () => renderRows([row], tty) };
      }
      case 'list': {
        const rows = await ops.listQuotas(ctx);
        return { report: { action, owners: rows }, text: () => (rows.length ? renderRows(rows, tty) : 'no owners with files or quotas\n') };
      }
      case 'check': {
        const r = await ops.checkQuotas(ctx);
        const { strict } = opts;
        const failing = r.over.length > 0 || (strict && r.warn.length > 0);
        return {
          report: { action, ...r, failing },
          exitCode: failing ? EXIT.QUOTA : EXIT.OK,
          text: () => {
            const shown = strict ? [...r.over, ...r.warn] : r.over;
            const head = `${formatCount(r.withQuota)} owners with quotas: ${r.over.length} over, ${r.warn.length} past the warning level\n`;
            return head + (shown.length ? renderRows(shown, tty) : '');
          },
        };
      }
      case 'recount': {
        const r = await locked(() => ops.recountUsage(ctx, owner));
        return {
          report: { action, ...r },
          totals: { corrected: r.corrected.length },
          text: () =>
            r.corrected.length
              ? renderTable(
                  ['owner', 'recorded bytes', 'actual bytes', 'recorded files', 'actual files'],
                  r.corrected.map((d) => [d.owner || '(none)', d.recorded.bytes, d.actual.bytes, d.recorded.files, d.actual.files]),
                  { tty, title: `usage corrected for ${r.corrected.length} owner(s)` },
                )
              : 'usage matches the files table: nothing to correct\n',
        };
      }
    }
  },
});

function renderRows(rows: QuotaRow[], tty: boolean): string {
  return renderTable(
    ['owner', 'used', 'files', 'quota', 'file cap', 'used %', 'state'],
    rows.map((r) => [
      r.owner || '(none)',
      formatBytes(r.bytes),
      formatCount(r.files),
      r.quota ? formatBytes(r.quota.maxBytes) : '-',
      r.quota?.maxFiles != null ? formatCount(r.quota.maxFiles) : '-',
      r.percent === null ? '-' : `${r.percent}%`,
      r.state === 'none' ? '-' : r.state,
    ]),
    { tty },
  );
}
