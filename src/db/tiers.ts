// The tiers role of the catalog: which tier holds each file, the intent of a transition in
// flight, and the totals per tier. Same SQL on both dialects through sqlExec;
// test/tiers.test.ts runs it on both.
//
// A transition's intent lives in files.tier_target:
//   tier = A, tier_target = B    copying A -> B: the copy in A is the file; a copy in B may be partial
//   tier = B, tier_target = '-A' flipped to B: the copy in B is verified and is the file; the one
//                                left in A is to be removed
//   tier_target = null           nothing in flight: the file is in its tier and nowhere else
// Tier names never start with '-', so the two kinds of intent cannot be confused.
import type { Catalog } from './catalog.ts';
import type { EventRecord } from './types.ts';
import { placeholders, sqlExec, type SqlExec, type Statement } from './sql-exec.ts';

/** A file row as a transition sees it. */
export interface TierRow {
  id: number;
  jobId: string | null;
  path: string;
  size: number;
  sha256: string;
  contentType: string;
  tier: string;
  tierTarget: string | null;
  encoding: string | null;
  storedSize: number | null;
  state: string;
  /** What compression last found not worth it for this content (ALGORITHM:MIN_SAVING:SHA256), or null. */
  compressChecked: string | null;
  /** The pack holding the stored bytes in `tier` (null: an object of its own), and where in it. */
  pack: string | null;
  packOffset: number | null;
}

export interface TierTotals {
  tier: string;
  files: number;
  /** Original bytes (what a reader gets). */
  bytes: number;
  /** Bytes stored in the tier (compressed size where encoded). */
  storedBytes: number;
}

/** One file's flip: it now lives in `to` (stored as encoding/storedSize there); the copy left in `from` is to be removed. */
export interface TierFlip {
  id: number;
  from: string;
  to: string;
  encoding: string | null;
  storedSize: number | null;
  /** The pack in `to` holding the file's stored bytes, and where (null: an object of its own). */
  pack?: string | null;
  packOffset?: number | null;
}

export interface TierCatalog {
  /** Present files of these jobs, by job then path. */
  filesOfJobs(jobIds: readonly string[]): Promise<TierRow[]>;
  /** Records the intent to move these files to `to` (only rows present, not in flight); returns the ids recorded. */
  recordIntent(ids: readonly number[], to: string): Promise<number[]>;
  /** Flips the rows to their new tier in one transaction, with one event each; returns the ids flipped (a row changed since is left). */
  flip(flips: readonly TierFlip[], events: readonly EventRecord[]): Promise<number[]>;
  /** The leftover copies of these rows are removed (or the intent is abandoned): tier_target cleared. */
  clearIntent(ids: readonly number[]): Promise<void>;
  /** Rows with a transition in flight (tier_target set), by id, a page after `afterId`. */
  inFlight(limit: number, afterId?: number): Promise<TierRow[]>;
  /**
   * Of these pack keys of `tier`, the ones a live row (present, deleting, corrupt) still names:
   * a pack no row names is a stray (an interrupted move's) or emptied (its last member gone).
   */
  packsReferenced(tier: string, keys: readonly string[], opts?: { ignoreDeleting?: boolean }): Promise<Set<string>>;
  /** The live rows (present, deleting, corrupt) of `tier` naming each of these packs: their paths, by pack. */
  packMembers(tier: string, keys: readonly string[]): Promise<Map<string, string[]>>;
  /** The distinct packs live rows on `tier` name, after `afterKey` in byte order. */
  packsOn(tier: string, limit: number, afterKey?: string): Promise<{ pack: string; files: number; bytes: number }[]>;
  /** Present files per tier. */
  totals(): Promise<TierTotals[]>;
  /** Is any present file on `tier`? */
  anyPresentOn(tier: string): Promise<boolean>;
  /** Live rows on `tier` or moving to or from it, after `afterPath` in path order (byte order); rows packed on `tier` are left out (their pack is their object: packsOn). */
  pathsOn(tier: string, limit: number, afterPath?: string): Promise<TierRow[]>;
  /** Present files not on `tier` (with, or without, a transition in flight), after `afterPath` in path order. */
  pathsNotOn(tier: string, limit: number, afterPath?: string): Promise<TierRow[]>;
}

