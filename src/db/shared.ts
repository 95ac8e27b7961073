// Pieces both catalog implementations use: value normalisation and dialect-neutral SQL.
import { sql, type SQL } from 'drizzle-orm';
import { LockedError } from '../errors.ts';
import type { LockInfo, NewFile, NewJob } from './types.ts';

export function* chunk<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

export function jobValues(j: NewJob, now: Date) {
  return {
    id: j.id,
    kind: j.kind ?? 'card',
    owner: j.owner ?? '',
    status: j.status,
    data: j.data,
    createdAt: j.createdAt,
    updatedAt: j.updatedAt ?? j.createdAt ?? now,
    completedAt: j.completedAt ?? null,
    filesState: j.filesState ?? 'none',
    generation: j.generation ?? null,
    failureReason: j.failureReason ?? null,
  };
}

export function fileValues(f: NewFile) {
  return {
    jobId: f.jobId,
    role: f.role,
    category: f.category,
    owner: f.owner ?? '',
    path: f.path,
    contentType: f.contentType,
    size: f.size,
    sha256: f.sha256,
    mtime: f.mtime ?? null,
    createdAt: f.createdAt,
    expiresAt: f.expiresAt ?? null,
    deletedAt: f.deletedAt ?? null,
    deleteReason: f.deleteReason ?? null,
    state: f.state ?? 'present',
  };
}

/** Maps an age expression (in the unit `day` is expressed in) to the stats age bucket. */
export function ageBucketSql(age: SQL, day: number): SQL {
  return sql`case when ${age} < ${day} then '<1d' when ${age} < ${7 * day} then '1-7d' when ${age} < ${30 * day} then '7-30d' when ${age} < ${90 * day} then '30-90d' else '>90d' end`;
}

// lifecycle: pieces of the store lock both implementations share

/** Is this process alive on this host? EPERM means alive but not ours to signal. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function lockedError(name: string, holder: LockInfo | null, waitedMs: number): LockedError {
  const who = holder
    ? `${holder.command || 'a run'} (pid ${holder.pid} on ${holder.host}, since ${holder.acquiredAt.toISOString().replace(/\.\d{3}Z$/, 'Z')})`
    : 'another run';
  const waited = waitedMs > 0 ? ` after waiting ${Math.round(waitedMs / 1000)} s` : '';
  return new LockedError(`the store is locked by ${who}${waited} (lock "${name}")`, 'try again later, or pass --wait [SECONDS] to wait for it');
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** How often a waiting run polls a held lock. */
export const LOCK_POLL_MS = 200;
