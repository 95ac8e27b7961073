import { randomInt } from 'node:crypto';
import { defineCommand } from './define.ts';
import { flag, intOption, num, parseWait, text, waitOption } from './common-options.ts';
import { EXIT, UsageError } from '../errors.ts';
import type { GenerateReport } from '../ops/generate.ts';
import { formatBytes, formatDuration, safe } from '../ui/format.ts';
import { renderTable } from '../ui/table.ts';

/** What `generate` is asked: exactly one source of jobs, and how to render them. */
export interface GenerateOptions {
  /** Jobs already in the catalog, re-rendered (reprints). */
  jobIds: string[];
  /** --jobs FILE ('-' for stdin): new jobs to create and render. */
  jobsFile?: string;
  pending: boolean;
  sample?: number;
  days?: number;
  seed?: number;
  workers?: number;
  waitMs: number;
}

export default defineCommand({
  name: 'generate',
  args: '[job_ids...]',
  summary: "Render jobs' artifact files into the dated tree and record them",
  description:
    "Render card print jobs: front.png and back.png (CR80, 1012x638 at 300 dpi), front.pdf, back.pdf and combined.pdf (85.6 x 54 mm) into cards/YYYY/MM/DD/<job_id>/, and record every file (path, size, SHA-256) and the job's generation metadata in the catalog. The same input gives the same bytes. Jobs come from --jobs FILE (a JSON array or NDJSON; - for stdin), from job ids already in the catalog (reprints), from --pending, or from --sample N (a realistic demo store).",
  examples: [
    'storectl generate --sample 200',
    'storectl generate --jobs jobs.ndjson',
    'cat jobs.json | storectl generate --jobs - --json',
    'storectl generate card-20261120-1a2b3c4d   # re-render (reprint) a job',
    'storectl generate --pending --workers 2',
  ],
  recordRun: true,
  options: (cmd) =>
    cmd
      .option('--jobs <file>', 'create and render the jobs in FILE (JSON array or NDJSON; - for stdin)')
      .option('--pending', 'render every card job whose files were never generated')
      .option('--sample <n>', 'create and render N realistic demo jobs', intOption(1, 1_000_000))
      .option('--days <d>', 'with --sample: spread jobs over the past D days (default 30, or generate.days)', intOption(1, 3650))
      .option('--seed <n>', 'with --sample: random seed; the same seed and --days on the same day give the same jobs (default: a new seed each run)', intOption(0, 2 ** 31))
      .option('--workers <n>', 'jobs rendered in parallel (default: generate.workers, else the number of cores)', intOption(1, 64))
      .addOption(waitOption()),
  parse(args, raw): GenerateOptions {
    const o: GenerateOptions = {
      jobIds: [...args],
      jobsFile: text(raw, 'jobs'),
      pending: flag(raw, 'pending'),
      sample: num(raw, 'sample'),
      days: num(raw, 'days'),
      seed: num(raw, 'seed'),
      workers: num(raw, 'workers'),
      waitMs: parseWait(raw),
    };
    const sources = [o.jobsFile !== undefined, o.jobIds.length > 0, o.pending, o.sample !== undefined].filter(Boolean).length;
    if (sources !== 1) throw new UsageError('give exactly one of --jobs FILE, job ids, --pending or --sample N', 'see `storectl generate --help`');
    return o;
  },
  async run(opts, env) {
    const { runGenerate, defaultWorkers, sampleJobs } = await import('../ops/generate.ts');
    const { parseJobs } = await import('../ops/job-input.ts');
    const { readInput } = await import('../ui/input.ts');
    const { generateSettings } = await import('../config.ts');
    const settings = generateSettings(env.config());
    const days = opts.days ?? settings.days ?? 30;
    const now = new Date();
    // Input is read and validated before the store is opened: bad input writes nothing.
    const newJobs = opts.jobsFile !== undefined ? parseJobs(await readInput(opts.jobsFile, env.ui.io), opts.jobsFile, now) : undefined;
    const sample = opts.sample !== undefined ? sampleJobs(opts.sample, days, now, opts.seed ?? randomInt(2 ** 31)) : undefined;
    const ctx = await env.openContext({ createRoot: true, createCatalog: true, s3: true });
    const report = await runGenerate(ctx, {
      newJobs: newJobs ?? sample?.jobs,
      jobIds: opts.jobIds.length ? opts.jobIds : undefined,
      pending: opts.pending,
      workers: opts.workers ?? settings.workers ?? defaultWorkers(),
      baseDir: env.ui.io.cwd,
      simulateHistory: Boolean(sample),
      tempFiles: sample?.temp,
      waitMs: opts.waitMs,
    });
    return {
      report,
      text: () => renderGenerate(report, env.ui.stdoutTTY),
      exitCode: report.jobs.failed ? EXIT.PARTIAL : EXIT.OK,
      failures: report.failures.map((f) => `${f.jobId}: ${f.reason}`),
      totals: { jobs: report.jobs.rendered, failed: report.jobs.failed, files: report.files, bytes: report.bytes },
    };
  },
});

function renderGenerate(r: GenerateReport, tty: boolean): string {
  let out = '';
  if (r.rendered.length <= 20 && r.rendered.length > 0) {
    out += renderTable(['job', 'directory', 'files', 'size'], r.rendered.map((j) => [j.jobId, j.dir, j.files, formatBytes(j.bytes)]), { tty });
  }
  for (const f of r.failures) out += safe`failed  ${f.jobId}: ${f.reason}\n`;
  out += safe`rendered ${r.jobs.rendered} job(s), ${r.files} files, ${formatBytes(r.bytes)} in ${formatDuration(r.durationMs)} (${r.jobsPerSecond} jobs/s, ${r.workers} workers)`;
  if (r.jobs.failed) out += safe`; ${r.jobs.failed} failed`;
  if (r.temp.files) out += safe`; and ${r.temp.files} stale temp upload(s), ${formatBytes(r.temp.bytes)}, for cleanup-expired`;
  return out + '\n';
}
