import type { Context } from '../context.ts';
import { AGE_BUCKETS, type CatalogAggregates, type RunRecord } from '../db/types.ts';
import { percent } from '../format.ts';
import { integrityCatalog } from '../db/integrity.ts';
import { summariseDrift, summariseTierDrift, type DriftSummary, type TierDrift } from './drift.ts';
import { tierCatalog, type TierTotals } from '../db/tiers.ts';
import { compressionCatalog } from '../db/compression.ts';
import type { UsageDrift } from '../db/usage.ts';
import { quotaRow, type QuotaRow } from './quota.ts';
import { recordUsageSnapshot } from './usage-history.ts';

export interface Breakdown {
  key: string;
  files: number;
  bytes: number;
}

export interface StatsReport {
  catalog: { dialect: string; location: string };
  root: string;
  generatedAt: string;
  usage: {
    totalBytes: number;
    files: number;
    jobsWithFiles: number;
    averageBytesPerJob: number;
  };
  jobs: {
    total: number;
    withFilesDeleted: number;
    cleanupRatePercent: number;
    byStatus: { status: string; jobs: number }[];
    byKind: { kind: string; jobs: number }[];
  };
  deleted: { files: number; bytes: number };
  missing: { files: number; bytes: number };
  byCategory: Breakdown[];
  byOwner: Breakdown[];
  byAge: Breakdown[];
  oldestFile: { path: string; createdAt: string } | null;
  newestFile: { path: string; createdAt: string } | null;
  recentRuns: { id: string; command: string; startedAt: string; status: string; dryRun: boolean; totals: Record<string, unknown> | null }[];
  /** The last real cleanup runs (newest first): files and bytes each freed. */
  cleanupHistory: CleanupRun[];
  /** verify's coverage: files and bytes verified lately, never, found corrupt or missing. */
  verification: {
    files: number;
    bytes: number;
    last7d: { files: number; bytes: number };
    last30d: { files: number; bytes: number };
    never: { files: number; bytes: number };
    corrupt: { files: number; bytes: number };
    missing: { files: number; bytes: number };
    oldestVerification: string | null;
  };
  /** Present bytes with content shared by hard links (put, dedup) counted once. */
  disk: { bytes: number; sharedGroups: number; sharedFiles: number; savedBytes: number };
  drift?: DriftSummary;
  /** Present files and bytes per tier (hot is the root; stored bytes: as kept there, after any compression). */
  tiers: TierTotals[];
  /** Per category: logical bytes (what readers get) against stored bytes, and what compression saved. */
  compression: { category: string; files: number; compressedFiles: number; logicalBytes: number; storedBytes: number; savedBytes: number }[];
  /** With --check-disk: every tier but hot checked against its rows (hot is `drift`). */
  tierDrift?: TierDrift[];
  /** With --check-disk: owners whose usage ledger differs from the files table. */
  usageDrift?: UsageDrift[];
  /** Usage against quota, for owners with a quota. */
  quotas: QuotaRow[];
  /** Files and bytes by (state, category, owner): what the metrics export. */
  groups: { state: string; category: string; owner: string; files: number; bytes: number }[];
  /** The last run of each command that records runs (real or dry), newest first. */
  lastRuns: LastRun[];
  /** The last backups this store recorded (newest first): archive, size, files, verified, exit code. */
  backups: RecordedBackup[];
  /** Lock rows: a run holds the store lock while its row is there. */
  locks: { name: string; command: string | null; host: string; pid: number; since: string }[];
  /** What the last disk check (stats --check-disk) found, when one ran. */
  lastCheck: { at: string; orphanFiles: number; missingFiles: number; anomalies: number; usageDrift: number } | null;
}

export interface LastRun {
  command: string;
  startedAt: string;
  durationMs: number | null;
  exitCode: number | null;
  status: string;
  dryRun: boolean;
  filesFreed: number;
  bytesFreed: number;
}

export interface CleanupRun {
  id: string;
  command: string;
  startedAt: string;
  status: string;
  filesDeleted: number;
  bytesFreed: number;
}

const CLEANUP_COMMANDS = ['cleanup-expired', 'cleanup-orphaned'];

/** Real (not dry) cleanup runs that recorded what they freed, newest first. */
async function cleanupHistory(ctx: Context, limit: number): Promise<CleanupRun[]> {
  const runs: RunRecord[] = [];
  for (const command of CLEANUP_COMMANDS) runs.push(...(await ctx.catalog.recentRuns(limit * 3, command)));
  return runs
    .filter((r) => !r.dryRun && typeof r.totals?.filesDeleted === 'number')
    .sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime())
    .slice(0, limit)
    .map((r) => ({
      id: r.id,
      command: r.command,
      startedAt: r.startedAt.toISOString(),
      status: r.status,
      filesDeleted: Number(r.totals!.filesDeleted ?? 0) + Number(r.totals!.filesMoved ?? 0),
      bytesFreed: Number(r.totals!.bytesFreed ?? 0),
    }));
}

