import { defineCommand } from './define.ts';
import { flag, parseAsOf, parseWait, text, waitOption } from './common-options.ts';
import { EXIT, UsageError } from '../errors.ts';
import type { TransitionReport } from '../ops/tiers/transition.ts';
import type { CompressReport } from '../ops/tiers/compress.ts';
import { formatBytes, formatCount, safe } from '../ui/format.ts';
import { renderPairs, renderTable } from '../ui/table.ts';
import { hasFilter } from '../ops/access/select.ts';
import { jobSelectionOptions, parseJobSelection, readJobSelection, type JobSelectionOptions } from './job-selection.ts';

/** What `tier` is asked: move chosen jobs --to a tier, apply the transition rules, or compress. */
export interface TierOptions {
  selection: JobSelectionOptions;
  to?: string;
  dryRun: boolean;
  list: boolean;
  asOf: Date;
  /** --as-of is later than the time the options were parsed (a real run refuses it). */
  asOfLater: boolean;
  /** --max-move as given (checked); absent: cleanup.maxMove. */
  maxMove?: string;
  /** --max-compress as given (checked); absent: compression.maxCompress. */
  maxCompress?: string;
  /** --compress: true alone (the configured algorithm), or the algorithm named. */
  compress?: true | string;
  waitMs: number;
}

