// import-from-db: pages through an application table by key, decodes each row's files,
// writes a job's files atomically (blob store), then records them (catalog); a row whose
// job already has those files with the same SHA-256 is skipped, so a rerun after a kill adds
// nothing twice. With clearSource, a row's source value is set to NULL only once every one
// of its files is written, fsynced, recorded and read back with the right SHA-256, in the
// application's own transaction per batch. Memory is bounded by one page of rows.
import type { Context } from '../../context.ts';
import { openSourceRows, type SourceRow, type SourceRows, type SourceSpec } from '../../db/source-rows.ts';

/** Checks every name of a source spec before anything is opened (the command calls it first). */
export { checkSourceSpec } from '../../db/source-rows.ts';
import { parseDatabaseUrl } from '../../db/url.ts';
import type { FileRecord, Job, NewFile, NewJob } from '../../db/types.ts';
import { checkJobId, jobFilePath } from '../../storage/layout.ts';
import { mapPool } from '../pool.ts';
import { decodeValue, type DecodedFile, type RoleMap } from './decode.ts';

export interface ImportOptions {
  dryRun: boolean;
  clearSource: boolean;
  /** Stop after this many rows were looked at (a trial run). */
  limit?: number;
  /** Rows read, decoded and committed together. */
  batchSize: number;
  /** Rows whose files are written at once. */
  workers: number;
  kind: string;
  category: string;
  /** Status of a job the import creates. */
  status: string;
  roleMap: RoleMap;
}

export const IMPORT_DEFAULTS = { batchSize: 8, workers: 4, kind: 'card', category: 'cards', status: 'completed' };

export interface ImportFailure {
  key: string;
  jobId: string | null;
  reason: string;
}

export interface ImportReport {
  dryRun: boolean;
  clearSource: boolean;
  source: { database: string; table: string; key: string; dataColumn: string; shape: string };
  /** Rows with a value in the data column when the run started. */
  total: number;
  /** Rows looked at. */
  rows: number;
  /** Rows whose files were written (dry run: would be). */
  imported: number;
  /** Rows whose job already had the same files. */
  skipped: number;
  failed: number;
  /** Rows whose source value was set to NULL. */
  cleared: number;
  files: number;
  bytes: number;
  failures: ImportFailure[];
  failuresTruncated: boolean;
  limitReached: boolean;
  elapsedMs: number;
  rowsPerSecond: number;
}

const MAX_LISTED = 1000;

interface RowPlan {
  row: SourceRow;
  key: string;
  jobId: string;
  createdAt: Date | null;
  files: (DecodedFile & { path: string })[];
}

/** A created-column value as a time: Date, ISO text (no zone: UTC), or epoch seconds/milliseconds. */
export function toTime(v: unknown): Date | null | { problem: string } {
  if (v === null || v === undefined) return null;
  let d: Date;
  if (v instanceof Date) d = v;
  else if (typeof v === 'number' || typeof v === 'bigint' || (typeof v === 'string' && /^\d+(\.\d+)?$/.test(v))) {
    const n = Number(v);
    d = new Date(n < 1e11 ? n * 1000 : n);
  } else if (typeof v === 'string') {
    const local = /^\d{4}-\d\d-\d\d([ T]\d\d:\d\d(:\d\d(\.\d+)?)?)?$/.test(v.trim());
    d = new Date(local ? `${v.trim().replace(' ', 'T')}${v.includes(':') ? 'Z' : 'T00:00:00Z'}` : v);
  } else return { problem: `created column is ${typeof v}, not a time` };
  return Number.isNaN(d.getTime()) ? { problem: `created column ${JSON.stringify(String(v))} is not a time` } : d;
}

/** Opens the application table: in --source-database, or the catalog's own database. */
export function openImportSource(ctx: Context, spec: SourceSpec, opts: { sourceDatabase?: string; clearSource: boolean }): Promise<SourceRows> {
  return openSourceRows(parseDatabaseUrl(opts.sourceDatabase ?? ctx.config.databaseUrl, ctx.config.root), spec, { forClearing: opts.clearSource });
}

