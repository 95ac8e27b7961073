// storectl jobs: one page of jobs, newest first, filtered, written once for both dialects.
import { placeholders, type SqlExec } from './sql-exec.ts';

export interface JobListQuery {
  owners?: readonly string[];
  statuses?: readonly string[];
  kinds?: readonly string[];
  filesStates?: readonly string[];
  /** Only jobs completed (or, never completed, created) before this time (--older-than, as delete reads it). */
  olderThan?: Date;
  /** Only jobs completed (or created) at or after this time (--newer-than). */
  newerThan?: Date;
  /** Only jobs with a file (any state) whose path starts with this. */
  pathPrefix?: string;
  /** Keyset: the page after this job (by created_at desc, id desc); a job that does not exist gives no rows. */
  afterId?: string;
  limit: number;
}

export interface JobListRow {
  id: string;
  kind: string;
  owner: string;
  status: string;
  filesState: string;
  createdAt: Date;
  completedAt: Date | null;
  /** Present files of the job and their bytes. */
  files: number;
  bytes: number;
}

export async function listJobs(x: SqlExec, q: JobListQuery): Promise<JobListRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const inList = (col: string, values: readonly string[] | undefined) => {
    if (!values?.length) return;
    where.push(`${col} in ${placeholders(values.length)}`);
    params.push(...values);
  };
  inList('j.owner', q.owners);
  inList('j.status', q.statuses);
  inList('j.kind', q.kinds);
  inList('j.files_state', q.filesStates);
  if (q.olderThan) {
    where.push('coalesce(j.completed_at, j.created_at) < ?');
    params.push(x.at(q.olderThan));
  }
  if (q.newerThan) {
    where.push('coalesce(j.completed_at, j.created_at) >= ?');
    params.push(x.at(q.newerThan));
  }
  if (q.pathPrefix) {
    where.push('exists (select 1 from files p where p.job_id = j.id and substr(p.path, 1, ?) = ?)');
    params.push(q.pathPrefix.length, q.pathPrefix);
  }
  if (q.afterId !== undefined) {
    where.push('(j.created_at < a.created_at or (j.created_at = a.created_at and j.id < a.id))');
  }
  const from = q.afterId !== undefined ? 'jobs j join jobs a on a.id = ?' : 'jobs j';
  const sql = `select j.id, j.kind, j.owner, j.status, j.files_state, j.created_at, j.completed_at,
      (select count(*) from files f where f.job_id = j.id and f.state = 'present') as files,
      (select coalesce(sum(f.size), 0) from files f where f.job_id = j.id and f.state = 'present') as bytes
    from ${from}
    ${where.length ? `where ${where.join(' and ')}` : ''}
    order by j.created_at desc, j.id desc
    limit ?`;
  const rows = await x.all<Record<string, unknown>>(sql, [...(q.afterId !== undefined ? [q.afterId] : []), ...params, q.limit]);
  return rows.map((r) => ({
    id: String(r.id),
    kind: String(r.kind),
    owner: String(r.owner),
    status: String(r.status),
    filesState: String(r.files_state),
    createdAt: x.date(r.created_at)!,
    completedAt: x.date(r.completed_at),
    files: Number(r.files ?? 0),
    bytes: Number(r.bytes ?? 0),
  }));
}