export default defineCommand({
  name: 'tier',
  summary: 'Move jobs between storage tiers (hot, warm, cold): by the transition rules, or chosen jobs by hand',
  description:
    "Move whole jobs' files between the tiers the config names (section `tiers`: hot is the store root; e.g. warm: /mnt/slow/store, cold: {url: s3://archive/cards, storageClass: GLACIER_IR}). Without JOB_IDs or filters it applies the transition rules (cleanup section, action transition; the shipped completed-to-cold rule is off until enabled), evaluated --as-of TIME; with JOB_IDs (or --from and the filters of delete) and --to TIER it moves those jobs, for example back to hot for a reprint. Each file moves with a crash-safe protocol: intent recorded in the catalog, copy to the target tier, read back there and checked (size and SHA-256), the row's tier switched (with an event), then the source copy removed through the deletion gate of its tier. kill -9 at any point: the next run finishes what is in flight first, so each file is read from exactly the tier its row names and no copy is removed before its replacement is verified. --dry-run shows exactly what a real run moves. One run at a time per store (exit 75, or --wait); --max-move caps the files of one run (config cleanup.maxMove). get, url, export and verify read a file from its tier; cleanup-expired and delete delete it there. --compress [gzip|br|zstd] compresses the chosen jobs' files where they are (without jobs: by the compress rules; with --to: after the move) where it saves at least compression.minSaving (default 10%); already-compressed content (PNG, JPEG, WebP, zip) is left as it is and reported not worth it; a real run remembers that verdict per content and settings, so later runs skip those files unread (knownNotWorthIt) until the content changes; --max-compress caps the files of a compress run (config compression.maxCompress). An S3 tier with pack: true (config tiers.NAME.pack, packThreshold default 1MiB) gets each job's small files in one pack object per job (.packs/JOB-HASH.pack: the members' bytes, a JSON index, a footer), uploaded, read back and checked member by member before the rows switch; each file stays readable alone (a ranged GET, its SHA-256 checked); deleting a member only drops its row's claim until the last one goes, which removes the pack; a pack no row names (an interrupted run's) is removed at the start of the next run; url refuses a packed file. Every configured tier is opened before the run starts: a tier that cannot be opened (bad URL, missing bucket, unreachable directory) is one line, exit 2, nothing changed. The compressed copy is staged, read back and decompressed against the row's SHA-256, then replaces the file in one atomic write, read back again, and the row records its encoding and stored size (size and SHA-256 stay the original's); kill -9 at any point: a rerun finishes or abandons it, every file stays readable.",
  args: '[job_ids...]',
  examples: [
    'storectl tier --dry-run --list                       # what the transition rules would move now',
    'storectl tier --dry-run --as-of +30d                 # ... and in a month',
    'storectl tier --yes --json                           # from cron',
    'storectl tier card-20261120-1a2b3c4d --to hot --yes  # bring a job back for a reprint',
    'storectl tier --owner acme --older-than 30d --to warm --dry-run',
    'storectl tier --kind export --status completed --older-than 7d --compress --dry-run --list',
  ],
  recordRun: true,
  options: (cmd) =>
    jobSelectionOptions(cmd)
      .option('--to <tier>', 'the tier to move the chosen jobs to (hot, or a name from the config\'s tiers)')
      .option('--dry-run', 'print the plan; change nothing')
      .option('--list', 'list every path with its move (dry run: what would be moved; real run: what was)')
      .option('--as-of <time>', 'evaluate the transition rules at TIME (ISO 8601, or +30d / -12h from now); later than now needs --dry-run')
      .option('--max-move <n>', 'refuse to move more than N files or N% of the present files')
      .option('--max-compress <n>', 'with --compress: refuse to compress more than N files or N% of the present files (config compression.maxCompress)')
      .option('--compress [algorithm]', 'compress the files (gzip or br; zstd where node:zlib has it; default: config compression.algorithm, else gzip) where it saves at least compression.minSaving (default 10%); with --to, after the move; without jobs, by the compress rules')
      .addOption(waitOption()),
  async parse(args, raw): Promise<TierOptions> {
    const { checkMaxDelete } = await import('../ops/lifecycle/rules.ts');
    const now = new Date();
    const asOf = parseAsOf(text(raw, 'asOf'), now);
    const selection = parseJobSelection(args, raw);
    return {
      selection,
      to: text(raw, 'to'),
      dryRun: flag(raw, 'dryRun'),
      list: flag(raw, 'list'),
      asOf,
      asOfLater: asOf.getTime() > now.getTime() + 1000,
      maxMove: raw.maxMove !== undefined ? checkMaxDelete('--max-move', String(raw.maxMove)) : undefined,
      maxCompress: raw.maxCompress !== undefined ? checkMaxDelete('--max-compress', String(raw.maxCompress)) : undefined,
      compress: raw.compress === undefined || raw.compress === false ? undefined : raw.compress === true ? true : String(raw.compress),
      waitMs: parseWait(raw),
    };
  },
  async run(opts, env) {
    const { loadCleanupConfig } = await import('../ops/lifecycle/rules.ts');
    const { tierSettings } = await import('../config.ts');
    const config = loadCleanupConfig(env.config().sections.cleanup, { tiers: Object.keys(tierSettings(env.config())) });
    const { asOf, dryRun } = opts;
    const sel = await readJobSelection(opts.selection, env.ui.io);
    const chosen = sel.ids.length > 0 || hasFilter(sel);
    const compress = opts.compress !== undefined;
    if (chosen && opts.to === undefined && !compress) throw new UsageError('chosen jobs need --to TIER', 'e.g. storectl tier JOB_ID --to hot; without jobs, tier applies the transition rules');
    if (!chosen && opts.to !== undefined) throw new UsageError('--to needs the jobs to move', 'give JOB_IDs, --from FILE, or a filter (--owner, --status, --kind, --older-than)');
    if (opts.maxCompress !== undefined && !compress) throw new UsageError('--max-compress caps a compress run', 'add --compress, or use --max-move to cap a move');
    if (opts.asOfLater && !dryRun) throw new UsageError('--as-of later than now moves files before they are due', 'add --dry-run to see what that run would do');
    const runCompressStep = async (ctx: Awaited<ReturnType<typeof env.openContext>>): Promise<CompressReport> => {
      const { compressionSettings } = await import('../config.ts');
      const settings = compressionSettings(env.config());
      const algorithm = typeof opts.compress === 'string' ? opts.compress : settings.algorithm;
      if (!['gzip', 'br', 'zstd'].includes(algorithm)) throw new UsageError(`unknown --compress ${JSON.stringify(algorithm)}`, 'gzip, br or zstd');
      const { runCompress } = await import('../ops/tiers/compress.ts');
      return runCompress(ctx, {
        dryRun,
        asOf,
        manual: chosen ? { selection: sel } : undefined,
        rules: config.rules,
        algorithm: algorithm as CompressReport['algorithm'],
        minSaving: settings.minSaving,
        maxCompress: opts.maxCompress ?? settings.maxCompress,
        maxCompressSource: opts.maxCompress !== undefined ? '--max-compress' : 'compression.maxCompress',
        list: opts.list,
        waitMs: opts.waitMs,
        confirm: (p) => env.confirm(`Compress the files of ${formatCount(p.jobs)} jobs (${formatCount(p.files)} files, ${formatBytes(p.bytes)}) where it is worth it?`),
      });
    };
    if (compress && opts.to === undefined) {
      const ctx = await env.openContext({ createRoot: false, createCatalog: false, readOnly: dryRun, s3: true });
      const report = await runCompressStep(ctx);
      for (const id of report.unknown) env.ui.log.warn(`no job ${JSON.stringify(id)} in the catalog`);
      return {
        report,
        dryRun,
        text: () => renderCompress(report, env.ui.stdoutTTY),
        exitCode: report.failed.length ? EXIT.PARTIAL : report.unknown.length ? EXIT.NOT_FOUND : EXIT.OK,
        totals: compressTotals(report),
      };
    }
    const maxMove = opts.maxMove ?? config.maxMove;
    const ctx = await env.openContext({ createRoot: false, createCatalog: false, readOnly: dryRun, s3: true });
    // To a tier that packs: compress first, where the files are, so that each pack member holds
    // the compressed bytes (a pack is not rewritten in place afterwards).
    const compressFirst = compress && opts.to !== undefined && Boolean(ctx.tiers?.place(opts.to)?.pack) ? await runCompressStep(ctx) : undefined;
    const { runTransition } = await import('../ops/tiers/transition.ts');
    const report = await runTransition(ctx, {
      dryRun,
      asOf,
      manual: chosen ? { selection: sel, to: opts.to! } : undefined,
      rules: config.rules,
      list: opts.list,
      maxMove,
      maxMoveSource: opts.maxMove !== undefined ? '--max-move' : 'cleanup.maxMove',
      waitMs: opts.waitMs,
      confirm: (p) => env.confirm(`Move ${formatCount(p.files)} files (${formatBytes(p.bytes)}) of ${formatCount(p.jobs)} jobs to another tier?`),
    });
    for (const id of report.unknown) env.ui.log.warn(`no job ${JSON.stringify(id)} in the catalog`);
    const r = report.result;
    // --to with --compress: the moved jobs are compressed in their new tier (a dry run: where they are now).
    const compression = compressFirst ?? (compress ? await runCompressStep(ctx) : undefined);
    return {
      report: compression ? { ...report, compression } : report,
      dryRun,
      text: () => renderTier(report, env.ui.stdoutTTY) + (compression ? renderCompress(compression, env.ui.stdoutTTY) : ''),
      exitCode: report.failed.length || compression?.failed.length ? EXIT.PARTIAL : report.unknown.length ? EXIT.NOT_FOUND : EXIT.OK,
      totals: r
        ? { jobs: r.jobs, filesMoved: r.files, bytesMoved: r.bytes, recovered: r.recovered, leftoversRemoved: r.leftoversRemoved, changed: report.changed.length, failed: report.failed.length }
        : { plannedJobs: report.plan.jobs, plannedFiles: report.plan.files, plannedBytes: report.plan.bytes, interrupted: report.interrupted },
    };
  },
});