export async function importFromDb(ctx: Context, source: SourceRows, opts: ImportOptions): Promise<ImportReport> {
  const started = Date.now();
  const spec = source.spec;
  const total = await source.count();
  const report: ImportReport = {
    dryRun: opts.dryRun,
    clearSource: opts.clearSource,
    source: { database: source.location, table: spec.table, key: spec.key, dataColumn: spec.dataColumn, shape: spec.shape },
    total,
    rows: 0,
    imported: 0,
    skipped: 0,
    failed: 0,
    cleared: 0,
    files: 0,
    bytes: 0,
    failures: [],
    failuresTruncated: false,
    limitReached: false,
    elapsedMs: 0,
    rowsPerSecond: 0,
  };
  const fail = (key: string, jobId: string | null, reason: string) => {
    report.failed++;
    if (report.failures.length < MAX_LISTED) report.failures.push({ key, jobId, reason });
    else report.failuresTruncated = true;
  };
  const progress = ctx.progress(opts.dryRun ? 'decoding (dry run)' : 'importing', Math.min(total, opts.limit ?? Infinity));
  const at = ctx.clock();

  /** Decodes a row and names its files; a failure is reported and gives null. */
  const plan = async (row: SourceRow): Promise<Omit<RowPlan, 'files'> & { decoded: DecodedFile[] } | null> => {
    const key = String(row.key);
    const rawJob = spec.jobColumn ? row.job : row.key;
    if (rawJob === null || rawJob === undefined || rawJob === '') {
      fail(key, null, `no job id (the ${spec.jobColumn ?? spec.key} column is empty)`);
      return null;
    }
    const jobId = String(rawJob);
    try {
      checkJobId(jobId);
    } catch (err) {
      fail(key, null, (err as Error).message);
      return null;
    }
    let createdAt: Date | null = null;
    if (spec.createdColumn) {
      const t = toTime(row.created);
      if (t && 'problem' in t) {
        fail(key, jobId, t.problem);
        return null;
      }
      createdAt = t;
    }
    const d = await decodeValue(row.value, spec.shape, opts.roleMap);
    // The decoded bytes are what is kept: the raw value (base64 text, parsed JSON) can go now.
    row.value = undefined;
    if (!d.ok) {
      fail(key, jobId, d.reason);
      return null;
    }
    return { row, key, jobId, createdAt, decoded: d.files };
  };

  // The next page is read while this one is written: reading and writing overlap, two pages at most in memory.
  let looked = 0;
  const wantAfter = (n: number) => (opts.limit !== undefined ? Math.min(opts.batchSize, opts.limit - n) : opts.batchSize);
  type Pending = { want: number; rows: Promise<SourceRow[] | null> };
  const fetch = (after: string | number | undefined, want: number): Pending => {
    const p: Promise<SourceRow[] | null> = want > 0 ? source.page(after, want) : Promise.resolve(null);
    p.catch(() => {}); // awaited below; a run that stops early must not leave it unhandled
    return { want, rows: p };
  };
  let next: Pending | null = fetch(undefined, wantAfter(0));
  while (next) {
    const want: number = next.want;
    const rows: SourceRow[] | null = await next.rows;
    if (rows === null) {
      report.limitReached = looked < total;
      break;
    }
    if (!rows.length) break;
    looked += rows.length;
    report.rows += rows.length;
    next = rows.length < want ? null : fetch(rows[rows.length - 1]!.key, wantAfter(looked));

    const decoded = [];
    for (const row of rows) {
      const p = await plan(row);
      if (p) decoded.push(p);
    }
    // Two rows of a batch naming one job would race for its files: the later one waits for a rerun.
    const byJob = new Map<string, string>();
    const planned = decoded.filter((p) => {
      const other = byJob.get(p.jobId);
      if (other !== undefined) fail(p.key, p.jobId, `job ${p.jobId} is also the job of row ${other} in this batch`);
      else byJob.set(p.jobId, p.key);
      return other === undefined;
    });

    if (opts.dryRun) {
      for (const p of planned) {
        report.imported++;
        report.files += p.decoded.length;
        report.bytes += p.decoded.reduce((a, f) => a + f.bytes.length, 0);
      }
      progress.tick(rows.length);
      continue;
    }

    const ids = planned.map((p) => p.jobId);
    const jobs = new Map<string, Job>((await ctx.catalog.getJobs(ids)).map((j) => [j.id, j]));
    const present = new Map<string, FileRecord>((await ctx.catalog.filesOfJobs(ids, ['present'])).map((f) => [f.path, f]));
    const toWrite: RowPlan[] = [];
    const done: RowPlan[] = [];
    for (const p of planned) {
      const job = jobs.get(p.jobId);
      // The layout dates a job by its creation: an existing job keeps its directory.
      const created = job?.createdAt ?? p.createdAt ?? at;
      const files = p.decoded.map((f) => ({ ...f, path: jobFilePath(opts.category, p.jobId, created, f.role) }));
      const clash = files.find((f) => present.has(f.path) && present.get(f.path)!.sha256 !== f.sha256);
      if (clash) {
        fail(p.key, p.jobId, `job ${p.jobId} already has ${clash.path} with other content (SHA-256 ${present.get(clash.path)!.sha256.slice(0, 12)}…); not overwritten`);
        continue;
      }
      const rp: RowPlan = { row: p.row, key: p.key, jobId: p.jobId, createdAt: created, files };
      if (files.every((f) => present.has(f.path))) done.push(rp);
      else toWrite.push(rp);
    }
    report.skipped += done.length;

    // Files first (atomic: temp, fsync, rename, fsync dir), rows after: a crash in between
    // leaves files without rows, which the rerun writes again over themselves.
    await mapPool(toWrite, opts.workers, async (p) => {
      const stats = await ctx.blobs.putMany(p.files.map((f) => ({ rel: f.path, data: f.bytes })));
      const job = jobs.get(p.jobId);
      const rows: NewFile[] = p.files.map((f, i) => ({
        jobId: p.jobId,
        role: f.role,
        category: opts.category,
        owner: job?.owner ?? '',
        path: f.path,
        contentType: f.contentType,
        size: stats[i]!.size,
        sha256: f.sha256,
        mtime: stats[i]!.mtime,
        createdAt: at,
      }));
      // Where each file came from, kept beside what earlier imports or renders recorded.
      const previous = job?.generation ?? {};
      const files = { ...((previous.files as Record<string, number> | undefined) ?? {}), ...Object.fromEntries(p.files.map((f) => [f.role, f.bytes.length])) };
      const origin = { database: source.location, table: spec.table, keyColumn: spec.key, key: p.key, dataColumn: spec.dataColumn, shape: spec.shape };
      const generation = {
        ...previous,
        importedFrom: {
          ...((previous.importedFrom as Record<string, unknown> | undefined) ?? {}),
          ...Object.fromEntries(p.files.map((f) => [f.role, { ...origin, part: f.part }])),
        },
        importedAt: at.toISOString(),
        importRunId: ctx.runId,
        files,
        totalBytes: Object.values(files).reduce((a, n) => a + n, 0),
        filesOnDisk: Object.keys(files).length,
      };
      if (!job) {
        const newJob: NewJob = {
          id: p.jobId,
          kind: opts.kind,
          status: opts.status,
          data: {},
          createdAt: p.createdAt!,
          updatedAt: at,
          completedAt: opts.status === 'completed' ? p.createdAt : null,
          filesState: 'on_disk',
          generation,
        };
        await ctx.catalog.insertJobs([newJob]);
      }
      await ctx.catalog.recordGeneration(p.jobId, rows, generation, at);
      report.imported++;
      report.files += rows.length;
      report.bytes += rows.reduce((a, f) => a + f.size, 0);
    });

    if (opts.clearSource) {
      // Read every file back from the store: only a row whose files all hash to what was
      // decoded from it loses its source value, and only if that value is still the one read.
      const verified: RowPlan[] = [];
      for (const p of [...toWrite, ...done]) {
        const bad = p.files.find((f) => {
          try {
            return ctx.blobs.hash(f.path).sha256 !== f.sha256;
          } catch {
            return true;
          }
        });
        if (bad) fail(p.key, p.jobId, `${bad.path} does not read back with its SHA-256; source kept`);
        else verified.push(p);
      }
      const cleared = new Set((await source.clear(verified.map((p) => ({ key: p.row.key, guard: p.row.guard })))).map(String));
      report.cleared += cleared.size;
      // The audit trail: each source value removed, with the job now holding its files.
      const gone = verified.filter((p) => cleared.has(p.key));
      if (gone.length) {
        await ctx.catalog.addEvents(
          gone.map((p) => ({
            runId: ctx.runId,
            at: ctx.clock(),
            action: 'clear-source',
            path: null,
            jobId: p.jobId,
            bytes: p.files.reduce((a, f) => a + f.bytes.length, 0),
            reason: `import-from-db ${spec.table}.${spec.dataColumn} key ${p.key}`,
          })),
        );
      }
      for (const p of verified) if (!cleared.has(p.key)) fail(p.key, p.jobId, 'the source value changed since it was read; not cleared (run again)');
    }
    progress.tick(rows.length);
  }
  progress.done();
  report.elapsedMs = Date.now() - started;
  report.rowsPerSecond = report.elapsedMs ? Math.round((report.rows / (report.elapsedMs / 1000)) * 10) / 10 : 0;
  return report;
}

