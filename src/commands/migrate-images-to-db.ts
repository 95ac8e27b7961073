import { defineCommand } from './define.ts';
import { flag, intOption, num, parseWait, text, waitOption } from './common-options.ts';
import type { TargetFlags } from '../ops/images/targets.ts';
import { EXIT, FailedError } from '../errors.ts';
import type { MigrateImagesReport } from '../ops/images/run.ts';
import { formatBytes, formatCount, formatDuration, safe } from '../ui/format.ts';
import { renderPairs, renderTable } from '../ui/table.ts';

/** What `migrate-images-to-db` is asked; absent numbers take the config file's migrateImages, then the defaults. */
export interface MigrateImagesOptions {
  /** Table mode or store mode, as the flags say it (resolved with the config file by run). */
  targets: TargetFlags;
  dryRun: boolean;
  deleteOriginals: boolean;
  limit?: number;
  workers?: number;
  batchSize?: number;
  maxPixels?: number;
  effort?: number;
  waitMs: number;
}

export default defineCommand({
  name: 'migrate-images-to-db',
  summary: 'Move image files into the database as compressed WebP (resumable, parallel)',
  description:
    "Read image files, compress each to WebP (EXIF orientation applied, longest side at most 1024 px, transparency flattened onto white, quality 85, 75, 60, 50, 40 until at most 500 KB, then smaller until it fits), check the result decodes, and store it in the database. Store mode (default) migrates the store's image files, or those under --from-dir, into storectl's `images` table. Table mode (--table) reads paths from a column of any table and writes the bytes into a BYTEA/BLOB column of the same row (PostgreSQL text[] -> bytea[]), or, without --data-column, into the `images` table linked by row key and index (SQLite JSON arrays of paths). Config file targets (`migrateImages.targets`) run in one go. Rows already migrated are skipped, so a rerun after a kill completes without duplicates. Failed images are listed and exit 3; nothing broken is written. --delete-originals removes a file only after its row is committed and the stored bytes verified. On an S3 store (--root s3://BUCKET/PREFIX) store mode reads each image object with a HEAD and one GET; --delete-originals removes the objects through the same deletion engine (HEAD re-check of size and ETag against what was read: an object replaced since is kept, exit 3; DeleteObjects; tombstones migrated-to-db).",
  examples: [
    'storectl migrate-images-to-db --dry-run',
    'storectl migrate-images-to-db --from-dir ./uploads --json',
    'storectl --database postgres://app@db/app migrate-images-to-db --table users --key id --path-column profile_photo_path --data-column profile_photo_data --base-dir /srv/uploads',
    'storectl --database postgres://app@db/app migrate-images-to-db --table parts --path-column image_paths --data-column image_data',
    'storectl --config storectl.config.json migrate-images-to-db --limit 100   # the config targets, as a trial',
    'storectl migrate-images-to-db --delete-originals --yes',
  ],
  recordRun: true,
  options: (cmd) =>
    cmd
      .option('--table <name>', 'table mode: the table whose rows name image files (letters, digits, _; optionally schema.table)')
      .option('--key <column>', 'table mode: unique key column, for batching and linking (default id)')
      .option('--path-column <column>', 'table mode: column holding the file path (text; text[] on PostgreSQL; a JSON array on SQLite)')
      .option('--data-column <column>', "table mode: BYTEA/BLOB column (bytea[] for a text[] path column) for the WebP bytes; without it they go to storectl's images table")
      .option('--base-dir <dir>', 'table mode: directory relative paths in the table are resolved against (default: the current directory)')
      .option('--from-dir <dir>', "store mode: migrate the image files under DIR instead of the store's")
      .option('--dry-run', 'compress and report what would be migrated and the estimated savings; write nothing')
      .option('--limit <n>', 'stop after N rows (table mode) or files (store mode): a trial run', intOption(1))
      .option('--delete-originals', 'delete each original file after its row is committed and the stored bytes verified')
      .option('--workers <n>', 'images compressed in parallel (default: number of cores + 1)', intOption(1, 64))
      .option('--batch-size <n>', 'rows or files committed per transaction', intOption(1, 10_000))
      .option('--max-pixels <n>', 'refuse images with more pixels than N (decompression bombs; default 100000000)', intOption(1))
      .option('--effort <n>', 'WebP encoder effort 0-6: lower is faster, slightly larger files (default 4, as cwebp and Pillow)', intOption(0, 6))
      .addOption(waitOption()),
  parse: (_args, raw): MigrateImagesOptions => ({
    targets: { table: text(raw, 'table'), key: text(raw, 'key'), pathColumn: text(raw, 'pathColumn'), dataColumn: text(raw, 'dataColumn'), baseDir: text(raw, 'baseDir'), fromDir: text(raw, 'fromDir') },
    dryRun: flag(raw, 'dryRun'),
    deleteOriginals: flag(raw, 'deleteOriginals'),
    limit: num(raw, 'limit'),
    workers: num(raw, 'workers'),
    batchSize: num(raw, 'batchSize'),
    maxPixels: num(raw, 'maxPixels'),
    effort: num(raw, 'effort'),
    waitMs: parseWait(raw),
  }),
  async run(opts, env) {
    const { parseMigrateImagesConfig, resolveTargets, openSources } = await import('../ops/images/targets.ts');
    const { migrateImages, DEFAULTS } = await import('../ops/images/run.ts');
    const { DEFAULT_COMPRESS } = await import('../ops/images/compress.ts');
    const config = env.config();
    const section = parseMigrateImagesConfig(config.sections.migrateImages, config.configFile ? (await import('node:path')).dirname(config.configFile) : env.ui.io.cwd);
    // Names are validated here, before the catalog is opened: a hostile --table runs nothing.
    const targets = resolveTargets(opts.targets, section, env.ui.io.cwd);
    const { dryRun, deleteOriginals } = opts;
    if (deleteOriginals && !dryRun) {
      const what = targets.map((t) => (t.kind === 'store' ? 'the store' : t.kind === 'dir' ? t.dir : `${t.target.table}.${t.target.pathColumn}`)).join(', ');
      const ok = await env.confirm(
        `Delete each original image file of ${what} once it is stored and verified in the database${opts.limit ? ` (at most ${formatCount(opts.limit)} rows/files)` : ''}?`,
        'The originals are replaced by what the database stores: lossy WebP images of at most 1024 px on the long side (migrateImages settings), not the original bytes. A 300-dpi print PNG does not survive this. Deleted originals come back only from a backup. See the count and each file first with --dry-run.\n',
      );
      if (!ok) throw new FailedError('cancelled: nothing was changed', undefined, 'cancelled');
    }
    // Never a new store: a missing catalog is a wrong --root (exit 2), not a place to start one.
    const ctx = await env.openContext({ createRoot: false, createCatalog: false, s3: true });
    const { withStoreLock } = await import('../ops/store-lock.ts');
    const run = async () => {
      const sources = await openSources(ctx, targets);
      return migrateImages(ctx, sources, {
        dryRun,
        limit: opts.limit,
        deleteOriginals: deleteOriginals && !dryRun,
        workers: opts.workers ?? section.workers ?? DEFAULTS.workers,
        batchSize: opts.batchSize ?? section.batchSize ?? DEFAULTS.batchSize,
        maxFileBytes: DEFAULTS.maxFileBytes,
        compress: {
          ...DEFAULT_COMPRESS,
          maxInputPixels: opts.maxPixels ?? section.maxPixels ?? DEFAULT_COMPRESS.maxInputPixels,
          effort: opts.effort ?? section.effort ?? DEFAULT_COMPRESS.effort,
        },
      });
    };
    // A real run writes the catalog (and may delete originals): one such run at a time.
    const report = dryRun ? await run() : await withStoreLock(ctx, 'migrate-images-to-db', opts.waitMs, run);
    return {
      report,
      text: () => renderReport(report, env.ui.stdoutTTY),
      exitCode: report.failed ? EXIT.PARTIAL : EXIT.OK,
      dryRun,
      totals: {
        migrated: report.migrated,
        skipped: report.skipped,
        failed: report.failed,
        bytesBefore: report.bytesBefore,
        bytesAfter: report.bytesAfter,
        deletedOriginals: report.deletedOriginals,
      },
    };
  },
});