function renderTier(r: TransitionReport, tty: boolean): string {
  const out: string[] = [];
  const rows = r.plan.byRule;
  if (rows.length) out.push(renderTable(['rule', 'to', 'jobs', 'files', 'size'], rows.map((x) => [x.rule, x.to, x.jobs, x.files, formatBytes(x.bytes)]), { tty }));
  for (const x of r.list ?? []) out.push(safe`${x.outcome}  ${x.path}  ${x.from} -> ${x.to}  rule=${x.rule}\n`);
  for (const c of r.changed) out.push(safe`changed  ${c.path || c.jobId}: ${c.reason}\n`);
  for (const f of r.failed) out.push(safe`failed   ${f.path}: ${f.reason}\n`);
  if (r.dryRun) {
    out.push(
      `dry run as of ${r.asOf.replace(/\.\d{3}Z$/, 'Z')}: would move ${formatCount(r.plan.files)} files (${formatBytes(r.plan.bytes)}) of ${formatCount(r.plan.jobs)} jobs` +
        (r.interrupted ? `; ${r.interrupted} files left in flight by an interrupted run will be finished first` : '') +
        (r.packs.planned ? `; ${formatCount(r.packs.files)} of them into ${formatCount(r.packs.planned)} packs` : '') +
        (r.packs.strays ? `; ${r.packs.strays} packs no file names (an interrupted run's) will be removed first` : '') +
        '; nothing changed\n',
    );
    if (r.cap?.refused) out.push(`the real run would be refused by the cap: ${r.cap.reason}\n`);
  } else if (r.result) {
    const x = r.result;
    out.push(
      renderPairs([
        ['moved', `${formatCount(x.files)} files (${formatBytes(x.bytes)}) of ${formatCount(x.jobs)} jobs`],
        ...x.byTarget.map((t): [string, string] => [`  to ${t.tier}`, `${formatCount(t.files)} files (${formatBytes(t.bytes)}) of ${formatCount(t.jobs)} jobs`]),
        ['finished from an interrupted run', formatCount(x.recovered)],
        ['source copies removed', formatCount(x.leftoversRemoved)],
        ...(x.packed.packs || x.packsRemoved ? [['packed', `${formatCount(x.packed.files)} files (${formatBytes(x.packed.bytes)}) into ${formatCount(x.packed.packs)} packs; ${formatCount(x.packsRemoved)} packs removed`] as [string, string]] : []),
        ['changed since planning (kept)', formatCount(r.changed.length)],
        ['failed (kept where they were)', formatCount(r.failed.length)],
      ]),
    );
  }
  return out.join('');
}

