import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { and, asc, desc, eq, gt, inArray, sql, type SQL } from 'drizzle-orm';
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate as drizzleMigrate } from 'drizzle-orm/better-sqlite3/migrator';
import { ensureDir } from '../storage/atomic.ts';
import type { Catalog } from './catalog.ts';
import { MIGRATIONS_TABLE, migrationStates, migrationsFolder } from './migrations.ts';
import { events, files, jobs, locks, runs, schema } from './schema/sqlite.ts';
import { LOCK_POLL_MS, ageBucketSql, chunk, fileValues, isProcessAlive, jobValues, lockedError, sleep } from './shared.ts';
import type {
  CatalogAggregates,
  DeletionOutcome,
  EventRecord,
  FileGroup,
  FilePageQuery,
  FileRecord,
  Job,
  JobGroup,
  JobHead,
  JobPageQuery,
  LockInfo,
  LockOptions,
  MigrationState,
  NewFile,
  NewJob,
  PathRow,
  ReleaseLock,
  RunRecord,
  StuckJob,
} from './types.ts';

/**
 * `+column in (...)`: the unary plus keeps SQLite's planner off the column's index, so keyset
 * pages walk the path / id index in order instead of sorting every matching row for each page.
 */
function notIndexed(column: SQLiteColumn, values: readonly string[]): SQL {
  return sql`+${column} in (${sql.join(values.map((v) => sql`${v}`), sql`, `)})`;
}

const JOB_HEAD = {
  id: jobs.id,
  kind: jobs.kind,
  owner: jobs.owner,
  status: jobs.status,
  createdAt: jobs.createdAt,
  updatedAt: jobs.updatedAt,
  completedAt: jobs.completedAt,
  filesState: jobs.filesState,
};

// SQLite allows 32766 bound parameters; 16 columns a row keeps a batch well under.
const BATCH = 500;

export class SqliteCatalog implements Catalog {
  readonly dialect = 'sqlite' as const;
  readonly location: string;
  readonly raw: Database.Database;
  readonly db: BetterSQLite3Database<typeof schema>;

  constructor(file: string) {
    this.location = file;
    // not mkdirSync({recursive}): it spins forever under /proc on Node 20
    ensureDir(path.dirname(file));
    this.raw = new Database(file);
    this.raw.pragma('journal_mode = WAL');
    this.raw.pragma('synchronous = NORMAL');
    this.raw.pragma('busy_timeout = 10000');
    try {
      fs.chmodSync(file, 0o600);
    } catch {
      /* not ours to change: keep going */
    }
    this.db = drizzle(this.raw, { schema });
  }

  async migrate(): Promise<string[]> {
    const before = await this.migrationStatus();
    drizzleMigrate(this.db, { migrationsFolder: migrationsFolder('sqlite'), migrationsTable: MIGRATIONS_TABLE });
    const after = await this.migrationStatus();
    return after.filter((m, i) => m.applied && !before[i]!.applied).map((m) => m.tag);
  }

  async migrationStatus(): Promise<MigrationState[]> {
    const exists = this.raw
      .prepare(`select 1 from sqlite_master where type = 'table' and name = ?`)
      .get(MIGRATIONS_TABLE);
    const applied = exists
      ? (this.raw.prepare(`select created_at from "${MIGRATIONS_TABLE}"`).all() as { created_at: number }[]).map(
          (r) => Number(r.created_at),
        )
      : [];
    return migrationStates('sqlite', applied);
  }

  async close(): Promise<void> {
    if (this.raw.open) this.raw.close();
  }

  async insertJobs(newJobs: readonly NewJob[]): Promise<void> {
    const now = new Date();
    this.db.transaction((tx) => {
      for (const part of chunk(newJobs, BATCH)) tx.insert(jobs).values(part.map((j) => jobValues(j, now))).run();
    });
  }

  async existingJobIds(ids: readonly string[]): Promise<string[]> {
    const out: string[] = [];
    for (const part of chunk(ids, BATCH)) {
      const rows = this.db.select({ id: jobs.id }).from(jobs).where(inArray(jobs.id, part)).all();
      out.push(...rows.map((r) => r.id));
    }
    return out;
  }

