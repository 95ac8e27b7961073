// storectl jobs: find job ids without SQL. One page, newest first; `next` continues it.
import type { JobsCatalog } from '../db/catalog.ts';
import type { JobListQuery, JobListRow } from '../db/job-list.ts';

export interface JobsQuery {
  owners?: string[];
  statuses?: string[];
  kinds?: string[];
  filesStates?: string[];
  olderThanMs?: number;
  newerThanMs?: number;
  pathPrefix?: string;
  afterId?: string;
  limit: number;
}

export interface JobsReport {
  jobs: {
    id: string;
    kind: string;
    owner: string;
    status: string;
    filesState: string;
    files: number;
    bytes: number;
    createdAt: string;
    completedAt: string | null;
  }[];
  count: number;
  /** The id to pass as --after for the next page; null on the last page. */
  next: string | null;
}

export async function listJobsPage(ctx: { catalog: Pick<JobsCatalog, 'listJobs'> }, q: JobsQuery, now: Date): Promise<JobsReport> {
  const query: JobListQuery = {
    owners: q.owners,
    statuses: q.statuses,
    kinds: q.kinds,
    filesStates: q.filesStates,
    olderThan: q.olderThanMs !== undefined ? new Date(now.getTime() - q.olderThanMs) : undefined,
    newerThan: q.newerThanMs !== undefined ? new Date(now.getTime() - q.newerThanMs) : undefined,
    pathPrefix: q.pathPrefix,
    afterId: q.afterId,
    limit: q.limit + 1,
  };
  const rows: JobListRow[] = await ctx.catalog.listJobs(query);
  const page = rows.slice(0, q.limit);
  return {
    jobs: page.map((r) => ({
      id: r.id,
      kind: r.kind,
      owner: r.owner,
      status: r.status,
      filesState: r.filesState,
      files: r.files,
      bytes: r.bytes,
      createdAt: r.createdAt.toISOString(),
      completedAt: r.completedAt?.toISOString() ?? null,
    })),
    count: page.length,
    next: rows.length > q.limit ? page[page.length - 1]!.id : null,
  };
}
