import path from 'node:path';
import { defineCommand, type CommandEnv, type CommandOutcome } from './define.ts';
import type { BackupListReport } from '../ops/backup/list.ts';
import type { RunRecord } from '../db/types.ts';
import { flag, intOption, kebab, num, parseWait, text, waitOption } from './common-options.ts';
import type { ArchiveFormat } from '../ops/backup/archive-writer.ts';
import { Option } from 'commander';
import { EXIT, UsageError, errorMessage } from '../errors.ts';
import type { BackupReport, PruneReport } from '../ops/backup/backup.ts';
import type { RetentionRules } from '../ops/backup/retention.ts';
import { formatBytes, formatCount, formatDuration, safe } from '../ui/format.ts';
import { renderPairs, renderTable } from '../ui/table.ts';

/**
 * What `backup` is asked, as the flags say it: `run` fills what they leave open from the config
 * file's backup section (flags win; its dir and rules apply unless --output is given).
 */
export interface BackupOptions {
  /** `backup list`: list the backups in --dir. */
  list: boolean;
  output?: string;
  dir?: string;
  format?: ArchiveFormat;
  /** true with --metadata-only; absent: the config file decides. */
  metadataOnly?: true;
  retention: RetentionRules;
  prune: boolean;
  dryRun: boolean;
  waitMs: number;
}

