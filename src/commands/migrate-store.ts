import { defineCommand } from './define.ts';
import { EXIT, UsageError } from '../errors.ts';
import { flag, intOption, num, parseWait, waitOption } from './common-options.ts';
import type { MigrateStoreOptions as MigrateStoreRunOptions, MigrateStoreReport } from '../ops/migrate-store.ts';
import { formatBytes, formatCount } from '../ui/format.ts';
import { renderPairs } from '../ui/table.ts';

/** What `migrate-store` is asked: the new root (as given), and how to copy. */
export type MigrateStoreOptions = Omit<MigrateStoreRunOptions, 'confirm'>;

export default defineCommand({
  name: 'migrate-store',
  summary: "Move the store's files to another backend (local <-> S3, S3 -> S3, local -> local) and switch its root",
  description:
    "Copy every present file to --to (a directory or s3://BUCKET/PREFIX) with --parallel transfers, check each copy's size and SHA-256 against the catalog (the server checks x-amz-checksum-sha256 where it can, else the copy is read back), and record each verified copy so that a killed run resumes where it stopped. Once every file is verified, the catalog's root is switched to --to. The source is left as it was unless --delete-source (asked for, re-checked file by file). A fresh migration refuses a target that is not empty. Takes the store lock. Exit 3 when some files could not be copied (the root is not switched).",
  examples: [
    'storectl --database postgres://db/storectl migrate-store --to s3://media/storectl --dry-run',
    'storectl --database postgres://db/storectl migrate-store --to s3://media/storectl --parallel 16 --json',
    'storectl --root s3://media/storectl --database sqlite:/var/lib/storectl.db migrate-store --to /srv/storectl --delete-source --yes',
  ],
  recordRun: true,
  options: (cmd) =>
    cmd
      .requiredOption('--to <dir|url>', 'the new root: a directory or s3://BUCKET/PREFIX')
      .option('--parallel <n>', 'files copied at once (default 8)', intOption(1, 256))
      .option('--dry-run', 'count the files and bytes and list files that cannot be copied; copy nothing')
      .option('--delete-source', 'after the switch, remove the files from the old root')
      .addOption(waitOption()),
  parse(_args, raw): MigrateStoreOptions {
    const o = { to: String(raw.to), parallel: num(raw, 'parallel') ?? 8, dryRun: flag(raw, 'dryRun'), deleteSource: flag(raw, 'deleteSource'), waitMs: parseWait(raw) };
    if (o.dryRun && o.deleteSource) throw new UsageError('--dry-run and --delete-source do not go together');
    return o;
  },
  async run(opts, env) {
    const { resolveRoot } = await import('../config.ts');
    const to = resolveRoot(opts.to, env.ui.io.cwd);
    const { dryRun } = opts;
    const ctx = await env.openContext({ createRoot: false, createCatalog: false, s3: true });
    const { runMigrateStore } = await import('../ops/migrate-store.ts');
    const report = await runMigrateStore(ctx, {
      to,
      parallel: opts.parallel,
      dryRun,
      deleteSource: opts.deleteSource,
      waitMs: opts.waitMs,
      confirm: (p) => env.confirm(`Remove ${formatCount(p.files)} files (${formatBytes(p.bytes)}) from the old root ${p.from}?`),
    });
    const failed = report.failed.length + report.sourceDeleteFailed.length;
    return {
      report,
      dryRun,
      text: () => renderMigrateStore(report),
      exitCode: failed || (dryRun && report.cannotCopy.length) ? EXIT.PARTIAL : EXIT.OK,
      totals: { files: report.files, bytes: report.bytes, copied: report.copied, alreadyThere: report.alreadyThere, failed, switched: report.switched, sourceDeleted: report.sourceDeleted },
    };
  },
});

function renderMigrateStore(r: MigrateStoreReport): string {
  const lines = [
    renderPairs([
      ['from', r.from],
      ['to', r.to],
      ['files', `${formatCount(r.files)} (${formatBytes(r.bytes)})`],
      ...(r.dryRun
        ? ([
            ['already at the target', formatCount(r.alreadyThere)],
            ['cannot be copied', formatCount(r.cannotCopy.length)],
          ] as [string, string][])
        : ([
            ['copied', `${formatCount(r.copied)} (${formatBytes(r.copiedBytes)}; verified on upload ${formatCount(r.verified.onUpload)}, by ETag = MD5 ${formatCount(r.verified.etag)}, read back ${formatCount(r.verified.readBack)})`],
            ['already at the target', formatCount(r.alreadyThere)],
            ['failed', formatCount(r.failed.length)],
            ['root switched', r.switched ? `yes, the catalog now names ${r.to}` : 'no'],
            ['source files removed', formatCount(r.sourceDeleted)],
          ] as [string, string][])),
    ]),
  ];
  for (const c of r.cannotCopy) lines.push(`cannot copy ${c.path}: ${c.reason}`);
  for (const f of r.failed) lines.push(`failed ${f.path}: ${f.error}`);
  for (const f of r.sourceDeleteFailed) lines.push(`could not remove ${f.path} from the old root: ${f.error}`);
  if (r.dryRun) lines.push('dry run: nothing copied');
  return lines.join('\n');
}
