import path from 'node:path';
import { defineCommand } from './define.ts';
import { FailedError } from '../errors.ts';
import { waitMs } from './common-options.ts';
import type { RestoreReport } from '../ops/backup/restore.ts';
import type { VerifyResult } from '../ops/backup/verify.ts';
import { formatBytes, formatCount, formatDuration } from '../ui/format.ts';
import { renderPairs } from '../ui/table.ts';

export default defineCommand({
  name: 'restore',
  args: '<archive>',
  summary: 'Verify a backup archive and restore it into an empty store (SQLite or PostgreSQL)',
  description:
    "Read the archive once, verifying everything (entry order, names, the manifest, every file's size and SHA-256, every catalog table) while staging it under <root>/.storectl/; then move the files into place (files 0600, directories 0750) and import the catalog in one transaction. Entries with '..', absolute paths, symlinks, hard links or devices are refused; a corrupt or truncated archive exits 4 with the target untouched. The target must be empty (root and database) unless --force, which replaces it. A restore killed after it began to commit is finished by running it again. The archive may come from SQLite or PostgreSQL: this is how a store moves from one to the other. An archive of an older schema is restored and brought to this schema; a newer one is refused. Into an S3 store (--root s3://BUCKET/PREFIX, an empty prefix; --force is refused there): the archive is staged and verified in a local state directory (STORECTL_STATE_DIR, else $XDG_STATE_HOME/storectl, else ~/.local/state/storectl), which also holds the resumable marker; then every file is uploaded as an object (the stored size checked) and the catalog imported. The archive format is the same for both backends: a local store's backup restores into S3 and back.",
  examples: [
    'storectl restore /backups/store.tar.gz --verify-only',
    'storectl --root /srv/new restore /backups/store.tar.gz',
    'storectl --root /srv/store --database postgres://storectl@db/storectl restore store.tar.gz   # SQLite -> PostgreSQL',
    'storectl restore store.zip --dry-run --json',
  ],
  options: (cmd) =>
    cmd
      .option('--verify-only', 'verify the archive and stop: exit 0 good, 4 bad (the store is not opened)')
      .option('--dry-run', 'verify and list what would be restored; change nothing')
      .option('--force', 'replace a store that is not empty (asks for confirmation; --yes without a TTY)')
      .option('--wait [seconds]', 'wait for another run holding the store lock (as long as it takes without SECONDS)'),
  async run(args, opts, env) {
    const archive = path.resolve(env.ui.io.cwd, args[0]!);
    const { checkArchiveFile, inspectTarget, restoresWithoutStore, runRestore, verifyOnlyRestore } = await import('../ops/backup/restore.ts');
    const dryRun = Boolean(opts.dryRun);
    if (restoresWithoutStore(env.config(), { verifyOnly: Boolean(opts.verifyOnly), dryRun })) {
      const progress = env.ui.progress('verify');
      const { report, verified } = await verifyOnlyRestore(archive, dryRun, progress);
      progress.done();
      return { report, text: () => renderVerify(verified) + (dryRun ? 'dry run: would restore into an empty store; nothing was changed\n' : ''), dryRun };
    }
    checkArchiveFile(archive);
    const ctx = await env.openContext({ createRoot: !opts.dryRun, createCatalog: !opts.dryRun, migrate: 'never', adoptTree: true, s3: true });
    const state = await inspectTarget(ctx);
    if (!state.empty && opts.force && !opts.dryRun && !state.pending) {
      const ok = await env.confirm(
        `Replace the store at ${state.root} (${state.treeEntries} entries on disk; ${state.rows.jobs} jobs and ${state.rows.files} files in ${state.catalog}) with ${archive}?`,
      );
      if (!ok) throw new FailedError('cancelled: nothing was changed', undefined, 'cancelled');
    }
    const report = await runRestore(ctx, { archive, dryRun: Boolean(opts.dryRun), force: Boolean(opts.force), waitMs: waitMs(opts.wait) }, state);
    return { report, text: () => renderRestore(report), dryRun: report.dryRun };
  },
});

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
  if (r.replaced) pairs.push(['replaced', 'the previous store was replaced']);
  if (r.skippedAtBackup.length) pairs.push(['not in archive', `${r.skippedAtBackup.length} files were not archived at backup (their rows are restored)`]);
  pairs.push(['duration', formatDuration(r.durationMs)]);
  return renderPairs(pairs) + (r.dryRun ? 'dry run: nothing was changed\n' : '');
}
