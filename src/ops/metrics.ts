// The Prometheus text exposition format (version 0.0.4) of a stats report, for node_exporter's
// textfile collector: base units (bytes, seconds), the storectl_ prefix, one HELP and TYPE
// line per family, label values escaped.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fsyncDir } from '../storage/atomic.ts';
import type { StatsReport } from './stats.ts';

type Labels = Record<string, string>;

/** Escapes a label value: backslash, double quote and line feed, as the format requires. */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

class Exposition {
  readonly #lines: string[] = [];
  family(name: string, type: 'gauge' | 'counter', help: string, samples: [Labels, number][]): void {
    this.#lines.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      const l = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
      this.#lines.push(`${name}${l.length ? `{${l.join(',')}}` : ''} ${Number.isFinite(value) ? value : 'NaN'}`);
    }
  }
  toString(): string {
    return this.#lines.join('\n') + '\n';
  }
}

const seconds = (iso: string) => Date.parse(iso) / 1000;

export function prometheusText(r: StatsReport): string {
  const e = new Exposition();
  const g = r.groups;
  e.family('storectl_files', 'gauge', 'Files in the catalog by category, owner and state.', g.map((x) => [{ category: x.category, owner: x.owner, state: x.state }, x.files]));
  e.family('storectl_file_bytes', 'gauge', 'Bytes of the files in the catalog by category, owner and state.', g.map((x) => [{ category: x.category, owner: x.owner, state: x.state }, x.bytes]));
  e.family('storectl_jobs', 'gauge', 'Jobs by status.', r.jobs.byStatus.map((s) => [{ status: s.status }, s.jobs]));
  e.family('storectl_jobs_cleaned_ratio', 'gauge', 'Share of jobs whose files were deleted (cleanup rate).', [[{}, r.jobs.total ? r.jobs.withFilesDeleted / r.jobs.total : 0]]);
  e.family('storectl_quota_bytes', 'gauge', 'Hard byte quota per owner.', r.quotas.map((q) => [{ owner: q.owner }, q.quota!.maxBytes]));
  e.family('storectl_quota_files', 'gauge', 'Hard file-count quota per owner (owners with one).', r.quotas.filter((q) => q.quota!.maxFiles !== null).map((q) => [{ owner: q.owner }, q.quota!.maxFiles!]));
  e.family('storectl_quota_warn_ratio', 'gauge', 'Warning level per owner, as a share of the quota.', r.quotas.map((q) => [{ owner: q.owner }, q.quota!.warnPercent / 100]));
  e.family('storectl_quota_used_ratio', 'gauge', 'Share of the quota used per owner (bytes or files, the higher).', r.quotas.map((q) => [{ owner: q.owner }, (q.percent ?? 0) / 100]));
  e.family('storectl_quota_over', 'gauge', '1 when the owner is over its quota.', r.quotas.map((q) => [{ owner: q.owner }, q.state === 'over' ? 1 : 0]));
  e.family('storectl_usage_bytes', 'gauge', 'Bytes held per owner (present, deleting or corrupt files), from the usage ledger.', r.quotas.map((q) => [{ owner: q.owner }, q.bytes]));
  e.family('storectl_usage_files', 'gauge', 'Files held per owner, from the usage ledger.', r.quotas.map((q) => [{ owner: q.owner }, q.files]));
  const runs = r.lastRuns;
  e.family('storectl_last_run_start_time_seconds', 'gauge', 'Start of the last run of each command (Unix time).', runs.map((x) => [{ command: x.command }, seconds(x.startedAt)]));
  e.family('storectl_last_run_duration_seconds', 'gauge', 'Duration of the last run of each command.', runs.filter((x) => x.durationMs !== null).map((x) => [{ command: x.command }, x.durationMs! / 1000]));
  e.family('storectl_last_run_exit_code', 'gauge', 'Exit code of the last run of each command.', runs.filter((x) => x.exitCode !== null).map((x) => [{ command: x.command }, x.exitCode!]));
  e.family('storectl_last_run_freed_files', 'gauge', 'Files deleted or moved by the last run of each command.', runs.map((x) => [{ command: x.command }, x.filesFreed]));
  e.family('storectl_last_run_freed_bytes', 'gauge', 'Bytes freed by the last run of each command.', runs.map((x) => [{ command: x.command }, x.bytesFreed]));
  e.family('storectl_lock_held', 'gauge', '1 while a run holds the store lock.', [[{}, r.locks.some((l) => l.name === 'store') ? 1 : 0]]);
  const check = r.drift
    ? { at: r.generatedAt, orphanFiles: r.drift.orphanFiles, missingFiles: r.drift.missingFiles, anomalies: r.drift.anomalies, usageDrift: r.usageDrift?.length ?? 0 }
    : r.lastCheck;
  if (check) {
    e.family('storectl_drift_check_time_seconds', 'gauge', 'When the last disk check ran (Unix time).', [[{}, seconds(check.at)]]);
    e.family('storectl_drift_files', 'gauge', 'Drift the last disk check found, by kind.', [
      [{ kind: 'orphan' }, check.orphanFiles],
      [{ kind: 'missing' }, check.missingFiles],
      [{ kind: 'anomaly' }, check.anomalies],
    ]);
    e.family('storectl_usage_drift_owners', 'gauge', 'Owners whose usage ledger differed from the files table at the last check.', [[{}, check.usageDrift]]);
  }
  e.family('storectl_stats_time_seconds', 'gauge', 'When these figures were read (Unix time).', [[{}, seconds(r.generatedAt)]]);
  return e.toString();
}

/** Writes the exposition atomically (temp file + rename), as the textfile collector needs. */
export function writePrometheusFile(file: string, text: string): void {
  const dir = path.dirname(path.resolve(file));
  if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`${dir} is not a directory`);
  const abs = path.resolve(file);
  // The temp name does not end in .prom, so the collector never reads a partial file; 0644
  // because node_exporter runs as its own user (the figures are not secret).
  const tmp = path.join(dir, `.${path.basename(abs)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
  try {
    fs.writeFileSync(fd, text);
    fs.fchmodSync(fd, 0o644);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, abs);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(dir);
}
