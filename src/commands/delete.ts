import { defineCommand } from './define.ts';
import { IRREVERSIBLE } from './cleanup-expired.ts';
import { EXIT } from '../errors.ts';
import type { DeleteOptions as DeleteRunOptions, DeleteReport } from '../ops/access/delete.ts';
import { formatBytes, formatCount } from '../ui/format.ts';
import { renderPairs } from '../ui/table.ts';
import { allowEmptyRootOption, flag, parseAllowEmptyRoot, parseMaxDelete, parseWait, waitOption } from './common-options.ts';
import { jobSelectionOptions, parseJobSelection, readJobSelection, type JobSelectionOptions } from './job-selection.ts';

/** What `delete` is asked: which jobs, and how (the deletion engine's options). */
export type DeleteOptions = Omit<DeleteRunOptions, 'confirm'> & { selection: JobSelectionOptions };

export default defineCommand({
  name: 'delete',
  summary: "Delete chosen jobs' files now, keeping their rows as tombstones (reason manual)",
  description:
    "Delete the files of the chosen jobs (JOB_IDs, --from FILE, or the filters --owner, --status, --kind, --older-than) now, through the same deletion engine as cleanup-expired: planned first (--dry-run --list shows exactly what a real run deletes), the store lock, the --max-delete cap, a confirmation on a terminal (--yes off one), then intent, re-check and unlink, tombstone and event per file. Whole jobs only: a job with a file that changed or is unsafe is skipped whole. Tombstones record the reason manual; the run records the user and host (storectl show shows them). Jobs still in production (queued, assigned, printing, processing, quality_check) are refused and listed (exit 3) unless --force. On an S3 store (--root s3://BUCKET/PREFIX) the same engine plans with a HEAD of each object and, after the intent is committed, re-checks each by HEAD (size and ETag as planned, else kept and reported) and removes the rest with DeleteObjects, up to 1,000 keys a request; a key the server fails goes back to present (exit 3). Keys never leave the store's prefix.",
  args: '[job_ids...]',
  examples: [
    'storectl delete card-20261120-1a2b3c4d --yes',
    'storectl delete --owner acme --older-than 90d --dry-run --list',
    'storectl delete --from ids.txt --yes --max-delete 500 --json',
  ],
  recordRun: true,
  options: (cmd) =>
    jobSelectionOptions(cmd)
      .option('--dry-run', 'print the plan; change nothing')
      .option('--list', 'list every path (dry run: what would be deleted; real run: what was)')
      .option('--force', 'also delete the files of jobs still in production')
      .option('--max-delete <n>', 'refuse to delete more than N files or N% of the present files')
      .addOption(waitOption())
      .addOption(allowEmptyRootOption()),
  parse: (args, raw): DeleteOptions => ({
    selection: parseJobSelection(args, raw),
    dryRun: flag(raw, 'dryRun'),
    list: flag(raw, 'list'),
    force: flag(raw, 'force'),
    maxDelete: parseMaxDelete(raw),
    waitMs: parseWait(raw),
    allowEmptyRoot: parseAllowEmptyRoot(raw),
  }),
  async run(opts, env) {
    const sel = await readJobSelection(opts.selection, env.ui.io);
    const { dryRun } = opts;
    const ctx = await env.openContext({ createRoot: false, createCatalog: false, s3: true });
    const { runDelete } = await import('../ops/access/delete.ts');
    const report = await runDelete(ctx, sel, {
      dryRun,
      list: opts.list,
      force: opts.force,
      maxDelete: opts.maxDelete,
      waitMs: opts.waitMs,
      allowEmptyRoot: opts.allowEmptyRoot,
      confirm: (p) => env.confirm(`Delete ${formatCount(p.files)} files (${formatBytes(p.bytes)}) of ${formatCount(p.jobs)} jobs now?`, IRREVERSIBLE),
    });
    for (const r of report.refused) env.ui.log.warn(`refused: ${r.jobId} is ${r.status} (still in production); pass --force to delete its files`);
    for (const id of report.notFound) env.ui.log.warn(`no job ${JSON.stringify(id)} in the catalog`);
    const exitCode = report.failed.length || report.refused.length || report.skipped.length ? EXIT.PARTIAL : report.notFound.length ? EXIT.NOT_FOUND : EXIT.OK;
    const r = report.result;
    return {
      report,
      dryRun,
      text: () => renderDelete(report),
      exitCode,
      failures: [...report.failed.map((f) => `${f.path}: ${f.reason}`), ...report.skipped.map((s) => `${s.jobId ?? s.path}: ${s.reason}`)],
      totals: r
        ? { jobs: r.jobs, filesDeleted: r.files, bytesFreed: r.bytes, alreadyGone: r.alreadyGone, refused: report.refused.length, failed: report.failed.length }
        : { plannedJobs: report.plan.jobs, plannedFiles: report.plan.files, plannedBytes: report.plan.bytes, refused: report.refused.length },
    };
  },
});

function renderDelete(r: DeleteReport): string {
  const out: string[] = [];
  for (const x of r.list ?? []) out.push(`${x.outcome}  ${x.path}\n`);
  for (const x of r.refused) out.push(`refused  ${x.jobId}: ${x.status} (in production; --force deletes it)\n`);
  for (const s of r.skipped) out.push(`skipped  ${s.jobId ?? s.path}: ${s.reason}\n`);
  for (const c of r.changed) out.push(`changed  ${c.path || c.jobId}: ${c.reason}\n`);
  for (const f of r.failed) out.push(`failed   ${f.path}: ${f.reason}\n`);
  for (const id of r.notFound) out.push(`not found  ${id}\n`);
  if (r.dryRun) {
    out.push(`dry run: would delete ${formatCount(r.plan.files)} files (${formatBytes(r.plan.bytes)}) of ${formatCount(r.plan.jobs)} jobs; nothing changed\n`);
  } else if (r.result) {
    out.push(
      renderPairs([
        ['deleted', `${formatCount(r.result.files)} files (${formatBytes(r.result.bytes)}) of ${formatCount(r.result.jobs)} jobs${r.result.alreadyGone ? `, ${r.result.alreadyGone} already gone` : ''}`],
        ['finished from an interrupted run', formatCount(r.result.recovered)],
        ['refused (in production)', formatCount(r.refused.length)],
        ['changed since planning (kept)', formatCount(r.changed.length)],
        ['failed (kept)', formatCount(r.failed.length)],
      ]),
    );
  }
  return out.join('');
}