function renderReport(r: MigrateImagesReport, tty: boolean): string {
  const out: string[] = [];
  const verb = r.dryRun ? 'would migrate' : 'migrated';
  out.push(
    renderPairs([
      [verb, `${formatCount(r.migrated)} image(s) in ${formatCount(r.migratedRows)} row(s)/file(s)`],
      ['skipped (already migrated)', formatCount(r.skipped)],
      ['failed', formatCount(r.failed)],
      ['bytes before', `${formatBytes(r.bytesBefore)} (${formatCount(r.bytesBefore)})`],
      [r.dryRun ? 'bytes after (estimated)' : 'bytes after', `${formatBytes(r.bytesAfter)} (${formatCount(r.bytesAfter)})`],
      [r.dryRun ? 'estimated savings' : 'saved', `${formatBytes(r.savedBytes)} (ratio ${r.ratio})`],
      ...(r.deletedOriginals ? [['originals deleted', `${formatCount(r.deletedOriginals)} (${formatBytes(r.deletedBytes)})`] as [string, string]] : []),
      ...(r.keptShared ? [['originals kept (shared)', `${formatCount(r.keptShared)}: rows not migrated yet name them`] as [string, string]] : []),
      ['time', `${formatDuration(r.elapsedMs)} (${r.imagesPerSecond} images/s)`],
      ...(r.limitReached ? [['limit', 'reached: run again to continue'] as [string, string]] : []),
    ]),
  );
  if (r.sources.length > 1) {
    out.push(
      renderTable(
        ['source', 'migrated', 'skipped', 'failed', 'before', 'after'],
        r.sources.map((s) => [s.source, s.migratedImages, s.skipped, s.failed, formatBytes(s.bytesBefore), formatBytes(s.bytesAfter)]),
        { tty },
      ),
    );
  }
  if (r.byFormat.length) {
    out.push(renderTable(['format', 'images', 'before', 'after'], r.byFormat.map((f) => [f.format, f.images, formatBytes(f.bytesBefore), formatBytes(f.bytesAfter)]), { tty }));
  }
  for (const d of r.downscaled) out.push(safe`downscaled to fit  ${d.path} -> ${d.width}x${d.height}, ${formatBytes(d.bytes)}`);
  for (const f of r.failures) {
    const fileSource = f.source === 'store' || f.source.startsWith('dir:');
    out.push(safe`failed  ${fileSource ? (f.path ?? f.key) : `${f.source} key ${f.key}${f.path ? ` ${f.path}` : ''}`}: ${f.reason}`);
  }
  if (r.failuresTruncated) out.push(safe`(more failures than listed: ${formatCount(r.failed)} in all)`);
  return out.join('\n') + '\n';
}
