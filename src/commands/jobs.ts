import { defineCommand } from './define.ts';
import { UsageError } from '../errors.ts';
import type { JobsReport } from '../ops/jobs.ts';
import { durationOption, flag, num, text, texts } from './common-options.ts';
import { JOB_FILTER_OPTIONS, listOption, parseJobFilter, type JobFilter } from './job-selection.ts';
import { formatBytes, formatCount, formatTime, safe } from '../ui/format.ts';
import { renderTable } from '../ui/table.ts';

const FILES_STATES = ['none', 'on_disk', 'deleted', 'partial'];
const MAX_LIMIT = 10_000;

/** What `jobs` is asked: the filters, the page and the form. */
export interface JobsOptions extends JobFilter {
  filesStates?: string[];
  newerThanMs?: number;
  pathPrefix?: string;
  afterId?: string;
  limit: number;
  ndjson: boolean;
}

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
      .addOption(JOB_FILTER_OPTIONS.owner())
      .addOption(JOB_FILTER_OPTIONS.status())
      .addOption(JOB_FILTER_OPTIONS.kind())
      .addOption(listOption('--files-state <state>', 'only jobs whose files are none, on_disk, deleted or partial (repeat, or a comma list)'))
      .addOption(JOB_FILTER_OPTIONS.olderThan())
      .option('--newer-than <age>', 'only jobs completed (or, never completed, created) less than AGE ago (e.g. 24h)', durationOption)
      .option('--path-prefix <prefix>', 'only jobs with a file whose path (relative to the root) starts with PREFIX')
      .option('--limit <n>', `rows a page (default 50, at most ${formatCount(MAX_LIMIT)})`)
      .option('--after <job_id>', 'the page after this job (the last id of the previous page)')
      .option('--ndjson', 'one JSON line per job, then a summary line (version, command, count, next)'),
  parse(_args, raw, globals): JobsOptions {
    const filter = parseJobFilter(raw);
    const filesStates = texts(raw, 'filesState');
    for (const s of filesStates ?? []) {
      if (!FILES_STATES.includes(s)) throw new UsageError(`unknown --files-state ${JSON.stringify(s)}`, `one of ${FILES_STATES.join(', ')}`);
    }
    const limitText = text(raw, 'limit') ?? '50';
    if (!/^\d+$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > MAX_LIMIT) {
      throw new UsageError(`bad --limit ${JSON.stringify(limitText)}`, `give a whole number from 1 to ${MAX_LIMIT}`);
    }
    const ndjson = flag(raw, 'ndjson');
    if (ndjson && globals.json) throw new UsageError('--ndjson and --json both choose the JSON form', 'pick one');
    const pathPrefix = text(raw, 'pathPrefix');
    if (pathPrefix !== undefined && (pathPrefix === '' || pathPrefix.startsWith('/') || pathPrefix.split('/').includes('..'))) {
      throw new UsageError(`bad --path-prefix ${JSON.stringify(pathPrefix)}`, 'give a path relative to the store root, e.g. cards/2026/11/');
    }
    return { ...filter, filesStates, newerThanMs: num(raw, 'newerThan'), pathPrefix, afterId: text(raw, 'after'), limit: Number(limitText), ndjson };
  },
  async run(opts, env) {
    const ctx = await env.openContext({ createRoot: false, createCatalog: false, readOnly: true, s3: true });
    const { listJobsPage } = await import('../ops/jobs.ts');
    const report = await listJobsPage(
      ctx,
      {
        owners: opts.owners,
        statuses: opts.statuses,
        kinds: opts.kinds,
        filesStates: opts.filesStates,
        olderThanMs: opts.olderThanMs,
        newerThanMs: opts.newerThanMs,
        pathPrefix: opts.pathPrefix,
        afterId: opts.afterId,
        limit: opts.limit,
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
