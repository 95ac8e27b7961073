import path from 'node:path';
import { defineCommand } from './define.ts';
import { durationOption, intOption, num, parseWait, text, texts, waitOption } from './common-options.ts';
import { EXIT } from '../errors.ts';
import type { VerifyOptions, VerifyReport } from '../ops/verify.ts';
import { formatBytes, formatCount, formatDuration } from '../ui/format.ts';
import { renderPairs } from '../ui/table.ts';

export default defineCommand({
  name: 'verify',
  summary: 'Read files back and check size and SHA-256 against the catalog; repair from a backup',
  description:
    "Read every selected file back (all by default; --job, --owner, --category narrow it) and compare its size and SHA-256 with the catalog, least recently verified first (never-verified first), recording per file when it was verified and the result. A mismatch is read a second time before anything is recorded; a confirmed one marks the row corrupt (the file is kept); a missing file marks it missing. --sample checks only N files or N% (nightly sampled runs cover the whole store over time); --max-time stops cleanly and the next run carries on. --repair-from replaces corrupt and missing files from a backup archive whose copy has the catalog's SHA-256 (the archive is verified first, as restore does; each replacement is written atomically and checked again). On an S3 store (--root s3://BUCKET/PREFIX) each object is streamed back with a GET (several in flight; --threads sets how many batches) and hashed as it arrives; a missing object marks the row missing; --repair-from writes the replacement object (one PutObject, multipart when large) and reads it back. Exit 4 when corrupt or missing files remain (listed), 3 when some could not be read.",
  examples: [
    'storectl verify',
    'storectl verify --sample 5% --max-time 30m   # nightly, from cron',
    'storectl verify --job card-20261120-1a2b3c4d --json',
    'storectl verify --repair-from /backups/store.tar.gz',
  ],
  recordRun: true,
  options: (cmd) =>
    cmd
      .option('--job <ids...>', 'only the files of these jobs')
      .option('--owner <owner>', "only this owner's files")
      .option('--category <category>', 'only this category (cards, exports, uploads, temp)')
      .option('--sample <n>', 'check N files, or N% of the selection, least recently verified first')
      .option('--max-time <duration>', 'stop starting reads after DURATION (30m, 2h); the next run carries on', durationOption)
      .option('--repair-from <archive>', 'replace corrupt and missing files from this backup archive (takes the store lock)')
      .option('--threads <n>', 'reading threads (default: the cores, at most 4); on an S3 store, 8 GETs in flight per thread', intOption(1, 64))
      .addOption(waitOption('with --repair-from: wait for another run holding the store lock')),
  async parse(_args, raw): Promise<VerifyOptions> {
    const { parseSample } = await import('../ops/verify.ts');
    return {
      selection: { jobIds: texts(raw, 'job'), owner: text(raw, 'owner'), category: text(raw, 'category') },
      sample: raw.sample !== undefined ? parseSample(String(raw.sample)) : undefined,
      maxTimeMs: num(raw, 'maxTime'),
      repairFrom: text(raw, 'repairFrom'),
      threads: num(raw, 'threads'),
      waitMs: parseWait(raw),
    };
  },
  async run(opts, env) {
    const { runVerify } = await import('../ops/verify.ts');
    const repairFrom = opts.repairFrom !== undefined ? path.resolve(env.ui.io.cwd, opts.repairFrom) : undefined;
    const ctx = await env.openContext({ createRoot: false, createCatalog: false, s3: true });
    const report = await runVerify(ctx, { ...opts, repairFrom });
    return {
      report,
      text: () => renderVerify(report),
      exitCode: verifyExitCode(report),
      totals: {
        checked: report.checked.files,
        bytes: report.checked.bytes,
        corrupt: report.corrupt,
        missing: report.missing,
        unreadable: report.unreadable,
        repaired: report.repair?.repaired.length ?? 0,
        stoppedByTime: report.stoppedByTime,
      },
    };
  },
});

export function verifyExitCode(r: VerifyReport): number {
  if (r.repair ? r.damagedLeft > 0 || r.repair.unrepairable.length > 0 : r.corrupt + r.missing > 0) return EXIT.INTEGRITY;
  if (r.unreadable > 0) return EXIT.PARTIAL;
  return EXIT.OK;
}

function renderVerify(r: VerifyReport): string {
  const pairs: [string, string | number][] = [
    ['selected', `${formatCount(r.selected.files)} files (${formatBytes(r.selected.bytes)})`],
    ['checked', `${formatCount(r.checked.files)} of ${formatCount(r.target)} files (${formatBytes(r.checked.bytes)}) in ${formatDuration(r.durationMs)}`],
    ['ok', formatCount(r.ok)],
    ['corrupt', formatCount(r.corrupt)],
    ['missing', formatCount(r.missing)],
  ];
  if (r.unreadable) pairs.push(['unreadable', formatCount(r.unreadable)]);
  if (r.transient) pairs.push(['read twice, fine the second time', formatCount(r.transient)]);
  if (r.revived) pairs.push(['corrupt or missing before, fine now', formatCount(r.revived)]);
  if (r.stoppedByTime) pairs.push(['stopped', '--max-time reached; the next run carries on with the least recently verified']);
  if (r.repair) {
    pairs.push(['repaired', `${formatCount(r.repair.repaired.length)} from ${r.repair.archive}`]);
    pairs.push(['unrepairable', formatCount(r.repair.unrepairable.length)]);
  }
  pairs.push(['corrupt or missing left', formatCount(r.damagedLeft)]);
  const lines = r.problems.map((p) => `${p.kind.padEnd(10)} ${p.path}  (${p.detail})\n`);
  for (const x of r.repair?.repaired ?? []) lines.push(`repaired   ${x.path}\n`);
  for (const x of r.repair?.unrepairable ?? []) lines.push(`unrepairable ${x.path}  (${x.reason})\n`);
  return renderPairs(pairs) + lines.join('');
}
