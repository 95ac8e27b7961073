// Pieces both catalog implementations use: value normalisation and dialect-neutral SQL.
import { createHash } from 'node:crypto';
import { or, sql, type AnyColumn, type SQL } from 'drizzle-orm';
import { LockedError } from '../errors.ts';
import type { DeletionLane } from './catalog.ts';
import { AGE_BUCKETS, type DueClause, type FileGroup, type LockInfo, type LockOptions, type NewFile, type NewJob } from './types.ts';

export { pgTransaction } from './pg-transaction.ts';

export function* chunk<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

export function jobValues(j: NewJob, now: Date) {
  return {
    id: j.id,
    kind: j.kind ?? 'card',
    owner: j.owner ?? '',
    status: j.status,
    data: j.data,
    createdAt: j.createdAt,
    updatedAt: j.updatedAt ?? j.createdAt ?? now,
    completedAt: j.completedAt ?? null,
    filesState: j.filesState ?? 'none',
    generation: j.generation ?? null,
    failureReason: j.failureReason ?? null,
  };
}

export function fileValues(f: NewFile) {
  return {
    jobId: f.jobId,
    role: f.role,
    category: f.category,
    owner: f.owner ?? '',
    path: f.path,
    contentType: f.contentType,
    size: f.size,
    sha256: f.sha256,
    mtime: f.mtime ?? null,
    createdAt: f.createdAt,
    expiresAt: f.expiresAt ?? null,
    deletedAt: f.deletedAt ?? null,
    deleteReason: f.deleteReason ?? null,
    state: f.state ?? 'present',
    verifiedAt: f.verifiedAt ?? null,
    verifyResult: f.verifyResult ?? null,
    contentGroup: f.contentGroup ?? null,
    tier: f.tier ?? 'hot',
    encoding: f.encoding ?? null,
    storedSize: f.storedSize ?? null,
    tierTarget: f.tierTarget ?? null,
    compressChecked: f.compressChecked ?? null,
    pack: f.pack ?? null,
    packOffset: f.packOffset ?? null,
  };
}

const DAY = 86_400_000;
/** Upper age bounds of the stats buckets, in ms; the last bucket is open. */
const BUCKET_BOUNDS = [DAY, 7 * DAY, 30 * DAY, 90 * DAY];

/**
 * Per-bucket file counts and byte sums as columns (c0, b0, ... c4, b4), so the files
 * aggregate groups by (state, category, owner) only: a prefix of files_stats_idx, which
 * SQLite then streams in order without a sort. `at(ms)` binds a point in time as the
 * dialect stores created_at.
 */
export function bucketColumns(createdAt: SQL | AnyColumn, size: SQL | AnyColumn, now: Date, at: (ms: number) => unknown): Record<string, SQL<number>> {
  const edge = (ms: number) => at(now.getTime() - ms);
  const cols: Record<string, SQL<number>> = {};
  AGE_BUCKETS.forEach((_, i) => {
    // Bucket i holds ages in [BUCKET_BOUNDS[i-1], BUCKET_BOUNDS[i]): created after now - upper
    // bound, and at or before now - lower bound.
    const conds: SQL[] = [];
    if (i < BUCKET_BOUNDS.length) conds.push(sql`${createdAt} > ${edge(BUCKET_BOUNDS[i]!)}`);
    if (i > 0) conds.push(sql`${createdAt} <= ${edge(BUCKET_BOUNDS[i - 1]!)}`);
    const inBucket = sql.join(conds, sql` and `);
    cols[`c${i}`] = sql<number>`sum(case when ${inBucket} then 1 else 0 end)`.mapWith(Number);
    cols[`b${i}`] = sql<number>`sum(case when ${inBucket} then ${size} else 0 end)`.mapWith(Number);
  });
  cols.minCreated = sql<number>`min(${createdAt})`;
  cols.maxCreated = sql<number>`max(${createdAt})`;
  return cols;
}

interface JobColumns {
  kind: AnyColumn;
  owner: AnyColumn;
  status: AnyColumn;
  createdAt: AnyColumn;
  updatedAt: AnyColumn;
  completedAt: AnyColumn;
}

/**
 * The due clauses as one condition (any of them), so only due jobs leave the database.
 * `inList` is the dialect's membership test; `at` binds a point in time as the dialect stores it.
 */
