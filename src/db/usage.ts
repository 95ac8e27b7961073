// The usage role of the catalog: per-owner quotas, the usage ledger and usage history.
//
// The ledger itself is written by triggers on `files` (drizzle/*/0003_usage_quotas.sql), so
// every command that adds, deletes or re-states file rows changes usage in the same
// transaction, and a write that would grow an owner past its hard quota fails inside that
// transaction (SQLite: RAISE(ABORT) in a BEFORE trigger, under the single writer lock;
// PostgreSQL: the statement trigger's update of the usage row takes its row lock, so two
// writers racing for the last bytes serialise and the second sees the first's bytes).
// This module only reads the ledger, manages quotas, rebuilds usage (recount) and keeps the
// history. It is written once for both dialects over the SQL executor (sql-exec.ts).
import type { SqlExec } from './sql-exec.ts';

/** States whose content is still held on the store and counts against a quota. */
export const HELD_STATES = ['present', 'deleting', 'corrupt'] as const;

/** The message both dialects' triggers raise; see isQuotaExceeded. */
export const QUOTA_EXCEEDED_MESSAGE = 'storectl: quota exceeded';

export interface Quota {
  owner: string;
  maxBytes: number;
  maxFiles: number | null;
  warnPercent: number;
  updatedAt: Date;
}

export interface OwnerUsage {
  owner: string;
  bytes: number;
  files: number;
  quota: Quota | null;
}

export interface UsageDrift {
  owner: string;
  recorded: { bytes: number; files: number };
  actual: { bytes: number; files: number };
}

export interface UsageSnapshot {
  takenAt: Date;
  runId: string | null;
  command: string | null;
  bytes: number;
  files: number;
  orphanFiles: number | null;
  missingFiles: number | null;
  anomalies: number | null;
  usageDrift: number | null;
}

export interface UsageCatalog {
  /** Creates or replaces an owner's quota. */
  setQuota(q: Omit<Quota, 'updatedAt'>, at: Date): Promise<void>;
  /** Removes an owner's quota; false when there was none. */
  unsetQuota(owner: string): Promise<boolean>;
  /** One owner's usage and quota: one indexed row of each (the check a writer makes). */
  ownerUsage(owner: string): Promise<OwnerUsage>;
  /** Every owner that holds content or has a quota, by owner. */
  owners(): Promise<OwnerUsage[]>;
  /** Sum of the ledger. */
  totals(): Promise<{ bytes: number; files: number }>;
  /** Owners whose ledger row differs from the files table (nothing changed). */
  drift(owner?: string): Promise<UsageDrift[]>;
  /** Rebuilds the ledger from the files table (one transaction); returns what it corrected. */
  recount(owner?: string): Promise<UsageDrift[]>;
  addSnapshot(s: UsageSnapshot): Promise<void>;
  /** Snapshots taken at or after `since`, oldest first. */
  snapshots(since: Date): Promise<UsageSnapshot[]>;
  /** The newest snapshot that recorded a disk check (stats --check-disk), if any. */
  lastCheck(): Promise<UsageSnapshot | null>;
  /** Lock rows as recorded (for metrics: a row exists while a run holds the lock). */
  lockRows(): Promise<{ name: string; command: string | null; host: string; pid: number; acquiredAt: Date }[]>;
}

/** Whether a catalog error is the quota trigger refusing a write (either dialect). */
export function isQuotaExceeded(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: string }).code === '23Q01') return true;
    if (e instanceof Error && e.message.includes(QUOTA_EXCEEDED_MESSAGE)) return true;
  }
  return false;
}

const HELD_SQL = `(${HELD_STATES.map((s) => `'${s}'`).join(', ')})`;

/** A timestamp column's value (never null where read here) as a Date. */
function readDate(v: unknown): Date {
  return v instanceof Date ? v : new Date(Number(v));
}
const num = (v: unknown): number => Number(v ?? 0);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

interface QuotaRow {
  owner: string;
  max_bytes: unknown;
  max_files: unknown;
  warn_percent: unknown;
  updated_at: unknown;
}
function toQuota(r: QuotaRow): Quota {
  return {
    owner: r.owner,
    maxBytes: num(r.max_bytes),
    maxFiles: numOrNull(r.max_files),
    warnPercent: num(r.warn_percent),
    updatedAt: readDate(r.updated_at),
  };
}

interface SnapshotRow {
  taken_at: unknown;
  run_id: string | null;
  command: string | null;
  bytes: unknown;
  files: unknown;
  orphan_files: unknown;
  missing_files: unknown;
  anomalies: unknown;
  usage_drift: unknown;
}
function toSnapshot(r: SnapshotRow): UsageSnapshot {
  return {
    takenAt: readDate(r.taken_at),
    runId: r.run_id,
    command: r.command,
    bytes: num(r.bytes),
    files: num(r.files),
    orphanFiles: numOrNull(r.orphan_files),
    missingFiles: numOrNull(r.missing_files),
    anomalies: numOrNull(r.anomalies),
    usageDrift: numOrNull(r.usage_drift),
  };
}

const ACTUAL_SQL = (where: string) =>
  `select owner, sum(size) as bytes, count(*) as files from files where state in ${HELD_SQL}${where} group by owner`;