  async getJobs(ids: readonly string[]): Promise<Job[]> {
    const out: Job[] = [];
    for (const part of chunk(ids, BATCH)) out.push(...this.db.select().from(jobs).where(inArray(jobs.id, part)).all());
    return out;
  }

  async pendingJobIds(kind: string, limit: number, afterId?: string): Promise<string[]> {
    const where = and(eq(jobs.filesState, 'none'), eq(jobs.kind, kind), afterId ? gt(jobs.id, afterId) : undefined);
    return this.db.select({ id: jobs.id }).from(jobs).where(where).orderBy(asc(jobs.id)).limit(limit).all().map((r) => r.id);
  }

  async recordGeneration(
    jobId: string,
    newFiles: readonly NewFile[],
    generation: Record<string, unknown>,
    at: Date,
  ): Promise<void> {
    // Synchronous on purpose: better-sqlite3 cannot roll back an async callback.
    this.db.transaction((tx) => {
      for (const f of newFiles) {
        const values = fileValues(f);
        tx.insert(files)
          .values(values)
          .onConflictDoUpdate({ target: files.path, set: { ...values } })
          .run();
      }
      tx.update(jobs)
        .set({ filesState: newFiles.length ? 'on_disk' : 'none', generation, updatedAt: at })
        .where(eq(jobs.id, jobId))
        .run();
    });
  }

  async insertFiles(newFiles: readonly NewFile[]): Promise<void> {
    this.db.transaction((tx) => {
      for (const part of chunk(newFiles, BATCH)) tx.insert(files).values(part.map(fileValues)).run();
    });
  }

  async filesOfJob(jobId: string): Promise<FileRecord[]> {
    return this.db.select().from(files).where(eq(files.jobId, jobId)).orderBy(asc(files.path)).all();
  }

  async filePage(q: FilePageQuery): Promise<FileRecord[]> {
    const where = and(
      q.states ? notIndexed(files.state, q.states) : undefined,
      q.afterPath !== undefined ? gt(files.path, q.afterPath) : undefined,
    );
    return this.db.select().from(files).where(where).orderBy(asc(files.path)).limit(q.limit).all();
  }

  async counts(): Promise<{ jobs: number; files: number; presentFiles: number }> {
    const row = this.raw
      .prepare(
        `select (select count(*) from jobs) as jobs, (select count(*) from files) as files,
                (select count(*) from files where state = 'present') as presentFiles`,
      )
      .get() as { jobs: number; files: number; presentFiles: number };
    return row;
  }

  async aggregates(now: Date): Promise<CatalogAggregates> {
    const nowMs = now.getTime();
    const fileGroups = this.db
      .select({
        state: files.state,
        category: files.category,
        owner: files.owner,
        ageBucket: sql<FileGroup['ageBucket']>`${ageBucketSql(sql`(${nowMs} - ${files.createdAt})`, 86_400_000)}`,
        files: sql<number>`count(*)`,
        bytes: sql<number>`coalesce(sum(${files.size}), 0)`,
      })
      .from(files)
      .groupBy(sql`1, 2, 3, 4`)
      .all();
    const jobGroups: JobGroup[] = this.db
      .select({ kind: jobs.kind, status: jobs.status, filesState: jobs.filesState, jobs: sql<number>`count(*)` })
      .from(jobs)
      .groupBy(jobs.kind, jobs.status, jobs.filesState)
      .all();
    const edge = (dir: 'asc' | 'desc') => {
      const row = this.db
        .select({ path: files.path, createdAt: files.createdAt })
        .from(files)
        .where(eq(files.state, 'present'))
        .orderBy(dir === 'asc' ? asc(files.createdAt) : desc(files.createdAt))
        .limit(1)
        .get();
      return row ?? null;
    };
    return { fileGroups, jobGroups, oldestFile: edge('asc'), newestFile: edge('desc') };
  }

  async startRun(run: RunRecord): Promise<void> {
    this.db.insert(runs).values(run).run();
  }

  async finishRun(id: string, patch: Pick<RunRecord, 'status' | 'exitCode' | 'finishedAt' | 'totals'>): Promise<void> {
    this.db.update(runs).set(patch).where(eq(runs.id, id)).run();
  }

