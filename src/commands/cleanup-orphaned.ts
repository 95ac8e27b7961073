import { defineCommand } from './define.ts';
import { EXIT } from '../errors.ts';
import type { OrphanReport } from '../ops/lifecycle/orphans.ts';
import { formatBytes, formatCount, safe } from '../ui/format.ts';
import { renderPairs } from '../ui/table.ts';
import { allowEmptyRootOption, durationOption, flag, num, parseAllowEmptyRoot, parseMaxDelete, parseWait, text, waitOption } from './common-options.ts';

/** What `cleanup-orphaned` is asked; absent values take the config file's cleanup.orphans, then the defaults. */
export interface CleanupOrphanedOptions {
  dryRun: boolean;
  list: boolean;
  minAgeMs?: number;
  /** --quarantine DIR as given (resolved against the working directory by run). */
  quarantine?: string;
  maxDelete?: string;
  waitMs: number;
  allowEmptyCatalog: boolean;
  allowEmptyRoot: boolean;
}

export default defineCommand({
  name: 'cleanup-orphaned',
  summary: 'Delete files that have no catalog row; mark rows whose file is gone as missing',
  description:
    "Walk the data tree and the catalog together (both in byte order, neither held in memory). Files with no catalog row, older than --min-age and not inside the directory of a job still being produced, are deleted (or moved with --quarantine DIR); present rows whose file is gone are marked missing (rows are kept); directories emptied are removed. Symlinks are never followed or deleted: they are reported as anomalies. Refuses (exit 2) when the catalog is empty beside a full tree, the root is empty beside a full catalog, or more than --max-delete (default 10% of the files walked) would go. On an S3 store (--root s3://BUCKET/PREFIX) the bucket is listed under the prefix (ListObjectsV2, byte order) against the catalog; the grace age is the object's LastModified; orphans are re-checked by HEAD (size, ETag) and removed with DeleteObjects; an empty listing beside present rows is refused (exit 2); with --quarantine DIR each orphan object is first written into DIR (fsynced), then removed with the same re-check.",
  examples: [
    'storectl cleanup-orphaned --dry-run',
    'storectl cleanup-orphaned --yes --min-age 6h',
    'storectl cleanup-orphaned --yes --quarantine /var/quarantine/storectl',
    'storectl cleanup-orphaned --yes --max-delete 25% --wait 600 --json',
  ],
  recordRun: true,
  options: (cmd) =>
    cmd
      .option('--dry-run', 'list what would be done; change nothing')
      .option('--list', 'list every path (a dry run always does)')
      .option('--min-age <duration>', 'leave orphans younger than this alone (default 1h)', durationOption)
      .option('--quarantine <dir>', 'move orphans under DIR (outside the data tree) instead of deleting them')
      .option('--max-delete <n>', 'refuse to delete more than N files or N% of the files walked (default 10%)')
      .addOption(waitOption())
      .option('--allow-empty-catalog', 'proceed although the catalog has no rows beside a tree with files')
      .addOption(allowEmptyRootOption()),
  parse: (_args, raw): CleanupOrphanedOptions => ({
    dryRun: flag(raw, 'dryRun'),
    list: flag(raw, 'list'),
    minAgeMs: num(raw, 'minAge'),
    quarantine: text(raw, 'quarantine'),
    maxDelete: parseMaxDelete(raw),
    waitMs: parseWait(raw),
    allowEmptyCatalog: flag(raw, 'allowEmptyCatalog'),
    allowEmptyRoot: parseAllowEmptyRoot(raw),
  }),
  async run(opts, env) {
    const { loadCleanupConfig } = await import('../ops/lifecycle/rules.ts');
    const config = loadCleanupConfig(env.config().sections.cleanup);
    const { dryRun } = opts;
    const maxDelete = opts.maxDelete ?? config.orphans.maxDelete ?? '10%';
    const quarantine = opts.quarantine !== undefined ? (await import('node:path')).resolve(env.ui.io.cwd, opts.quarantine) : undefined;
    const ctx = await env.openContext({ createRoot: false, createCatalog: false, readOnly: dryRun, s3: true });
    const { runCleanupOrphaned } = await import('../ops/lifecycle/orphans.ts');
    const report = await runCleanupOrphaned(ctx, {
      dryRun,
      minAgeMs: opts.minAgeMs ?? config.orphans.minAgeMs ?? 3_600_000,
      maxDelete,
      quarantine,
      waitMs: opts.waitMs,
      list: opts.list,
      allowEmptyCatalog: opts.allowEmptyCatalog,
      allowEmptyRoot: opts.allowEmptyRoot,
      confirm: (p) =>
        env.confirm(
          `${quarantine ? 'Move' : 'Delete'} ${formatCount(p.orphans)} orphan files (${formatBytes(p.bytes)}) and mark ${formatCount(p.missing)} missing rows?`,
          orphanPreface(p, Boolean(quarantine)),
        ),
    });
    const r = report.result;
    return {
      report,
      dryRun,
      text: () => renderOrphans(report),
      exitCode: report.failed.length ? EXIT.PARTIAL : EXIT.OK,
      failures: report.failed.map((f) => `${f.path}: ${f.reason}`),
      totals: r
        ? { filesDeleted: r.deleted, filesMoved: r.moved, bytesFreed: r.bytes, markedMissing: r.markedMissing, revived: r.revived, changed: report.changed.length, failed: report.failed.length }
        : { orphanFiles: report.orphans.files, orphanBytes: report.orphans.bytes, missingFiles: report.missing.files },
    };
  },
});

