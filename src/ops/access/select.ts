// Which jobs delete and export act on: ids (arguments or --from), or filters over the catalog
// (--owner, --status, --kind, --older-than on completed or created time), streamed by page.
import type { Context } from '../../context.ts';
import type { JobHead } from '../../db/types.ts';
import { UsageError } from '../../errors.ts';

export interface JobSelection {
  ids: string[];
  owners?: string[];
  statuses?: string[];
  kinds?: string[];
  /** Only jobs completed (or, never completed, created) longer ago than this. */
  olderThanMs?: number;
}

export function hasFilter(s: JobSelection): boolean {
  return Boolean(s.owners?.length || s.statuses?.length || s.kinds?.length || s.olderThanMs !== undefined);
}

/** Ids one a line ('#' comments and blank lines ignored), as --from reads them. */
export function parseIdList(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter(Boolean);
}

function matches(s: JobSelection, j: JobHead, now: Date): boolean {
  if (s.owners?.length && !s.owners.includes(j.owner)) return false;
  if (s.statuses?.length && !s.statuses.includes(j.status)) return false;
  if (s.kinds?.length && !s.kinds.includes(j.kind)) return false;
  if (s.olderThanMs !== undefined && (j.completedAt ?? j.createdAt).getTime() > now.getTime() - s.olderThanMs) return false;
  return true;
}

/**
 * The selected jobs in id order (ids: in the order given, unknown ones reported through
 * `onUnknown`). Filters narrow given ids; without ids they run over every job by keyset page.
 */
export async function* selectJobs(ctx: Context, s: JobSelection, now: Date, onUnknown: (id: string) => void): AsyncGenerator<JobHead> {
  if (!s.ids.length && !hasFilter(s)) throw new UsageError('no jobs chosen', 'give JOB_IDs, --from FILE, or a filter (--owner, --status, --kind, --older-than)');
  if (s.ids.length) {
    const unique = [...new Set(s.ids)];
    for (let i = 0; i < unique.length; i += 500) {
      const part = unique.slice(i, i + 500);
      const found = new Map((await ctx.catalog.getJobs(part)).map((j) => [j.id, j]));
      for (const id of part) {
        const j = found.get(id);
        if (!j) onUnknown(id);
        else if (matches(s, j, now)) yield j;
      }
    }
    return;
  }
  let afterId: string | undefined;
  for (;;) {
    const page = await ctx.catalog.jobPage({ afterId, limit: 1000, ...(s.statuses?.length ? { statuses: s.statuses } : {}) });
    for (const j of page) if (matches(s, j, now)) yield j;
    if (page.length < 1000) return;
    afterId = page[page.length - 1]!.id;
  }
}
