// Backup names in a --dir and the retention rules that prune them.
//
// Only good backups count: a backup that exited 0 and was read back and verified is named
// storectl-backup-<stamp>.<format>; one that left files out is named ...<stamp>.partial.<format>
// and is never counted, never kept in place of a good one, and never pruned. The calendar rules
// are restic's `forget`: for --keep-daily N, walk the good backups newest first and keep the
// newest of each of the last N UTC days that have one (weeks are ISO weeks, months calendar
// months); a backup kept by any rule is kept, with every reason that keeps it.
import fs from 'node:fs';
import { unlinkFileIn } from '../../storage/confined.ts';
import path from 'node:path';
import type { ArchiveFormat } from './archive-writer.ts';

const NAME = /^storectl-backup-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z(?:-(\d+))?(\.partial)?\.(tar\.gz|zip)$/;

/** storectl-backup-<UTC yyyymmddThhmmssZ>[-n][.partial].tar.gz|zip: names sort by time. */
export function backupFileName(at: Date, format: ArchiveFormat, n = 0, partial = false): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  return `storectl-backup-${stamp}${n ? `-${n}` : ''}${partial ? '.partial' : ''}.${format}`;
}

export interface BackupName {
  name: string;
  time: number;
  n: number;
  partial: boolean;
}

export function parseBackupName(name: string): BackupName | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, n, partial] = m;
  return { name, time: Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +s!), n: Number(n ?? 0), partial: Boolean(partial) };
}

export interface RetentionRules {
  /** Keep the N newest good backups. */
  keep?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  /** Delete good backups older than this (except the newest good one). */
  olderThanMs?: number;
}

export function hasRules(r: RetentionRules): boolean {
  return r.keep !== undefined || r.keepDaily !== undefined || r.keepWeekly !== undefined || r.keepMonthly !== undefined || r.olderThanMs !== undefined;
}

export interface RetentionDecision {
  path: string;
  name: string;
  createdAt: string;
  action: 'keep' | 'remove';
  /** Why it is kept ("newest good backup", "last 3", "daily 2026-12-01", ...) or removed. */
  reasons: string[];
}

const pad = (n: number) => String(n).padStart(2, '0');
const dayKey = (t: Date) => `${t.getUTCFullYear()}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}`;
const monthKey = (t: Date) => `${t.getUTCFullYear()}-${pad(t.getUTCMonth() + 1)}`;
/** ISO 8601 week (UTC), as restic's weekly rule uses. */
export function isoWeekKey(t: Date): string {
  const d = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate()));
  const dow = d.getUTCDay() || 7;
  d.setUTCDate(d.getUTCDate() + 4 - dow);
  const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((d.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${d.getUTCFullYear()}-W${pad(week)}`;
}

/** The good backups in dir, newest first (partial ones and other files are not listed). */
export function goodBackups(dir: string): BackupName[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => parseBackupName(d.name))
    .filter((b): b is BackupName => Boolean(b) && !b!.partial)
    .sort((a, b) => b.time - a.time || b.n - a.n);
}

/** Decides, without touching anything, which good backups in dir the rules keep and which they remove. */
export function planRetention(dir: string, rules: RetentionRules, now: Date, justWritten?: string): RetentionDecision[] {
  const list = goodBackups(dir);
  const reasons = list.map(() => [] as string[]);
  if (list.length) reasons[0]!.push('newest good backup');
  list.forEach((b, i) => {
    if (path.join(dir, b.name) === justWritten && i !== 0) reasons[i]!.push('just written');
  });
  if (rules.keep !== undefined) for (let i = 0; i < Math.min(rules.keep, list.length); i++) reasons[i]!.push(`last ${rules.keep}`);
  const bucket = (n: number | undefined, label: string, key: (t: Date) => string) => {
    if (!n) return;
    let last: string | undefined;
    let kept = 0;
    list.forEach((b, i) => {
      if (kept >= n) return;
      const k = key(new Date(b.time));
      if (k === last) return;
      last = k;
      kept++;
      reasons[i]!.push(`${label} ${k}`);
    });
  };
  bucket(rules.keepDaily, 'daily', dayKey);
  bucket(rules.keepWeekly, 'weekly', isoWeekKey);
  bucket(rules.keepMonthly, 'monthly', monthKey);
  const keepRules = rules.keep !== undefined || rules.keepDaily !== undefined || rules.keepWeekly !== undefined || rules.keepMonthly !== undefined;
  return list.map((b, i) => {
    const r = reasons[i]!;
    const protectedOne = i === 0 || path.join(dir, b.name) === justWritten;
    const tooOld = rules.olderThanMs !== undefined && b.time < now.getTime() - rules.olderThanMs;
    const notKept = keepRules && r.length === 0;
    const remove = !protectedOne && (tooOld || notKept);
    const why = remove ? [tooOld ? 'older than --prune-older-than' : 'kept by no --keep rule'] : r.length ? r : ['kept by no rule, removed by none'];
    return { path: path.join(dir, b.name), name: b.name, createdAt: new Date(b.time).toISOString(), action: remove ? 'remove' : 'keep', reasons: why };
  });
}

/**
 * Applies a retention plan. Call it only after a backup that exited 0 and verified (or for
 * `--prune` alone); the newest good backup is never in the plan's removals. Returns the paths
 * deleted.
 */
export function applyRetention(plan: RetentionDecision[]): string[] {
  const pruned: string[] = [];
  for (const d of plan) {
    if (d.action !== 'remove') continue;
    // Through the directory held open, never following a symlink (storage/confined.ts).
    unlinkFileIn(path.dirname(d.path), path.basename(d.path));
    pruned.push(d.path);
  }
  return pruned;
}

/** Parses 30d, 12h, 2w, 90m, 45s into milliseconds. */
export function parseAge(text: string): number | undefined {
  const m = /^(\d+)\s*([smhdw])$/.exec(text.trim());
  if (!m) return undefined;
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 's'];
  return Number(m[1]) * unit;
}
