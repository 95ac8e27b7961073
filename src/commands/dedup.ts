import { Option } from 'commander';
import { defineCommand } from './define.ts';
import { flag, intOption, num, parseWait, text, waitOption } from './common-options.ts';
import { EXIT } from '../errors.ts';
import type { DedupMode, DedupOptions as DedupRunOptions, DedupReport } from '../ops/dedup.ts';
import { formatBytes, formatCount, formatDuration } from '../ui/format.ts';
import { renderPairs } from '../ui/table.ts';

/** What `dedup` is asked. */
export type DedupOptions = DedupRunOptions & {
  threads?: number;
};

export default defineCommand({
  name: 'dedup',
  summary: 'Replace identical copies of a file by hard links (or reflinks) to one of them',
  description:
    "Group present files by SHA-256 and size straight from the catalog (no re-hashing; one owner's files together, or across owners with --across-owners) and report the groups, their copies on disk and the bytes linking would free, largest first (--dry-run stops there). A real run takes the store lock and, per group, reads one name of each copy back (size and SHA-256 against the catalog), keeps the copy most names already share, and replaces every other name by a link to it: each is re-checked just before (device, inode, size, mtime as read back), linked to a temp name under .storectl/staging and renamed over the name, so a crash at any point leaves every path with its full content. The catalog records which files share content (as put --on-duplicate link does); stats counts their bytes on disk once. Deleting one linked file (delete, cleanup-expired, cleanup-orphaned) removes that name only. --mode hardlink (default); reflink makes copy-on-write clones and is refused (exit 2) where the file system has none; auto uses reflinks where supported, else hard links. On an S3 store only --dry-run works (objects cannot share content by link); a real run is refused (exit 2). Exit 3 when some files were skipped (changed since planning, or they read back wrong: run verify).",
  examples: ['storectl dedup --dry-run', 'storectl dedup --owner acme --yes', 'storectl dedup --across-owners --mode auto --yes --json'],
  recordRun: true,
  options: (cmd) =>
    cmd
      .option('--dry-run', 'report the groups and the bytes linking would free; change nothing')
      .option('--owner <owner>', "only this owner's files")
      .option('--across-owners', 'let files of different owners share content (off by default)')
      .addOption(new Option('--mode <mode>', 'hardlink, reflink (copy-on-write clones; exit 2 where unsupported) or auto (reflink, else hardlink)').choices(['hardlink', 'reflink', 'auto']).default('hardlink'))
      .option('--top <n>', 'list the N largest groups (0: all; the totals cover every group)', intOption(0), 20)
      .option('--threads <n>', 'reading threads (default: the cores, at most 4)', intOption(1, 64))
      .addOption(waitOption()),
  parse: (_args, raw): DedupOptions => ({
    dryRun: flag(raw, 'dryRun'),
    owner: text(raw, 'owner'),
    acrossOwners: flag(raw, 'acrossOwners'),
    mode: raw.mode as DedupMode,
    top: raw.top as number,
    threads: num(raw, 'threads'),
    waitMs: parseWait(raw),
  }),
  async run(opts, env) {
    const { dryRun } = opts;
    const ctx = await env.openContext({ createRoot: false, createCatalog: false, s3: true, readOnly: dryRun });
    const { runDedup } = await import('../ops/dedup.ts');
    const report = await runDedup(ctx, {
      ...opts,
      confirm: (p) => env.confirm(`Link ${formatCount(p.copies - p.groups)} copies in ${formatCount(p.groups)} groups (frees ${formatBytes(p.freeableBytes)})?`),
    });
    const r = report.result;
    return {
      report,
      dryRun,
      text: () => renderDedup(report),
      exitCode: r && r.skipped.length ? EXIT.PARTIAL : EXIT.OK,
      totals: r
        ? { groups: report.plan.groups, groupsLinked: r.groupsLinked, filesLinked: r.filesLinked, alreadyShared: r.alreadyShared, bytesFreed: r.bytesFreed, skipped: r.skipped.length }
        : { groups: report.plan.groups, copies: report.plan.copies, freeableBytes: report.plan.freeableBytes },
    };
  },
});

function renderDedup(r: DedupReport): string {
  const out: string[] = [];
  for (const g of r.groups) {
    const who = g.owner === null ? 'across owners' : `owner ${JSON.stringify(g.owner)}`;
    const done = g.outcome ? `  ${g.outcome}${g.linked ? ` (${g.linked} linked to ${g.keep})` : ''}` : '';
    out.push(`${formatBytes(g.freeable).padStart(10)}  ${g.copies} copies of ${formatBytes(g.size)}, ${g.files} files, ${who}, sha256 ${g.sha256.slice(0, 12)}...${done}\n`);
  }
  if (r.groupsNotListed) out.push(`... and ${formatCount(r.groupsNotListed)} smaller groups (--top 0 lists all)\n`);
  for (const s of r.result?.skipped ?? []) out.push(`skipped  ${s.path}: ${s.reason}\n`);
  const pairs: [string, string | number][] = [
    ['groups', `${formatCount(r.plan.groups)} (${formatCount(r.plan.files)} files, ${formatCount(r.plan.copies)} copies on disk)`],
    [r.dryRun ? 'linking would free' : 'planned to free', formatBytes(r.plan.freeableBytes)],
  ];
  if (r.reportOnly) pairs.push(['report only', r.reportOnly]);
  if (r.result) {
    pairs.push(['mode', r.modeUsed ?? r.mode]);
    pairs.push(['linked', `${formatCount(r.result.filesLinked)} files in ${formatCount(r.result.groupsLinked)} groups`]);
    pairs.push(['freed', formatBytes(r.result.bytesFreed)]);
    if (r.result.alreadyShared) pairs.push(['already sharing (recorded)', formatCount(r.result.alreadyShared)]);
    pairs.push(['skipped', formatCount(r.result.skipped.length)]);
  }
  pairs.push(['took', formatDuration(r.durationMs)]);
  if (r.dryRun) out.push('dry run: nothing changed\n');
  return out.join('') + renderPairs(pairs);
}
