// Pieces both catalog implementations use: value normalisation and dialect-neutral SQL.
import { createHash } from 'node:crypto';
import { sql, type SQL } from 'drizzle-orm';
import type { NewFile, NewJob } from './types.ts';

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

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
