// show: one job as the catalog knows it — files, tombstones, generation metadata, and the
// lifecycle rule that will delete its files (the same answer as cleanup-expired --explain).
import type { Context } from '../../context.ts';
import { NotFoundError } from '../../errors.ts';
import { explainJob, type ExplainReport } from '../lifecycle/expired.ts';
import type { Rule } from '../lifecycle/rules.ts';
import { tombstonesOf, type Tombstone } from './resolve.ts';

export interface ShownFile {
  role: string;
  category: string;
  path: string;
  state: string;
  size: number;
  sha256: string;
  contentType: string;
  createdAt: string;
  /** When verify last read it back (null when never). */
  lastVerifiedAt: string | null;
}

export interface ShowReport {
  job: {
    id: string;
    kind: string;
    owner: string;
    status: string;
    filesState: string;
    createdAt: string;
    updatedAt: string;
    completedAt: string | null;
    failureReason: string | null;
  };
  files: ShownFile[];
  tombstones: Tombstone[];
  generation: Record<string, unknown> | null;
  lifecycle: Pick<ExplainReport, 'asOf' | 'deleteRule' | 'markRule' | 'verdict'>;
}

export async function showJob(ctx: Context, jobId: string, rules: Rule[], asOf: Date): Promise<ShowReport> {
  const [job] = await ctx.catalog.getJobs([jobId]);
  if (!job) throw new NotFoundError(`no job ${JSON.stringify(jobId)} in the catalog`, 'check the id: storectl jobs lists the jobs of this catalog', { jobId });
  const rows = await ctx.catalog.filesOfJob(jobId);
  const explain = await explainJob(ctx, jobId, rules, asOf);
  return {
    job: { ...explain.job, failureReason: job.failureReason },
    files: rows.map((f) => ({
      role: f.role,
      category: f.category,
      path: f.path,
      state: f.state,
      size: f.size,
      sha256: f.sha256,
      contentType: f.contentType,
      createdAt: f.createdAt.toISOString(),
      lastVerifiedAt: f.verifiedAt?.toISOString() ?? null,
    })),
    tombstones: await tombstonesOf(ctx.catalog, rows),
    generation: job.generation,
    lifecycle: { asOf: explain.asOf, deleteRule: explain.deleteRule, markRule: explain.markRule, verdict: explain.verdict },
  };
}