export function dueCondition(t: JobColumns, clauses: readonly DueClause[], inList: (col: AnyColumn, values: readonly string[]) => SQL, at: (d: Date) => unknown): SQL | undefined {
  if (!clauses.length) return sql`1 = 0`;
  return or(
    ...clauses.map((c) => {
      const from = c.ageFrom === 'completed_at' ? sql`coalesce(${t.completedAt}, ${t.updatedAt})` : sql`${c.ageFrom === 'created_at' ? t.createdAt : t.updatedAt}`;
      const parts = [inList(t.status, c.statuses), c.kinds ? inList(t.kind, c.kinds) : undefined, c.owners ? inList(t.owner, c.owners) : undefined, sql`${from} <= ${at(c.before)}`];
      return sql`(${sql.join(parts.filter((x): x is SQL => x !== undefined), sql` and `)})`;
    }),
  );
}

/** Oldest and newest creation time of present files, from the grouped rows. */
export function presentEdges(rows: Array<{ state: string } & Record<string, unknown>>): { min: unknown; max: unknown } | null {
  const present = rows.filter((r) => r.state === 'present' && r.minCreated !== null && r.minCreated !== undefined);
  if (!present.length) return null;
  const key = (v: unknown) => (v instanceof Date ? v.getTime() : typeof v === 'string' ? Date.parse(v) : Number(v));
  const min = present.reduce((a, r) => (key(r.minCreated) < key(a.minCreated) ? r : a)).minCreated;
  const max = present.reduce((a, r) => (key(r.maxCreated) > key(a.maxCreated) ? r : a)).maxCreated;
  return { min, max };
}

