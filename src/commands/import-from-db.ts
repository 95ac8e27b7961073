import { defineCommand } from './define.ts';
import { flag, intOption, num, parseWait, text, waitOption } from './common-options.ts';
import { EXIT, FailedError, UsageError } from '../errors.ts';
import type { SourceSpec } from '../ops/import-db/run.ts';
import type { ImportReport } from '../ops/import-db/run.ts';
import { formatBytes, formatCount, formatDuration, safe } from '../ui/format.ts';
import { renderPairs } from '../ui/table.ts';

/** What `import-from-db` is asked: the source (checked names), the jobs it creates, and how to run. */
export interface ImportFromDbOptions {
  spec: SourceSpec;
  /** --role-map JSON as given (parsed once the shape is known). */
  roleMap?: string;
  kind: string;
  category: string;
  status: string;
  owner?: string;
  sourceDatabase?: string;
  /** --clear-source on a real run (a dry run clears nothing). */
  clearSource: boolean;
  dryRun: boolean;
  limit?: number;
  batchSize: number;
  workers: number;
  waitMs: number;
}

export default defineCommand({
  name: 'import-from-db',
  summary: "Move file contents kept in an application's table into the store (resumable)",
  description:
    "Read the rows of an application table by key, in batches, and write each row's files as a job's files in the store layout (<category>/YYYY/MM/DD/<job_id>/<role>): atomically, 0600 in 0750 directories, content type from the bytes, SHA-256 and a catalog row per file, and the job's generation metadata naming the table, column and key they came from. The store may be a directory or an S3 bucket (--root s3://BUCKET/PREFIX, with --database): objects are put whole, each with its SHA-256. A job created here belongs to the owner in --owner-column (else --owner, else none); a row whose files would pass that owner's quota fails alone with nothing written. --shape says how the data column holds them: bytea (BYTEA/BLOB, one file a row), bytea-array (PostgreSQL bytea[], one file an element), base64 (text, one file a row), json-base64 (a JSON object of base64 strings whose keys name the roles; json, jsonb or text). The default --role-map for json-base64 is the card system's card_files_data: front_image -> front.png, back_image -> back.png, front_pdf -> front.pdf, back_pdf -> back.pdf, combined_pdf -> combined.pdf. A row whose job already has those files with the same SHA-256 is skipped, so a rerun after a kill adds nothing twice. A row with bad data (invalid base64, an empty value, bytes not of the type its role names) is listed with the reason, nothing is written for it, the others go on, and the exit status is 3. The source is never changed unless --clear-source, which sets a row's data column to NULL only after all its files are written, fsynced, recorded and read back from the store with the right SHA-256, in one transaction of the application's database per batch. --dry-run decides each row as a real run would (already imported, bad data, quota) and writes nothing.",
  examples: [
    'storectl --database postgres://app@db/cards import-from-db --table print_jobs --key id --data-column card_files_data --created-column created_at --dry-run',
    'storectl --database postgres://app@db/cards import-from-db --table print_jobs --key id --data-column card_files_data --created-column created_at --json',
    'storectl --database postgres://app@db/cards import-from-db --table print_jobs --key id --data-column card_files_data --clear-source --yes',
    'storectl --root s3://media/cards --database postgres://app@db/cards import-from-db --table print_jobs --data-column card_files_data --owner-column api_key --clear-source --yes',
    'storectl import-from-db --source-database sqlite:legacy.db --table scans --key id --data-column pages --shape bytea --role-map \'["scan.pdf"]\' --category uploads --kind scan',
  ],
  recordRun: true,
  options: (cmd) =>
    cmd
      .requiredOption('--table <name>', 'the application table (letters, digits, _; optionally schema.table)')
      .option('--key <column>', 'unique key column: rows are read in its order, and it is the job id unless --job-column (default id)')
      .requiredOption('--data-column <column>', 'the column holding the file contents')
      .option('--shape <shape>', 'how the column holds them: bytea, bytea-array, base64, json-base64 (default: from the column type: bytea/BLOB, bytea[], json/jsonb/JSON)')
      .option('--role-map <json>', 'file names: a JSON object key -> name for json-base64 (default the card_files_data mapping), a JSON array of names by position otherwise (default file.<ext>, file-N.<ext>)')
      .option('--kind <kind>', 'kind of the jobs created (default card)')
      .option('--category <category>', 'top-level directory of the files: cards, uploads, temp, exports (default cards)')
      .option('--status <status>', 'status of the jobs created (default completed)')
      .option('--created-column <column>', "column with the row's creation time, dating its directory (default: now); a job already in the catalog keeps its date")
      .option('--job-column <column>', 'column with the job id (default: the key)')
      .option('--owner-column <column>', "column with the owner of the row's job (quotas are that owner's); an empty value falls back to --owner")
      .option('--owner <owner>', "owner of the jobs created (default: none); a row whose job exists with another owner fails")
      .option('--source-database <url>', "the application's database, when it is not the catalog's (postgres://... or sqlite:PATH)")
      .option('--clear-source', "set each row's data column to NULL once all its files are verified in the store")
      .option('--dry-run', 'decode and report rows, files, bytes and failures; write nothing')
      .option('--limit <n>', 'stop after N rows: a trial run', intOption(1))
      .option('--batch-size <n>', 'rows read and committed together (default 8)', intOption(1, 10_000))
      .option('--workers <n>', 'rows whose files are written at once (default 4)', intOption(1, 64))
      .addOption(waitOption()),
  async parse(_args, raw): Promise<ImportFromDbOptions> {
    const { parseRoleMap } = await import('../ops/import-db/decode.ts');
    const { checkSourceSpec, IMPORT_DEFAULTS } = await import('../ops/import-db/run.ts');
    const { CATEGORIES } = await import('../storage/layout.ts');
    // Every name is checked before anything is opened: a hostile --table runs nothing.
    const spec = checkSourceSpec({
      table: String(raw.table),
      key: text(raw, 'key') ?? 'id',
      dataColumn: String(raw.dataColumn),
      shape: raw.shape as SourceSpec['shape'],
      createdColumn: text(raw, 'createdColumn'),
      jobColumn: text(raw, 'jobColumn'),
      ownerColumn: text(raw, 'ownerColumn'),
    });
    const category = text(raw, 'category') ?? IMPORT_DEFAULTS.category;
    if (!(CATEGORIES as readonly string[]).includes(category)) throw new UsageError(`unknown --category ${JSON.stringify(category)}`, `use one of ${CATEGORIES.join(', ')}`);
    const roleMap = text(raw, 'roleMap');
    // A shape given now checks the role map before anything is opened; else once the column type says it.
    if (spec.shape) parseRoleMap(roleMap, spec.shape);
    const dryRun = flag(raw, 'dryRun');
    return {
      spec,
      roleMap,
      kind: text(raw, 'kind') ?? IMPORT_DEFAULTS.kind,
      category,
      status: text(raw, 'status') ?? IMPORT_DEFAULTS.status,
      owner: text(raw, 'owner'),
      sourceDatabase: text(raw, 'sourceDatabase'),
      clearSource: flag(raw, 'clearSource') && !dryRun,
      dryRun,
      limit: num(raw, 'limit'),
      batchSize: num(raw, 'batchSize') ?? IMPORT_DEFAULTS.batchSize,
      workers: num(raw, 'workers') ?? IMPORT_DEFAULTS.workers,
      waitMs: parseWait(raw),
    };
  },
  async run(opts, env) {
    const { parseRoleMap } = await import('../ops/import-db/decode.ts');
    const { importFromDb, openImportSource } = await import('../ops/import-db/run.ts');
    const { spec, dryRun, clearSource } = opts;
    if (clearSource) {
      const ok = await env.confirm(`Set ${spec.table}.${spec.dataColumn} to NULL for each row once its files are verified in the store${opts.limit ? ` (at most ${formatCount(opts.limit)} rows)` : ''}?`);
      if (!ok) throw new FailedError('cancelled: nothing was changed', undefined, 'cancelled');
    }
    // Never a new store: a missing catalog is a wrong --root (exit 2), not a place to start one.
    const ctx = await env.openContext({ createRoot: false, createCatalog: false, s3: true });
    const source = await openImportSource(ctx, spec, { sourceDatabase: opts.sourceDatabase, clearSource });
    let report: ImportReport;
    try {
      const roleMap = parseRoleMap(opts.roleMap, source.spec.shape);
      const { limit, batchSize, workers, kind, category, status, owner } = opts;
      const run = () => importFromDb(ctx, source, { dryRun, clearSource, limit, batchSize, workers, kind, category, status, roleMap, owner });
      const { withStoreLock } = await import('../ops/store-lock.ts');
      report = dryRun ? await run() : await withStoreLock(ctx, 'import-from-db', opts.waitMs, run);
    } finally {
      await source.close();
    }
    return {
      report,
      text: () => renderReport(report),
      exitCode: report.failed ? EXIT.PARTIAL : EXIT.OK,
      dryRun,
      totals: { rows: report.rows, imported: report.imported, skipped: report.skipped, failed: report.failed, cleared: report.cleared, files: report.files, bytes: report.bytes },
    };
  },
});

