import path from 'node:path';
import { Option } from 'commander';
import { defineCommand } from './define.ts';
import { EXIT, UsageError } from '../errors.ts';
import type { DuplicateMode, PutItem, PutReport } from '../ops/put.ts';
import { formatBytes, formatCount } from '../ui/format.ts';
import { renderPairs } from '../ui/table.ts';
import { parseWait, text, waitOption } from './common-options.ts';

/** What `put` is asked: the files (or a list of them), the job they join, and what to do with duplicates. */
export interface PutOptions {
  /** FILE... as given; '-' is stdin. */
  sources: string[];
  /** --from-list FILE: NDJSON, one file a line. */
  fromList?: string;
  jobId?: string;
  sha256?: string;
  /** What every item takes unless its line says otherwise. */
  common: { role?: string; kind?: string; owner?: string; category?: string; exportType?: string };
  onDuplicate: DuplicateMode;
  waitMs: number;
}

export default defineCommand({
  name: 'put',
  args: '[files...]',
  summary: "Add existing files to the store as a job's files, with checksums and duplicate detection",
  description:
    "Copy files into the store as the files of a job (created when it does not exist): uploads and cards under <category>/YYYY/MM/DD/<job_id>/<role>, exports flat as exports/<export_type>_<job_id>_<YYYYMMDD_HHMMSS>.<ext>; files 0600, directories 0750, each written atomically before its row. The SHA-256 is computed while copying; with --sha256 (or a sha256 field in the list) a file whose bytes disagree is refused and nothing is written (exit 4). The content type comes from the bytes (magic numbers); a name that claims another type is reported. A file with the same SHA-256 and size as a present file of the same owner is a duplicate: --on-duplicate link (default: a hard link, the content shared), skip (nothing recorded; the existing job and path are reported) or copy. On an S3 store (--root s3://BUCKET/PREFIX) each file is uploaded before its row (one PutObject carrying the SHA-256 up to 8 MiB, multipart above); there are no hard links, so link makes a server-side copy (CopyObject, no bytes uploaded), read back and recorded as an independent copy (reported with serverSide: true), and skip checks the existing object by reading it. A source that is missing, unreadable, a directory or a symlink fails alone (exit 3). '-' reads stdin (needs --role). Takes the store lock.",
  examples: [
    'storectl put scan.pdf --job upload-7f3a --owner acme',
    'storectl put report.csv --job exp-20261201-01 --category exports --export-type orders',
    'storectl put photo.jpg --job upload-7f3a --sha256 9f86d08...   # refuse it if the bytes differ',
    'curl -s https://example/x.png | storectl put - --job upload-7f3a --role front.png',
    'storectl put --from-list incoming.ndjson --on-duplicate skip --json',
  ],
  recordRun: true,
  options: (cmd) =>
    cmd
      .option('--job <id>', 'the job the files belong to (created when it does not exist)')
      .option('--role <role>', 'the file name within the job (default: the source file name; needed for stdin)')
      .option('--kind <kind>', 'kind of a job created here (default: export for --category exports, else upload)')
      .option('--owner <owner>', 'owner of a job created here; must match an existing job')
      .addOption(new Option('--category <category>', 'where the files go (default: exports for export jobs, else uploads)').choices(['cards', 'exports', 'uploads', 'temp']))
      .option('--export-type <type>', 'with --category exports: the <export_type> of the file name (default: the job\'s data.export_type, else its kind)')
      .option('--sha256 <hex>', 'the SHA-256 the sender claims for the one file given; a mismatch refuses it')
      .option('--from-list <file>', 'NDJSON, one {path, job, role, kind, owner, category, export_type, sha256} a line')
      .addOption(new Option('--on-duplicate <mode>', 'what to do with a file whose content the owner has already').choices(['link', 'skip', 'copy']).default('link'))
      .addOption(waitOption('wait for another run holding the store lock')),
  parse(args, raw): PutOptions {
    const o: PutOptions = {
      sources: [...args],
      fromList: text(raw, 'fromList'),
      jobId: text(raw, 'job'),
      sha256: text(raw, 'sha256'),
      common: { role: text(raw, 'role'), kind: text(raw, 'kind'), owner: text(raw, 'owner'), category: text(raw, 'category'), exportType: text(raw, 'exportType') },
      onDuplicate: raw.onDuplicate as DuplicateMode,
      waitMs: parseWait(raw),
    };
    if (o.fromList !== undefined) {
      if (args.length) throw new UsageError('give files or --from-list, not both');
      if (o.sha256 !== undefined) throw new UsageError('--sha256 is for one file; give each line of --from-list its own sha256');
    } else {
      if (!args.length) throw new UsageError('nothing to put', 'give FILE..., - for stdin, or --from-list FILE');
      if (o.jobId === undefined) throw new UsageError('--job is required', 'name the job the files belong to: --job ID');
      if (args.length > 1 && o.common.role !== undefined) throw new UsageError('--role names one file; give one file with it');
      if (args.length > 1 && o.sha256 !== undefined) throw new UsageError('--sha256 is for one file; use --from-list for several');
      if (args.filter((a) => a === '-').length > 1) throw new UsageError("stdin ('-') can be given once");
      if (args.includes('-') && o.common.role === undefined) throw new UsageError('reading stdin needs --role (the file name within the job)');
    }
    return o;
  },
  async run(opts, env) {
    const { runPut, readPutList } = await import('../ops/put.ts');
    const cwd = env.ui.io.cwd;
    const { common, jobId } = opts;
    const items: PutItem[] =
      opts.fromList !== undefined
        ? readPutList(path.resolve(cwd, opts.fromList), { ...common, jobId })
        : opts.sources.map((a) => ({ ...common, source: a === '-' ? 0 : path.resolve(cwd, a), jobId: jobId!, sha256: opts.sha256 }));
    const ctx = await env.openContext({ createRoot: false, createCatalog: false, s3: true });
    const report = await runPut(ctx, items, { onDuplicate: opts.onDuplicate, waitMs: opts.waitMs });
    return {
      report,
      text: () => renderPut(report),
      exitCode: report.checksumMismatch.length ? EXIT.INTEGRITY : report.failed.length ? EXIT.PARTIAL : EXIT.OK,
      failures: [...report.checksumMismatch.map((f) => `${f.source}: SHA-256 mismatch`), ...report.failed.map((f) => `${f.source}: ${f.reason}`)],
      totals: { added: report.added.length, skipped: report.skipped.length, checksumMismatch: report.checksumMismatch.length, failed: report.failed.length },
    };
  },
});