function renderOrphans(r: OrphanReport): string {
  const out: string[] = [];
  const verb = r.quarantine ? 'move' : 'delete';
  for (const p of r.orphans.paths) out.push(safe`orphan   ${p}\n`);
  for (const p of r.missing.paths) out.push(safe`missing  ${p}\n`);
  for (const p of r.revived.paths) out.push(safe`back     ${p}\n`);
  for (const p of r.anomalies) out.push(safe`anomaly  ${p}\n`);
  for (const c of r.changed) out.push(safe`changed  ${c.path}: ${c.reason}\n`);
  for (const f of r.failed) out.push(safe`failed   ${f.path}: ${f.reason}\n`);
  if (!r.listsComplete && (r.orphans.paths.length < r.orphans.files || r.missing.paths.length < r.missing.files)) out.push('(first paths only: --list shows all)\n');
  const pairs: [string, string][] = [
    ['files walked', formatCount(r.walkedFiles)],
    ['orphan files', `${formatCount(r.orphans.files)} (${formatBytes(r.orphans.bytes)})`],
    ['younger than min-age (kept)', formatCount(r.young)],
    ['in a job being produced (kept)', formatCount(r.inProgress)],
    ['missing files', `${formatCount(r.missing.files)} (${formatBytes(r.missing.bytes)})`],
    ['files back (missing -> present)', `${formatCount(r.revived.files)} (${formatBytes(r.revived.bytes)})`],
    ['anomalies', formatCount(r.anomalies.length)],
  ];
  if (r.result) {
    pairs.push([r.quarantine ? 'moved' : 'deleted', `${formatCount(r.result.deleted + r.result.moved)} (${formatBytes(r.result.bytes)})`]);
    pairs.push(['marked missing', formatCount(r.result.markedMissing)]);
    pairs.push(['marked present again', formatCount(r.result.revived)]);
    pairs.push(['directories removed', formatCount(r.result.dirsRemoved)]);
  }
  out.push(renderPairs(pairs));
  if (r.dryRun) out.push(safe`dry run: would ${verb} ${formatCount(r.orphans.files)} orphan files and mark ${formatCount(r.missing.files)} rows missing; nothing changed\n`);
  return out.join('');
}

/** Up to a screenful of the paths a prompt is about, then how many more, then what cannot be undone. */
function orphanPreface(p: { orphans: number; missing: number; orphanPaths: readonly string[]; missingPaths: readonly string[] }, quarantine: boolean): string {
  const SCREEN = 20;
  let out = '';
  const list = (label: string, paths: readonly string[], total: number) => {
    for (const x of paths.slice(0, SCREEN)) out += safe`${label}  ${x}\n`;
    if (total > Math.min(SCREEN, paths.length)) out += `... and ${formatCount(total - Math.min(SCREEN, paths.length))} more (all of them: --dry-run --list)\n`;
  };
  list(quarantine ? 'move   ' : 'delete ', p.orphanPaths, p.orphans);
  list('missing', p.missingPaths, p.missing);
  out += quarantine
    ? 'The files are moved into the quarantine directory, not deleted.\n'
    : 'Orphans have no catalog row: once deleted they come back only from a backup taken while they were there.\n';
  return out;
}