function compressTotals(r: CompressReport) {
  return { compressed: r.result.compressed, bytesBefore: r.result.bytesBefore, bytesAfter: r.result.bytesAfter, notWorthIt: r.result.notWorthIt, knownNotWorthIt: r.knownNotWorthIt, recovered: r.recovered, failed: r.failed.length };
}

function renderCompress(r: CompressReport, tty: boolean): string {
  const out: string[] = [];
  const pct = (a: number, b: number) => (b ? `${Math.round((1 - a / b) * 100)}%` : '-');
  if (r.byCategory.length) {
    out.push(
      renderTable(
        ['category', 'files', 'size', r.dryRun ? 'would compress' : 'compressed', 'stored', 'saved', 'not worth it', 'known not worth it'],
        r.byCategory.map((c) => [c.category, c.files, formatBytes(c.bytes), c.compressed, formatBytes(c.storedBytes), pct(c.storedBytes, c.compressedBytes), c.notWorthIt, c.knownNotWorthIt]),
        { tty },
      ),
    );
  }
  for (const x of r.list ?? []) out.push(safe`${x.outcome}  ${x.path}  ${x.size} -> ${x.storedSize ?? x.size}${x.reason ? `  (${x.reason})` : ''}\n`);
  for (const c of r.changed) out.push(safe`changed  ${c.path}: ${c.reason}\n`);
  for (const f of r.failed) out.push(safe`failed   ${f.path}: ${f.reason}\n`);
  const x = r.result;
  out.push(
    `${r.dryRun ? 'dry run: would compress' : 'compressed'} ${formatCount(x.compressed)} of ${formatCount(r.plan.files)} files with ${r.algorithm}: ${formatBytes(x.bytesBefore)} -> ${formatBytes(x.bytesAfter)} (${pct(x.bytesAfter, x.bytesBefore)} saved); ${formatCount(x.notWorthIt)} not worth it (saving under ${Math.round(r.minSaving * 100)}%, or compressed already)` +
      (r.knownNotWorthIt ? `; ${formatCount(r.knownNotWorthIt)} skipped unread, known not worth it from an earlier run` : '') +
      (r.recovered ? `; ${r.recovered} finished from an interrupted run` : r.interrupted && r.dryRun ? `; ${r.interrupted} left in flight by an interrupted run will be finished first` : '') +
      (r.dryRun ? '; nothing changed' : '') +
      '\n',
  );
  if (r.dryRun && r.cap?.refused) out.push(`the real run would be refused by the cap: ${r.cap.reason}\n`);
  return out.join('');
}
