// Backup names in a --dir and the retention rules that prune them.
import fs from 'node:fs';
import { unlinkFileIn } from '../../storage/confined.ts';
import path from 'node:path';
import type { ArchiveFormat } from './archive-writer.ts';

const NAME = /^storectl-backup-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z(?:-(\d+))?\.(tar\.gz|zip)$/;

/** storectl-backup-<UTC yyyymmddThhmmssZ>[-n].tar.gz|zip: names sort by time. */
export function backupFileName(at: Date, format: ArchiveFormat, n = 0): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  return `storectl-backup-${stamp}${n ? `-${n}` : ''}.${format}`;
}

function stampOf(name: string): { time: number; n: number } | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, n] = m;
  return { time: Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +s!), n: Number(n ?? 0) };
}

/**
 * Deletes older backups in dir: beyond the `keep` newest, and/or older than `olderThanMs`.
 * Only files named as storectl names its backups are considered; the one just written never
 * goes. Returns the paths deleted.
 */
export function applyRetention(dir: string, justWritten: string, rule: { keep?: number; olderThanMs?: number; now: Date }): string[] {
  if (rule.keep === undefined && rule.olderThanMs === undefined) return [];
  const backups = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => ({ name: d.name, stamp: stampOf(d.name) }))
    .filter((b): b is { name: string; stamp: { time: number; n: number } } => Boolean(b.stamp))
    .sort((a, b) => b.stamp.time - a.stamp.time || b.stamp.n - a.stamp.n);
  const pruned: string[] = [];
  backups.forEach((b, i) => {
    const abs = path.join(dir, b.name);
    if (abs === justWritten) return;
    const beyondKeep = rule.keep !== undefined && i >= rule.keep;
    const tooOld = rule.olderThanMs !== undefined && b.stamp.time < rule.now.getTime() - rule.olderThanMs;
    if (beyondKeep || tooOld) {
      // Through the directory held open, never following a symlink (storage/confined.ts).
      unlinkFileIn(dir, b.name);
      pruned.push(abs);
    }
  });
  return pruned;
}

/** Parses 30d, 12h, 2w, 90m, 45s into milliseconds. */
export function parseAge(text: string): number | undefined {
  const m = /^(\d+)\s*([smhdw])$/.exec(text.trim());
  if (!m) return undefined;
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 's'];
  return Number(m[1]) * unit;
}