  async recentRuns(limit: number, command?: string): Promise<RunRecord[]> {
    return this.db
      .select()
      .from(runs)
      .where(command ? eq(runs.command, command) : undefined)
      .orderBy(desc(runs.startedAt))
      .limit(limit)
      .all();
  }

  async addEvents(list: readonly EventRecord[]): Promise<void> {
    if (!list.length) return;
    this.db.transaction((tx) => {
      for (const part of chunk(list, BATCH)) tx.insert(events).values([...part]).run();
    });
  }

  // lifecycle

  async acquireLock(name: string, opts: LockOptions): Promise<ReleaseLock> {
    const started = Date.now();
    const host = os.hostname();
    let stale: LockInfo | null = null;
    // Immediate transaction: read and write under SQLite's write lock, so two runs cannot both insert.
    const tryTake = this.raw.transaction((): LockInfo | null => {
      const row = this.db.select().from(locks).where(eq(locks.name, name)).get();
      if (row) {
        const info: LockInfo = { name, pid: row.pid, host: row.host, command: row.command ?? '', runId: row.runId ?? '', acquiredAt: row.acquiredAt };
        if (info.host !== host || isProcessAlive(info.pid)) return info;
        this.db.delete(locks).where(eq(locks.name, name)).run();
        stale = info;
      }
      const h = opts.holder;
      this.db.insert(locks).values({ name, pid: h.pid, host: h.host, command: h.command, runId: h.runId, acquiredAt: new Date() }).run();
      return null;
    });
    for (;;) {
      const held = tryTake.immediate();
      if (!held) break;
      if (Date.now() - started >= (opts.waitMs ?? 0)) throw lockedError(name, held, Date.now() - started);
      await sleep(LOCK_POLL_MS);
    }
    if (stale) opts.onStaleLock?.(stale);
    let released = false;
    return async () => {
      if (released || !this.raw.open) return;
      released = true;
      this.db
        .delete(locks)
        .where(and(eq(locks.name, name), eq(locks.pid, opts.holder.pid), eq(locks.runId, opts.holder.runId)))
        .run();
    };
  }

  async jobPage(q: JobPageQuery): Promise<JobHead[]> {
    const where = and(
      q.filesStates ? notIndexed(jobs.filesState, q.filesStates) : undefined,
      q.statuses ? notIndexed(jobs.status, q.statuses) : undefined,
      q.afterId !== undefined ? gt(jobs.id, q.afterId) : undefined,
    );
    return this.db.select(JOB_HEAD).from(jobs).where(where).orderBy(asc(jobs.id)).limit(q.limit).all();
  }

  async filesOfJobs(jobIds: readonly string[], states?: readonly string[]): Promise<FileRecord[]> {
    const out: FileRecord[] = [];
    for (const part of chunk(jobIds, BATCH)) {
      const where = and(inArray(files.jobId, part), states ? notIndexed(files.state, states) : undefined);
      out.push(...this.db.select().from(files).where(where).orderBy(asc(files.jobId), asc(files.path)).all());
    }
    return out;
  }

  async looseFilePage(q: FilePageQuery): Promise<FileRecord[]> {
    const where = and(
      sql`+${files.jobId} is null`,
      q.states ? notIndexed(files.state, q.states) : undefined,
      q.afterPath !== undefined ? gt(files.path, q.afterPath) : undefined,
    );
    return this.db.select().from(files).where(where).orderBy(asc(files.path)).limit(q.limit).all();
  }

  async filesByIds(ids: readonly number[]): Promise<FileRecord[]> {
    const out: FileRecord[] = [];
    for (const part of chunk(ids, BATCH)) out.push(...this.db.select().from(files).where(inArray(files.id, part)).all());
    return out;
  }

  async filesByPaths(paths: readonly string[]): Promise<FileRecord[]> {
    const out: FileRecord[] = [];
    for (const part of chunk(paths, BATCH)) out.push(...this.db.select().from(files).where(inArray(files.path, part)).all());
    return out;
  }

