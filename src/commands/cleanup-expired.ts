import { defineCommand } from './define.ts';
import { allowEmptyRootOption, flag, intOption, num, parseAllowEmptyRoot, parseAsOf, parseMaxDelete, parseWait, text, waitOption } from './common-options.ts';
import { EXIT, UsageError } from '../errors.ts';
import type { ExplainReport, ExpiredReport } from '../ops/lifecycle/expired.ts';
import { formatBytes, formatCount, safe } from '../ui/format.ts';
import { renderPairs, renderTable } from '../ui/table.ts';

/** What `cleanup-expired` is asked: a run of the lifecycle rules, or --explain one job. */
export interface CleanupExpiredOptions {
  dryRun: boolean;
  list: boolean;
  /** --as-of, else the time the options were parsed. */
  asOf: Date;
  explain?: string;
  retentionHours?: number;
  /** --max-delete as given (checked); absent: the config file's cleanup.maxDelete. */
  maxDelete?: string;
  limit?: number;
  waitMs: number;
  allowEmptyRoot: boolean;
}

export default defineCommand({
  name: 'cleanup-expired',
  summary: 'Delete the files of jobs past their retention, by lifecycle rules',
  description:
    "Apply the lifecycle rules (config file section `cleanup`): delete the files of completed card jobs, of exports 24 h after completion (failed: 1 h), of failed jobs after 7 days and temp files after 1 day; mark jobs stuck in queued/processing for 24 h as failed. A job's files go together. Deletion is crash-safe (intent recorded, unlink, tombstone + event per file); rows are kept as tombstones. --dry-run shows exactly what a real run would do. One destructive run at a time per store (exit 75, or --wait). On an S3 store the same rules and engine: objects are looked at by HEAD (size, ETag), re-checked by HEAD after the intent is committed, and removed with DeleteObjects in requests of up to 1,000 keys; an empty bucket listing beside a catalog with present rows is refused (exit 2).",
  examples: [
    'storectl cleanup-expired --dry-run',
    'storectl cleanup-expired --dry-run --list --as-of +7d   # what will next week\'s run delete?',
    'storectl cleanup-expired --explain card-20261120-1a2b3c4d',
    'storectl cleanup-expired --yes --max-delete 5% --json   # from cron',
  ],
  recordRun: true,
  options: (cmd) =>
    cmd
      .option('--dry-run', 'print the plan; change nothing')
      .option('--list', 'list every path with the rule that selects it and when it became due')
      .option('--as-of <time>', 'evaluate the rules at TIME (ISO 8601, or +7d / -12h from now); later than now needs --dry-run')
      .option('--explain <job_id>', 'show which rule applies to one job and when its files are due')
      .option('--retention-hours <n>', 'hours completed exports are kept (rule completed-exports; default 24)', intOption(0, 1_000_000))
      .option('--max-delete <n>', 'refuse to delete more than N files or N% of the present files (a dry run shows the plan and says whether the real run would be refused)')
      .option('--limit <n>', 'delete at most N files this run (whole jobs, in plan order) and leave the rest for the next run', intOption(1, 1_000_000_000))
      .addOption(waitOption())
      .addOption(allowEmptyRootOption()),
  parse(_args, raw): CleanupExpiredOptions {
    const now = new Date();
    const asOf = parseAsOf(text(raw, 'asOf'), now);
    const dryRun = flag(raw, 'dryRun');
    const explain = text(raw, 'explain');
    if (asOf.getTime() > now.getTime() + 1000 && !dryRun && explain === undefined) {
      throw new UsageError('--as-of later than now deletes files before they are due', 'add --dry-run to see what that run would do');
    }
    return {
      dryRun,
      list: flag(raw, 'list'),
      asOf,
      explain,
      retentionHours: num(raw, 'retentionHours'),
      maxDelete: parseMaxDelete(raw),
      limit: num(raw, 'limit'),
      waitMs: parseWait(raw),
      allowEmptyRoot: parseAllowEmptyRoot(raw),
    };
  },
  async run(opts, env) {
    const { loadCleanupConfig } = await import('../ops/lifecycle/rules.ts');
    const config = loadCleanupConfig(env.config().sections.cleanup, { retentionHours: opts.retentionHours });
    const { asOf, dryRun } = opts;
    const maxDelete = opts.maxDelete ?? config.maxDelete;
    const maxDeleteSource = opts.maxDelete !== undefined ? '--max-delete' : 'cleanup.maxDelete';
    const ctx = await env.openContext({ createRoot: false, createCatalog: false, readOnly: dryRun || opts.explain !== undefined, s3: true });
    if (opts.explain !== undefined) {
      const { explainJob } = await import('../ops/lifecycle/expired.ts');
      const report = await explainJob(ctx, opts.explain, config.rules, asOf);
      return { report, text: () => renderExplain(report) };
    }
    const { runCleanupExpired } = await import('../ops/lifecycle/expired.ts');
    const report = await runCleanupExpired(ctx, {
      dryRun,
      asOf,
      rules: config.rules,
      list: opts.list,
      maxDelete,
      maxDeleteSource,
      limit: opts.limit,
      waitMs: opts.waitMs,
      allowEmptyRoot: opts.allowEmptyRoot,
      confirm: (p) =>
        env.confirm(
          `Delete ${formatCount(p.files)} files (${formatBytes(p.bytes)}) of ${formatCount(p.jobs)} jobs${p.markFailed ? ` and mark ${p.markFailed} stuck jobs failed` : ''}?`,
          renderTable(['rule', 'action', 'jobs', 'files', 'size'], p.byRule.filter((x) => x.jobs || x.files).map((x) => [x.rule, x.action, x.jobs, x.files, formatBytes(x.bytes)]), { tty: false }) + IRREVERSIBLE,
        ),
    });
    const r = report.result;
    return {
      report,
      dryRun,
      text: () => renderExpired(report, env.ui.stdoutTTY),
      exitCode: report.failed.length ? EXIT.PARTIAL : EXIT.OK,
      failures: report.failed.map((f) => `${f.path}: ${f.reason}`),
      totals: r
        ? { jobs: r.jobs, filesDeleted: r.files, bytesFreed: r.bytes, alreadyGone: r.alreadyGone, markedFailed: r.markedFailed, recovered: r.recovered, changed: report.changed.length, failed: report.failed.length }
        : { plannedJobs: report.plan.jobs, plannedFiles: report.plan.files, plannedBytes: report.plan.bytes, markFailed: report.plan.markFailed, capRefused: report.cap?.refused ?? false },
    };
  },
});

