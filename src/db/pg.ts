import { createHash } from 'node:crypto';
import { and, asc, eq, getTableName, gt, inArray, isNull, sql, type SQL } from 'drizzle-orm';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate as drizzleMigrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import { UsageError } from '../errors.ts';
import type { Catalog, DeletionLane } from './catalog.ts';
import { ConnectionLossWatch, newPgPool } from './pg-pool.ts';
import { listJobs, type JobListQuery, type JobListRow } from './job-list.ts';
import { pgExec } from './sql-exec.ts';
import { usageCatalog, type UsageCatalog } from './usage.ts';
import { sharedRecords, type SharedRecords } from './records.ts';
import { MIGRATIONS_TABLE, migrationStates, migrationsFolder } from './migrations.ts';
import { DEFAULT_PG_SCHEMA, LEGACY_PG_SCHEMA, applicationTableSchema, checkPgSchema, findLegacyCatalog, journalIn, moveLegacyCatalog, otherCatalogSchemas, pgConnectionConfig, pinFunctionSearchPath, quoteSchema, type LegacyCatalog } from './pg-schema.ts';
import { DUMP_KEY, DUMP_TABLES, clearedTables, type DumpRow, type DumpTable } from './dump.ts';
import { events, files, images, jobs, schema } from './schema/pg.ts';
import { LOCK_POLL_MS, LOCK_STALE_MS, bucketColumns, chunk, dueCondition, fileValues, jobValues, lockTimings, pgTransaction, pollLock, startHeartbeat, presentEdges, queuedLane, sha256Hex, SHARED_CONTENT_SQL, sleep, unpivotBuckets } from './shared.ts';
import { eventsOfPathsSql, imageByKeySql, imageByOriginalPathSql, toPathEvent, toStoredImage, userRowDataSql } from './access.ts';
import { COLUMNS_SQL, splitTableName, checkColumns, countRowsSql, pendingReferencesSql, pendingRowsSql, readRowsSql, tableSource, writeRowSql } from './user-tables.ts';
import type {
  CatalogAggregates,
  CatalogSnapshot,
  DeletionOutcome,
  EventRecord,
  FilePageQuery,
  FileRecord,
  FileState,
  JobHead,
  JobPageQuery,
  LockInfo,
  LockOptions,
  LockStatus,
  MigrateOptions,
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
import { redactUrl } from './url.ts';

const BATCH = 1000;

/** The keyset condition of a file page, shared by the catalog and its snapshots. */
function filePageWhere(q: FilePageQuery): SQL | undefined {
  return and(q.states ? inArray(files.state, [...q.states]) : undefined, q.afterPath !== undefined ? gt(files.path, q.afterPath) : undefined);
}


/**
 * Advisory lock key with which storectl versions that kept the catalog in "public" serialised
 * `migrate` ("stctlmig"): taken too while such a catalog is moved, so that an older migrate
 * cannot run into the move.
 */
const LEGACY_MIGRATE_LOCK = 0x737463746c6d6967n.toString();

// int8 (counts, sums) as JS numbers: sizes stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

/** The methods written once for both dialects (records.ts), assigned in the constructor. */
export interface PgCatalog extends SharedRecords {}

export class PgCatalog implements Catalog {
  readonly dialect = 'postgres' as const;
  readonly location: string;
  readonly pool: pg.Pool;
  readonly db: NodePgDatabase<typeof schema>;
  readonly usage: UsageCatalog;
  /** The schema storectl's tables, functions and journal are in (database.schema). */
  readonly schema: string;
  readonly #url: string;
  #statisticsChecked = false;
  /** Application tables named without a schema, as resolved (see #appTable). */
  readonly #appSchemas = new Map<string, string | null>();
  readonly #lossWatch: ConnectionLossWatch;

  constructor(url: string, pgSchema: string = DEFAULT_PG_SCHEMA) {
    this.#url = url;
    this.schema = checkPgSchema(pgSchema);
    this.location = `${redactUrl(url)}, schema ${pgSchema}`;
    // Every session resolves unqualified names in storectl's schema alone: a table missing there
    // (a catalog not migrated yet) is an error, never the application's table of the same name.
    this.pool = newPgPool({ ...this.#sessionConfig(), max: 4, connectionTimeoutMillis: 10_000 });
    this.#lossWatch = new ConnectionLossWatch(this.pool);
    this.db = drizzle(this.pool, { schema });
    const exec = pgExec(this.pool);
    this.usage = usageCatalog(exec);
    Object.assign(this, sharedRecords(exec));
  }

  async ping(): Promise<void> {
    await this.pool.query('select 1');
  }

  #sessionConfig(): pg.ClientConfig {
    return pgConnectionConfig(this.#url, [this.schema]);
  }

  /**
   * Creates the schema, moves a catalog an older storectl kept in "public" into it (see
   * moveLegacyCatalog), then applies the pending migrations there, journal included.
   */
  async migrate(opts: MigrateOptions = {}): Promise<string[]> {
    const client = await this.pool.connect();
    const lock = advisoryKey('migrate', this.schema);
    let legacyLocked = false;
    try {
      await client.query('select pg_advisory_lock($1::bigint)', [lock]);
      const legacy = await findLegacyCatalog(client, this.schema);
      const leftover = this.schema !== LEGACY_PG_SCHEMA && (await journalIn(client, LEGACY_PG_SCHEMA))?.length === 0;
      if (legacy || leftover) {
        await client.query('select pg_advisory_lock($1::bigint)', [LEGACY_MIGRATE_LOCK]);
        legacyLocked = true;
        const change = await moveLegacyCatalog(client, this.schema);
        if (change.moved.length || change.droppedEmptyJournal) opts.onLayoutChange?.(change);
      }
      const before = await this.migrationStatus();
      await client.query(`create schema if not exists ${quoteSchema(this.schema)}`).catch((err: Error & { code?: string }) => {
        if (err.code !== '42501') throw err;
        throw new Error(`cannot create schema ${this.schema} (${err.message}): create it for storectl's role (create schema ${this.schema} authorization ROLE) or give that role CREATE on the database`);
      });
      await drizzleMigrate(drizzle(client), {
        migrationsFolder: migrationsFolder('postgres'),
        migrationsTable: MIGRATIONS_TABLE,
        migrationsSchema: this.schema,
      });
      const after = await this.migrationStatus();
      await pinFunctionSearchPath(client, this.schema, after.filter((m) => m.applied).map((m) => m.tag));
      return after.filter((m, i) => m.applied && !before[i]!.applied).map((m) => m.tag);
    } finally {
      if (legacyLocked) await client.query('select pg_advisory_unlock($1::bigint)', [LEGACY_MIGRATE_LOCK]).catch(() => {});
      await client.query('select pg_advisory_unlock($1::bigint)', [lock]).catch(() => {});
      client.release();
    }
  }

  async migrationStatus(): Promise<MigrationState[]> {
    return migrationStates('postgres', (await journalIn(this.pool, this.schema)) ?? []);
  }

  /** A catalog an older storectl kept in "public", which `migrate` moves into this schema; null when there is none. */
  async legacyCatalog(): Promise<LegacyCatalog | null> {
    return findLegacyCatalog(this.pool, this.schema);
  }

  /** Other schemas of this database that hold a storectl catalog (when this schema has none: a mistyped database.schema?). */
  async otherCatalogSchemas(): Promise<string[]> {
    return otherCatalogSchemas(this.pool, this.schema);
  }

  /**
   * An application's table as the SQL of table mode names it: schema-qualified. A bare name is
   * looked up in the application's schemas (applicationTableSchema), never in storectl's own;
   * storectl's schema named outright is refused. The target's `table` is kept as given for
   * `images.source`.
   */
  async #appTable(target: UserTableTarget): Promise<UserTableTarget> {
    const [given, bare] = splitTableName('postgres', target.table);
    if (given === this.schema) {
      throw new UsageError(`table ${target.table} is in storectl's own schema`, `name the application's table (a bare name is looked up in the application's schemas, or give schema.table)`, 'no_table');
    }
    if (given !== null) return target;
    if (!this.#appSchemas.has(bare)) this.#appSchemas.set(bare, await applicationTableSchema(this.#url, this.schema, bare));
    const found = this.#appSchemas.get(bare);
    // Not the bare name: with storectl's search_path it would name storectl's table of that name.
    if (!found) throw new UsageError(`table ${target.table} does not exist`, "check --table and --database (a bare name is looked up in the application's schemas: give schema.table for another)", 'no_table');
    return { ...target, table: `${found}.${bare}` };
  }

  async close(): Promise<void> {
    // pool.end() waits for every checked-out client to come back; one held by a call the loss
    // watch gave up on never does, and the dead server has nothing left to close.
    await this.#lossWatch.bound(this.pool.end()).catch((err) => {
      if (!this.#lossWatch.lost) throw err;
    });
  }

  async insertJobs(newJobs: readonly NewJob[]): Promise<void> {
    const now = new Date();
    await this.db.transaction(async (tx) => {
      for (const part of chunk(newJobs, BATCH)) await tx.insert(jobs).values(part.map((j) => jobValues(j, now)));
    });
  }

  async pendingJobIds(kind: string, limit: number, afterId?: string): Promise<string[]> {
    const where = and(eq(jobs.filesState, 'none'), eq(jobs.kind, kind), afterId ? gt(jobs.id, afterId) : undefined);
    const rows = await this.db
      .select({ id: jobs.id })
      .from(jobs)
      .where(where)
      .orderBy(asc(jobs.id))
      .limit(limit);
    return rows.map((r) => r.id);
  }

  async recordGeneration(
    jobId: string,
    newFiles: readonly NewFile[],
    generation: Record<string, unknown>,
    at: Date,
    opts: { newJob?: NewJob } = {},
  ): Promise<void> {
    await this.db.transaction(async (tx) => {
      if (opts.newJob) await tx.insert(jobs).values(jobValues(opts.newJob, at));
      for (const f of newFiles) {
        const values = fileValues(f);
        await tx.insert(files).values(values).onConflictDoUpdate({ target: files.path, set: { ...values } });
      }
      await tx
        .update(jobs)
        .set({ filesState: newFiles.length ? 'on_disk' : 'none', generation, updatedAt: at })
        .where(eq(jobs.id, jobId));
    });
  }

  async insertFiles(newFiles: readonly NewFile[]): Promise<void> {
    await this.db.transaction(async (tx) => {
      for (const part of chunk(newFiles, BATCH)) await tx.insert(files).values(part.map(fileValues));
    });
  }

  async filePage(q: FilePageQuery): Promise<FileRecord[]> {
    return this.db.select().from(files).where(filePageWhere(q)).orderBy(asc(files.path)).limit(q.limit);
  }

  async counts(): Promise<{ jobs: number; files: number; presentFiles: number }> {
    const r = await this.pool.query(
      `select (select count(*) from jobs) as jobs, (select count(*) from files) as files,
              (select count(*) from files where state = 'present') as "presentFiles"`,
    );
    return r.rows[0];
  }

  async aggregates(now: Date): Promise<CatalogAggregates> {
    const grouped = await this.db
      .select({
        state: files.state,
        category: files.category,
        owner: files.owner,
        ...bucketColumns(files.createdAt, files.size, now, (ms) => new Date(ms).toISOString()),
      })
      .from(files)
      .groupBy(files.state, files.category, files.owner);
    const fileGroups = unpivotBuckets(grouped);
    const jobGroups = await this.db
      .select({
        kind: jobs.kind,
        status: jobs.status,
        filesState: jobs.filesState,
        jobs: sql<number>`count(*)`.mapWith(Number),
      })
      .from(jobs)
      .groupBy(jobs.kind, jobs.status, jobs.filesState);
    // The oldest and newest present files: their times come from the aggregate, their
    // paths from a point lookup on files_created_idx.
    const edges = presentEdges(grouped);
    const at = async (t: unknown) => {
      const rows = await this.db
        .select({ path: files.path, createdAt: files.createdAt })
        .from(files)
        .where(and(eq(files.createdAt, t instanceof Date ? t : new Date(String(t))), eq(files.state, 'present')))
        .orderBy(asc(files.path))
        .limit(1);
      return rows[0] ?? null;
    };
    return { fileGroups, jobGroups, oldestFile: edges ? await at(edges.min) : null, newestFile: edges ? await at(edges.max) : null };
  }

  // images (migrate-images-to-db)
  async insertImages(list: readonly NewImage[]): Promise<number> {
    if (!list.length) return 0;
    // One statement per batch of rows (a batch is a few MB of WebP at most).
    return this.db.transaction(async (tx) => {
      let n = 0;
      for (const part of chunk(list, 64)) n += (await tx.insert(images).values([...part]).onConflictDoNothing().returning({ id: images.id })).length;
      return n;
    });
  }

  async storedImageDigests(source: string, keys: readonly string[]): Promise<StoredDigest[]> {
    const out: StoredDigest[] = [];
    for (const part of chunk(keys, BATCH)) {
      // Hashed in the database: only digests cross the wire.
      const rows = await this.db
        .select({ sourceKey: images.sourceKey, sourceIndex: images.sourceIndex, sha256: sql<string>`encode(sha256(${images.data}), 'hex')` })
        .from(images)
        .where(and(eq(images.source, source), inArray(images.sourceKey, part)));
      out.push(...rows);
    }
    return out;
  }

  async describeUserTable(target: UserTableTarget): Promise<UserTableShape> {
    const qualified = await this.#appTable(target);
    const [schemaName, table] = splitTableName('postgres', qualified.table);
    const r = schemaName === null ? { rows: [] } : await this.pool.query(COLUMNS_SQL.postgres, [schemaName, table]);
    return { ...checkColumns('postgres', target, r.rows), source: tableSource(target) };
  }

  async pendingUserRows(given: UserTableTarget, shape: UserTableShape, afterKey: string | number | undefined, limit: number): Promise<UserRow[]> {
    const target = await this.#appTable(given);
    const params: unknown[] = target.dataColumn === undefined ? [shape.source] : [];
    if (afterKey !== undefined) params.push(afterKey);
    params.push(limit);
    const r = await this.pool.query(pendingRowsSql('postgres', target, afterKey !== undefined), params);
    return r.rows.map((row) => ({ key: row.k, paths: row.p }));
  }

  async countUserRows(given: UserTableTarget, shape: UserTableShape): Promise<{ total: number; pending: number }> {
    const target = await this.#appTable(given);
    const params = target.dataColumn === undefined ? [shape.source] : [];
    const r = await this.pool.query(countRowsSql('postgres', target), params);
    return { total: Number(r.rows[0].total), pending: Number(r.rows[0].pending) };
  }

  async writeUserRowImages(given: UserTableTarget, shape: UserTableShape, rows: readonly UserRowImages[]): Promise<(string | number)[]> {
    const target = await this.#appTable(given);
    const written: (string | number)[] = [];
    if (target.dataColumn === undefined) {
      await this.db.transaction(async (tx) => {
        for (const row of rows) {
          let n = 0;
          for (const img of row.images) n += (await tx.insert(images).values(img).onConflictDoNothing().returning({ id: images.id })).length;
          if (n > 0) written.push(row.key);
        }
      });
      return written;
    }
    const update = writeRowSql('postgres', target, shape.pathIsArray);
    await pgTransaction(this.pool, async (client) => {
      for (const row of rows) {
        if (!shape.pathIsArray && row.images.length !== 1) throw new Error(`row ${row.key}: a data column holds one image, got ${row.images.length}`);
        const value = shape.pathIsArray ? row.images.map((i) => i.data) : row.images[0]!.data;
        const r = await client.query(update, [value, row.key]);
        if ((r.rowCount ?? 0) > 0) written.push(row.key);
      }
    });
    return written;
  }

  async countPendingReferences(given: UserTableTarget, shape: UserTableShape, pathValue: string): Promise<number> {
    const target = await this.#appTable(given);
    const params = target.dataColumn === undefined ? [pathValue, shape.source] : [pathValue];
    const r = await this.pool.query(pendingReferencesSql('postgres', target, shape.pathIsArray), params);
    return Number(r.rows[0].n);
  }

  async storedUserRowDigests(given: UserTableTarget, shape: UserTableShape, keys: readonly (string | number)[]): Promise<StoredDigest[]> {
    if (given.dataColumn === undefined) return this.storedImageDigests(shape.source, keys.map(String));
    const target = await this.#appTable(given);
    const out: StoredDigest[] = [];
    for (const part of chunk(keys, BATCH)) {
      const r = await this.pool.query(readRowsSql('postgres', target, part.length), [part]);
      for (const row of r.rows as { k: string | number; d: Buffer | Buffer[] | null }[]) {
        if (!row.d) continue;
        const list = Array.isArray(row.d) ? row.d : [row.d];
        list.forEach((d, i) => out.push({ sourceKey: String(row.k), sourceIndex: i, sha256: sha256Hex(d) }));
      }
    }
    return out;
  }

  // access (show, get --image)
  async eventsOfPaths(paths: readonly string[]): Promise<PathEvent[]> {
    const out: PathEvent[] = [];
    for (const part of chunk(paths, BATCH)) {
      out.push(...(await this.pool.query(eventsOfPathsSql('postgres', part.length), [...part])).rows.map(toPathEvent));
    }
    return out.sort((a, b) => a.at.getTime() - b.at.getTime());
  }

  async readImage(q: { source: string; key: string; index: number } | { originalPath: string }): Promise<StoredImage | null> {
    const r = 'originalPath' in q
      ? await this.pool.query(imageByOriginalPathSql('postgres'), [q.originalPath])
      : await this.pool.query(imageByKeySql('postgres'), [q.source, q.key, q.index]);
    return r.rows[0] ? toStoredImage(r.rows[0]) : null;
  }

  async readUserRowData(target: UserTableTarget, key: string): Promise<unknown> {
    const r = await this.pool.query(userRowDataSql('postgres', await this.#appTable(target)), [key]);
    return r.rows[0] === undefined ? undefined : (r.rows[0] as { d: unknown }).d;
  }

  // backup and restore
  async openSnapshot(): Promise<CatalogSnapshot> {
    const client = await this.pool.connect();
    let open = true;
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      // The snapshot is taken at the first query, not at BEGIN.
      await client.query('select count(*) from files');
    } catch (err) {
      client.release(err as Error);
      throw err;
    }
    const db = drizzle(client, { schema });
    return {
      async *tableRows(table: DumpTable, pageSize = 2000) {
        const t = schema[table] as typeof files;
        const key = (t as unknown as Record<string, typeof files.id>)[DUMP_KEY[table]]!;
        let after: unknown;
        for (;;) {
          const page = (await db
            .select()
            .from(t)
            .where(after === undefined ? undefined : gt(key, after as number))
            .orderBy(asc(key))
            .limit(pageSize)) as DumpRow[];
          if (page.length) yield page;
          if (page.length < pageSize) return;
          after = page[page.length - 1]![DUMP_KEY[table]];
        }
      },
      async sharesContent() {
        return (await client.query(SHARED_CONTENT_SQL)).rows.length > 0;
      },
      async filePage(q: FilePageQuery) {
        return db.select().from(files).where(filePageWhere(q)).orderBy(asc(files.path)).limit(q.limit);
      },
      async close() {
        if (!open) return;
        open = false;
        try {
          await client.query('COMMIT');
          client.release();
        } catch (err) {
          client.release(err as Error);
        }
      },
    };
  }

  async foreignTables(): Promise<string[]> {
    const r = await this.pool.query(`select table_name as name from information_schema.tables where table_schema = $1 order by table_name`, [this.schema]);
    const own = new Set([...Object.values(schema).map((t) => getTableName(t)), MIGRATIONS_TABLE]);
    return (r.rows as { name: string }[]).map((x) => x.name).filter((n) => !own.has(n));
  }

  async tableCounts(): Promise<Record<DumpTable, number>> {
    const out = {} as Record<DumpTable, number>;
    for (const t of DUMP_TABLES) out[t] = Number((await this.pool.query(`select count(*) as n from "${t}"`)).rows[0].n);
    return out;
  }

  async importTables(
    tables: Iterable<TableImport>,
    opts: { replace: boolean; events?: readonly EventRecord[] },
  ): Promise<Record<DumpTable, number>> {
    const counts = Object.fromEntries(DUMP_TABLES.map((t) => [t, 0])) as Record<DumpTable, number>;
    const list = [...tables];
    await this.db.transaction(async (tx) => {
      const cleared = clearedTables(list, opts.replace);
      if (cleared.length) await tx.execute(sql.raw(`truncate ${cleared.map((t) => `"${t}"`).join(', ')}`));
      for (const imp of list) {
        const t = schema[imp.table] as typeof files;
        for (const batch of imp.batches) {
          for (const part of chunk(batch, BATCH)) await tx.insert(t).values(part as (typeof files.$inferInsert)[]);
          counts[imp.table] += batch.length;
        }
      }
      // Ids were imported as they were: serial counters continue after the highest.
      for (const t of DUMP_TABLES.filter((x) => DUMP_KEY[x] === 'id')) {
        const serial = await tx.execute(sql`select pg_get_serial_sequence(${t}, 'id') as seq`);
        const seq = (serial.rows[0] as { seq: string | null }).seq;
        if (seq) await tx.execute(sql.raw(`select setval('${seq}', coalesce((select max(id) from "${t}"), 0) + 1, false)`));
      }
      if (opts.events?.length) await tx.insert(events).values([...opts.events]);
    });
    return counts;
  }
  // lifecycle

  async listJobs(q: JobListQuery): Promise<JobListRow[]> {
    return listJobs(pgExec(this.pool), q);
  }

  async acquireLock(name: string, opts: LockOptions): Promise<ReleaseLock> {
    const { heartbeatMs, staleMs } = lockTimings(opts);
    const key = advisoryKey(`lock:${name}`, this.schema);
    // A dedicated session: the advisory lock lives as long as this connection, and the server
    // frees it when the process dies. The heartbeat (see LOCK_STALE_MS) covers a holder whose
    // session lives on while the holder does not work (wedged, or cut off by a partition).
    const client = new pg.Client({ ...this.#sessionConfig(), connectionTimeoutMillis: 10_000 });
    client.on('error', () => {});
    await client.connect();
    let stale: { info: LockInfo; why: string } | null = null;
    try {
      await pollLock(name, opts, async () => {
        const r = await client.query('select pg_try_advisory_lock($1::bigint) as ok', [key]);
        if (r.rows[0].ok) return null;
        const st = await this.readLockStatus(client, name, key, staleMs);
        if (!st || st.live || st.backendPid === null) return st?.info ?? null;
        // A live session whose holder stopped beating: end it, which frees its advisory lock.
        const t = await client.query('select pg_terminate_backend($1::int) as ok', [st.backendPid]).catch(() => ({ rows: [{ ok: false }] }));
        if (!t.rows[0]?.ok) return st.info;
        stale = { info: st.info, why: `${st.why}; its session (backend ${st.backendPid}) was ended` };
        for (let i = 0; i < 50; i++) {
          const again = await client.query('select pg_try_advisory_lock($1::bigint) as ok', [key]);
          if (again.rows[0].ok) return null;
          await sleep(LOCK_POLL_MS / 4);
        }
        return st.info;
      });
      const h = opts.holder;
      await client.query(
        `insert into locks (name, pid, host, command, run_id, acquired_at, heartbeat_at) values ($1, $2, $3, $4, $5, now(), now())
         on conflict (name) do update set pid = excluded.pid, host = excluded.host, command = excluded.command,
           run_id = excluded.run_id, acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at`,
        [name, h.pid, h.host, h.command, h.runId],
      );
    } catch (err) {
      await client.end().catch(() => {});
      throw err;
    }
    if (stale) opts.onStaleLock?.((stale as { info: LockInfo }).info, (stale as { why: string }).why);
    let lost = false;
    const stop = startHeartbeat(heartbeatMs, async () => {
      if (lost) return;
      const why = await client
        .query('update locks set heartbeat_at = now() where name = $1 and run_id is not distinct from $2', [name, opts.holder.runId])
        .then((r) => (r.rowCount === 0 ? 'the lock row is gone (broken by storectl unlock --force, or taken over as stale)' : null))
        .catch((err: Error) => `the lock session failed (${err.message}): its advisory lock is gone`);
      if (why) {
        lost = true;
        opts.onLost?.(why);
      }
    });
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      stop();
      try {
        if (lost) return;
        await client.query('delete from locks where name = $1 and run_id is not distinct from $2', [name, opts.holder.runId]);
        await client.query('select pg_advisory_unlock($1::bigint)', [key]);
      } finally {
        await client.end().catch(() => {});
      }
    };
  }

  async lockStatus(name: string, opts: { staleMs?: number } = {}): Promise<LockStatus | null> {
    const st = await this.readLockStatus(this.pool, name, advisoryKey(`lock:${name}`, this.schema), lockTimings(opts).staleMs);
    if (!st) return null;
    const { backendPid: _, ...status } = st;
    return status;
  }

  async breakLock(name: string, runId: string): Promise<boolean> {
    const st = await this.readLockStatus(this.pool, name, advisoryKey(`lock:${name}`, this.schema), LOCK_STALE_MS);
    let done = false;
    if (st && st.info.runId === runId && st.backendPid !== null) {
      const t = await this.pool.query('select pg_terminate_backend($1::int) as ok', [st.backendPid]);
      if (!t.rows[0]?.ok) throw new Error(`could not end the lock holder's session (backend ${st.backendPid}): connect as its role or a superuser`);
      done = true;
    }
    const r = await this.pool.query('delete from locks where name = $1 and run_id = $2', [name, runId]);
    return done || (r.rowCount ?? 0) > 0;
  }

  /**
   * The locks row, the session holding the advisory lock (pg_locks: a bigint key is classid
   * high half, objid low half, objsubid 1) and its start, judged by the server's clock. A row
   * older than the holding session belongs to an earlier holder (the new one writes its row a
   * moment after taking the lock): live, never taken over on that row's heartbeat.
   */
  private async readLockStatus(q: pg.Client | pg.Pool, name: string, key: string, staleMs: number): Promise<(LockStatus & { backendPid: number | null }) | null> {
    const r = await q.query(
      `select l.pid, l.host, l.command, l.run_id, l.acquired_at, l.heartbeat_at, h.pid as backend_pid, a.backend_start, now() as now
       from (select $1::text as name) n
       left join locks l on l.name = n.name
       left join lateral (
         select k.pid from pg_locks k
         where k.locktype = 'advisory' and k.granted and k.objsubid = 1
           and k.database = (select oid from pg_database where datname = current_database())
           and k.classid::bigint = (($2::bigint >> 32) & 4294967295) and k.objid::bigint = ($2::bigint & 4294967295)
         limit 1) h on true
       left join pg_stat_activity a on a.pid = h.pid`,
      [name, key],
    );
    const x = r.rows[0];
    const backendPid: number | null = x.backend_pid ?? null;
    const now = new Date(x.now).getTime();
    if (x.pid === null || x.pid === undefined) {
      if (backendPid === null) return null;
      const info: LockInfo = { name, pid: 0, host: 'unknown', command: '', runId: '', acquiredAt: new Date(x.backend_start ?? x.now), heartbeatAt: null };
      return { info, live: true, why: `held by database session ${backendPid}, which has not recorded itself yet`, heartbeatAgeMs: 0, backendPid: null };
    }
    const info: LockInfo = {
      name,
      pid: x.pid,
      host: x.host,
      command: x.command ?? '',
      runId: x.run_id ?? '',
      acquiredAt: new Date(x.acquired_at),
      heartbeatAt: x.heartbeat_at ? new Date(x.heartbeat_at) : null,
    };
    const beatAt = (info.heartbeatAt ?? info.acquiredAt).getTime();
    const ageMs = Math.max(0, now - beatAt);
    const beat = `last heartbeat ${Math.round(ageMs / 1000)} s ago`;
    if (backendPid === null) return { info, live: false, why: `no database session holds the lock any more (the holder is gone; ${beat})`, heartbeatAgeMs: ageMs, backendPid: null };
    const started = x.backend_start ? new Date(x.backend_start).getTime() : null;
    if (started === null || beatAt < started - 1000) return { info, live: true, why: `held by database session ${backendPid}`, heartbeatAgeMs: ageMs, backendPid: null };
    return ageMs > staleMs
      ? { info, live: false, why: `its session ${backendPid} is open but its ${beat}, over the ${Math.round(staleMs / 1000)} s limit (wedged or cut off)`, heartbeatAgeMs: ageMs, backendPid }
      : { info, live: true, why: `held by database session ${backendPid}, ${beat}`, heartbeatAgeMs: ageMs, backendPid };
  }

  /**
   * Keyset pages (ORDER BY path / id LIMIT n) are only walked in index order when the planner
   * knows how many rows the state filter keeps; right after a bulk load (restore, import) the
   * tables may never have been analyzed and every page would sort the table. Analyze them once
   * then; without the right to, carry on.
   */
  private async ensureStatistics(): Promise<void> {
    if (this.#statisticsChecked) return;
    this.#statisticsChecked = true;
    const r = await this.pool.query(
      `select relname from pg_stat_user_tables where schemaname = $1 and relname in ('files', 'jobs')
       and last_analyze is null and last_autoanalyze is null and n_mod_since_analyze > 1000`,
      [this.schema],
    );
    for (const row of r.rows) await this.pool.query(`analyze ${row.relname === 'files' ? 'files' : 'jobs'}`).catch(() => {});
  }

  async jobPage(q: JobPageQuery): Promise<JobHead[]> {
    const where = and(
      q.filesStates ? inArray(jobs.filesState, [...q.filesStates]) : undefined,
      q.statuses ? inArray(jobs.status, [...q.statuses]) : undefined,
      q.due ? dueCondition(jobs, q.due, (col, values) => inArray(col, [...values]), (d) => d.toISOString()) : undefined,
      q.afterId !== undefined ? gt(jobs.id, q.afterId) : undefined,
    );
    await this.ensureStatistics();
    // Keyset on the primary key in its own collation: the index serves both the filter and the order.
    return this.db
      .select({ id: jobs.id, kind: jobs.kind, owner: jobs.owner, status: jobs.status, createdAt: jobs.createdAt, updatedAt: jobs.updatedAt, completedAt: jobs.completedAt, filesState: jobs.filesState })
      .from(jobs)
      .where(where)
      .orderBy(asc(jobs.id))
      .limit(q.limit);
  }

  async filesOfJobs(jobIds: readonly string[], states?: readonly string[]): Promise<FileRecord[]> {
    const out: FileRecord[] = [];
    for (const part of chunk(jobIds, BATCH)) {
      const where = and(inArray(files.jobId, part), states ? inArray(files.state, [...states]) : undefined);
      out.push(...(await this.db.select().from(files).where(where).orderBy(sql`${files.jobId} collate "C"`, asc(files.path))));
    }
    return out;
  }

  async looseFilePage(q: FilePageQuery): Promise<FileRecord[]> {
    const where = and(
      isNull(files.jobId),
      q.states ? inArray(files.state, [...q.states]) : undefined,
      q.afterPath !== undefined ? gt(files.path, q.afterPath) : undefined,
    );
    return this.db.select().from(files).where(where).orderBy(asc(files.path)).limit(q.limit);
  }

  async markDeleting(ids: readonly number[], reason: string): Promise<PathRow[]> {
    return this.db.transaction(async (tx) => {
      const out: PathRow[] = [];
      for (const part of chunk(ids, BATCH * 5)) {
        const r = await tx.execute<{ id: number; path: string; size: number; state: string; job_id: string | null }>(
          sql`update files set state = 'deleting', delete_reason = ${reason}
              where id = any(${`{${part.join(',')}}`}::bigint[]) and state = 'present'
              returning id, path, coalesce(stored_size, size) as size, state, job_id`,
        );
        for (const row of r.rows) out.push({ id: Number(row.id), path: row.path, size: Number(row.size), state: row.state, jobId: row.job_id });
      }
      return out;
    });
  }

  async finishDeletions(o: DeletionOutcome): Promise<void> {
    await this.db.transaction(async (tx) => {
      // No wait for the WAL flush: should the server lose this commit in a crash, the rows are
      // still 'deleting' (that intent was committed durably) and the next cleanup-expired run
      // finishes them, as after any interrupted run.
      await tx.execute(sql`set local synchronous_commit = off`);
      for (const part of chunk(o.deleted, BATCH * 5)) {
        const rows = JSON.stringify(part.map((d) => ({ id: d.id, at: d.at.toISOString(), reason: d.reason })));
        await tx.execute(sql`update files set state = 'deleted', deleted_at = v.at, delete_reason = v.reason
          from jsonb_to_recordset(${rows}::jsonb) as v(id bigint, at timestamptz, reason text)
          where files.id = v.id and files.state = 'deleting'`);
      }
      for (const part of chunk(o.restored, BATCH * 5)) {
        await tx.execute(sql`update files set state = 'present', delete_reason = null
          where id = any(${`{${part.join(',')}}`}::bigint[]) and state = 'deleting'`);
      }
      for (const part of chunk(o.events, BATCH * 5)) {
        const rows = JSON.stringify(part.map((e) => ({ ...e, at: e.at.toISOString() })));
        await tx.execute(sql`insert into events (run_id, at, action, path, job_id, bytes, reason)
          select "runId", at, action, path, "jobId", bytes, reason
          from jsonb_to_recordset(${rows}::jsonb) as v("runId" text, at timestamptz, action text, path text, "jobId" text, bytes bigint, reason text)`);
      }
      for (const part of chunk(o.jobs, BATCH * 5)) {
        const rows = JSON.stringify(part);
        await tx.execute(sql`update jobs set
            -- (f.state || ''): look the job's rows up by job_id alone (see pathsOfJobs)
            files_state = case when not exists (select 1 from files f where f.job_id = jobs.id and (f.state || '') in ('present', 'deleting'))
              then 'deleted' else 'partial' end,
            generation = coalesce(jobs.generation, '{}'::jsonb) || v.patch
          from jsonb_to_recordset(${rows}::jsonb) as v(id text, patch jsonb)
          where jobs.id = v.id`);
      }
    });
  }

  async markJobsFailed(list: readonly StuckJob[], reason: string, at: Date): Promise<string[]> {
    if (!list.length) return [];
    const rows = JSON.stringify(list.map((j) => ({ id: j.id, status: j.status, updated_at: j.updatedAt.toISOString() })));
    const r = await this.pool.query(
      `update jobs set status = 'failed', failure_reason = $2, updated_at = $3
       from jsonb_to_recordset($1::jsonb) as v(id text, status text, updated_at timestamptz)
       where jobs.id = v.id and jobs.status = v.status and jobs.updated_at = v.updated_at
       returning jobs.id`,
      [rows, reason, at],
    );
    return r.rows.map((x) => x.id as string);
  }

  async markMissing(ids: readonly number[], list: readonly EventRecord[]): Promise<number> {
    return this.moveFileState(ids, 'present', 'missing', list);
  }

  async reviveMissing(ids: readonly number[], list: readonly EventRecord[]): Promise<number> {
    return this.moveFileState(ids, 'missing', 'present', list);
  }

  /** Moves rows from one file state to another where they still are in it, with the events of the rows moved. */
  private async moveFileState(ids: readonly number[], from: FileState, to: FileState, list: readonly EventRecord[]): Promise<number> {
    return this.db.transaction(async (tx) => {
      const marked = new Set<string>();
      for (const part of chunk(ids, BATCH)) {
        const rows = await tx
          .update(files)
          .set({ state: to })
          .where(and(inArray(files.id, part), eq(files.state, from)))
          .returning({ path: files.path });
        for (const r of rows) marked.add(r.path);
      }
      const ev = list.filter((e) => e.path !== null && marked.has(e.path));
      for (const part of chunk(ev, BATCH)) await tx.insert(events).values(part);
      return marked.size;
    });
  }


  async livePaths(q: { afterPath?: string; limit: number }): Promise<string[]> {
    // The condition is spelled as files_live_path_idx's, with literals, so the planner can use that index.
    await this.ensureStatistics();
    const after = q.afterPath !== undefined;
    const r = await this.pool.query({
      text: `select path from files where state in ('present', 'deleting', 'corrupt')${after ? ' and path > $2' : ''} order by path limit $1`,
      values: after ? [q.limit, q.afterPath] : [q.limit],
      rowMode: 'array',
    });
    return (r.rows as [string][]).map((row) => row[0]);
  }

  async filesInState(state: string, limit: number, reasonLike?: string): Promise<FileRecord[]> {
    const where = reasonLike === undefined ? eq(files.state, state) : and(eq(files.state, state), sql`${files.deleteReason} like ${reasonLike}`);
    return this.db.select().from(files).where(where).limit(limit);
  }

  async hasFiles(): Promise<{ any: boolean; present: boolean }> {
    const r = await this.pool.query(`select exists (select 1 from files) as "any", exists (select 1 from files where state = 'present') as present`);
    return { any: r.rows[0].any === true, present: r.rows[0].present === true };
  }

  async openDeletionLane(): Promise<DeletionLane> {
    // The server does the work already: the lane only queues the calls, as SQLite's thread does.
    // Each is bound to the pool's loss watch: the engine waits on these calls, and a call left
    // pending by a killed server must end as that error (see ConnectionLossWatch).
    const watch = this.#lossWatch;
    return queuedLane({
      getJobs: (ids) => watch.bound(this.getJobs(ids)),
      markDeleting: (ids, reason) => watch.bound(this.markDeleting(ids, reason)),
      finishDeletions: (outcome) => watch.bound(this.finishDeletions(outcome)),
    });
  }

  async pathsOfJobs(jobIds: readonly string[], states: readonly string[]): Promise<PathRow[]> {
    // (state || ''): no index covers it, so the planner looks rows up by job_id alone instead of
    // AND-ing a bitmap over most of the state index (which it does with stale statistics).
    const out: PathRow[] = [];
    for (const part of chunk(jobIds, BATCH)) {
      const r = await this.pool.query({
        text: `select id, path, coalesce(stored_size, size) as size, state, job_id from files where job_id = any($1::text[]) and (state || '') = any($2::text[]) order by job_id, path`,
        values: [part, [...states]],
        rowMode: 'array',
      });
      for (const [id, path, size, state, jobId] of r.rows as [number, string, number, string, string][]) out.push({ id: Number(id), path, size: Number(size), state, jobId });
    }
    return out;
  }
}

/**
 * A stable signed 64-bit advisory lock key per name and schema: advisory locks are per database,
 * and two catalogs in two schemas of one database are two stores that must not block each other.
 */
function advisoryKey(name: string, schema: string): string {
  return createHash('sha256').update(`storectl:${schema}:${name}`).digest().readBigInt64BE(0).toString();
}