  async markDeleting(ids: readonly number[], reason: string): Promise<PathRow[]> {
    return this.raw.transaction(() => {
      const out: PathRow[] = [];
      for (const part of chunk(ids, BATCH)) {
        const rows = this.raw
          .prepare(
            `update files set state = 'deleting', delete_reason = ? where id in (${part.map(() => '?').join(', ')}) and state = 'present'
             returning id, path, size, state, job_id`,
          )
          .raw()
          .all(reason, ...part) as [number, string, number, string, string | null][];
        for (const [id, path, size, state, jobId] of rows) out.push({ id, path, size, state, jobId });
      }
      return out;
    })();
  }

  async finishDeletions(o: DeletionOutcome): Promise<void> {
    const tombstone = this.raw.prepare(`update files set state = 'deleted', deleted_at = ?, delete_reason = ? where id = ? and state = 'deleting'`);
    const restore = this.raw.prepare(`update files set state = 'present', delete_reason = null where id = ? and state = 'deleting'`);
    const job = this.raw.prepare(
      `update jobs set files_state = case when not exists (select 1 from files f where f.job_id = jobs.id and +f.state in ('present', 'deleting'))
         then 'deleted' else 'partial' end,
         generation = json_patch(coalesce(generation, '{}'), ?) where id = ?`,
    );
    const event = this.raw.prepare(`insert into events (run_id, at, action, path, job_id, bytes, reason) values (?, ?, ?, ?, ?, ?, ?)`);
    this.raw.transaction(() => {
      for (const d of o.deleted) tombstone.run(d.at.getTime(), d.reason, d.id);
      for (const id of o.restored) restore.run(id);
      for (const e of o.events) event.run(e.runId, e.at.getTime(), e.action, e.path, e.jobId, e.bytes, e.reason);
      for (const j of o.jobs) job.run(JSON.stringify(j.patch), j.id);
    })();
  }

  async markJobsFailed(list: readonly StuckJob[], reason: string, at: Date): Promise<string[]> {
    const stmt = this.raw.prepare(
      `update jobs set status = 'failed', failure_reason = ?, updated_at = ? where id = ? and status = ? and updated_at = ?`,
    );
    return this.raw.transaction(() => list.filter((j) => stmt.run(reason, at.getTime(), j.id, j.status, j.updatedAt.getTime()).changes > 0).map((j) => j.id))();
  }

  async markMissing(ids: readonly number[], list: readonly EventRecord[]): Promise<number> {
    return this.db.transaction((tx) => {
      const marked = new Set<string>();
      for (const part of chunk(ids, BATCH)) {
        const rows = tx
          .update(files)
          .set({ state: 'missing' })
          .where(and(inArray(files.id, part), eq(files.state, 'present')))
          .returning({ path: files.path })
          .all();
        for (const r of rows) marked.add(r.path);
      }
      const ev = list.filter((e) => e.path !== null && marked.has(e.path));
      for (const part of chunk(ev, BATCH)) tx.insert(events).values(part).run();
      return marked.size;
    });
  }

  async pathPage(q: FilePageQuery): Promise<PathRow[]> {
    const states = q.states ?? [];
    const sqlText =
      `select id, path, size, state, job_id from files where 1 = 1` +
      (states.length ? ` and +state in (${states.map(() => '?').join(', ')})` : '') +
      (q.afterPath !== undefined ? ' and path > ?' : '') +
      ' order by path limit ?';
    const params: unknown[] = [...states, ...(q.afterPath !== undefined ? [q.afterPath] : []), q.limit];
    const rows = this.raw.prepare(sqlText).raw().all(...params) as [number, string, number, string, string | null][];
    return rows.map(([id, path, size, state, jobId]) => ({ id, path, size, state, jobId }));
  }

  async pathsOfJobs(jobIds: readonly string[], states: readonly string[]): Promise<PathRow[]> {
    const out: PathRow[] = [];
    for (const part of chunk(jobIds, BATCH)) {
      const stmt = this.raw.prepare(
        `select id, path, size, state, job_id from files where job_id in (${part.map(() => '?').join(', ')})
         and +state in (${states.map(() => '?').join(', ')}) order by job_id, path`,
      );
      for (const [id, path, size, state, jobId] of stmt.raw().all(...part, ...states) as [number, string, number, string, string][]) {
        out.push({ id, path, size, state, jobId });
      }
    }
    return out;
  }
}
