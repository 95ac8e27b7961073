import { defineCommand } from './define.ts';
import { EXIT, NotFoundError } from '../errors.ts';
import type { ShowReport } from '../ops/access/show.ts';
import { formatBytes } from '../ui/format.ts';
import { renderPairs, renderTable } from '../ui/table.ts';
import { JSON_VERSION } from '../ui/ui.ts';
import { flag, parseAsOf, text } from './common-options.ts';

/** What `show` is asked: the jobs, the time the lifecycle rules are judged at, the JSON form. */
export interface ShowOptions {
  jobIds: string[];
  ndjson: boolean;
  asOf: Date;
}

export default defineCommand({
  name: 'show',
  summary: "Show jobs as the catalog knows them: files, tombstones, generation metadata, when their files go",
  description:
    "For each JOB_ID: the job (kind, owner, status, timestamps, failure reason), its files (role, path, state, size, SHA-256, when verify last read it back), the tombstones of deleted files (when, why, the rule or command, the run's user and host), the generation metadata, and which lifecycle rule will delete its files and when (the same answer as cleanup-expired --explain). --json prints one document {jobs: [...], notFound: [...]}; with --ndjson one line per job, then a summary line. An unknown id is listed and the exit status is 5 (not_found). Changes nothing; works on a local and an S3 store.",
  args: '<job_ids...>',
  examples: ['storectl show card-20261120-1a2b3c4d', 'storectl show --json c-1 c-2 | jq .jobs[].tombstones', 'storectl show --json --ndjson c-1 c-2'],
  options: (cmd) =>
    cmd
      .option('--ndjson', 'with --json: one line per job, then a summary line (for large lists)')
      .option('--as-of <time>', 'judge the lifecycle rules at TIME (ISO 8601, or +7d / -12h from now)'),
  parse: (args, raw): ShowOptions => ({ jobIds: [...args], ndjson: flag(raw, 'ndjson'), asOf: parseAsOf(text(raw, 'asOf'), new Date()) }),
  async run(opts, env) {
    const { loadCleanupConfig } = await import('../ops/lifecycle/rules.ts');
    const config = loadCleanupConfig(env.config().sections.cleanup);
    const { asOf, jobIds: args } = opts;
    const ctx = await env.openContext({ createRoot: false, createCatalog: false, s3: true });
    const { showJob } = await import('../ops/access/show.ts');
    const jobs: ShowReport[] = [];
    const notFound: string[] = [];
    for (const id of [...new Set(args)]) {
      try {
        jobs.push(await showJob(ctx, id, config.rules, asOf));
      } catch (err) {
        if (!(err instanceof NotFoundError) || args.length === 1) throw err;
        notFound.push(id);
      }
    }
    for (const id of notFound) env.ui.log.warn(`no job ${JSON.stringify(id)} in the catalog`);
    return {
      report: { jobs, notFound },
      text: () => jobs.map((j) => renderShow(j, env.ui.stdoutTTY)).join('\n'),
      json: opts.ndjson
        ? () => jobs.map((j) => JSON.stringify({ version: JSON_VERSION, command: 'show', ...j }) + '\n').join('') + JSON.stringify({ version: JSON_VERSION, command: 'show', summary: { jobs: jobs.length, notFound } }) + '\n'
        : undefined,
      exitCode: notFound.length ? EXIT.NOT_FOUND : EXIT.OK,
    };
  },
});

const t = (iso: string | null) => (iso ? iso.replace(/\.\d{3}Z$/, 'Z') : '-');

function renderShow(r: ShowReport, tty: boolean): string {
  const j = r.job;
  const rule = (x: ShowReport['lifecycle']['deleteRule']) => (x ? `${x.id} (from ${x.ageFrom}, age ${x.age}): due ${t(x.dueAt)}${x.due ? ' (due now)' : ''}` : '-');
  const out = [
    renderPairs([
      ['job', j.id],
      ['kind / status', `${j.kind} / ${j.status}${j.failureReason ? ` (${j.failureReason})` : ''}`],
      ['owner', j.owner || '-'],
      ['created / updated', `${t(j.createdAt)} / ${t(j.updatedAt)}`],
      ['completed', t(j.completedAt)],
      ['files state', j.filesState],
      ['delete rule', rule(r.lifecycle.deleteRule)],
      ['mark rule', rule(r.lifecycle.markRule)],
      ['verdict', r.lifecycle.verdict],
    ]),
  ];
  if (r.files.length) {
    out.push(
      renderTable(
        ['role', 'state', 'size', 'sha256', 'verified', 'path'],
        r.files.map((f) => [f.role, f.state, formatBytes(f.size), tty ? f.sha256.slice(0, 12) : f.sha256, t(f.lastVerifiedAt), f.path]),
        { tty },
      ),
    );
  }
  if (r.tombstones.length) {
    out.push(
      renderTable(
        ['deleted', 'role', 'reason', 'by', 'run'],
        r.tombstones.map((x) => [t(x.deletedAt), x.role, x.reason ?? '-', [x.command, x.user && `${x.user}@${x.host ?? '?'}`].filter(Boolean).join(' ') || '-', x.runId ?? '-']),
        { tty, title: 'tombstones' },
      ),
    );
  }
  if (r.generation) out.push(`generation ${JSON.stringify(r.generation)}\n`);
  return out.join('');
}