export function tierCatalog(catalog: Catalog): TierCatalog {
  return new SqlTierCatalog(sqlExec(catalog));
}

const BATCH = 500;
const COLS = 'id, job_id, path, size, sha256, content_type, tier, tier_target, encoding, stored_size, state, compress_checked, pack, pack_offset';
const num = (v: unknown) => Number(v ?? 0);

/** A files row as the tier roles read it (tiers.ts, compression.ts). */
export function tierRow(r: Record<string, unknown>): TierRow {
  return {
    id: num(r.id),
    jobId: (r.job_id as string | null) ?? null,
    path: String(r.path),
    size: num(r.size),
    sha256: String(r.sha256),
    contentType: String(r.content_type),
    tier: String(r.tier),
    tierTarget: (r.tier_target as string | null) ?? null,
    encoding: (r.encoding as string | null) ?? null,
    storedSize: r.stored_size === null || r.stored_size === undefined ? null : num(r.stored_size),
    state: String(r.state),
    compressChecked: (r.compress_checked as string | null | undefined) ?? null,
    pack: (r.pack as string | null | undefined) ?? null,
    packOffset: r.pack_offset === null || r.pack_offset === undefined ? null : num(r.pack_offset),
  };
}

class SqlTierCatalog implements TierCatalog {
  constructor(private readonly x: SqlExec) {}

  #row = tierRow;

  async filesOfJobs(jobIds: readonly string[]): Promise<TierRow[]> {
    const out: TierRow[] = [];
    for (let i = 0; i < jobIds.length; i += BATCH) {
      const part = jobIds.slice(i, i + BATCH);
      const rows = await this.x.all(`select ${COLS} from files where job_id in ${placeholders(part.length)} and state = 'present' order by job_id, path`, part);
      out.push(...rows.map(this.#row));
    }
    return out;
  }

  async recordIntent(ids: readonly number[], to: string): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < ids.length; i += BATCH) {
      const part = ids.slice(i, i + BATCH);
      const rows = await this.x.all(
        `update files set tier_target = ? where id in ${placeholders(part.length)} and state = 'present' and tier_target is null and tier <> ? returning id`,
        [to, ...part, to],
      );
      out.push(...rows.map((r) => num(r.id)));
    }
    return out;
  }

  async flip(flips: readonly TierFlip[], events: readonly EventRecord[]): Promise<number[]> {
    if (!flips.length) return [];
    const stmts: Statement[] = flips.map((f) => ({
      sql: `update files set tier = ?, tier_target = ?, encoding = ?, stored_size = ?, pack = ?, pack_offset = ? where id = ? and tier = ? and tier_target = ? and state = 'present'`,
      params: [f.to, `-${f.from}`, f.encoding, f.storedSize, f.pack ?? null, f.pack ? (f.packOffset ?? null) : null, f.id, f.from, f.to],
    }));
    for (const e of events) {
      stmts.push({
        sql: `insert into events (run_id, at, action, path, job_id, bytes, reason) values (?, ?, ?, ?, ?, ?, ?)`,
        params: [e.runId, this.x.at(e.at), e.action, e.path, e.jobId, e.bytes, e.reason],
      });
    }
    const counts = await this.x.transaction(stmts);
    return flips.filter((_, i) => counts[i] === 1).map((f) => f.id);
  }

  async clearIntent(ids: readonly number[]): Promise<void> {
    for (let i = 0; i < ids.length; i += BATCH) {
      const part = ids.slice(i, i + BATCH);
      await this.x.run(`update files set tier_target = null where id in ${placeholders(part.length)}`, part);
    }
  }

