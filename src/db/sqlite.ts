import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { and, asc, eq, getTableColumns, getTableName, gt, inArray, isNull, sql, type AnyColumn, type SQL } from 'drizzle-orm';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate as drizzleMigrate } from 'drizzle-orm/better-sqlite3/migrator';
import { ensureDir } from '../dirs.ts';
import { compareBytewise } from '../bytewise.ts';
import type { Catalog, DeletionLane } from './catalog.ts';
import { listJobs, type JobListQuery, type JobListRow } from './job-list.ts';
import { sqliteExec } from './sql-exec.ts';
import { usageCatalog, type UsageCatalog } from './usage.ts';
import { sharedRecords, type SharedRecords } from './records.ts';
import { MIGRATIONS_TABLE, migrationStates, migrationsFolder } from './migrations.ts';
import { columnKinds, DUMP_KEY, DUMP_TABLES, clearedTables, type ColumnKind, type DumpRow, type DumpTable } from './dump.ts';
import { events, files, images, jobs, locks, schema } from './schema/sqlite.ts';
import {
  bucketColumns,
  chunk,
  dueCondition,
  fileValues,
  isProcessAlive,
  jobValues,
  lockInfoOf,
  lockTimings,
  pollLock,
  presentEdges,
  startHeartbeat,
  sha256Hex,
  SHARED_CONTENT_SQL,
  unpivotBuckets,
} from './shared.ts';
import { eventsOfPathsSql, imageByKeySql, imageByOriginalPathSql, toPathEvent, toStoredImage, userRowDataSql } from './access.ts';
import { COLUMNS_SQL, splitTableName, checkColumns, countRowsSql, pendingReferencesSql, pendingRowsSql, readRowsSql, tableSource, writeRowSql, type ColumnInfo } from './user-tables.ts';
import type {
  CatalogAggregates,
  CatalogSnapshot,
  DeletionOutcome,
  EventRecord,
  FilePageQuery,
  FileRecord,
  FileState,
  JobGroup,
  JobHead,
  JobPageQuery,
  LockInfo,
  LockOptions,
  LockStatus,
  MigrationState,
  NewFile,
  NewImage,
  NewJob,
  PathRow,
  ReleaseLock,
  StoredDigest,
  StuckJob,
  UserRow,
  UserRowImages,
  UserTableShape,
  UserTableTarget,
  TableImport,
  PathEvent,
  StoredImage,
} from './types.ts';

/** storectl's own tables: the schema's and the migrations journal. */
function ownTableNames(): Set<string> {
  return new Set([...Object.values(schema).map((t) => getTableName(t)), MIGRATIONS_TABLE]);
}

/**
 * `+column in (...)`: the unary plus keeps SQLite's planner off the column's index, so keyset
 * pages walk the path / id index in order instead of sorting every matching row for each page.
 */
