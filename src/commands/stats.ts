import { defineCommand } from './define.ts';
import { EXIT } from '../errors.ts';
import type { StatsReport } from '../ops/stats.ts';
import { formatBytes, formatCount } from '../ui/format.ts';
import { renderPairs, renderTable } from '../ui/table.ts';

export default defineCommand({
  name: 'stats',
  summary: 'Show usage, cleanup rate, breakdowns and disk-vs-catalog drift',
  description:
    'Report storage usage from catalog aggregates: bytes and files on disk, jobs and their cleanup rate, breakdowns by category, owner and age, the oldest and newest file, and recent runs. With --check-disk, also walk the tree and report drift (orphan files, missing files, symlinks); exit 4 if there is any.',
  examples: ['storectl stats', 'storectl stats --json | jq .usage', 'storectl stats --check-disk'],
  options: (cmd) =>
    cmd
      .option('--check-disk', 'walk the tree and compare it with the catalog; exit 4 on drift'),
  async run(_args, opts, env) {
    const ctx = await env.openContext({ createRoot: false, createCatalog: false });
    const { runStats, hasDrift } = await import('../ops/stats.ts');
    const report = await runStats(ctx, { checkDisk: Boolean(opts.checkDisk) });
    return {
      report,
      text: () => renderStats(report, env.ui.stdoutTTY),
      exitCode: hasDrift(report) ? EXIT.INTEGRITY : EXIT.OK,
    };
  },
});

function renderStats(r: StatsReport, tty: boolean): string {
  const out: string[] = [];
  out.push(
    renderPairs([
      ['catalog', `${r.catalog.location} (${r.catalog.dialect})`],
      ['root', r.root],
      ['total size', `${formatBytes(r.usage.totalBytes)} (${formatCount(r.usage.totalBytes)} bytes)`],
      ['on disk', r.disk.sharedFiles ? `${formatBytes(r.disk.bytes)} (${formatCount(r.disk.sharedFiles)} files share ${formatCount(r.disk.sharedGroups)} copies; ${formatBytes(r.disk.savedBytes)} saved)` : formatBytes(r.disk.bytes)],
      ['files', formatCount(r.usage.files)],
      ['jobs with files', formatCount(r.usage.jobsWithFiles)],
      ['average per job', formatBytes(r.usage.averageBytesPerJob)],
      ['jobs', formatCount(r.jobs.total)],
      ['jobs cleaned up', `${formatCount(r.jobs.withFilesDeleted)} (${r.jobs.cleanupRatePercent}%)`],
      ['deleted files', `${formatCount(r.deleted.files)} (${formatBytes(r.deleted.bytes)} freed)`],
      ['missing files', formatCount(r.missing.files)],
      ['oldest file', r.oldestFile ? `${r.oldestFile.createdAt} ${r.oldestFile.path}` : '-'],
      ['newest file', r.newestFile ? `${r.newestFile.createdAt} ${r.newestFile.path}` : '-'],
    ]),
  );
  const breakdown = (title: string, rows: { key: string; files: number; bytes: number }[]) =>
    renderTable([title, 'files', 'bytes', 'size'], rows.map((b) => [b.key, b.files, b.bytes, formatBytes(b.bytes)]), { tty });
  const v = r.verification;
  const share = (x: { files: number; bytes: number }) => `${formatCount(x.files)} files (${formatBytes(x.bytes)}, ${v.files ? Math.round((100 * x.files) / v.files) : 0}%)`;
  out.push(
    renderPairs([
      ['verified in 7 days', share(v.last7d)],
      ['verified in 30 days', share(v.last30d)],
      ['never verified', share(v.never)],
      ['corrupt', share(v.corrupt)],
      ['missing (found by verify or cleanup)', share(v.missing)],
      ['oldest verification', v.oldestVerification ?? '-'],
    ]),
  );
  out.push(breakdown('category', r.byCategory));
  out.push(breakdown('owner', r.byOwner));
  out.push(breakdown('age', r.byAge));
  out.push(renderTable(['status', 'jobs'], r.jobs.byStatus.map((s) => [s.status, s.jobs]), { tty }));
  if (r.recentRuns.length) {
    out.push(
      renderTable(
        ['started', 'command', 'status', 'dry run'],
        r.recentRuns.map((x) => [x.startedAt.replace(/\.\d+Z$/, 'Z'), x.command, x.status, x.dryRun ? 'yes' : '']),
        { tty },
      ),
    );
  }
  if (r.cleanupHistory.length) {
    out.push(
      renderTable(
        ['cleanup run', 'command', 'status', 'files freed', 'bytes freed'],
        r.cleanupHistory.map((x) => [x.startedAt.replace(/\.\d+Z$/, 'Z'), x.command, x.status, x.filesDeleted, formatBytes(x.bytesFreed)]),
        { tty },
      ),
    );
  }
  if (r.drift) {
    const d = r.drift;
    out.push(
      renderPairs([
        ['files walked', formatCount(d.walkedFiles)],
        ['orphan files', `${formatCount(d.orphanFiles)} (${formatBytes(d.orphanBytes)})`],
        ['missing files', `${formatCount(d.missingFiles)} (${formatBytes(d.missingBytes)})`],
        ['anomalies', formatCount(d.anomalies)],
      ]),
    );
    for (const p of d.sample.orphans) out.push(`orphan   ${p}\n`);
    for (const p of d.sample.missing) out.push(`missing  ${p}\n`);
    for (const p of d.sample.anomalies) out.push(`anomaly  ${p}\n`);
  }
  return out.join('\n');
}
