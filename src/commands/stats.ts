import { defineCommand } from './define.ts';
import { EXIT, FailedError, UsageError } from '../errors.ts';
import type { HistoryReport } from '../ops/usage-history.ts';
import { durationOption, flag, num, text } from './common-options.ts';
import type { StatsReport } from '../ops/stats.ts';
import { formatBytes, formatCount, safe } from '../ui/format.ts';
import { renderPairs, renderTable } from '../ui/table.ts';

/** What `stats` is asked: the figures (and in which form), or the usage history. */
export interface StatsOptions {
  format: 'text' | 'prometheus';
  checkDisk: boolean;
  /** --prometheus FILE: also write the figures there. */
  prometheusFile?: string;
  history: boolean;
  sinceMs: number;
}

export default defineCommand({
  name: 'stats',
  summary: 'Show usage, cleanup rate, breakdowns and disk-vs-catalog drift',
  description:
    'Report storage usage from catalog aggregates: bytes and files on disk, jobs and their cleanup rate, breakdowns by category, owner and age, the oldest and newest file, and recent runs. With tiers configured, files and bytes per tier. With --check-disk, also walk the tree and report drift (orphan files, missing files, symlinks), and list every other tier against the rows on it (missing files, stray copies); exit 4 if there is any.',
  examples: [
    'storectl stats',
    'storectl stats --json | jq .usage',
    'storectl stats --check-disk',
    'storectl stats --prometheus /var/lib/node_exporter/textfile/storectl.prom',
    'storectl stats --history --since 30d',
  ],
  options: (cmd) =>
    cmd
      .option('--check-disk', 'walk the tree and compare it with the catalog (and the usage ledger with the files table); exit 4 on drift')
      .option('--prometheus <file>', 'also write the figures in the Prometheus text format to FILE, atomically (node_exporter textfile collector)')
      .option('--format <format>', 'stdout format: text (default) or prometheus')
      .option('--history', 'show usage history instead: bytes and files per day, growth rate, days until full')
      .option('--since <duration>', 'with --history: how far back (default 30d)', durationOption),
  parse(_args, raw, globals): StatsOptions {
    const format = text(raw, 'format') ?? 'text';
    if (format !== 'text' && format !== 'prometheus') throw new UsageError(`bad --format ${JSON.stringify(format)}`, 'use text or prometheus');
    if (format === 'prometheus' && globals.json) throw new UsageError('--format prometheus and --json both choose stdout', 'pick one');
    const history = flag(raw, 'history');
    if (raw.since !== undefined && !history) throw new UsageError('--since goes with --history');
    const prometheusFile = text(raw, 'prometheus');
    if (history && (format === 'prometheus' || prometheusFile !== undefined)) throw new UsageError('--history has no Prometheus form', 'run stats --prometheus without --history');
    return { format, checkDisk: flag(raw, 'checkDisk'), prometheusFile, history, sinceMs: num(raw, 'since') ?? 30 * 86_400_000 };
  },
  async run(opts, env) {
    const { format } = opts;
    const ctx = await env.openContext({ createRoot: false, createCatalog: false, readOnly: true, s3: true });
    if (opts.history) {
      const { usageHistory } = await import('../ops/usage-history.ts');
      const history = await usageHistory(ctx, { sinceMs: opts.sinceMs });
      return { report: { history }, text: () => renderHistory(history, env.ui.stdoutTTY) };
    }
    const { runStats, hasDrift } = await import('../ops/stats.ts');
    const report = await runStats(ctx, { checkDisk: opts.checkDisk });
    let prometheus: string | undefined;
    if (opts.prometheusFile !== undefined || format === 'prometheus') {
      const { prometheusText, writePrometheusFile } = await import('../ops/metrics.ts');
      prometheus = prometheusText(report);
      if (opts.prometheusFile !== undefined) {
        const file = (await import('node:path')).resolve(env.ui.io.cwd, opts.prometheusFile);
        try {
          writePrometheusFile(file, prometheus);
        } catch (err) {
          throw new FailedError(`cannot write metrics to ${file}: ${(err as Error).message}`, 'check that the directory exists and is writable');
        }
      }
    }
    return {
      report,
      text: () => (format === 'prometheus' ? prometheus! : renderStats(report, env.ui.stdoutTTY)),
      exitCode: hasDrift(report) ? EXIT.INTEGRITY : EXIT.OK,
    };
  },
});