export default defineCommand({
  name: 'backup',
  summary: 'Write one verified archive of the catalog and the files (tar.gz or zip)',
  description:
    "Write one archive holding a manifest (format and schema versions, source dialect, counts, and every file's path, size and SHA-256), the catalog as dialect-neutral NDJSON per table read in one snapshot, and the file of every present row under files/. Each file is read once, hashed while read and checked against its row: a file that vanished is reported (exit 3), one whose size or SHA-256 disagrees (exit 4); neither is archived as good. Already compressed content (PNG, PDF, JPEG, WebP, zip) is stored, the rest deflated. Content the catalog records as shared (dedup, put --on-duplicate link) is stored once: a later name of the group has no entry of its own, its manifest line names the entry holding the bytes, and it is checked (same inode, or read and hashed) like any file. The archive is written under a temporary name, fsynced and renamed into place, mode 0600. Restore it with `storectl restore`, into SQLite or PostgreSQL. Each backup is recorded in the catalog's runs (archive, size, files, verified, exit code) once it has ended, and `stats` shows the last ones. `storectl backup list --dir DIR` lists the backups in DIR, newest first: name, time, size, format, files, its state (good; partial: files left out; set aside: it was read back and did not verify) and whether it was read back after writing (backups with retention rules are); the directory alone is enough, the store's records add the file counts.",
  args: '[action]',
  recordRun: 'when-done',
  examples: [
    'storectl backup --output /backups/store.tar.gz',
    'storectl backup --dir /backups --keep 7 --prune-older-than 30d',
    'storectl backup --dir /backups --keep-daily 7 --keep-weekly 5 --keep-monthly 12',
    'storectl backup --dir /backups --prune --dry-run --keep-daily 7 --keep-monthly 6',
    'storectl backup --dir /backups --format zip --json',
    'storectl backup --metadata-only --output catalog-only.tar.gz',
    'storectl backup list --dir /backups',
  ],
  options: (cmd) =>
    cmd
      .option('-o, --output <path>', 'write the archive to PATH (replaced atomically if it exists)')
      .option('--dir <dir>', 'write storectl-backup-<UTC timestamp>.<format> into DIR (created 0750 if missing)')
      .addOption(new Option('--format <format>', 'archive format').choices(['tar.gz', 'zip']))
      .option('--metadata-only', 'archive the catalog only, no files')
      .option('--keep <n>', 'with --dir: keep the N newest good backups, delete older ones', intOption(1, 100_000))
      .option('--keep-daily <n>', 'with --dir: keep the newest good backup of each of the last N days (UTC) that have one', intOption(1, 100_000))
      .option('--keep-weekly <n>', 'with --dir: keep the newest good backup of each of the last N ISO weeks that have one', intOption(1, 100_000))
      .option('--keep-monthly <n>', 'with --dir: keep the newest good backup of each of the last N months that have one', intOption(1, 100_000))
      .option('--prune-older-than <age>', 'with --dir: delete good backups older than AGE (e.g. 30d, 12h, 2w), even if a --keep rule keeps them')
      .option('--prune', 'with --dir: apply the retention rules only; write no backup')
      .option('--dry-run', 'with --prune: show what the rules keep (and why) and what they would delete; delete nothing')
      .addOption(waitOption()),
  async parse(args, raw): Promise<BackupOptions> {
    const action = args[0];
    if (action !== undefined && action !== 'list') {
      throw new UsageError(`unknown backup action ${JSON.stringify(action)}`, 'the only action is `storectl backup list --dir DIR`; without one, backup writes an archive');
    }
    if (action === 'list') {
      const others = ['output', 'format', 'metadataOnly', 'keep', 'keepDaily', 'keepWeekly', 'keepMonthly', 'pruneOlderThan', 'prune', 'dryRun', 'wait'].filter((k) => raw[k] !== undefined);
      if (others.length) throw new UsageError(`backup list takes --dir only (not --${others.map(kebab).join(', --')})`, 'storectl backup list --dir DIR');
    }
    const pruneOlderThan = text(raw, 'pruneOlderThan');
    const pruneOlderThanMs = pruneOlderThan === undefined ? undefined : ageOf(pruneOlderThan, (await import('../ops/backup/retention.ts')).parseAge);
    return {
      list: action === 'list',
      output: text(raw, 'output'),
      dir: text(raw, 'dir'),
      format: raw.format as ArchiveFormat | undefined,
      metadataOnly: raw.metadataOnly === undefined ? undefined : true,
      retention: { keep: num(raw, 'keep'), keepDaily: num(raw, 'keepDaily'), keepWeekly: num(raw, 'keepWeekly'), keepMonthly: num(raw, 'keepMonthly'), olderThanMs: pruneOlderThanMs },
      prune: flag(raw, 'prune'),
      dryRun: flag(raw, 'dryRun'),
      waitMs: parseWait(raw),
    };
  },
  async run(opts, env) {
    if (opts.list) return listRun(opts, env);
    const { parseAge } = await import('../ops/backup/retention.ts');
    const { backupSettings } = await import('../config.ts');
    // The config file's backup section gives defaults: flags win; its dir and rules apply unless --output is given.
    const settings = backupSettings(env.config());
    const { output } = opts;
    const dir = opts.dir ?? (output ? undefined : settings.dir);
    const retention: RetentionRules = { ...opts.retention };
    if (!output) {
      retention.keep ??= settings.keep;
      retention.keepDaily ??= settings.keepDaily;
      retention.keepWeekly ??= settings.keepWeekly;
      retention.keepMonthly ??= settings.keepMonthly;
      if (retention.olderThanMs === undefined && settings.pruneOlderThan !== undefined) retention.olderThanMs = ageOf(settings.pruneOlderThan, parseAge);
    }
    // The archive name's extension is a flag too: a --format that contradicts it is refused; the
    // config file's format gives way to it (flags win).
    const named = output ? formatOfName(output) : undefined;
    if (opts.format !== undefined && named && opts.format !== named) {
      throw new UsageError(`--format ${opts.format} does not match the archive name ${output} (a ${named} name)`, `name it *.${opts.format === 'zip' ? 'zip' : 'tar.gz'}, or drop --format`);
    }
    const chosenFormat = opts.format ?? named ?? settings.format;
    const metadataOnly = opts.metadataOnly ?? settings.metadataOnly;
    if (Boolean(output) === Boolean(dir)) throw new UsageError('give exactly one of --output PATH or --dir DIR (or backup.dir in the config file)', 'see `storectl backup --help`');
    if (!dir && (hasAnyRule(retention) || opts.prune)) {
      throw new UsageError('--keep, --keep-daily/weekly/monthly, --prune-older-than and --prune work with --dir only');
    }
    if (opts.dryRun && !opts.prune) throw new UsageError('--dry-run works with --prune: `storectl backup --dir DIR --prune --dry-run --keep-daily 7`');
    if (opts.prune) {
      if (!hasAnyRule(retention)) throw new UsageError('--prune needs a rule: --keep, --keep-daily, --keep-weekly, --keep-monthly or --prune-older-than');
      const { runPrune } = await import('../ops/backup/backup.ts');
      const report = runPrune(path.resolve(env.ui.io.cwd, dir!), retention, opts.dryRun, new Date());
      return {
        report,
        text: () => renderPrune(report),
        dryRun: report.dryRun,
        logFields: { dir: report.dir, kept: report.decisions.filter((d) => d.action === 'keep').length, pruned: report.pruned },
      };
    }
    const format = chosenFormat ?? (output && /\.zip$/i.test(output) ? 'zip' : 'tar.gz');
    const base = env.ui.io.cwd;
    // No runs row: it would be written before the snapshot and travel in the archive as 'running'.
    const { runBackup, checkOutputPath } = await import('../ops/backup/backup.ts');
    if (output) checkOutputPath(path.resolve(base, output));
    const ctx = await env.openContext({ createRoot: false, createCatalog: false, readOnly: true, s3: true });
    const { withStoreLock } = await import('../ops/store-lock.ts');
    // The store lock keeps cleanups from deleting files between the snapshot and their archiving.
    const report = await withStoreLock(ctx, 'backup', opts.waitMs, () => runBackup(ctx, {
      output: output ? path.resolve(base, output) : undefined,
      dir: dir ? path.resolve(base, dir) : undefined,
      format,
      metadataOnly: Boolean(metadataOnly),
      retention,
    }));
    const exitCode = report.skipped.mismatched ? EXIT.INTEGRITY : report.skipped.count ? EXIT.PARTIAL : EXIT.OK;
    const logFields = { path: report.path, bytes: report.bytes, files: report.files, fileBytes: report.fileBytes, notArchived: report.skipped.count, pruned: report.pruned };
    const totals = {
      path: report.path,
      format: report.format,
      bytes: report.bytes,
      files: report.files,
      fileBytes: report.fileBytes,
      linkedFiles: report.linked.files,
      metadataOnly: report.metadataOnly,
      verified: report.verified,
      notArchived: report.skipped.count,
      pruned: report.pruned.length,
    };
    const failures = report.skipped.sample.map((s) => `not archived: ${s.path}: ${s.detail}`);
    if (report.skipped.count > report.skipped.sample.length) failures.push(`not archived: ${report.skipped.count - report.skipped.sample.length} more (see --json)`);
    return { report, text: () => renderBackup(report), exitCode, logFields, totals, failures };
  },
});

