// The catalog methods whose SQL is the same on both dialects, written once over the dialect
// adapter (sql-exec.ts): reads of jobs and files by key, the file state marks of the delete
// protocol, the runs and events of the audit trail, and which images are stored. SqliteCatalog
// and PgCatalog take these as they are (Object.assign in their constructors); what differs
// between the databases (keyset paging plans, locks, bulk writes, snapshots) stays in
// sqlite.ts and pg.ts. The contract suites run them on both.
import type { FilesCatalog, ImagesCatalog, JobsCatalog, LifecycleCatalog, RunsCatalog } from './catalog.ts';
import { chunk } from './shared.ts';
import { placeholders, type SqlExec } from './sql-exec.ts';
import type { FileRecord, Job, RunRecord } from './types.ts';

/** Keys a statement binds at most (SQLite's limit on bound parameters is the tighter). */
const BATCH = 500;

export type SharedRecords = Pick<JobsCatalog, 'existingJobIds' | 'getJobs'> &
  Pick<FilesCatalog, 'filesOfJob' | 'filesByIds' | 'filesByPaths'> &
  Pick<LifecycleCatalog, 'markFiles'> &
  RunsCatalog &
  Pick<ImagesCatalog, 'storedImageKeys'>;

const FILE_COLUMNS =
  'id, job_id as "jobId", role, category, owner, path, content_type as "contentType", size, sha256, mtime, created_at as "createdAt", ' +
  'expires_at as "expiresAt", deleted_at as "deletedAt", delete_reason as "deleteReason", state, verified_at as "verifiedAt", ' +
  'verify_result as "verifyResult", content_group as "contentGroup", tier, encoding, stored_size as "storedSize", tier_target as "tierTarget", compress_checked as "compressChecked", pack, pack_offset as "packOffset"';

const JOB_COLUMNS =
  'id, kind, owner, status, data, created_at as "createdAt", updated_at as "updatedAt", completed_at as "completedAt", ' +
  'files_state as "filesState", generation, failure_reason as "failureReason"';

const RUN_COLUMNS =
  'id, command, args, dry_run as "dryRun", status, exit_code as "exitCode", "user", host, pid, started_at as "startedAt", finished_at as "finishedAt", totals';

/** A JSON column as read back: text on SQLite, already parsed (jsonb) on PostgreSQL. */
const fromJson = <T>(v: unknown): T | null => (v === null || v === undefined ? null : typeof v === 'string' ? (JSON.parse(v) as T) : (v as T));
const toJson = (v: unknown): string | null => (v === null || v === undefined ? null : JSON.stringify(v));
/** int8 columns come back as strings from node-postgres. */
const int = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function fileOf(x: SqlExec, r: Record<string, unknown>): FileRecord {
  return {
    ...(r as unknown as FileRecord),
    id: Number(r.id),
    size: Number(r.size),
    mtime: x.date(r.mtime),
    createdAt: x.date(r.createdAt)!,
    expiresAt: x.date(r.expiresAt),
    deletedAt: x.date(r.deletedAt),
    verifiedAt: x.date(r.verifiedAt),
    contentGroup: int(r.contentGroup),
    storedSize: int(r.storedSize),
    pack: (r.pack as string | null | undefined) ?? null,
    packOffset: int(r.packOffset),
  };
}

function jobOf(x: SqlExec, r: Record<string, unknown>): Job {
  return {
    ...(r as unknown as Job),
    data: fromJson<Record<string, unknown>>(r.data)!,
    createdAt: x.date(r.createdAt)!,
    updatedAt: x.date(r.updatedAt)!,
    completedAt: x.date(r.completedAt),
    generation: fromJson<Record<string, unknown>>(r.generation),
  };
}