function renderReport(r: ImportReport): string {
  const out: string[] = [];
  out.push(
    renderPairs([
      ['source', `${r.source.table}.${r.source.dataColumn} (${r.source.shape}) by ${r.source.key}, ${r.source.database}`],
      ['rows', `${formatCount(r.rows)} of ${formatCount(r.total)} with data`],
      [r.dryRun ? 'would import' : 'imported', `${formatCount(r.imported)} row(s): ${formatCount(r.files)} file(s), ${formatBytes(r.bytes)}`],
      ['skipped (already in the store)', formatCount(r.skipped)],
      ['failed', formatCount(r.failed)],
      ...(r.clearSource ? [['source cleared', `${formatCount(r.cleared)} row(s)`] as [string, string]] : []),
      ['time', `${formatDuration(r.elapsedMs)} (${r.rowsPerSecond} rows/s)`],
      ...(r.limitReached ? [['limit', 'reached: run again to continue'] as [string, string]] : []),
    ]),
  );
  for (const f of r.failures) out.push(safe`failed  key ${f.key}${f.jobId && f.jobId !== f.key ? ` (job ${f.jobId})` : ''}: ${f.reason}`);
  if (r.failuresTruncated) out.push(safe`(more failures than listed: ${formatCount(r.failed)} in all)`);
  return out.join('\n') + '\n';
}