function notIndexed(column: AnyColumn, values: readonly string[]): SQL {
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

/** The keyset condition of a file page, shared by the catalog and its snapshots. */
function filePageWhere(q: FilePageQuery): SQL | undefined {
  return and(q.states ? notIndexed(files.state, q.states) : undefined, q.afterPath !== undefined ? gt(files.path, q.afterPath) : undefined);
}

/** The methods written once for both dialects (records.ts), assigned in the constructor. */
export interface SqliteCatalog extends SharedRecords {}

export class SqliteCatalog implements Catalog {
  readonly dialect = 'sqlite' as const;
  /** What messages call the catalog (its file, unless opened from a copy). */
  location: string;
  /** The file this catalog's connections open. */
  readonly file: string;
  readonly raw: Database.Database;
  readonly db: BetterSQLite3Database<typeof schema>;
  readonly usage: UsageCatalog;

  constructor(file: string) {
    this.location = file;
    this.file = file;
    // not mkdirSync({recursive}): it spins forever under /proc on Node 20
    ensureDir(path.dirname(file));
    this.raw = new Database(file);
    this.raw.pragma('journal_mode = WAL');
    this.raw.pragma('synchronous = NORMAL');
    this.raw.pragma('busy_timeout = 10000');
    // Checkpoint at 40 MB of WAL rather than 4 MB: each checkpoint fsyncs twice, and a cleanup
    // batch of 2,000 rows dirtied enough pages to trigger one per transaction (half its time).
    this.raw.pragma('wal_autocheckpoint = 10000');
    try {
      fs.chmodSync(file, 0o600);
    } catch {
      /* not ours to change: keep going */
    }
    this.db = drizzle(this.raw, { schema });
    const exec = sqliteExec(this.raw);
    this.usage = usageCatalog(exec);
    Object.assign(this, sharedRecords(exec));
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

  async pendingJobIds(kind: string, limit: number, afterId?: string): Promise<string[]> {
    const where = and(eq(jobs.filesState, 'none'), eq(jobs.kind, kind), afterId ? gt(jobs.id, afterId) : undefined);
    return this.db.select({ id: jobs.id }).from(jobs).where(where).orderBy(asc(jobs.id)).limit(limit).all().map((r) => r.id);
  }

  async recordGeneration(
    jobId: string,
    newFiles: readonly NewFile[],
    generation: Record<string, unknown>,
    at: Date,
    opts: { newJob?: NewJob } = {},
  ): Promise<void> {
    // Synchronous on purpose: better-sqlite3 cannot roll back an async callback.
    this.db.transaction((tx) => {
      if (opts.newJob) tx.insert(jobs).values(jobValues(opts.newJob, at)).run();
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

  async filePage(q: FilePageQuery): Promise<FileRecord[]> {
    return this.db.select().from(files).where(filePageWhere(q)).orderBy(asc(files.path)).limit(q.limit).all();
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
    const grouped = this.db
      .select({
        state: files.state,
        category: files.category,
        owner: files.owner,
        ...bucketColumns(files.createdAt, files.size, now, (ms) => ms),
      })
      .from(files)
      .groupBy(files.state, files.category, files.owner)
      .all();
    const fileGroups = unpivotBuckets(grouped);
    const jobGroups: JobGroup[] = this.db
      .select({ kind: jobs.kind, status: jobs.status, filesState: jobs.filesState, jobs: sql<number>`count(*)` })
      .from(jobs)
      .groupBy(jobs.kind, jobs.status, jobs.filesState)
      .all();
    // The oldest and newest present files: their times come from the aggregate, their
    // paths from a point lookup on files_created_idx (an ORDER BY would sort every row).
    const edges = presentEdges(grouped);
    const at = (ms: unknown) =>
      this.db
        .select({ path: files.path, createdAt: files.createdAt })
        .from(files)
        .where(and(eq(files.createdAt, new Date(Number(ms))), eq(files.state, 'present')))
        .orderBy(asc(files.path))
        .limit(1)
        .get() ?? null;
    return { fileGroups, jobGroups, oldestFile: edges ? at(edges.min) : null, newestFile: edges ? at(edges.max) : null };
  }

  // images (migrate-images-to-db)
  async insertImages(list: readonly NewImage[]): Promise<number> {
    if (!list.length) return 0;
    // Synchronous on purpose: better-sqlite3 cannot roll back an async callback.
    return this.db.transaction((tx) => {
      let n = 0;
      for (const img of list) n += tx.insert(images).values(img).onConflictDoNothing().run().changes;
      return n;
    });
  }

  async storedImageDigests(source: string, keys: readonly string[]): Promise<StoredDigest[]> {
    const out: StoredDigest[] = [];
    for (const part of chunk(keys, BATCH)) {
      const rows = this.db
        .select({ sourceKey: images.sourceKey, sourceIndex: images.sourceIndex, data: images.data })
        .from(images)
        .where(and(eq(images.source, source), inArray(images.sourceKey, part)))
        .all();
      out.push(...rows.map((r) => ({ sourceKey: r.sourceKey, sourceIndex: r.sourceIndex, sha256: sha256Hex(r.data) })));
    }
    return out;
  }

  async describeUserTable(target: UserTableTarget): Promise<UserTableShape> {
    const [schemaName, table] = splitTableName('sqlite', target.table);
    const info = this.raw.prepare(COLUMNS_SQL.sqlite).all(table, schemaName) as ColumnInfo[];
    return { ...checkColumns('sqlite', target, info), source: tableSource(target) };
  }

  async pendingUserRows(target: UserTableTarget, shape: UserTableShape, afterKey: string | number | undefined, limit: number): Promise<UserRow[]> {
    const params: unknown[] = target.dataColumn === undefined ? [shape.source] : [];
    if (afterKey !== undefined) params.push(afterKey);
    params.push(limit);
    const rows = this.raw.prepare(pendingRowsSql('sqlite', target, afterKey !== undefined)).all(...params) as { k: string | number; p: unknown }[];
    return rows.map((r) => ({ key: r.k, paths: r.p }));
  }

  async countUserRows(target: UserTableTarget, shape: UserTableShape): Promise<{ total: number; pending: number }> {
    const params = target.dataColumn === undefined ? [shape.source] : [];
    const r = this.raw.prepare(countRowsSql('sqlite', target)).get(...params) as { total: number; pending: number };
    return { total: Number(r.total), pending: Number(r.pending) };
  }

  async writeUserRowImages(target: UserTableTarget, _shape: UserTableShape, rows: readonly UserRowImages[]): Promise<(string | number)[]> {
    const written: (string | number)[] = [];
    if (target.dataColumn === undefined) {
      this.db.transaction((tx) => {
        for (const row of rows) {
          let n = 0;
          for (const img of row.images) n += tx.insert(images).values(img).onConflictDoNothing().run().changes;
          if (n > 0) written.push(row.key);
        }
      });
      return written;
    }
    const update = this.raw.prepare(writeRowSql('sqlite', target, false));
    this.raw.transaction(() => {
      for (const row of rows) {
        if (row.images.length !== 1) throw new Error(`row ${row.key}: a data column holds one image, got ${row.images.length}`);
        if (update.run(row.images[0]!.data, row.key).changes > 0) written.push(row.key);
      }
    })();
    return written;
  }

  async countPendingReferences(target: UserTableTarget, shape: UserTableShape, pathValue: string): Promise<number> {
    const params = target.dataColumn === undefined ? { path: pathValue, source: shape.source } : { path: pathValue };
    const r = this.raw.prepare(pendingReferencesSql('sqlite', target, false)).get(params) as { n: number };
    return Number(r.n);
  }

  async storedUserRowDigests(target: UserTableTarget, shape: UserTableShape, keys: readonly (string | number)[]): Promise<StoredDigest[]> {
    if (target.dataColumn === undefined) return this.storedImageDigests(shape.source, keys.map(String));
    const out: StoredDigest[] = [];
    for (const part of chunk(keys, BATCH)) {
      const rows = this.raw.prepare(readRowsSql('sqlite', target, part.length)).all(...part) as { k: string | number; d: Buffer | null }[];
      for (const r of rows) if (r.d) out.push({ sourceKey: String(r.k), sourceIndex: 0, sha256: sha256Hex(r.d) });
    }
    return out;
  }

  // access (show, get --image)
  async eventsOfPaths(paths: readonly string[]): Promise<PathEvent[]> {
    const out: PathEvent[] = [];
    for (const part of chunk(paths, BATCH)) {
      out.push(...(this.raw.prepare(eventsOfPathsSql('sqlite', part.length)).all(...part) as Record<string, unknown>[]).map(toPathEvent));
    }
    return out.sort((a, b) => a.at.getTime() - b.at.getTime());
  }

  async readImage(q: { source: string; key: string; index: number } | { originalPath: string }): Promise<StoredImage | null> {
    const row = ('originalPath' in q
      ? this.raw.prepare(imageByOriginalPathSql('sqlite')).get(q.originalPath)
      : this.raw.prepare(imageByKeySql('sqlite')).get(q.source, q.key, q.index)) as Record<string, unknown> | undefined;
    return row ? toStoredImage(row) : null;
  }

  async readUserRowData(target: UserTableTarget, key: string): Promise<unknown> {
    const row = this.raw.prepare(userRowDataSql('sqlite', target)).get(key) as { d: unknown } | undefined;
    return row === undefined ? undefined : row.d;
  }

  // backup and restore
  async openSnapshot(): Promise<CatalogSnapshot> {
    // Its own read-only connection: the read transaction pins one WAL snapshot for as long as
    // the backup runs, while this connection stays free for other work.
    const conn = new Database(this.file, { readonly: true, fileMustExist: true });
    conn.pragma('busy_timeout = 10000');
    const db = drizzle(conn, { schema });
    conn.exec('BEGIN');
    conn.prepare('select count(*) from files').get();
    const close = async () => {
      if (!conn.open) return;
      if (conn.inTransaction) conn.exec('COMMIT');
      conn.close();
    };
    return {
      async *tableRows(table: DumpTable, pageSize = 2000) {
        const t = schema[table] as typeof files;
        const key = (t as unknown as Record<string, typeof files.id>)[DUMP_KEY[table]]!;
        let after: unknown;
        for (;;) {
          const page = db
            .select()
            .from(t)
            .where(after === undefined ? undefined : gt(key, after as number))
            .orderBy(asc(key))
            .limit(pageSize)
            .all() as DumpRow[];
          if (page.length) yield page;
          if (page.length < pageSize) return;
          after = page[page.length - 1]![DUMP_KEY[table]];
        }
      },
      async sharesContent() {
        return conn.prepare(SHARED_CONTENT_SQL).get() !== undefined;
      },
      async filePage(q: FilePageQuery) {
        return db.select().from(files).where(filePageWhere(q)).orderBy(asc(files.path)).limit(q.limit).all();
      },
      close,
    };
  }

  async foreignTables(): Promise<string[]> {
    const names = this.raw.prepare(`select name from sqlite_master where type = 'table' and name not like 'sqlite\\_%' escape '\\' order by name`).pluck().all() as string[];
    return names.filter((n) => !ownTableNames().has(n));
  }

  async tableCounts(): Promise<Record<DumpTable, number>> {
    const out = {} as Record<DumpTable, number>;
    for (const t of DUMP_TABLES) out[t] = (this.raw.prepare(`select count(*) as n from "${t}"`).get() as { n: number }).n;
    return out;
  }

  async importTables(
    tables: Iterable<TableImport>,
    opts: { replace: boolean; events?: readonly EventRecord[] },
  ): Promise<Record<DumpTable, number>> {
    const counts = Object.fromEntries(DUMP_TABLES.map((t) => [t, 0])) as Record<DumpTable, number>;
    const list = [...tables];
    // One synchronous transaction: the rows are read from staged files synchronously inside it.
    // Prepared statements rather than drizzle's insert builder: measured 5x faster on 10,000
    // rows, and a restore imports every row of the store.
    const statements = new Map<string, { stmt: Database.Statement; convert: ((v: unknown) => unknown)[] }>();
    const insert = (table: DumpTable, row: DumpRow) => {
      const keys = Object.keys(row);
      const sig = `${table}:${keys.join(',')}`;
      let s = statements.get(sig);
      if (!s) {
        const cols = getTableColumns(schema[table]) as Record<string, { name: string }>;
        const kinds = columnKinds(table)!;
        s = {
          stmt: this.raw.prepare(`insert into "${table}" (${keys.map((k) => `"${cols[k]!.name}"`).join(', ')}) values (${keys.map(() => '?').join(', ')})`),
          convert: keys.map((k) => toSqliteValue(kinds.get(k)!)),
        };
        statements.set(sig, s);
      }
      s.stmt.run(keys.map((k, i) => s.convert[i]!(row[k])));
    };
    this.raw.transaction(() => {
      for (const t of clearedTables(list, opts.replace).reverse()) this.raw.prepare(`delete from "${t}"`).run();
      for (const imp of list) {
        for (const batch of imp.batches) {
          for (const row of batch) insert(imp.table, row);
          counts[imp.table] += batch.length;
        }
      }
      if (opts.events?.length) this.db.insert(events).values([...opts.events]).run();
    })();
    return counts;
  }

  // lifecycle

  async listJobs(q: JobListQuery): Promise<JobListRow[]> {
    return listJobs(sqliteExec(this.raw), q);
  }

  async acquireLock(name: string, opts: LockOptions): Promise<ReleaseLock> {
    const { heartbeatMs, staleMs } = lockTimings(opts);
    let stale: { info: LockInfo; why: string } | null = null;
    // Immediate transaction: read and write under SQLite's write lock, so two runs cannot both insert.
    const tryTake = this.raw.transaction((): LockInfo | null => {
      const row = this.db.select().from(locks).where(eq(locks.name, name)).get();
      if (row) {
        const status = this.judgeLock(lockInfoOf(name, row), staleMs);
        if (status.live) return status.info;
        this.db.delete(locks).where(eq(locks.name, name)).run();
        stale = { info: status.info, why: status.why };
      }
      const h = opts.holder;
      const now = new Date();
      this.db.insert(locks).values({ name, pid: h.pid, host: h.host, command: h.command, runId: h.runId, acquiredAt: now, heartbeatAt: now }).run();
      return null;
    });
    await pollLock(name, opts, async () => tryTake.immediate());
    if (stale) opts.onStaleLock?.((stale as { info: LockInfo }).info, (stale as { why: string }).why);
    // A holder without a run (an operation called in-process) has run_id null: `= null` matches
    // nothing, and such a lock would never be released nor refreshed.
    const mine = and(eq(locks.name, name), eq(locks.pid, opts.holder.pid), opts.holder.runId === null ? isNull(locks.runId) : eq(locks.runId, opts.holder.runId));
    let lost = false;
    const stop = startHeartbeat(heartbeatMs, () => {
      if (lost || !this.raw.open) return;
      const r = this.db.update(locks).set({ heartbeatAt: new Date() }).where(mine).run();
      if (r.changes === 0) {
        lost = true;
        opts.onLost?.('the lock row is gone (broken by storectl unlock --force, or taken over as stale)');
      }
    });
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      stop();
      if (!this.raw.open) return;
      this.db.delete(locks).where(mine).run();
    };
  }

  async lockStatus(name: string, opts: { staleMs?: number } = {}): Promise<LockStatus | null> {
    const row = this.db.select().from(locks).where(eq(locks.name, name)).get();
    return row ? this.judgeLock(lockInfoOf(name, row), lockTimings(opts).staleMs) : null;
  }

  async breakLock(name: string, runId: string): Promise<boolean> {
    const r = this.db.delete(locks).where(and(eq(locks.name, name), eq(locks.runId, runId))).run();
    return r.changes > 0;
  }

  /** On this host the process table decides; from another host, the heartbeat (see LOCK_STALE_MS). */
  private judgeLock(info: LockInfo, staleMs: number): LockStatus {
    const ageMs = Date.now() - (info.heartbeatAt ?? info.acquiredAt).getTime();
    const beat = `last heartbeat ${Math.round(ageMs / 1000)} s ago`;
    if (info.host === os.hostname()) {
      return isProcessAlive(info.pid)
        ? { info, live: true, why: `process ${info.pid} is alive on this host (${beat})`, heartbeatAgeMs: ageMs }
        : { info, live: false, why: `process ${info.pid} is gone from this host`, heartbeatAgeMs: ageMs };
    }
    return ageMs > staleMs
      ? { info, live: false, why: `held from another host and its ${beat}, over the ${Math.round(staleMs / 1000)} s limit`, heartbeatAgeMs: ageMs }
      : { info, live: true, why: `held from another host, ${beat}`, heartbeatAgeMs: ageMs };
  }

  async jobPage(q: JobPageQuery): Promise<JobHead[]> {
    const where = and(
      q.filesStates ? notIndexed(jobs.filesState, q.filesStates) : undefined,
      q.statuses ? notIndexed(jobs.status, q.statuses) : undefined,
      q.due ? dueCondition(jobs, q.due, notIndexed, (d) => d.getTime()) : undefined,
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
    // Without statistics SQLite prefers files_job_idx and sorts every loose row for each page;
    // the partial index gives them in path order (INDEXED BY fails loudly if it ever cannot).
    // Drizzle cannot say INDEXED BY: the page's ids come from raw SQL, the rows from drizzle.
    const states = q.states ?? [];
    const after = q.afterPath !== undefined;
    const ids = this.raw
      .prepare(
        `select id from files indexed by files_loose_path_idx where job_id is null` +
          (states.length ? ` and +state in (${states.map(() => '?').join(', ')})` : '') +
          (after ? ' and path > ?' : '') +
          ' order by path limit ?',
      )
      .pluck()
      .all(...states, ...(after ? [q.afterPath] : []), q.limit) as number[];
    if (!ids.length) return [];
    return (await this.filesByIds(ids)).sort((a, b) => compareBytewise(a.path, b.path));
  }

  async markDeleting(ids: readonly number[], reason: string): Promise<PathRow[]> {
    return this.raw.transaction(() => {
      const out: PathRow[] = [];
      for (const part of chunk(ids, BATCH)) {
        const rows = this.raw
          .prepare(
            `update files set state = 'deleting', delete_reason = ? where id in (${part.map(() => '?').join(', ')}) and +state = 'present'
             returning id, path, coalesce(stored_size, size) as size, state, job_id`,
          )
          .raw()
          .all(reason, ...part) as [number, string, number, string, string | null][];
        for (const [id, path, size, state, jobId] of rows) out.push({ id, path, size, state, jobId });
      }
      return out;
    })();
  }

  async finishDeletions(o: DeletionOutcome): Promise<void> {
    // Set-based: one statement each for the batch's tombstones, restored rows and events (the
    // rows passed as one JSON array), not one call per row: per-row calls were most of this
    // transaction's time in the deletion engine's profile (bench/results/cleanup-engine.md).
    // +state keeps each lookup on the primary key (see notIndexed).
    const tombstones = this.raw.prepare(
      `update files set state = 'deleted', deleted_at = v.value ->> 1, delete_reason = v.value ->> 2
         from json_each(?) as v where files.id = v.value ->> 0 and +files.state = 'deleting'`,
    );
    const restore = this.raw.prepare(`update files set state = 'present', delete_reason = null where id in (select value from json_each(?)) and +state = 'deleting'`);
    const events = this.raw.prepare(
      `insert into events (run_id, at, action, path, job_id, bytes, reason)
         select value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6 from json_each(?)`,
    );
    const job = this.raw.prepare(
      `update jobs set files_state = case when not exists (select 1 from files f where f.job_id = jobs.id and +f.state in ('present', 'deleting'))
         then 'deleted' else 'partial' end,
         generation = json_patch(coalesce(generation, '{}'), ?) where id = ?`,
    );
    this.raw.transaction(() => {
      for (const part of chunk(o.deleted, BATCH * 10)) tombstones.run(JSON.stringify(part.map((d) => [d.id, d.at.getTime(), d.reason])));
      for (const part of chunk(o.restored, BATCH * 10)) restore.run(JSON.stringify(part));
      for (const part of chunk(o.events, BATCH * 10)) events.run(JSON.stringify(part.map((e) => [e.runId, e.at.getTime(), e.action, e.path, e.jobId, e.bytes, e.reason])));
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
    return this.moveFileState(ids, 'present', 'missing', list);
  }

  async reviveMissing(ids: readonly number[], list: readonly EventRecord[]): Promise<number> {
    return this.moveFileState(ids, 'missing', 'present', list);
  }

  /** Moves rows from one file state to another where they still are in it, with the events of the rows moved. */
  private async moveFileState(ids: readonly number[], from: FileState, to: FileState, list: readonly EventRecord[]): Promise<number> {
    return this.db.transaction((tx) => {
      const marked = new Set<string>();
      for (const part of chunk(ids, BATCH)) {
        const rows = tx
          .update(files)
          .set({ state: to })
          .where(and(inArray(files.id, part), notIndexed(files.state, [from])))
          .returning({ path: files.path })
          .all();
        for (const r of rows) marked.add(r.path);
      }
      const ev = list.filter((e) => e.path !== null && marked.has(e.path));
      for (const part of chunk(ev, BATCH)) tx.insert(events).values(part).run();
      return marked.size;
    });
  }


  async livePaths(q: { afterPath?: string; limit: number }): Promise<string[]> {
    // Read from files_live_path_idx alone (the condition spelled as the index's, with literals).
    // Without statistics SQLite would pick files_stats_idx and sort; INDEXED BY fails loudly if
    // the index could ever not serve.
    const after = q.afterPath !== undefined;
    const stmt = this.raw.prepare(`select path from files indexed by files_live_path_idx where state in ('present', 'deleting', 'corrupt')${after ? ' and path > ?' : ''} order by path limit ?`).pluck();
    return (after ? stmt.all(q.afterPath, q.limit) : stmt.all(q.limit)) as string[];
  }

  async filesInState(state: string, limit: number, reasonLike?: string): Promise<FileRecord[]> {
    const where = reasonLike === undefined ? eq(files.state, state) : and(eq(files.state, state), sql`${files.deleteReason} like ${reasonLike}`);
    return this.db.select().from(files).where(where).limit(limit).all();
  }

  async hasFiles(): Promise<{ any: boolean; present: boolean }> {
    const r = this.raw
      .prepare(`select exists (select 1 from files) as "any", exists (select 1 from files where state = 'present') as present`)
      .get() as { any: number; present: number };
    return { any: r.any === 1, present: r.present === 1 };
  }

  async openDeletionLane(): Promise<DeletionLane> {
    const { openSqliteThread } = await import('./sqlite-thread.ts');
    return openSqliteThread(this.file);
  }

  async pathsOfJobs(jobIds: readonly string[], states: readonly string[]): Promise<PathRow[]> {
    const out: PathRow[] = [];
    for (const part of chunk(jobIds, BATCH)) {
      const stmt = this.raw.prepare(
        `select id, path, coalesce(stored_size, size) as size, state, job_id from files where job_id in (${part.map(() => '?').join(', ')})
         and +state in (${states.map(() => '?').join(', ')}) order by job_id, path`,
      );
      for (const [id, path, size, state, jobId] of stmt.raw().all(...part, ...states) as [number, string, number, string, string][]) {
        out.push({ id, path, size, state, jobId });
      }
    }
    return out;
  }
}

/** A domain value as better-sqlite3 stores it, the way drizzle's column modes do. */
function toSqliteValue(kind: ColumnKind): (v: unknown) => unknown {
  switch (kind) {
    case 'date':
      return (v) => (v == null ? null : (v as Date).getTime());
    case 'json':
      return (v) => (v == null ? null : JSON.stringify(v));
    case 'bool':
      return (v) => (v == null ? null : v ? 1 : 0);
    default:
      return (v) => (v === undefined ? null : v);
  }
}