  async inFlight(limit: number, afterId?: number): Promise<TierRow[]> {
    const rows = await this.x.all(
      `select ${COLS} from files where tier_target is not null and tier_target not like '=%'${afterId !== undefined ? ' and id > ?' : ''} order by id limit ?`,
      afterId !== undefined ? [afterId, limit] : [limit],
    );
    return rows.map(this.#row);
  }

  async packsReferenced(tier: string, keys: readonly string[], opts: { ignoreDeleting?: boolean } = {}): Promise<Set<string>> {
    const out = new Set<string>();
    const states = opts.ignoreDeleting ? `('present', 'corrupt')` : `('present', 'deleting', 'corrupt')`;
    for (let i = 0; i < keys.length; i += BATCH) {
      const part = keys.slice(i, i + BATCH);
      const rows = await this.x.all(`select distinct pack from files where pack in ${placeholders(part.length)} and tier = ? and state in ${states}`, [...part, tier]);
      for (const r of rows) out.add(String(r.pack));
    }
    return out;
  }

  async packMembers(tier: string, keys: readonly string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (let i = 0; i < keys.length; i += BATCH) {
      const part = keys.slice(i, i + BATCH);
      const rows = await this.x.all(`select pack, path from files where pack in ${placeholders(part.length)} and tier = ? and state in ('present', 'deleting', 'corrupt')`, [...part, tier]);
      for (const r of rows) out.set(String(r.pack), [...(out.get(String(r.pack)) ?? []), String(r.path)]);
    }
    return out;
  }

  async packsOn(tier: string, limit: number, afterKey?: string): Promise<{ pack: string; files: number; bytes: number }[]> {
    const rows = await this.x.all(
      `select pack, count(*) as n, coalesce(sum(coalesce(stored_size, size)), 0) as bytes from files where pack is not null and tier = ? and state in ('present', 'deleting', 'corrupt')${afterKey !== undefined ? ' and pack > ?' : ''} group by pack order by pack limit ?`,
      afterKey !== undefined ? [tier, afterKey, limit] : [tier, limit],
    );
    return rows.map((r) => ({ pack: String(r.pack), files: num(r.n), bytes: num(r.bytes) }));
  }

  async totals(): Promise<TierTotals[]> {
    const rows = await this.x.all(
      `select tier, count(*) as n, coalesce(sum(size), 0) as bytes, coalesce(sum(coalesce(stored_size, size)), 0) as stored from files where state = 'present' group by tier order by tier`,
    );
    return rows.map((r) => ({ tier: String(r.tier), files: num(r.n), bytes: num(r.bytes), storedBytes: num(r.stored) }));
  }

  async anyPresentOn(tier: string): Promise<boolean> {
    return (await this.x.all(`select 1 as one from files where state = 'present' and tier = ? limit 1`, [tier])).length > 0;
  }

  async pathsOn(tier: string, limit: number, afterPath?: string): Promise<TierRow[]> {
    const rows = await this.x.all(
      `select ${COLS} from files where state in ('present', 'deleting', 'corrupt') and (tier = ? or tier_target = ? or tier_target = ?) and not (pack is not null and tier = ?)${afterPath !== undefined ? ' and path > ?' : ''} order by path limit ?`,
      afterPath !== undefined ? [tier, tier, `-${tier}`, tier, afterPath, limit] : [tier, tier, `-${tier}`, tier, limit],
    );
    return rows.map(this.#row);
  }

  async pathsNotOn(tier: string, limit: number, afterPath?: string): Promise<TierRow[]> {
    const rows = await this.x.all(
      `select ${COLS} from files where state in ('present', 'deleting', 'corrupt') and tier <> ?${afterPath !== undefined ? ' and path > ?' : ''} order by path limit ?`,
      afterPath !== undefined ? [tier, afterPath, limit] : [tier, limit],
    );
    return rows.map(this.#row);
  }
}