/** `backup list --dir DIR`: the directory's backups; the store's records, when it is reachable, add file counts. */
async function listRun(opts: BackupOptions, env: CommandEnv): Promise<CommandOutcome> {
  const { backupSettings } = await import('../config.ts');
  const dir = opts.dir ?? backupSettings(env.config()).dir;
  if (!dir) throw new UsageError('backup list needs --dir DIR (or backup.dir in the config file)');
  const { listBackups, checkListDir } = await import('../ops/backup/list.ts');
  const abs = path.resolve(env.ui.io.cwd, dir);
  checkListDir(abs);
  let records: RunRecord[] | undefined;
  try {
    const ctx = await env.openContext({ createRoot: false, createCatalog: false, readOnly: true, s3: true });
    records = await ctx.catalog.recentRuns(10_000, 'backup');
  } catch (err) {
    // No store here (or none reachable): the directory alone still lists its backups.
    env.ui.log.debug('backup list without the store\'s records', { error: errorMessage(err) });
  }
  const report = listBackups(abs, records);
  return { report, text: () => renderList(report), logFields: { dir: report.dir, backups: report.backups.length } };
}

function renderList(r: BackupListReport): string {
  if (!r.backups.length) return safe`no backups in ${r.dir}\n`;
  const rows = r.backups.map((b) => [
    b.name,
    b.createdAt.replace(/\.\d+Z$/, 'Z'),
    formatBytes(b.bytes),
    b.files === null ? '-' : formatCount(b.files) + (b.metadataOnly ? ' (catalog only)' : ''),
    b.format,
    b.status === 'good' ? 'good' : b.status === 'partial' ? 'partial: files left out' : 'set aside: did not verify',
    b.verified === null ? '-' : b.verified ? 'yes' : 'no',
  ]);
  let out = renderTable(['backup', 'created (UTC)', 'size', 'files', 'format', 'state', 'read back'], rows, { tty: false });
  if (!r.recordsRead) out += 'files: no store reachable here, so no record of what each archive holds (restore --verify-only reads one)\n';
  return out;
}

