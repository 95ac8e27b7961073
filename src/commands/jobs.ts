import { defineCommand } from './define.ts';
import { UsageError } from '../errors.ts';
import { JOB_STATUSES } from '../db/types.ts';
import type { JobsReport } from '../ops/jobs.ts';
import { durationOption } from './common-options.ts';
import { formatBytes, formatCount, formatTime, safe } from '../ui/format.ts';
import { renderTable } from '../ui/table.ts';

const list = (v: string, prev: string[] = []) => [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)];
const FILES_STATES = ['none', 'on_disk', 'deleted', 'partial'];
const MAX_LIMIT = 10_000;

export default defineCommand({
  name: 'jobs',
  summary: 'List jobs, newest first, by owner, status, kind, age, files state or path prefix',
  description:
    'List the jobs in the catalog, newest first (created time, then id), one page at a time: id, kind, owner, status, files state, present files and their bytes, created and completed time. Filters combine (each repeats, or takes a comma list): --owner, --status, --kind, --files-state (none, on_disk, deleted, partial), --older-than / --newer-than AGE (completed, or never completed created, longer / less long ago than AGE: the age delete --older-than reads), --path-prefix (a file of the job, in any state, under that path). --limit N (default 50) rows a page; the last line says how to get the next page (--after JOB_ID, the last id shown). --json prints one document; --ndjson one line per job and a last line with version, command, count and next.',
  examples: [
    'storectl jobs',
    'storectl jobs --owner acme --status completed --older-than 90d',
    'storectl jobs --files-state partial --json | jq -r .jobs[].id',
    'storectl jobs --path-prefix cards/2026/11/ --limit 200 --after card-20261120-1a2b3c4d',
    'storectl jobs --status failed --ndjson',
  ],
  options: (cmd) =>
    cmd
      .option('--owner <owner>', 'only jobs of this owner (repeat, or a comma list)', list)
      .option('--status <status>', 'only jobs in this status (repeat, or a comma list)', list)
      .option('--kind <kind>', 'only jobs of this kind: card, export, ... (repeat, or a comma list)', list)
      .option('--files-state <state>', 'only jobs whose files are none, on_disk, deleted or partial (repeat, or a comma list)', list)
      .option('--older-than <age>', 'only jobs completed (or, never completed, created) longer ago than AGE (e.g. 30d)', durationOption)
      .option('--newer-than <age>', 'only jobs completed (or, never completed, created) less than AGE ago (e.g. 24h)', durationOption)
      .option('--path-prefix <prefix>', 'only jobs with a file whose path (relative to the root) starts with PREFIX')
      .option('--limit <n>', `rows a page (default 50, at most ${formatCount(MAX_LIMIT)})`)
      .option('--after <job_id>', 'the page after this job (the last id of the previous page)')
      .option('--ndjson', 'one JSON line per job, then a summary line (version, command, count, next)'),
  async run(_args, opts, env) {
    for (const s of (opts.status as string[] | undefined) ?? []) {
      if (!(JOB_STATUSES as readonly string[]).includes(s)) throw new UsageError(`unknown --status ${JSON.stringify(s)}`, `one of ${JOB_STATUSES.join(', ')}`);
    }
    for (const s of (opts.filesState as string[] | undefined) ?? []) {
      if (!FILES_STATES.includes(s)) throw new UsageError(`unknown --files-state ${JSON.stringify(s)}`, `one of ${FILES_STATES.join(', ')}`);
    }
    const limitText = opts.limit === undefined ? '50' : String(opts.limit);
    if (!/^\d+$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > MAX_LIMIT) {
      throw new UsageError(`bad --limit ${JSON.stringify(limitText)}`, `give a whole number from 1 to ${MAX_LIMIT}`);
    }
    if (opts.ndjson && env.globals.json) throw new UsageError('--ndjson and --json both choose the JSON form', 'pick one');
    const prefix = opts.pathPrefix === undefined ? undefined : String(opts.pathPrefix);
    if (prefix !== undefined && (prefix === '' || prefix.startsWith('/') || prefix.split('/').includes('..'))) {
      throw new UsageError(`bad --path-prefix ${JSON.stringify(prefix)}`, 'give a path relative to the store root, e.g. cards/2026/11/');
    }
    const limit = Number(limitText);
    const ctx = await env.openContext({ createRoot: false, createCatalog: false, readOnly: true, s3: true });
    const { listJobsPage } = await import('../ops/jobs.ts');
    const report = await listJobsPage(
      ctx,
      {
        owners: opts.owner as string[] | undefined,
        statuses: opts.status as string[] | undefined,
        kinds: opts.kind as string[] | undefined,
        filesStates: opts.filesState as string[] | undefined,
        olderThanMs: opts.olderThan as number | undefined,
        newerThanMs: opts.newerThan as number | undefined,
        pathPrefix: prefix,
        afterId: opts.after === undefined ? undefined : String(opts.after),
        limit,
      },
      ctx.clock(),
    );
    const ndjson = () =>
      [...report.jobs.map((j) => JSON.stringify(j)), JSON.stringify({ version: 1, command: 'jobs', count: report.count, next: report.next })].join('\n') + '\n';
    return {
      report,
      text: () => (opts.ndjson ? ndjson() : renderJobs(report, env.ui.stdoutTTY)),
      logFields: { count: report.count },
    };
  },
});

function renderJobs(r: JobsReport, tty: boolean): string {
  if (!r.jobs.length) return 'no jobs match\n';
  const table = renderTable(
    ['job', 'kind', 'owner', 'status', 'files state', 'files', 'size', 'created', 'completed'],
    r.jobs.map((j) => [
      safe`${j.id}`,
      safe`${j.kind}`,
      safe`${j.owner}`,
      j.status,
      j.filesState,
      formatCount(j.files),
      formatBytes(j.bytes),
      formatTime(new Date(j.createdAt)),
      j.completedAt ? formatTime(new Date(j.completedAt)) : '-',
    ]),
    { tty },
  );
  const more = r.next ? `${formatCount(r.count)} jobs shown; more with --after ${r.next}\n` : `${formatCount(r.count)} jobs\n`;
  return table + more;
}