/** Unpivots rows of (state, category, owner, c0..c4, b0..b4) into FileGroups. */
export function unpivotBuckets(rows: Array<{ state: string; category: string; owner: string } & Record<string, unknown>>): FileGroup[] {
  const out: FileGroup[] = [];
  for (const r of rows) {
    AGE_BUCKETS.forEach((ageBucket, i) => {
      const files = Number(r[`c${i}`] ?? 0);
      if (files > 0) out.push({ state: r.state, category: r.category, owner: r.owner, ageBucket, files, bytes: Number(r[`b${i}`] ?? 0) });
    });
  }
  return out;
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

// lifecycle: pieces of the store lock both implementations share

/** Is this process alive on this host? EPERM means alive but not ours to signal. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function lockedError(name: string, holder: LockInfo | null, waitedMs: number): LockedError {
  const who = holder ? describeHolder(holder) : 'another run';
  const waited = waitedMs > 0 ? ` after waiting ${Math.round(waitedMs / 1000)} s` : '';
  return new LockedError(`the store is locked by ${who}${waited} (lock "${name}")`, 'try again later, or pass --wait [SECONDS] to wait for it');
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** How often a waiting run polls a held lock. */
export const LOCK_POLL_MS = 200;

/**
 * Lock heartbeat: the holder refreshes `locks.heartbeat_at` every LOCK_HEARTBEAT_MS while it
 * runs (an unref'd timer, stopped at release). A lock whose heartbeat is older than
 * LOCK_STALE_MS is stale and is taken over:
 * - SQLite: when the holder's host is another one (a container or pod that came back with a
 *   new hostname). On this host the process table decides (dead pid: stale at once; live pid:
 *   live, however old the heartbeat, since a long synchronous SQLite transaction holds up the
 *   timer of a healthy run); `storectl unlock --force` breaks a wedged one.
 * - PostgreSQL: the server frees a dead session's advisory lock, so a dead holder never blocks.
 *   The heartbeat covers a holder that is alive to the server but not working: a wedged process
 *   or one cut off by a network partition (its session lingers until TCP keepalive, hours by
 *   default). Its session is ended with pg_terminate_backend, which frees the advisory lock.
 * The holder that finds its lock gone at a heartbeat reports it (onLost), and its run fails.
 * STORECTL_LOCK_STALE_SECONDS / STORECTL_LOCK_HEARTBEAT_SECONDS override the defaults.
 */
export const LOCK_HEARTBEAT_MS = 15_000;
export const LOCK_STALE_MS = 60_000;
/** How often a waiting run says it is still waiting. */
export const LOCK_WAIT_NOTICE_MS = 30_000;

function secondsFromEnv(name: string, fallback: number): number {
  const v = process.env[name];
  return v && /^\d+(\.\d+)?$/.test(v) ? Number(v) * 1000 : fallback;
}

export function lockTimings(opts: { heartbeatMs?: number; staleMs?: number }): { heartbeatMs: number; staleMs: number } {
  return {
    heartbeatMs: opts.heartbeatMs ?? secondsFromEnv('STORECTL_LOCK_HEARTBEAT_SECONDS', LOCK_HEARTBEAT_MS),
    staleMs: opts.staleMs ?? secondsFromEnv('STORECTL_LOCK_STALE_SECONDS', LOCK_STALE_MS),
  };
}

/**
 * Polls tryTake until it takes the lock (returns null) or waitMs has passed (LockedError naming
 * the holder it returned). Tells onWait when waiting starts and every LOCK_WAIT_NOTICE_MS.
 */
export async function pollLock(name: string, opts: LockOptions, tryTake: () => Promise<LockInfo | null>): Promise<void> {
  const started = Date.now();
  const waitMs = opts.waitMs ?? 0;
  let nextNotice = 0;
  for (;;) {
    const held = await tryTake();
    if (!held) return;
    const waited = Date.now() - started;
    if (waited >= waitMs) throw lockedError(name, held, waited);
    if (waited >= nextNotice) {
      opts.onWait?.(held, waited, waitMs);
      nextNotice = waited + LOCK_WAIT_NOTICE_MS;
    }
    await sleep(Math.min(LOCK_POLL_MS, Math.max(1, waitMs - waited)));
  }
}

/** A heartbeat timer: unref'd (never keeps the process alive), stopped by the returned function. */
export function startHeartbeat(everyMs: number, beat: () => Promise<void> | void): () => void {
  let busy = false;
  const t = setInterval(() => {
    if (busy) return;
    busy = true;
    Promise.resolve()
      .then(beat)
      .catch(() => {})
      .finally(() => (busy = false));
  }, everyMs);
  t.unref();
  return () => clearInterval(t);
}

/** A lock row (drizzle's shape) as LockInfo. */
export function lockInfoOf(
  name: string,
  row: { pid: number; host: string; command: string | null; runId: string | null; acquiredAt: Date; heartbeatAt: Date | null },
): LockInfo {
  return { name, pid: row.pid, host: row.host, command: row.command ?? '', runId: row.runId ?? '', acquiredAt: row.acquiredAt, heartbeatAt: row.heartbeatAt };
}

/** How a lock holder is named in messages. */
export function describeHolder(h: LockInfo): string {
  return `${h.command || 'a run'} (pid ${h.pid} on ${h.host}, since ${h.acquiredAt.toISOString().replace(/\.\d{3}Z$/, 'Z')})`;
}

/**
 * The calls of a deletion lane, one at a time as on one connection. Urgent calls (the re-check
 * reads and intents that feed the unlinks) go before waiting tombstones: a tombstone can wait,
 * an unlink waiting for its intent leaves the disk idle. Calls of one kind keep their order.
 */
export class LaneQueue {
  readonly #urgent: (() => Promise<void>)[] = [];
  readonly #later: (() => Promise<void>)[] = [];
  #running: Promise<void> | null = null;

  run<T>(urgent: boolean, call: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      (urgent ? this.#urgent : this.#later).push(() => call().then(resolve, reject));
      this.#running ??= this.#drain();
    });
  }

  async #drain(): Promise<void> {
    for (;;) {
      const next = this.#urgent.shift() ?? this.#later.shift();
      if (!next) break;
      await next();
    }
    this.#running = null;
  }

  /** Resolves once every call queued so far has settled. */
  async drained(): Promise<void> {
    while (this.#running) await this.#running;
  }
}

/** A deletion lane over a catalog's own methods, their calls queued by a LaneQueue. */
export function queuedLane(c: Omit<DeletionLane, 'close'>): DeletionLane {
  const q = new LaneQueue();
  return {
    getJobs: (ids) => q.run(true, () => c.getJobs(ids)),
    markDeleting: (ids, reason) => q.run(true, () => c.markDeleting(ids, reason)),
    finishDeletions: (outcome) => q.run(false, () => c.finishDeletions(outcome)),
    close: () => q.drained(),
  };
}

/** One row when two present rows share one content (a content_group held by two or more), none otherwise. */
export const SHARED_CONTENT_SQL = `select 1 as shared from files where state = 'present' and content_group is not null group by content_group having count(*) > 1 limit 1`;