function renderBackup(r: BackupReport): string {
  const pairs: [string, string | number][] = [
    ['archive', r.path],
    ['format', r.format + (r.metadataOnly ? ' (catalog only)' : '')],
    ['size', `${formatBytes(r.bytes)} (${formatCount(r.bytes)} bytes)`],
    ['files', `${formatCount(r.files)} (${formatBytes(r.fileBytes)})`],
    ...(r.linked.files ? [['shared content', `${formatCount(r.linked.files)} names share an archived copy (${formatBytes(r.linked.bytes)} stored once)`] as [string, string]] : []),
    ['catalog rows', Object.entries(r.tables).map(([t, n]) => `${t} ${formatCount(n)}`).join(', ')],
    ['duration', formatDuration(r.durationMs)],
  ];
  if (r.skipped.count) pairs.push(['NOT archived', `${r.skipped.count} (${r.skipped.vanished} vanished, ${r.skipped.mismatched} changed on disk, ${r.skipped.other} other)`]);
  if (r.verified) pairs.push(['verified', 'read back: every entry, size and SHA-256 matches']);
  if (r.pruned.length) pairs.push(['pruned', r.pruned.map((p) => path.basename(p)).join(', ')]);
  if (r.retentionSkipped) pairs.push(['not pruned', r.retentionSkipped]);
  if (r.leftoversRemoved.length) pairs.push(['cleaned up', `${r.leftoversRemoved.length} leftover(s) of dead backup runs`]);
  let out = renderPairs(pairs);
  for (const s of r.skipped.sample) out += safe`not archived  ${s.path}: ${s.detail}\n`;
  if (r.skipped.count > r.skipped.sample.length) out += safe`... and ${r.skipped.count - r.skipped.sample.length} more (see --json)\n`;
  return out;
}

/** --prune-older-than (or the config file's backup.pruneOlderThan) as milliseconds. */
function ageOf(v: string, parseAge: (s: string) => number | undefined): number {
  const ms = parseAge(v);
  if (ms === undefined) throw new UsageError(`--prune-older-than ${v}: use a number and a unit, e.g. 30d, 12h, 2w`);
  return ms;
}

const hasAnyRule = (r: RetentionRules) => Object.values(r).some((v) => v !== undefined);

function renderPrune(r: PruneReport): string {
  const rows = r.decisions.map((d) => [d.name, d.action === 'keep' ? 'keep' : r.dryRun ? 'would remove' : 'removed', d.reasons.join(', ')]);
  let out = rows.length ? renderTable(['backup', 'action', 'why'], rows, { tty: false }) : `no good backups in ${r.dir}\n`;
  if (r.partial.length) out += safe`${r.partial.length} partial backup(s) (files left out) are not counted and not pruned\n`;
  if (r.dryRun) out += 'dry run: nothing was deleted\n';
  return out;
}

/** The format an archive name says: *.zip, *.tar.gz / *.tgz; undefined for any other name. */
function formatOfName(name: string): 'zip' | 'tar.gz' | undefined {
  if (/\.zip$/i.test(name)) return 'zip';
  if (/\.(tar\.gz|tgz)$/i.test(name)) return 'tar.gz';
  return undefined;
}
