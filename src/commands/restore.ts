import path from 'node:path';
import { defineCommand, type CommandEnv, type CommandOutcome } from './define.ts';
import { EXIT, FailedError, UsageError } from '../errors.ts';
import type { RestoreJobsReport } from '../ops/backup/restore-jobs.ts';
import { flag, parseWait, texts, waitOption } from './common-options.ts';

/** What `restore` is asked: an archive, and whether to verify only, dry-run, replace, or bring back some jobs. */
export interface RestoreOptions {
  /** The archive as given (resolved against the working directory by run). */
  archive: string;
  verifyOnly: boolean;
  dryRun: boolean;
  force: boolean;
  /** --job ID...: only these jobs, into the existing store. */
  jobIds?: string[];
  waitMs: number;
}
import type { RestoreReport } from '../ops/backup/restore.ts';
import type { VerifyResult } from '../ops/backup/verify.ts';
import { formatBytes, formatCount, formatDuration, safe } from '../ui/format.ts';
import { renderPairs, renderTable } from '../ui/table.ts';

export default defineCommand({
  name: 'restore',
  args: '<archive>',
  summary: 'Verify a backup archive and restore it into an empty store (SQLite or PostgreSQL)',
  description:
    "Read the archive once, verifying everything (entry order, names, the manifest, every file's size and SHA-256, every catalog table) while staging it under <root>/.storectl/; then move the files into place (files 0600, directories 0750) and import the catalog in one transaction. Entries with '..', absolute paths, symlinks, hard links or devices are refused; a corrupt or truncated archive exits 4 with the target untouched. The target must be empty (root and database) unless --force, which replaces it. Names the archive stores as sharing one copy (see backup) are hard-linked to it again on a local store (one inode, as dedup left them) and written as separate objects on S3. A restore killed after it began to commit is finished by running it again. The archive may come from SQLite or PostgreSQL: this is how a store moves from one to the other. An archive of an older schema is restored and brought to this schema; a newer one is refused. Into an S3 store (--root s3://BUCKET/PREFIX, an empty prefix; --force is refused there): the archive is staged and verified in a local state directory (STORECTL_STATE_DIR, else $XDG_STATE_HOME/storectl, else ~/.local/state/storectl), which also holds the resumable marker; then every file is uploaded as an object (the stored size checked) and the catalog imported. The archive format is the same for both backends: a local store's backup restores into S3 and back. With --job ID..., only those jobs come back, into an existing store that is not replaced: the archive is verified whole, the jobs' files are placed and their rows written (the job inserted if the store lost it, its file rows brought back from their tombstones); a job whose files are present in the store already, or whose place holds a file the catalog does not know, is refused whole (exit 3).",
  examples: [
    'storectl restore /backups/store.tar.gz --verify-only',
    'storectl --root /srv/new restore /backups/store.tar.gz',
    'storectl --root /srv/store --database postgres://storectl@db/storectl restore store.tar.gz   # SQLite -> PostgreSQL',
    'storectl restore store.zip --dry-run --json',
    'storectl restore /backups/storectl-backup-20261201T030000Z.tar.gz --job job-000123 --dry-run',
  ],
  options: (cmd) =>
    cmd
      .option('--verify-only', 'verify the archive and stop: exit 0 good, 4 bad (the store is not opened)')
      .option('--dry-run', 'verify and list what would be restored; change nothing')
      .option('--force', 'replace a store that is not empty (asks for confirmation; --yes without a TTY)')
      .option('--job <ids...>', 'restore only these jobs (their rows and files) into the existing store, replacing nothing')
      .addOption(waitOption()),
  async parse(args, raw): Promise<RestoreOptions> {
    const o: RestoreOptions = {
      archive: args[0]!,
      verifyOnly: flag(raw, 'verifyOnly'),
      dryRun: flag(raw, 'dryRun'),
      force: flag(raw, 'force'),
      waitMs: parseWait(raw),
    };
    const jobs = texts(raw, 'job');
    if (jobs !== undefined) {
      if (o.force) throw new UsageError('--job restores into the existing store and replaces nothing: --force does not go with it');
      if (o.verifyOnly) throw new UsageError('--verify-only reads the archive alone: it does not go with --job');
      const { parseIdList } = await import('../ops/access/select.ts');
      o.jobIds = [...new Set(jobs.flatMap((x) => parseIdList(x)))];
    }
    return o;
  },
  async run(opts, env) {
    const archive = path.resolve(env.ui.io.cwd, opts.archive);
    const { checkArchiveFile, inspectTarget, restoresWithoutStore, runRestore, verifyOnlyRestore } = await import('../ops/backup/restore.ts');
    const { dryRun } = opts;
    if (opts.jobIds !== undefined) return restoreJobsRun(archive, opts.jobIds, opts, env);
    if (restoresWithoutStore(env.config(), { verifyOnly: opts.verifyOnly, dryRun })) {
      const progress = env.ui.progress('verify');
      const { report, verified } = await verifyOnlyRestore(archive, dryRun, progress);
      progress.done();
      return { report, text: () => renderVerify(verified) + (dryRun ? 'dry run: would restore into an empty store; nothing was changed\n' : ''), dryRun };
    }
    checkArchiveFile(archive);
    const ctx = await env.openContext({ createRoot: !dryRun, createCatalog: !dryRun, migrate: 'never', adoptTree: true, s3: true });
    const state = await inspectTarget(ctx);
    if (!state.empty && opts.force && !dryRun && !state.pending) {
      const ok = await env.confirm(
        `Replace the store at ${state.root} (${state.treeEntries} entries on disk; ${state.rows.jobs} jobs and ${state.rows.files} files in ${state.catalog}) with ${archive}?`,
      );
      if (!ok) throw new FailedError('cancelled: nothing was changed', undefined, 'cancelled');
    }
    const report = await runRestore(ctx, { archive, dryRun, force: opts.force, waitMs: opts.waitMs }, state);
    return { report, text: () => renderRestore(report), dryRun: report.dryRun };
  },
});

