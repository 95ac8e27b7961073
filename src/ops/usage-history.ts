// Usage history: a snapshot per stats run and per destructive run; bytes and files per day,
// the growth rate, and (given the file system's free space) the days until full.
import fs from 'node:fs';
import type { Context } from '../context.ts';
import type { UsageSnapshot } from '../db/usage.ts';
import type { DriftSummary } from './drift.ts';

const DAY = 86_400_000;

export interface HistoryDay {
  /** UTC date, YYYY-MM-DD. */
  date: string;
  bytes: number;
  files: number;
  snapshots: number;
}

export interface HistoryReport {
  since: string;
  until: string;
  snapshots: number;
  days: HistoryDay[];
  /** Least-squares slope over every snapshot in the window; null with fewer than two. */
  growthBytesPerDay: number | null;
  growthFilesPerDay: number | null;
  /** Free bytes of the file system holding the root (statfs); null when not local. */
  freeBytes: number | null;
  /** freeBytes / growthBytesPerDay when the store grows; null otherwise. */
  daysUntilFull: number | null;
}

/** Records a snapshot of the ledger's totals (and of a disk check, when one ran). */
export async function recordUsageSnapshot(ctx: Context, opts: { command: string; runId?: string | null; drift?: DriftSummary; usageDrift?: number }): Promise<void> {
  const t = await ctx.catalog.usage.totals();
  await ctx.catalog.usage.addSnapshot({
    takenAt: ctx.clock(),
    runId: opts.runId ?? null,
    command: opts.command,
    bytes: t.bytes,
    files: t.files,
    orphanFiles: opts.drift ? opts.drift.orphanFiles : null,
    missingFiles: opts.drift ? opts.drift.missingFiles : null,
    anomalies: opts.drift ? opts.drift.anomalies : null,
    usageDrift: opts.drift ? (opts.usageDrift ?? 0) : null,
  });
}

/** Slope of y over x (per unit of x) by least squares. */
function slope(points: readonly { x: number; y: number }[]): number | null {
  if (points.length < 2) return null;
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? null : num / den;
}

export function summariseHistory(snaps: readonly UsageSnapshot[], since: Date, until: Date, freeBytes: number | null): HistoryReport {
  const days = new Map<string, HistoryDay>();
  for (const s of snaps) {
    const date = s.takenAt.toISOString().slice(0, 10);
    const d = days.get(date) ?? { date, bytes: 0, files: 0, snapshots: 0 };
    // the day's last snapshot stands for the day
    d.bytes = s.bytes;
    d.files = s.files;
    d.snapshots++;
    days.set(date, d);
  }
  const t0 = snaps[0]?.takenAt.getTime() ?? 0;
  const perDay = (k: 'bytes' | 'files') => {
    const m = slope(snaps.map((s) => ({ x: (s.takenAt.getTime() - t0) / DAY, y: s[k] })));
    return m === null ? null : Math.round(m * 100) / 100;
  };
  const growthBytesPerDay = perDay('bytes');
  return {
    since: since.toISOString(),
    until: until.toISOString(),
    snapshots: snaps.length,
    days: [...days.values()],
    growthBytesPerDay,
    growthFilesPerDay: perDay('files'),
    freeBytes,
    daysUntilFull: freeBytes !== null && growthBytesPerDay !== null && growthBytesPerDay > 0 ? Math.round((freeBytes / growthBytesPerDay) * 10) / 10 : null,
  };
}

/** Free space of the file system that holds a local root, or null (S3, or not there). */
export function freeSpace(root: string): number | null {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(root)) return null;
  try {
    const st = fs.statfsSync(root);
    return st.bavail * st.bsize;
  } catch {
    return null;
  }
}

export async function usageHistory(ctx: Context, opts: { sinceMs: number }): Promise<HistoryReport> {
  const until = ctx.clock();
  const since = new Date(until.getTime() - opts.sinceMs);
  const snaps = await ctx.catalog.usage.snapshots(since);
  return summariseHistory(snaps, since, until, freeSpace(ctx.config.root));
}