function renderPut(r: PutReport): string {
  const bytes = r.added.reduce((a, x) => a + x.size, 0);
  const linked = r.added.filter((x) => x.duplicate?.mode === 'link').length;
  const pairs: [string, string][] = [
    ['added', `${formatCount(r.added.length)} files (${formatBytes(bytes)})${linked ? `, ${formatCount(linked)} linked to an existing copy` : ''}`],
  ];
  if (r.jobsCreated.length) pairs.push(['jobs created', r.jobsCreated.join(', ')]);
  if (r.skipped.length) pairs.push(['skipped duplicates', formatCount(r.skipped.length)]);
  if (r.checksumMismatch.length) pairs.push(['checksum mismatch', `${formatCount(r.checksumMismatch.length)} (refused, nothing written)`]);
  if (r.failed.length) pairs.push(['failed', formatCount(r.failed.length)]);
  const lines: string[] = [];
  for (const a of r.added) lines.push(`added      ${a.path}  ${a.contentType}${a.duplicate ? `  (${a.duplicate.mode === 'link' ? 'linked to' : 'copy of'} ${a.duplicate.of.path})` : ''}\n`);
  for (const s of r.skipped) lines.push(`duplicate  ${s.source}: already stored as ${s.existing.path} (job ${s.existing.jobId ?? '-'}); skipped\n`);
  for (const m of r.nameMismatch) lines.push(`type       ${m.source}: the name says ${m.claimed}, the bytes are ${m.detected}; recorded as ${m.detected}\n`);
  for (const m of r.checksumMismatch) lines.push(`mismatch   ${m.source}: SHA-256 is ${m.actual}, expected ${m.expected}; refused\n`);
  for (const f of r.failed) lines.push(`failed     ${f.source}: ${f.reason}\n`);
  return renderPairs(pairs) + lines.join('');
}