async function restoreJobsRun(archive: string, ids: string[], opts: RestoreOptions, env: CommandEnv): Promise<CommandOutcome> {
  const { checkArchiveFile } = await import('../ops/backup/restore.ts');
  checkArchiveFile(archive);
  const ctx = await env.openContext({ createRoot: false, createCatalog: false, s3: true, readOnly: opts.dryRun });
  const { runRestoreJobs } = await import('../ops/backup/restore-jobs.ts');
  const report = await runRestoreJobs(ctx, { archive, jobIds: ids, dryRun: opts.dryRun, waitMs: opts.waitMs });
  const refused = report.jobs.filter((j) => j.outcome === 'refused').length;
  return {
    report,
    text: () => renderJobs(report),
    dryRun: report.dryRun,
    exitCode: refused ? EXIT.PARTIAL : EXIT.OK,
    failures: report.jobs.flatMap((j) => j.conflicts.map((c) => `refused ${j.jobId}: ${c}`)),
    logFields: { archive, jobs: report.jobs.length, refused, files: report.files, bytes: report.bytes },
  };
}

function renderJobs(r: RestoreJobsReport): string {
  const rows = r.jobs.map((j) => [
    j.jobId,
    j.outcome,
    j.files,
    formatBytes(j.bytes),
    [j.jobInserted ? 'job row from the archive' : '', j.adopted ? `${j.adopted} found in place` : '', j.notInArchive.length ? `${j.notInArchive.length} not archived at backup` : ''].filter(Boolean).join('; '),
  ]);
  let out = renderTable(['job', 'outcome', 'files', 'size', 'notes'], rows, { tty: false });
  for (const j of r.jobs) for (const c of j.conflicts) out += safe`refused  ${j.jobId}: ${c}\n`;
  out += safe`from ${r.archive} (${r.format}), backup of ${r.source.createdAt}\n`;
  if (r.dryRun) out += 'dry run: nothing was changed\n';
  return out;
}

function renderVerify(v: VerifyResult): string {
  return renderPairs([
    ['archive', `${v.archive} (${v.format})`],
    ['verdict', "good: every entry, size and SHA-256 matches the manifest and its file's catalog row; the catalog imports"],
    ['created', `${v.head.createdAt} by storectl ${v.head.tool.version} from ${v.head.source.dialect}`],
    ['files', `${formatCount(v.files)} (${formatBytes(v.bytes)})`],
    ['catalog rows', Object.entries(v.tables).map(([t, n]) => `${t} ${formatCount(n)}`).join(', ')],
    ['not archived at backup', formatCount(v.summary.skipped.length)],
  ]);
}

function renderRestore(r: RestoreReport): string {
  const pairs: [string, string | number][] = [
    ['archive', `${r.archive} (${r.format})`],
    [r.dryRun ? 'would restore' : 'restored', `${formatCount(r.files)} files (${formatBytes(r.bytes)})`],
    ['catalog rows', Object.entries(r.tables).map(([t, n]) => `${t} ${formatCount(n)}`).join(', ')],
    ['source', `${r.source.dialect}, backup of ${r.source.createdAt} (schema ${r.source.schemaVersion})`],
  ];
  if (r.migratedFrom !== null) pairs.push(['schema', `migrated from ${r.migratedFrom} to ${r.schemaVersion}`]);
  if (r.resumed) pairs.push(['resumed', 'finished an interrupted restore']);
  if (r.uploads?.kept) pairs.push(['objects', `${formatCount(r.uploads.uploaded)} uploaded, ${formatCount(r.uploads.kept)} kept from the interrupted run`]);
  if (r.replaced) pairs.push(['replaced', 'the previous store was replaced']);
  if (r.skippedAtBackup.length) pairs.push(['not in archive', `${r.skippedAtBackup.length} files were not archived at backup (their rows are restored)`]);
  pairs.push(['duration', formatDuration(r.durationMs)]);
  return renderPairs(pairs) + (r.dryRun ? 'dry run: nothing was changed\n' : '');
}