/** What a prompt before deleting says is irreversible (cleanup-expired, delete). */
export const IRREVERSIBLE = 'Deleting cannot be undone: the rows stay as tombstones, the files come back only from a backup (storectl restore ARCHIVE --job ID). See every path first with --dry-run --list.\n';

function renderExpired(r: ExpiredReport, tty: boolean): string {
  const out: string[] = [];
  const rows = (r.result?.byRule ?? r.plan.byRule).filter((x) => x.jobs || x.files);
  const head = r.dryRun ? ['rule', 'action', 'jobs', 'files', 'size'] : ['rule', 'action', 'jobs', 'files deleted', 'freed'];
  if (rows.length) out.push(renderTable(head, rows.map((x) => [x.rule, x.action, x.jobs, x.files, formatBytes(x.bytes)]), { tty }));
  for (const x of r.list ?? []) out.push(safe`${x.outcome ?? 'delete'}  ${x.path}  rule=${x.rule}${x.dueAt ? `  due=${x.dueAt.replace(/\.\d{3}Z$/, 'Z')}` : ''}\n`);
  for (const m of r.markFailed ?? []) out.push(safe`mark-failed  ${m.jobId}  (${m.status} since ${new Date(m.updatedAtMs).toISOString().replace(/\.\d{3}Z$/, 'Z')})  rule=${m.rule}\n`);
  for (const s of r.skipped) out.push(safe`skipped  ${s.jobId ?? s.path}: ${s.reason}\n`);
  for (const c of r.changed) out.push(safe`changed  ${c.path || c.jobId}: ${c.reason}\n`);
  for (const f of r.failed) out.push(safe`failed   ${f.path}: ${f.reason}\n`);
  const asOf = r.asOf.replace(/\.\d{3}Z$/, 'Z');
  if (r.dryRun) {
    out.push(
      `dry run as of ${asOf}: would delete ${formatCount(r.plan.files)} files (${formatBytes(r.plan.bytes)}) of ${formatCount(r.plan.jobs)} jobs` +
        (r.plan.alreadyGone ? `, ${r.plan.alreadyGone} already gone` : '') +
        (r.plan.markFailed ? `, mark ${r.plan.markFailed} stuck jobs failed` : '') +
        (r.interrupted ? `; ${r.interrupted} files left 'deleting' by an interrupted run will be finished` : '') +
        '; nothing changed\n',
    );
    if (r.cap?.refused) {
      const limit = r.cap.cap >= 1 ? `, or --limit ${r.cap.cap} to delete at most ${r.cap.cap} files a run` : '';
      out.push(`the real run would be refused by the cap: ${r.cap.reason}; pass a higher --max-delete${limit}\n`);
    } else if (r.cap) {
      out.push(`cap: ${r.cap.reason}\n`);
    }
  } else if (r.result) {
    const x = r.result;
    out.push(
      renderPairs([
        ['deleted', `${formatCount(x.files)} files (${formatBytes(x.bytes)}) of ${formatCount(x.jobs)} jobs${x.alreadyGone ? `, ${x.alreadyGone} already gone` : ''}`],
        ['marked failed', formatCount(x.markedFailed)],
        ['finished from an interrupted run', formatCount(x.recovered)],
        ['directories removed', formatCount(x.dirsRemoved)],
        ['changed since planning (kept)', formatCount(r.changed.length)],
        ['failed (kept)', formatCount(r.failed.length)],
      ]),
    );
  }
  if (r.plan.deferred.jobs) {
    const d = r.plan.deferred;
    out.push(`--limit ${r.limit}: ${formatCount(d.files)} files (${formatBytes(d.bytes)}) of ${formatCount(d.jobs)} due jobs ${r.dryRun ? 'would be' : 'were'} left for the next run\n`);
  }
  return out.join('');
}

function renderExplain(r: ExplainReport): string {
  const rule = (x: ExplainReport['deleteRule']) => (x ? `${x.id}: ${x.description || x.action} (from ${x.ageFrom}, age ${x.age}); due ${x.dueAt}${x.due ? ' (due)' : ''}` : '-');
  return renderPairs([
    ['job', `${r.job.id} (${r.job.kind}, ${r.job.status}, owner ${r.job.owner || '-'})`],
    ['files', `${r.files.present} present (${formatBytes(r.files.bytes)}), files_state ${r.job.filesState}`],
    ['created / updated', `${r.job.createdAt} / ${r.job.updatedAt}`],
    ['completed', r.job.completedAt ?? '-'],
    ['delete rule', rule(r.deleteRule)],
    ['mark rule', rule(r.markRule)],
    ['as of', r.asOf],
    ['verdict', r.verdict],
  ]);
}