function fold(groups: CatalogAggregates['fileGroups'], key: (g: CatalogAggregates['fileGroups'][number]) => string): Breakdown[] {
  const m = new Map<string, Breakdown>();
  for (const g of groups) {
    const k = key(g);
    const b = m.get(k) ?? { key: k, files: 0, bytes: 0 };
    b.files += g.files;
    b.bytes += g.bytes;
    m.set(k, b);
  }
  return [...m.values()];
}

/** Usage from SQL aggregates (small groups folded here, never a scan of rows in JS). */
export async function runStats(ctx: Context, opts: { checkDisk: boolean; runs?: number; cleanupRuns?: number; backups?: number; snapshot?: boolean }): Promise<StatsReport> {
  const now = ctx.clock();
  const agg = await ctx.catalog.aggregates(now);
  const present = agg.fileGroups.filter((g) => g.state === 'present');
  const sum = (gs: typeof agg.fileGroups) => gs.reduce((a, g) => ({ files: a.files + g.files, bytes: a.bytes + g.bytes }), { files: 0, bytes: 0 });
  const totals = sum(present);
  const jobsTotal = agg.jobGroups.reduce((a, g) => a + g.jobs, 0);
  const jobsWithFiles = agg.jobGroups.filter((g) => g.filesState === 'on_disk' || g.filesState === 'partial').reduce((a, g) => a + g.jobs, 0);
  const jobsDeleted = agg.jobGroups.filter((g) => g.filesState === 'deleted').reduce((a, g) => a + g.jobs, 0);
  const countBy = (key: 'status' | 'kind') => {
    const m = new Map<string, number>();
    for (const g of agg.jobGroups) m.set(g[key], (m.get(g[key]) ?? 0) + g.jobs);
    return [...m.entries()].sort((a, b) => b[1] - a[1]);
  };
  const byAge = fold(present, (g) => g.ageBucket);
  const runs = await ctx.catalog.recentRuns(opts.runs ?? 5);
  const ic = integrityCatalog(ctx.catalog);
  const coverage = await ic.coverage(now);
  const disk = await ic.diskUsage();
  const report: StatsReport = {
    catalog: { dialect: ctx.catalog.dialect, location: ctx.catalog.location },
    root: ctx.config.root,
    generatedAt: now.toISOString(),
    usage: {
      totalBytes: totals.bytes,
      files: totals.files,
      jobsWithFiles,
      averageBytesPerJob: jobsWithFiles ? Math.round(totals.bytes / jobsWithFiles) : 0,
    },
    jobs: {
      total: jobsTotal,
      withFilesDeleted: jobsDeleted,
      cleanupRatePercent: percent(jobsDeleted, jobsTotal),
      byStatus: countBy('status').map(([status, jobs]) => ({ status, jobs })),
      byKind: countBy('kind').map(([kind, jobs]) => ({ kind, jobs })),
    },
    deleted: sum(agg.fileGroups.filter((g) => g.state === 'deleted')),
    missing: sum(agg.fileGroups.filter((g) => g.state === 'missing')),
    byCategory: fold(present, (g) => g.category).sort((a, b) => b.bytes - a.bytes),
    byOwner: fold(present, (g) => g.owner || '(none)').sort((a, b) => b.bytes - a.bytes),
    byAge: AGE_BUCKETS.map((k) => byAge.find((b) => b.key === k) ?? { key: k, files: 0, bytes: 0 }),
    oldestFile: agg.oldestFile && { path: agg.oldestFile.path, createdAt: agg.oldestFile.createdAt.toISOString() },
    newestFile: agg.newestFile && { path: agg.newestFile.path, createdAt: agg.newestFile.createdAt.toISOString() },
    recentRuns: runs.map((r: RunRecord) => ({
      id: r.id,
      command: r.command,
      startedAt: r.startedAt.toISOString(),
      status: r.status,
      dryRun: r.dryRun,
      totals: r.totals,
    })),
    cleanupHistory: await cleanupHistory(ctx, opts.cleanupRuns ?? 10),
    verification: { ...coverage, oldestVerification: coverage.oldestVerification?.toISOString() ?? null },
    disk: { bytes: disk.diskBytes, sharedGroups: disk.sharedGroups, sharedFiles: disk.sharedFiles, savedBytes: disk.logicalBytes - disk.diskBytes },
    quotas: (await ctx.catalog.usage.owners()).filter((o) => o.quota).map(quotaRow),
    groups: groupFiles(agg.fileGroups),
    lastRuns: await lastRuns(ctx),
    backups: (await ctx.catalog.recentRuns(opts.backups ?? 5, 'backup')).map(recordedBackup),
    // A store with tiers configured reads the totals per tier (one pass over files); without, every file is hot.
    tiers: (ctx.tiers?.names().length ?? 1) > 1 ? await tierCatalog(ctx.catalog).totals() : [],
    compression: (await compressionCatalog(ctx.catalog).savingsByCategory()).map((c) => ({
      category: c.category,
      files: c.files,
      compressedFiles: c.encodedFiles,
      logicalBytes: c.bytes,
      storedBytes: c.storedBytes,
      savedBytes: c.bytes - c.storedBytes,
    })),
    locks: (await ctx.catalog.usage.lockRows()).map((l) => ({ name: l.name, command: l.command, host: l.host, pid: l.pid, since: l.acquiredAt.toISOString() })),
    lastCheck: await ctx.catalog.usage.lastCheck().then((c) =>
      c ? { at: c.takenAt.toISOString(), orphanFiles: c.orphanFiles ?? 0, missingFiles: c.missingFiles ?? 0, anomalies: c.anomalies ?? 0, usageDrift: c.usageDrift ?? 0 } : null,
    ),
  };
  if (opts.checkDisk) {
    report.drift = await summariseDrift(ctx);
    report.tierDrift = await summariseTierDrift(ctx, ctx.tiers?.names() ?? ['hot']);
    report.usageDrift = await ctx.catalog.usage.drift();
  }
  if (opts.snapshot !== false) {
    // Usage history (stats --history); a read-only catalog still gets its stats.
    await recordUsageSnapshot(ctx, { command: 'stats', drift: report.drift, usageDrift: report.usageDrift?.length }).catch((err) =>
      ctx.log.debug('usage snapshot not recorded', { error: String(err) }),
    );
  }
  return report;
}

