// import-from-db: pages through an application table by key, decodes each row's files,
// admits them against the owner's quota (in row order), writes them through the BlobStore
// (local tree: atomically; S3: each object whole), then records them (catalog); a row whose
// job already has those files with the same SHA-256 is skipped, so a rerun after a kill adds
// nothing twice. With clearSource, a row's source value is set to NULL only once every one
// of its files is written, fsynced, recorded and read back from the store with the right SHA-256, in the
// application's own transaction per batch. Memory is bounded by one page of rows.
import { sha256Stream } from '../../storage/hash.ts';
import type { Context } from '../../context.ts';
import { openSourceRows, type SourceRow, type SourceRows, type SourceSpec } from '../../db/source-rows.ts';

/** Checks every name of a source spec before anything is opened (the command calls it first). */
export { checkSourceSpec, type SourceSpec } from '../../db/source-rows.ts';
import { parseDatabaseUrl } from '../../db/url.ts';
import type { FileRecord, Job, NewFile, NewJob } from '../../db/types.ts';
import { checkJobId, jobFilePath } from '../../storage/layout.ts';
import { HELD_STATES, isQuotaExceeded } from '../../db/usage.ts';
import { mapPool } from '../pool.ts';
import { pausePoint } from '../../test-hooks.ts';
import { OrderedAdmission, admissionRefusal } from '../quota.ts';
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
  /** Owner of the jobs the import creates (and of a row whose owner column is empty). */
  owner?: string;
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
  /** The owner of the row's job: an existing job's, else --owner-column / --owner, else ''. */
  owner: string;
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
  // One admission for the run: a row's bytes stay reserved from its admission until its rows
  // are committed or it is abandoned (in a dry run, to the end: the run that would follow).
  const admission = new OrderedAdmission(ctx);

  /** Decodes a row and names its files; a failure is reported and gives null. */
  const plan = async (row: SourceRow): Promise<(Omit<RowPlan, 'files' | 'owner'> & { owner?: string; decoded: DecodedFile[] }) | null> => {
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
    // The owner the row names (its column, else --owner); undefined: the job's own, or none.
    let owner = opts.owner;
    if (spec.ownerColumn && row.owner !== null && row.owner !== undefined && row.owner !== '') {
      if (typeof row.owner !== 'string' && typeof row.owner !== 'number' && typeof row.owner !== 'bigint') {
        fail(key, jobId, `owner column is ${row.owner instanceof Uint8Array ? 'binary' : typeof row.owner}, not text`);
        return null;
      }
      owner = String(row.owner);
    }
    const d = await decodeValue(row.value, spec.shape, opts.roleMap);
    // The decoded bytes are what is kept: the raw value (base64 text, parsed JSON) can go now.
    row.value = undefined;
    if (!d.ok) {
      fail(key, jobId, d.reason);
      return null;
    }
    return { row, key, jobId, owner, createdAt, decoded: d.files };
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

    const ids = planned.map((p) => p.jobId);
    const jobs = new Map<string, Job>((await ctx.catalog.getJobs(ids)).map((j) => [j.id, j]));
    // What the catalog holds at these jobs' paths: present files are what a rerun skips; every
    // row the usage ledger counts (present, deleting, corrupt) is what a rewrite replaces.
    const held = await ctx.catalog.filesOfJobs(ids, HELD_STATES);
    const heldAt = new Map<string, FileRecord>(held.map((f) => [f.path, f]));
    const present = new Map<string, FileRecord>(held.filter((f) => f.state === 'present').map((f) => [f.path, f]));
    const counted = new Map<string, number>(held.map((f) => [f.path, f.size]));
    const toWrite: RowPlan[] = [];
    const done: RowPlan[] = [];
    for (const p of planned) {
      const job = jobs.get(p.jobId);
      if (job && p.owner !== undefined && job.owner !== p.owner) {
        fail(p.key, p.jobId, `job ${p.jobId} belongs to owner ${JSON.stringify(job.owner)}, not ${JSON.stringify(p.owner)}`);
        continue;
      }
      // The layout dates a job by its creation: an existing job keeps its directory.
      const created = job?.createdAt ?? p.createdAt ?? at;
      const files = p.decoded.map((f) => ({ ...f, path: jobFilePath(opts.category, p.jobId, created, f.role) }));
      const deleting = files.find((f) => heldAt.get(f.path)?.state === 'deleting');
      if (deleting) {
        fail(p.key, p.jobId, `job ${p.jobId} has ${deleting.path} in the middle of a deletion; not overwritten (let the deletion finish, then run again)`);
        continue;
      }
      const clash = files.find((f) => heldAt.has(f.path) && heldAt.get(f.path)!.sha256 !== f.sha256);
      if (clash) {
        fail(p.key, p.jobId, `job ${p.jobId} already has ${clash.path} with other content (SHA-256 ${heldAt.get(clash.path)!.sha256.slice(0, 12)}…); not overwritten`);
        continue;
      }
      const rp: RowPlan = { row: p.row, key: p.key, jobId: p.jobId, owner: job?.owner ?? p.owner ?? '', createdAt: created, files };
      if (files.every((f) => present.has(f.path))) done.push(rp);
      else toWrite.push(rp);
    }
    report.skipped += done.length;

    // Quota admission, per owner in the order of the rows (whichever worker gets there first),
    // before anything is written: a row that would pass its owner's quota fails alone.
    const turns = toWrite.map((p) => admission.turn(p.owner));
    const written: RowPlan[] = [];
    await mapPool(
      toWrite.map((p, i) => ({ p, turn: turns[i]! })),
      opts.workers,
      async ({ p, turn }) => {
        try {
          // Only the files the catalog does not already hold with this content are written.
          const fresh = p.files.filter((f) => !present.has(f.path));
          const needBytes = Math.max(0, fresh.reduce((a, f) => a + f.bytes.length - (counted.get(f.path) ?? 0), 0));
          const needFiles = fresh.filter((f) => !counted.has(f.path)).length;
          const admitted = await admission.admit(turn, p.owner, needBytes, needFiles);
          if (admitted.refusal) {
            fail(p.key, p.jobId, admitted.refusal);
            return;
          }
          try {
            if (opts.dryRun) {
              // The reservation stays: the rows after this one see the quota as a real run would.
              report.imported++;
              report.files += fresh.length;
              report.bytes += fresh.reduce((a, f) => a + f.bytes.length, 0);
              return;
            }
            if (await writeRow(ctx, source, opts, p, fresh, jobs.get(p.jobId), at, report)) {
              written.push(p);
            } else {
              const again = await admissionRefusal(ctx, p.owner, needBytes, needFiles);
              fail(p.key, p.jobId, again ?? `quota exceeded: owner ${p.owner || '(none)'} (refused by the catalog)`);
            }
          } finally {
            if (!opts.dryRun) admitted.settle();
          }
        } finally {
          turn.release();
        }
      },
    );

    if (opts.clearSource && !opts.dryRun) {
      // Read every file back from the store (local tree or S3, through the one BlobStore get):
      // only a row whose files all hash to what was decoded from it loses its source value,
      // and only if that value is still the one read.
      const candidates = [...written, ...done];
      const bad = await mapPool(candidates, opts.workers, async (p) => {
        for (const f of p.files) if (!(await readsBack(ctx, f.path, f.sha256, f.bytes.length))) return f.path;
        return null;
      });
      const verified: RowPlan[] = [];
      candidates.forEach((p, i) => {
        if (bad[i]) fail(p.key, p.jobId, `${bad[i]} does not read back with its SHA-256; source kept`);
        else verified.push(p);
      });
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


/**
 * Writes a row's new files and records them (with its job, when new) in one catalog
 * transaction. Local tree: temp file, fsync, rename, fsync dir, a row's files with their
 * fsyncs overlapping; S3: each object put whole, with its SHA-256 for the server to check
 * where it can. Returns false when the catalog refused the rows for a quota (another writer
 * got there first): the files just written are removed again. Any other failure also removes
 * them, then is thrown.
 */
async function writeRow(
  ctx: Context,
  source: SourceRows,
  opts: ImportOptions,
  p: RowPlan,
  fresh: RowPlan['files'],
  job: Job | undefined,
  at: Date,
  report: ImportReport,
): Promise<boolean> {
  const spec = source.spec;
  const abandon = () => ctx.store.removeMany(fresh.map((f) => f.path)).catch(() => undefined);
  let stats: { size: number; mtime: Date }[];
  try {
    stats =
      ctx.store.capabilities.kind === 'local'
        ? await ctx.blobs.putMany(fresh.map((f) => ({ rel: f.path, data: f.bytes })))
        : await putAll(ctx, fresh);
  } catch (err) {
    await abandon();
    throw err;
  }
  await pausePoint('import-from-db.before-record');
  const rows: NewFile[] = fresh.map((f, i) => ({
    jobId: p.jobId,
    role: f.role,
    category: opts.category,
    owner: p.owner,
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
  const newJob: NewJob | undefined = job
    ? undefined
    : {
        id: p.jobId,
        kind: opts.kind,
        owner: p.owner,
        status: opts.status,
        data: {},
        createdAt: p.createdAt!,
        updatedAt: at,
        completedAt: opts.status === 'completed' ? p.createdAt : null,
        filesState: 'on_disk',
        generation,
      };
  try {
    // The job (when new) and its file rows in one transaction: a refusal leaves neither.
    await ctx.catalog.recordGeneration(p.jobId, rows, generation, at, { newJob });
  } catch (err) {
    await abandon();
    if (isQuotaExceeded(err)) return false;
    throw err;
  }
  report.imported++;
  report.files += rows.length;
  report.bytes += rows.reduce((a, f) => a + f.size, 0);
  return true;
}

/** Puts a row's objects in parallel; a failure is thrown only once none is still in flight (so the abandon that follows removes them all). */
async function putAll(ctx: Context, fresh: RowPlan['files']): Promise<{ size: number; mtime: Date }[]> {
  const settled = await Promise.allSettled(fresh.map((f) => ctx.store.put(f.path, f.bytes, { sha256: f.sha256, contentType: f.contentType })));
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return settled.map((r) => (r as PromiseFulfilledResult<{ size: number; mtime: Date }>).value);
}

/** Reads an object back through the BlobStore and checks its size and SHA-256; false on any failure. */
async function readsBack(ctx: Context, key: string, sha: string, size: number): Promise<boolean> {
  try {
    const back = await sha256Stream((await ctx.store.get(key)) as AsyncIterable<Buffer>);
    return back.size === size && back.sha256 === sha;
  } catch {
    return false;
  }
}
