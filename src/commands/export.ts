import type { Writable } from 'node:stream';
import { defineCommand } from './define.ts';
import { EXIT, UsageError } from '../errors.ts';
import type { ExportReport } from '../ops/access/export.ts';
import type { ArchiveFormat } from '../ops/backup/archive-writer.ts';
import { formatBytes, formatCount } from '../ui/format.ts';
import { text } from './common-options.ts';
import { jobSelectionOptions, parseJobSelection, readJobSelection, type JobSelectionOptions } from './job-selection.ts';

/** What `export` is asked: which jobs, into which archive. */
export interface ExportOptions {
  selection: JobSelectionOptions;
  /** The archive's path, or '-' for stdout. */
  output: string;
  format: ArchiveFormat;
}

export default defineCommand({
  name: 'export',
  summary: 'Bulk download: the present files of chosen jobs in one archive, with a manifest',
  description:
    "Write the present files of the chosen jobs (JOB_IDs, --from FILE, or the filters --owner, --status, --kind, --older-than) into one archive (--output FILE.tar.gz or FILE.zip; '-' for stdout, tar.gz unless --format zip), under files/<path> as a backup holds them, with manifest.ndjson listing every file of those jobs (job, role, path, size, SHA-256, state). Each file is hashed while it is read and archived only when it matches the catalog: a mismatch is listed (state mismatch) and the exit status is 4. Deleted files are listed with state deleted, when and why. The archive appears at FILE only when complete. Unknown ids are listed and exit 5 when nothing else went wrong. Changes nothing in the store. On an S3 store each object is streamed into a private copy while hashed and archived from it only when it matches.",
  args: '[job_ids...]',
  examples: [
    'storectl export c-1 c-2 --output cards.zip',
    'storectl export --owner acme --status completed --older-than 7d --output acme.tar.gz',
    'storectl export --from ids.txt --output - | tar tzf -',
  ],
  options: (cmd) =>
    jobSelectionOptions(cmd)
      .requiredOption('-o, --output <file>', "the archive to write: FILE.tar.gz, FILE.zip, or '-' for stdout")
      .option('--format <format>', 'tar.gz or zip (default: from the file name; tar.gz for -)'),
  async parse(args, raw): Promise<ExportOptions> {
    const { formatOf } = await import('../ops/access/export.ts');
    const output = String(raw.output);
    const format = formatOf(output, text(raw, 'format'));
    return { selection: parseJobSelection(args, raw), output, format };
  },
  async run(opts, env) {
    const { runExport } = await import('../ops/access/export.ts');
    const { output, format } = opts;
    const io = env.ui.io;
    if (output === '-' && io.stdout.isTTY) throw new UsageError('refusing to write an archive to a terminal', 'pass --output FILE, or pipe it');
    const sel = await readJobSelection(opts.selection, io);
    const ctx = await env.openContext({ createRoot: false, createCatalog: false, s3: true });
    const report = await runExport(ctx, sel, { output, format, sink: output === '-' ? (io.stdoutStream as Writable) : undefined });
    for (const id of report.notFound) env.ui.log.warn(`no job ${JSON.stringify(id)} in the catalog`);
    const exitCode = report.problems.some((p) => p.state !== 'unreadable') ? EXIT.INTEGRITY : report.problems.length ? EXIT.PARTIAL : report.notFound.length ? EXIT.NOT_FOUND : EXIT.OK;
    if (output === '-') {
      for (const p of report.problems) env.ui.log.error(`not archived: ${p.path}: ${p.detail}`);
    }
    return {
      report,
      text: () => renderExport(report),
      json: output === '-' ? () => '' : undefined,
      exitCode,
      totals: { jobs: report.jobs, files: report.archived.files, bytes: report.archived.bytes, problems: report.problems.length },
    };
  },
});

function renderExport(r: ExportReport): string {
  if (r.output === '-') return '';
  const out = [`${r.output}: ${formatCount(r.archived.files)} files (${formatBytes(r.archived.bytes)}) of ${formatCount(r.jobs)} jobs${r.deleted ? `; ${r.deleted} deleted files listed in the manifest` : ''}\n`];
  for (const p of r.problems) out.push(`not archived  ${p.path}: ${p.detail}\n`);
  for (const id of r.notFound) out.push(`not found     ${id}\n`);
  return out.join('');
}