function renderHistory(h: HistoryReport, tty: boolean): string {
  const out: string[] = [];
  const rate = (v: number | null, f: (n: number) => string) => (v === null ? '- (needs two snapshots)' : `${v < 0 ? '-' : '+'}${f(Math.abs(v))} a day`);
  out.push(
    renderPairs([
      ['since', h.since.replace(/\.\d+Z$/, 'Z')],
      ['snapshots', formatCount(h.snapshots)],
      ['growth', rate(h.growthBytesPerDay, formatBytes)],
      ['file growth', rate(h.growthFilesPerDay, (n) => formatCount(Math.round(n)))],
      ['free space', h.freeBytes === null ? '-' : formatBytes(h.freeBytes)],
      ['full in', h.daysUntilFull === null ? '- (not growing, or free space unknown)' : `${formatCount(h.daysUntilFull)} days at this rate`],
    ]),
  );
  if (!h.days.length) {
    out.push('no usage snapshots in this window (each stats run and each cleanup records one)\n');
    return out.join('\n');
  }
  const max = Math.max(1, ...h.days.map((d) => d.bytes));
  const width = 40;
  out.push(
    renderTable(
      tty ? ['day', 'bytes', 'files', ''] : ['day', 'bytes', 'files'],
      h.days.map((d) => {
        const row: (string | number)[] = [d.date, formatBytes(d.bytes), formatCount(d.files)];
        if (tty) row.push('█'.repeat(Math.max(d.bytes > 0 ? 1 : 0, Math.round((d.bytes / max) * width))));
        return row;
      }),
      { tty },
    ),
  );
  return out.join('\n');
}

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
  if (r.tiers.length) {
    out.push(renderTable(['tier', 'files', 'bytes', 'size', 'stored'], r.tiers.map((t) => [t.tier, t.files, t.bytes, formatBytes(t.bytes), formatBytes(t.storedBytes)]), { tty }));
  }
  out.push(breakdown('category', r.byCategory));
  if (r.compression.some((c) => c.compressedFiles > 0)) {
    const pct = (c: { logicalBytes: number; savedBytes: number }) => (c.logicalBytes ? `${Math.round((c.savedBytes / c.logicalBytes) * 100)}%` : '-');
    out.push(
      renderTable(
        ['category', 'files', 'compressed', 'logical', 'stored', 'saved by compression'],
        r.compression.map((c) => [c.category, c.files, c.compressedFiles, formatBytes(c.logicalBytes), formatBytes(c.storedBytes), `${formatBytes(c.savedBytes)} (${pct(c)})`]),
        { tty },
      ),
    );
  }
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
  if (r.backups.length) {
    out.push(
      renderTable(
        ['backup', 'status', 'archive', 'size', 'files', 'read back'],
        r.backups.map((b) => [
          b.startedAt.replace(/\.\d+Z$/, 'Z'),
          b.exitCode === null ? b.status : `${b.status} (exit ${b.exitCode})`,
          b.path ?? (b.error ? `- (${b.error})` : '-'),
          b.bytes === null ? '-' : formatBytes(b.bytes),
          b.files ?? '-',
          b.verified ? 'yes' : 'no',
        ]),
        { tty },
      ),
    );
  }
  if (r.quotas.length) {
    out.push(
      renderTable(
        ['owner', 'used', 'quota', 'used %', 'state'],
        r.quotas.map((q) => [q.owner || '(none)', formatBytes(q.bytes), formatBytes(q.quota!.maxBytes), `${q.percent}%`, q.state]),
        { tty },
      ),
    );
  }
  if (r.usageDrift?.length) {
    for (const u of r.usageDrift) out.push(`usage drift  ${u.owner || '(none)'}: ledger ${formatBytes(u.recorded.bytes)} in ${u.recorded.files} files, files table ${formatBytes(u.actual.bytes)} in ${u.actual.files} (run \`storectl quota recount\`)\n`);
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
    for (const p of d.sample.orphans) out.push(safe`orphan   ${p}\n`);
    for (const p of d.sample.missing) out.push(safe`missing  ${p}\n`);
    for (const p of d.sample.anomalies) out.push(safe`anomaly  ${p}\n`);
  }
  for (const t of r.tierDrift ?? []) {
    out.push(
      renderPairs([
        [`tier ${t.tier}`, t.url],
        ['  objects listed', formatCount(t.listed)],
        ['  missing files', `${formatCount(t.missingFiles)} (${formatBytes(t.missingBytes)})`],
        ['  stray copies', `${formatCount(t.strayFiles)} (${formatBytes(t.strayBytes)})`],
        ['  moves in flight', formatCount(t.inFlight)],
        ...(t.packs ? [['  packs', `${formatCount(t.packs)} (${formatCount(t.packedFiles)} files in them)`] as [string, string]] : []),
      ]),
    );
    for (const p of t.sample.missing) out.push(safe`missing  ${t.tier}:${p}\n`);
    for (const p of t.sample.strays) out.push(safe`stray    ${t.tier}:${p}\n`);
  }
  return out.join('\n');
}