function runOf(x: SqlExec, r: Record<string, unknown>): RunRecord {
  return {
    ...(r as unknown as RunRecord),
    args: fromJson<Record<string, unknown>>(r.args),
    dryRun: Boolean(r.dryRun),
    exitCode: int(r.exitCode),
    pid: int(r.pid),
    startedAt: x.date(r.startedAt)!,
    finishedAt: x.date(r.finishedAt),
    totals: fromJson<Record<string, unknown>>(r.totals),
  };
}

/** Rows whose `column` is one of `keys`, BATCH keys a statement. */
async function byKeys<T>(x: SqlExec, select: string, column: string, keys: readonly unknown[], map: (r: Record<string, unknown>) => T, extra = '', extraParams: unknown[] = []): Promise<T[]> {
  const out: T[] = [];
  for (const part of chunk(keys, BATCH)) {
    const rows = await x.all(`${select} where ${extra}${column} in ${placeholders(part.length)}`, [...extraParams, ...part]);
    for (const r of rows) out.push(map(r));
  }
  return out;
}

export function sharedRecords(x: SqlExec): SharedRecords {
  return {
    existingJobIds: (ids) => byKeys(x, 'select id from jobs', 'id', ids, (r) => String(r.id)),
    getJobs: (ids) => byKeys(x, `select ${JOB_COLUMNS} from jobs`, 'id', ids, (r) => jobOf(x, r)),
    async filesOfJob(jobId) {
      return (await x.all(`select ${FILE_COLUMNS} from files where job_id = ? order by path`, [jobId])).map((r) => fileOf(x, r));
    },
    filesByIds: (ids) => byKeys(x, `select ${FILE_COLUMNS} from files`, 'id', ids, (r) => fileOf(x, r)),
    filesByPaths: (paths) => byKeys(x, `select ${FILE_COLUMNS} from files`, 'path', paths, (r) => fileOf(x, r)),
    async markFiles(paths, state, at, reason) {
      const [set, params] = state === 'deleted' ? ['state = ?, deleted_at = ?, delete_reason = ?', [state, x.at(at), reason]] : ['state = ?', [state]];
      await x.transaction([...chunk(paths, BATCH)].map((part) => ({ sql: `update files set ${set} where path in ${placeholders(part.length)}`, params: [...params, ...part] })));
    },
    async startRun(run) {
      await x.run(`insert into runs (${RUN_COLUMNS.replace(/ as "\w+"/g, '')}) values ${placeholders(12)}`, [
        run.id,
        run.command,
        toJson(run.args),
        x.flag(run.dryRun),
        run.status,
        run.exitCode,
        run.user,
        run.host,
        run.pid,
        x.at(run.startedAt),
        run.finishedAt ? x.at(run.finishedAt) : null,
        toJson(run.totals),
      ]);
    },
    async finishRun(id, patch) {
      await x.run('update runs set status = ?, exit_code = ?, finished_at = ?, totals = ? where id = ?', [
        patch.status,
        patch.exitCode,
        patch.finishedAt ? x.at(patch.finishedAt) : null,
        toJson(patch.totals),
        id,
      ]);
    },
    async recentRuns(limit, command) {
      const where = command ? 'where command = ? ' : '';
      return (await x.all(`select ${RUN_COLUMNS} from runs ${where}order by started_at desc limit ?`, command ? [command, limit] : [limit])).map((r) => runOf(x, r));
    },
    async addEvents(list) {
      if (!list.length) return;
      const COLS = 7;
      await x.transaction(
        [...chunk(list, Math.floor(BATCH / COLS))].map((part) => ({
          sql: `insert into events (run_id, at, action, path, job_id, bytes, reason) values ${part.map(() => placeholders(COLS)).join(', ')}`,
          params: part.flatMap((e) => [e.runId, x.at(e.at), e.action, e.path, e.jobId, e.bytes, e.reason]),
        })),
      );
    },
    storedImageKeys: (source, keys) => byKeys(x, 'select source_key as k from images', 'source_key', keys, (r) => String(r.k), 'source = ? and source_index = 0 and ', [source]),
  };
}