export interface RecordedBackup {
  startedAt: string;
  finishedAt: string | null;
  status: string;
  exitCode: number | null;
  path: string | null;
  bytes: number | null;
  files: number | null;
  verified: boolean;
  /** Why it failed, when it did. */
  error: string | null;
}

function recordedBackup(r: RunRecord): RecordedBackup {
  const t = r.totals ?? {};
  return {
    startedAt: r.startedAt.toISOString(),
    finishedAt: r.finishedAt?.toISOString() ?? null,
    status: r.status,
    exitCode: r.exitCode,
    path: typeof t.path === 'string' ? t.path : null,
    bytes: typeof t.bytes === 'number' ? t.bytes : null,
    files: typeof t.files === 'number' ? t.files : null,
    verified: t.verified === true,
    error: typeof t.error === 'string' ? t.error : null,
  };
}

async function lastRuns(ctx: Context): Promise<LastRun[]> {
  const seen = new Map<string, LastRun>();
  for (const r of await ctx.catalog.recentRuns(500)) {
    if (seen.has(r.command)) continue;
    const t = r.totals ?? {};
    seen.set(r.command, {
      command: r.command,
      startedAt: r.startedAt.toISOString(),
      durationMs: r.finishedAt ? r.finishedAt.getTime() - r.startedAt.getTime() : null,
      exitCode: r.exitCode,
      status: r.status,
      dryRun: r.dryRun,
      filesFreed: Number(t.filesDeleted ?? 0) + Number(t.filesMoved ?? 0),
      bytesFreed: Number(t.bytesFreed ?? 0),
    });
  }
  return [...seen.values()];
}

function groupFiles(groups: CatalogAggregates['fileGroups']): StatsReport['groups'] {
  const m = new Map<string, StatsReport['groups'][number]>();
  for (const g of groups) {
    const k = `${g.state}\0${g.category}\0${g.owner}`;
    const e = m.get(k) ?? { state: g.state, category: g.category, owner: g.owner, files: 0, bytes: 0 };
    e.files += g.files;
    e.bytes += g.bytes;
    m.set(k, e);
  }
  const sortKey = (x: StatsReport['groups'][number]) => [x.state, x.category, x.owner];
  return [...m.values()].sort((a, b) => {
    const ka = sortKey(a);
    const kb = sortKey(b);
    for (let i = 0; i < 3; i++) if (ka[i] !== kb[i]) return Buffer.compare(Buffer.from(ka[i]!), Buffer.from(kb[i]!));
    return 0;
  });
}

export function hasDrift(r: StatsReport): boolean {
  return (
    Boolean(r.drift && (r.drift.orphanFiles > 0 || r.drift.missingFiles > 0 || r.drift.anomalies > 0)) ||
    Boolean(r.usageDrift?.length) ||
    Boolean(r.tierDrift?.some((t) => t.missingFiles > 0 || t.strayFiles > 0))
  );
}
