import path from 'node:path';
import { defineCommand } from './define.ts';
import { waitMs } from './common-options.ts';
import { intOption, Option } from '../cli.ts';
import { EXIT, UsageError } from '../errors.ts';
import type { BackupReport } from '../ops/backup/backup.ts';
import { formatBytes, formatCount, formatDuration } from '../ui/format.ts';
import { renderPairs } from '../ui/table.ts';

export default defineCommand({
  name: 'backup',
  summary: 'Write one verified archive of the catalog and the files (tar.gz or zip)',
  description:
    "Write one archive holding a manifest (format and schema versions, source dialect, counts, and every file's path, size and SHA-256), the catalog as dialect-neutral NDJSON per table read in one snapshot, and the file of every present row under files/. Each file is read once, hashed while read and checked against its row: a file that vanished is reported (exit 3), one whose size or SHA-256 disagrees (exit 4); neither is archived as good. Already compressed content (PNG, PDF, JPEG, WebP, zip) is stored, the rest deflated. The archive is written under a temporary name, fsynced and renamed into place, mode 0600. Restore it with `storectl restore`, into SQLite or PostgreSQL.",
  examples: [
    'storectl backup --output /backups/store.tar.gz',
    'storectl backup --dir /backups --keep 7 --prune-older-than 30d',
    'storectl backup --dir /backups --format zip --json',
    'storectl backup --metadata-only --output catalog-only.tar.gz',
  ],
  options: (cmd) =>
    cmd
      .option('-o, --output <path>', 'write the archive to PATH (replaced atomically if it exists)')
      .option('--dir <dir>', 'write storectl-backup-<UTC timestamp>.<format> into DIR (created 0750 if missing)')
      .addOption(new Option('--format <format>', 'archive format').choices(['tar.gz', 'zip']))
      .option('--metadata-only', 'archive the catalog only, no files')
      .option('--keep <n>', 'with --dir: keep the N newest backups, delete older ones', intOption(1, 100_000))
      .option('--prune-older-than <age>', 'with --dir: delete backups older than AGE (e.g. 30d, 12h, 2w)')
      .option('--wait [seconds]', 'wait for another run holding the store lock (as long as it takes without SECONDS)'),
  async run(_args, opts, env) {
    const { parseAge } = await import('../ops/backup/retention.ts');
    const output = opts.output as string | undefined;
    const dir = opts.dir as string | undefined;
    if (Boolean(output) === Boolean(dir)) throw new UsageError('give exactly one of --output PATH or --dir DIR', 'see `storectl backup --help`');
    if (!dir && (opts.keep !== undefined || opts.pruneOlderThan !== undefined)) {
      throw new UsageError('--keep and --prune-older-than work with --dir only');
    }
    let pruneOlderThanMs: number | undefined;
    if (opts.pruneOlderThan !== undefined) {
      pruneOlderThanMs = parseAge(String(opts.pruneOlderThan));
      if (pruneOlderThanMs === undefined) throw new UsageError(`--prune-older-than ${opts.pruneOlderThan}: use a number and a unit, e.g. 30d, 12h, 2w`);
    }
    const format = (opts.format as 'tar.gz' | 'zip' | undefined) ?? (output && /\.zip$/i.test(output) ? 'zip' : 'tar.gz');
    const base = env.ui.io.cwd;
    // No runs row: it would be written before the snapshot and travel in the archive as 'running'.
    const ctx = await env.openContext({ createRoot: false, createCatalog: false });
    const { runBackup } = await import('../ops/backup/backup.ts');
    const { withStoreLock } = await import('../ops/store-lock.ts');
    // The store lock keeps cleanups from deleting files between the snapshot and their archiving.
    const report = await withStoreLock(ctx, 'backup', waitMs(opts.wait), () => runBackup(ctx, {
      output: output ? path.resolve(base, output) : undefined,
      dir: dir ? path.resolve(base, dir) : undefined,
      format,
      metadataOnly: Boolean(opts.metadataOnly),
      keep: opts.keep as number | undefined,
      pruneOlderThanMs,
    }));
    const exitCode = report.skipped.mismatched ? EXIT.INTEGRITY : report.skipped.count ? EXIT.PARTIAL : EXIT.OK;
    const logFields = { path: report.path, bytes: report.bytes, files: report.files, fileBytes: report.fileBytes, notArchived: report.skipped.count, pruned: report.pruned };
    return { report, text: () => renderBackup(report), exitCode, logFields };
  },
});

function renderBackup(r: BackupReport): string {
  const pairs: [string, string | number][] = [
    ['archive', r.path],
    ['format', r.format + (r.metadataOnly ? ' (catalog only)' : '')],
    ['size', `${formatBytes(r.bytes)} (${formatCount(r.bytes)} bytes)`],
    ['files', `${formatCount(r.files)} (${formatBytes(r.fileBytes)})`],
    ['catalog rows', Object.entries(r.tables).map(([t, n]) => `${t} ${formatCount(n)}`).join(', ')],
    ['duration', formatDuration(r.durationMs)],
  ];
  if (r.skipped.count) pairs.push(['NOT archived', `${r.skipped.count} (${r.skipped.vanished} vanished, ${r.skipped.mismatched} changed on disk, ${r.skipped.other} other)`]);
  if (r.pruned.length) pairs.push(['pruned', r.pruned.map((p) => path.basename(p)).join(', ')]);
  let out = renderPairs(pairs);
  for (const s of r.skipped.sample) out += `not archived  ${s.path}: ${s.detail}\n`;
  if (r.skipped.count > r.skipped.sample.length) out += `... and ${r.skipped.count - r.skipped.sample.length} more (see --json)\n`;
  return out;
}