export function usageCatalog(r: SqlExec): UsageCatalog {
  const drift = async (tx: SqlExec, owner?: string): Promise<UsageDrift[]> => {
    const where = owner === undefined ? '' : ' and owner = ?';
    const params = owner === undefined ? [] : [owner];
    const actual = await tx.all<{ owner: string; bytes: unknown; files: unknown }>(ACTUAL_SQL(where), params);
    const recorded = await tx.all<{ owner: string; bytes: unknown; files: unknown }>(
      `select owner, bytes, files from usage${owner === undefined ? '' : ' where owner = ?'}`,
      params,
    );
    const byOwner = new Map<string, UsageDrift>();
    const entry = (o: string) => {
      let e = byOwner.get(o);
      if (!e) byOwner.set(o, (e = { owner: o, recorded: { bytes: 0, files: 0 }, actual: { bytes: 0, files: 0 } }));
      return e;
    };
    for (const a of actual) entry(a.owner).actual = { bytes: num(a.bytes), files: num(a.files) };
    for (const x of recorded) entry(x.owner).recorded = { bytes: num(x.bytes), files: num(x.files) };
    return [...byOwner.values()]
      .filter((d) => d.recorded.bytes !== d.actual.bytes || d.recorded.files !== d.actual.files)
      .sort((a, b) => (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0));
  };

  const ownerRows = async (where: string, params: unknown[]): Promise<OwnerUsage[]> => {
    // Owners of the ledger and of quotas; a full outer join written as a union both dialects run.
    const rows = await r.all<{ owner: string; bytes: unknown; files: unknown } & Partial<QuotaRow>>(
      `select o.owner, u.bytes, u.files, q.max_bytes, q.max_files, q.warn_percent, q.updated_at
         from (select owner from usage where (files <> 0 or bytes <> 0)${where} union select owner from quotas where 1 = 1${where}) o
         left join usage u on u.owner = o.owner
         left join quotas q on q.owner = o.owner
        order by o.owner`,
      [...params, ...params],
    );
    return rows.map((x) => ({
      owner: x.owner,
      bytes: num(x.bytes),
      files: num(x.files),
      quota: x.max_bytes === null || x.max_bytes === undefined ? null : toQuota({ ...(x as QuotaRow), owner: x.owner }),
    }));
  };

  return {
    async setQuota(q, at) {
      await r.run(
        `insert into quotas (owner, max_bytes, max_files, warn_percent, updated_at) values (?, ?, ?, ?, ?)
         on conflict (owner) do update set max_bytes = excluded.max_bytes, max_files = excluded.max_files,
           warn_percent = excluded.warn_percent, updated_at = excluded.updated_at`,
        [q.owner, q.maxBytes, q.maxFiles, q.warnPercent, r.at(at)],
      );
    },
    async unsetQuota(owner) {
      return (await r.run('delete from quotas where owner = ?', [owner])) > 0;
    },
    async ownerUsage(owner) {
      const u = await r.all<{ bytes: unknown; files: unknown }>('select bytes, files from usage where owner = ?', [owner]);
      const q = await r.all<QuotaRow>('select owner, max_bytes, max_files, warn_percent, updated_at from quotas where owner = ?', [owner]);
      return { owner, bytes: num(u[0]?.bytes), files: num(u[0]?.files), quota: q[0] ? toQuota(q[0]) : null };
    },
    owners: () => ownerRows('', []),
    async totals() {
      const [t] = await r.all<{ bytes: unknown; files: unknown }>('select sum(bytes) as bytes, sum(files) as files from usage');
      return { bytes: num(t?.bytes), files: num(t?.files) };
    },
    drift: (owner) => drift(r, owner),
    recount(owner) {
      return r.interactive(
        async (tx) => {
          const found = await drift(tx, owner);
          for (const d of found) {
            await tx.run(
              `insert into usage (owner, bytes, files) values (?, ?, ?)
               on conflict (owner) do update set bytes = excluded.bytes, files = excluded.files`,
              [d.owner, d.actual.bytes, d.actual.files],
            );
          }
          return found;
        },
        { lockTable: 'usage' },
      );
    },
    async addSnapshot(s) {
      await r.run(
        `insert into usage_snapshots (taken_at, run_id, command, bytes, files, orphan_files, missing_files, anomalies, usage_drift)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [r.at(s.takenAt), s.runId, s.command, s.bytes, s.files, s.orphanFiles, s.missingFiles, s.anomalies, s.usageDrift],
      );
    },
    async snapshots(since) {
      const rows = await r.all<SnapshotRow>('select * from usage_snapshots where taken_at >= ? order by taken_at, id', [r.at(since)]);
      return rows.map(toSnapshot);
    },
    async lockRows() {
      const rows = await r.all<{ name: string; command: string | null; host: string; pid: unknown; acquired_at: unknown }>(
        'select name, command, host, pid, acquired_at from locks order by name',
      );
      return rows.map((x) => ({ name: x.name, command: x.command, host: x.host, pid: num(x.pid), acquiredAt: readDate(x.acquired_at) }));
    },
    async lastCheck() {
      const rows = await r.all<SnapshotRow>('select * from usage_snapshots where orphan_files is not null order by taken_at desc, id desc limit 1');
      return rows[0] ? toSnapshot(rows[0]) : null;
    },
  };
}
