// The integrity role of the catalog: what verify, put and dedup read and write (verification
// times and results, the `corrupt` state, duplicate lookup, shared content). The SQL is the
// same on both dialects and runs through sqlExec; test/catalog-integrity.contract.test.ts
// runs it on SQLite and PostgreSQL.
import type { Catalog } from './catalog.ts';
import { chunk } from './shared.ts';
import { placeholders, sqlExec, type SqlExec, type Statement } from './sql-exec.ts';
import type { EventRecord, NewFile, NewJob } from './types.ts';

/** Which files a verify run looks at. */
export interface FileSelection {
  jobIds?: readonly string[];
  owner?: string;
  category?: string;
}

/** A row as verify needs it. */
export interface VerifyRow {
  id: number;
  path: string;
  size: number;
  sha256: string;
  state: string;
  jobId: string | null;
  verifiedAt: Date | null;
  /** The tier holding the file, and how it is stored there (verify reads it from there, decoded). */
  tier: string;
  encoding: string | null;
  storedSize: number | null;
  /** The pack holding the stored bytes (null: an object of its own), and where in it. */
  pack: string | null;
  packOffset: number | null;
  /** Rows with the same group share one copy of their content (hard links); null: its own. */
  contentGroup: number | null;
}

/**
 * Position in the verify order: never-verified rows first (by id from a starting pivot,
 * wrapping around), then verified ones, least recently verified first.
 */
export interface VerifyCursor {
  phase: 0 | 1 | 2;
  afterId: number;
  afterAt?: Date;
}

export type VerifyResultKind = 'ok' | 'corrupt' | 'missing' | 'unreadable';

export interface VerifyOutcome {
  id: number;
  result: VerifyResultKind;
  /**
   * The row's state when it was read for this check, if known. A row read in the state its
   * verdict keeps (a present file that reads back fine: nearly all) gets its verification only;
   * should its state have changed since (a cleanup, another verify), the row is left as that
   * writer left it.
   */
  was?: string;
}

export interface Coverage {
  files: number;
  bytes: number;
  last7d: { files: number; bytes: number };
  last30d: { files: number; bytes: number };
  never: { files: number; bytes: number };
  corrupt: { files: number; bytes: number };
  missing: { files: number; bytes: number };
  oldestVerification: Date | null;
}

/** A group of present files with the same SHA-256 and size (and owner unless across owners). */
export interface ContentGroup {
  sha256: string;
  size: number;
  /** null when the group spans owners. */
  owner: string | null;
  files: number;
  /** Separate copies on disk now (files already linked together count once). */
  copies: number;
  /** Bytes linking would free: (copies - 1) x size. */
  freeable: number;
}

export interface ContentRow {
  id: number;
  path: string;
  jobId: string | null;
  owner: string;
  size: number;
  sha256: string;
  contentGroup: number | null;
}

/** Files verify may look at: those the catalog says are on disk, or were. */
export const VERIFIABLE_STATES = ['present', 'corrupt', 'missing'] as const;

export interface IntegrityCatalog {
  /** How many files (and bytes) a selection holds. */
  countSelection(sel: FileSelection): Promise<{ files: number; bytes: number }>;
  /** The smallest and largest file id (for the sampling pivot). */
  idRange(): Promise<{ min: number; max: number } | null>;
  /**
   * The next page in verify order, skipping rows verified at or after `notSince` (this run's
   * start: rows it verified move to the end and must not come round again).
   */
  verifyPage(sel: FileSelection, cursor: VerifyCursor, opts: { pivot: number; notSince: Date; limit: number }): Promise<{ rows: VerifyRow[]; next: VerifyCursor | null }>;
  /**
   * Records a batch of results in one transaction: verified_at and verify_result always; the
   * state becomes 'corrupt' or 'missing' for those results, and 'present' again for `ok` (a
   * corrupt or missing file that reads back exactly as catalogued). Rows not in a verifiable
   * state any more (a cleanup marked them 'deleting' meanwhile) are left alone.
   */
  recordVerifications(outcomes: readonly VerifyOutcome[], at: Date, events: readonly EventRecord[]): Promise<void>;
  /** Rows in 'corrupt' or 'missing' within a selection, by id. */
  damagedPage(sel: FileSelection, afterId: number, limit: number): Promise<VerifyRow[]>;
  coverage(now: Date): Promise<Coverage>;

  /** A present file with this content and owner (the oldest), or null. */
  findCopy(sha256: string, size: number, owner: string): Promise<ContentRow | null>;
  /**
   * Records put's files in one transaction: the job when it is new, the file rows, and the
   * job's files_state 'on_disk'. `shareWith` rows are put into the new row's content group.
   */
  recordPut(job: { newJob?: NewJob; id: string; at: Date }, rows: readonly (NewFile & { shareWith?: number })[], events: readonly EventRecord[]): Promise<void>;

  /** Groups of present files with the same content and more than one copy, largest first. */
  contentGroups(opts: { owner?: string; acrossOwners: boolean }): Promise<ContentGroup[]>;
  /** The present members of a group, oldest first. */
  groupMembers(g: Pick<ContentGroup, 'sha256' | 'size' | 'owner'>): Promise<ContentRow[]>;
  /** Records that these rows now share the content of `keeper` (one transaction). */
  recordLinked(keeper: number, ids: readonly number[], events: readonly EventRecord[]): Promise<void>;
  /** Present files recorded as sharing content (content_group set), by group then id, a page after `after`. */
  sharedPage(after: { group: number; id: number } | null, limit: number): Promise<ContentRow[]>;
  /** Present bytes counted once per shared copy, and what sharing saves. */
  diskUsage(): Promise<{ logicalBytes: number; diskBytes: number; sharedGroups: number; sharedFiles: number }>;
}

export function integrityCatalog(catalog: Catalog): IntegrityCatalog {
  return new SqlIntegrityCatalog(sqlExec(catalog));
}

const BATCH = 500;
const VERIFY_COLS = 'id, path, size, sha256, state, job_id, verified_at, tier, encoding, stored_size, content_group, pack, pack_offset';

function selectionWhere(sel: FileSelection): { sql: string; params: unknown[] } {
  const parts = [`state in ('present', 'corrupt', 'missing')`];
  const params: unknown[] = [];
  if (sel.jobIds?.length) {
    parts.push(`job_id in ${placeholders(sel.jobIds.length)}`);
    params.push(...sel.jobIds);
  }
  if (sel.owner !== undefined) {
    parts.push('owner = ?');
    params.push(sel.owner);
  }
  if (sel.category !== undefined) {
    parts.push('category = ?');
    params.push(sel.category);
  }
  return { sql: parts.join(' and '), params };
}

const num = (v: unknown) => Number(v ?? 0);

class SqlIntegrityCatalog implements IntegrityCatalog {
  constructor(readonly x: SqlExec) {}

  /** A row of VERIFY_COLS as an array (the page select: no object per row from the driver). */
  #verifyRowOf = (r: unknown[]): VerifyRow => ({
    id: num(r[0]),
    path: String(r[1]),
    size: num(r[2]),
    sha256: String(r[3]),
    state: String(r[4]),
    jobId: (r[5] as string | null) ?? null,
    verifiedAt: this.x.date(r[6]),
    tier: r[7] === undefined || r[7] === null ? 'hot' : String(r[7]),
    encoding: (r[8] as string | null | undefined) ?? null,
    storedSize: r[9] === null || r[9] === undefined ? null : num(r[9]),
    contentGroup: r[10] === null || r[10] === undefined ? null : num(r[10]),
    pack: (r[11] as string | null | undefined) ?? null,
    packOffset: r[12] === null || r[12] === undefined ? null : num(r[12]),
  });

  #verifyRow = (r: Record<string, unknown>): VerifyRow => ({
    id: num(r.id),
    path: String(r.path),
    size: num(r.size),
    sha256: String(r.sha256),
    state: String(r.state),
    jobId: (r.job_id as string | null) ?? null,
    verifiedAt: this.x.date(r.verified_at),
    tier: r.tier === undefined || r.tier === null ? 'hot' : String(r.tier),
    encoding: (r.encoding as string | null | undefined) ?? null,
    storedSize: r.stored_size === null || r.stored_size === undefined ? null : num(r.stored_size),
    pack: (r.pack as string | null | undefined) ?? null,
    packOffset: r.pack_offset === null || r.pack_offset === undefined ? null : num(r.pack_offset),
    contentGroup: r.content_group === null || r.content_group === undefined ? null : num(r.content_group),
  });

  #contentRow = (r: Record<string, unknown>): ContentRow => ({
    id: num(r.id),
    path: String(r.path),
    jobId: (r.job_id as string | null) ?? null,
    owner: String(r.owner),
    size: num(r.size),
    sha256: String(r.sha256),
    contentGroup: r.content_group === null || r.content_group === undefined ? null : num(r.content_group),
  });

  async countSelection(sel: FileSelection) {
    const w = selectionWhere(sel);
    const [r] = await this.x.all(`select count(*) as n, coalesce(sum(size), 0) as b from files where ${w.sql}`, w.params);
    return { files: num(r?.n), bytes: num(r?.b) };
  }

  async idRange() {
    const [r] = await this.x.all(`select min(id) as lo, max(id) as hi from files`);
    return r?.lo === null || r?.lo === undefined ? null : { min: num(r.lo), max: num(r.hi) };
  }

  async verifyPage(sel: FileSelection, cursor: VerifyCursor, opts: { pivot: number; notSince: Date; limit: number }) {
    const w = selectionWhere(sel);
    let c: VerifyCursor | null = cursor;
    const rows: VerifyRow[] = [];
    while (c && rows.length < opts.limit) {
      const want = opts.limit - rows.length;
      let q: string;
      let params: unknown[];
      if (c.phase === 0) {
        // never verified, ids from the pivot up
        q = `select ${VERIFY_COLS} from files where verified_at is null and id > ? and id >= ? and ${w.sql} order by id limit ?`;
        params = [c.afterId, opts.pivot, ...w.params, want];
      } else if (c.phase === 1) {
        // never verified, ids below the pivot
        q = `select ${VERIFY_COLS} from files where verified_at is null and id > ? and id < ? and ${w.sql} order by id limit ?`;
        params = [c.afterId, opts.pivot, ...w.params, want];
      } else {
        // Keyset on (verified_at, id) as one row value, read along files_verify_idx. Left to
        // itself SQLite took the state index and sorted every present row for each page: a
        // re-verify of 200,000 files took 63 s, quadratic in the files (bench/results/verify.md).
        const after = c.afterAt ? `and (verified_at, id) > (?, ?)` : '';
        const ap = c.afterAt ? [this.x.at(c.afterAt), c.afterId] : [];
        const along = this.x.dialect === 'sqlite' ? 'indexed by files_verify_idx' : '';
        q = `select ${VERIFY_COLS} from files ${along} where verified_at is not null and verified_at < ? ${after} and ${w.sql} order by verified_at, id limit ?`;
        params = [this.x.at(opts.notSince), ...ap, ...w.params, want];
      }
      const page = (await this.x.rows(q, params)).map(this.#verifyRowOf);
      rows.push(...page);
      if (page.length === want) {
        const last = page[page.length - 1]!;
        c = c.phase === 2 ? { phase: 2, afterId: last.id, afterAt: last.verifiedAt! } : { phase: c.phase, afterId: last.id };
      } else {
        c = c.phase === 2 ? null : { phase: (c.phase + 1) as 1 | 2, afterId: c.phase === 0 ? 0 : 0 };
      }
    }
    return { rows, next: c };
  }

  async recordVerifications(outcomes: readonly VerifyOutcome[], at: Date, events: readonly EventRecord[]) {
    const stmts: Statement[] = [];
    // Per verdict: the ids read in the state the verdict keeps, and the others.
    const byResult = new Map<VerifyResultKind, { same: number[]; other: number[] }>();
    for (const o of outcomes) {
      let g = byResult.get(o.result);
      if (!g) byResult.set(o.result, (g = { same: [], other: [] }));
      (o.was !== undefined && o.was === stateOf(o.result) ? g.same : g.other).push(o.id);
    }
    const t = this.x.at(at);
    // SQLite's planner would take the state index for `state = ...` and scan every present row
    // per statement (a re-verify of 200,000 files spent 24.6 s of 29 s here); the unary plus
    // keeps it on the primary key, as sqlite.ts's notIndexed does. PostgreSQL plans it well.
    const st = this.x.dialect === 'sqlite' ? '+state' : 'state';
    const verifiable = `${st} in ('present', 'corrupt', 'missing')`;
    for (const [result, g] of byResult) {
      const state = stateOf(result);
      // Rows already in the verdict's state (nearly all: files that read back fine) get their
      // verification only: a write of `state` would fire the usage triggers for every row,
      // which cost most of a verify's catalog time (profile in bench/results/verify.md).
      const keep = state ? `${st} = '${state}'` : verifiable;
      for (const ids of [g.same, g.other]) {
        if (!ids.length) continue;
        // One statement for the whole list (its ids as one parameter), not one per 500 ids.
        const [inIds, list] = this.#idList(ids);
        stmts.push({ sql: `update files set verified_at = ?, verify_result = ? where ${inIds} and ${keep}`, params: [t, result, list] });
        if (state && ids === g.other) {
          stmts.push({
            sql: `update files set verified_at = ?, verify_result = ?, state = '${state}' where ${inIds} and ${verifiable} and ${st} <> '${state}'`,
            params: [t, result, list],
          });
        }
      }
    }
    for (const e of events) stmts.push(eventInsert(this.x, e));
    if (stmts.length) await this.x.transaction(stmts);
  }

  /** `id in` a list of ids bound as one parameter: a JSON array on SQLite, an array on PostgreSQL. */
  #idList(ids: readonly number[]): [string, unknown] {
    return this.x.dialect === 'sqlite' ? ['id in (select value from json_each(?))', JSON.stringify(ids)] : ['id = any(?::bigint[])', ids];
  }

  async damagedPage(sel: FileSelection, afterId: number, limit: number) {
    const w = selectionWhere(sel);
    const rows = await this.x.all(`select ${VERIFY_COLS} from files where state in ('corrupt', 'missing') and id > ? and ${w.sql} order by id limit ?`, [afterId, ...w.params, limit]);
    return rows.map(this.#verifyRow);
  }

  async coverage(now: Date): Promise<Coverage> {
    const d7 = this.x.at(new Date(now.getTime() - 7 * 86_400_000));
    const d30 = this.x.at(new Date(now.getTime() - 30 * 86_400_000));
    const [r] = await this.x.all(
      `select count(*) as n, coalesce(sum(size), 0) as b,
        sum(case when verified_at >= ? then 1 else 0 end) as n7, coalesce(sum(case when verified_at >= ? then size else 0 end), 0) as b7,
        sum(case when verified_at >= ? then 1 else 0 end) as n30, coalesce(sum(case when verified_at >= ? then size else 0 end), 0) as b30,
        sum(case when verified_at is null then 1 else 0 end) as nn, coalesce(sum(case when verified_at is null then size else 0 end), 0) as bn,
        sum(case when state = 'corrupt' then 1 else 0 end) as nc, coalesce(sum(case when state = 'corrupt' then size else 0 end), 0) as bc,
        sum(case when state = 'missing' then 1 else 0 end) as nm, coalesce(sum(case when state = 'missing' then size else 0 end), 0) as bm,
        min(verified_at) as oldest
       from files where state in ('present', 'corrupt', 'missing')`,
      [d7, d7, d30, d30],
    );
    const pair = (n: unknown, b: unknown) => ({ files: num(n), bytes: num(b) });
    return {
      files: num(r?.n),
      bytes: num(r?.b),
      last7d: pair(r?.n7, r?.b7),
      last30d: pair(r?.n30, r?.b30),
      never: pair(r?.nn, r?.bn),
      corrupt: pair(r?.nc, r?.bc),
      missing: pair(r?.nm, r?.bm),
      oldestVerification: this.x.date(r?.oldest),
    };
  }

  async findCopy(sha256: string, size: number, owner: string) {
    const [r] = await this.x.all(
      `select id, path, job_id, owner, size, sha256, content_group from files where sha256 = ? and size = ? and owner = ? and state = 'present' order by id limit 1`,
      [sha256, size, owner],
    );
    return r ? this.#contentRow(r) : null;
  }

  async recordPut(job: { newJob?: NewJob; id: string; at: Date }, rows: readonly (NewFile & { shareWith?: number })[], events: readonly EventRecord[]) {
    const x = this.x;
    const stmts: Statement[] = [];
    if (job.newJob) {
      const j = job.newJob;
      const json = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));
      stmts.push({
        sql: `insert into jobs (id, kind, owner, status, data, created_at, updated_at, completed_at, files_state, generation) values (?, ?, ?, ?, ?, ?, ?, ?, 'none', ?)`,
        params: [j.id, j.kind ?? 'upload', j.owner ?? '', j.status, json(j.data), x.at(j.createdAt), x.at(j.updatedAt ?? j.createdAt), j.completedAt ? x.at(j.completedAt) : null, json(j.generation ?? null)],
      });
    }
    for (const f of rows) {
      if (f.shareWith !== undefined) {
        // The original joins a group named after itself, unless it is in one already.
        stmts.push({ sql: `update files set content_group = id where id = ? and content_group is null`, params: [f.shareWith] });
      }
      stmts.push({
        sql: `insert into files (job_id, role, category, owner, path, content_type, size, sha256, mtime, created_at, expires_at, state, content_group)
              values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'present', ${f.shareWith !== undefined ? '(select content_group from files where id = ?)' : '?'})`,
        params: [f.jobId, f.role, f.category, f.owner ?? '', f.path, f.contentType, f.size, f.sha256, f.mtime ? x.at(f.mtime) : null, x.at(f.createdAt), f.expiresAt ? x.at(f.expiresAt) : null, f.shareWith ?? null],
      });
    }
    stmts.push({ sql: `update jobs set files_state = 'on_disk', updated_at = ? where id = ?`, params: [x.at(job.at), job.id] });
    for (const e of events) stmts.push(eventInsert(x, e));
    await x.transaction(stmts);
  }

  async contentGroups(opts: { owner?: string; acrossOwners: boolean }): Promise<ContentGroup[]> {
    const by = opts.acrossOwners ? 'sha256, size' : 'sha256, size, owner';
    const where = opts.owner !== undefined ? `state = 'present' and owner = ?` : `state = 'present'`;
    // Linked members share a content_group; unlinked ones count as a copy each. Plain aggregates
    // over files_content_idx alone (it covers content_group): no count(distinct), which cost
    // PostgreSQL a sort per group. Only a content with members in two or more groups (lo < hi),
    // rare, has its groups counted exactly in a second query.
    const rows = await this.x.all(
      `select sha256, size, ${opts.acrossOwners ? 'null' : 'owner'} as owner, count(*) as n, count(content_group) as grouped,
              min(content_group) as lo, max(content_group) as hi
         from files where ${where} group by ${by} having count(*) > 1`,
      opts.owner !== undefined ? [opts.owner] : [],
    );
    const groups: ContentGroup[] = [];
    for (const r of rows) {
      const n = num(r.n);
      const grouped = num(r.grouped);
      let copies = n - grouped + (grouped === 0 ? 0 : 1);
      const owner = r.owner === null ? null : String(r.owner);
      if (grouped > 0 && num(r.lo) !== num(r.hi)) {
        const [d] = await this.x.all(
          `select count(distinct content_group) as g from files where sha256 = ? and size = ? and state = 'present'${owner !== null ? ' and owner = ?' : ''}${opts.owner !== undefined && owner === null ? ' and owner = ?' : ''}`,
          [r.sha256, r.size, ...(owner !== null ? [owner] : []), ...(opts.owner !== undefined && owner === null ? [opts.owner] : [])],
        );
        copies = n - grouped + num(d?.g);
      }
      if (copies < 2) continue;
      const size = num(r.size);
      groups.push({ sha256: String(r.sha256), size, owner, files: n, copies, freeable: (copies - 1) * size });
    }
    groups.sort((a, b) => b.freeable - a.freeable || (a.sha256 < b.sha256 ? -1 : a.sha256 > b.sha256 ? 1 : 0) || String(a.owner).localeCompare(String(b.owner)));
    return groups;
  }

  async groupMembers(g: Pick<ContentGroup, 'sha256' | 'size' | 'owner'>) {
    const rows = await this.x.all(
      // Only files stored as they are in the hot tree can share one copy: a compressed file, or
      // one on another tier, holds other bytes (or lives elsewhere) under the same SHA-256.
      `select id, path, job_id, owner, size, sha256, content_group from files where sha256 = ? and size = ? and state = 'present' and encoding is null and tier = 'hot' and tier_target is null${g.owner !== null ? ' and owner = ?' : ''} order by id`,
      g.owner !== null ? [g.sha256, g.size, g.owner] : [g.sha256, g.size],
    );
    return rows.map(this.#contentRow);
  }

  async recordLinked(keeper: number, ids: readonly number[], events: readonly EventRecord[]) {
    const stmts: Statement[] = [{ sql: `update files set content_group = id where id = ? and content_group is null`, params: [keeper] }];
    for (const part of chunk(ids, BATCH)) {
      stmts.push({ sql: `update files set content_group = (select content_group from files where id = ?) where id in ${placeholders(part.length)}`, params: [keeper, ...part] });
    }
    for (const e of events) stmts.push(eventInsert(this.x, e));
    await this.x.transaction(stmts);
  }

  async sharedPage(after: { group: number; id: number } | null, limit: number) {
    const rows = await this.x.all(
      `select id, path, job_id, owner, size, sha256, content_group from files where state = 'present' and content_group is not null
         ${after ? 'and (content_group > ? or (content_group = ? and id > ?))' : ''} order by content_group, id limit ?`,
      after ? [after.group, after.group, after.id, limit] : [limit],
    );
    return rows.map(this.#contentRow);
  }

  async diskUsage() {
    const [r] = await this.x.all(
      `select coalesce(sum(size), 0) as logical,
              coalesce(sum(case when content_group is null then size else 0 end), 0) as own,
              sum(case when content_group is null then 0 else 1 end) as shared
         from files where state = 'present'`,
    );
    const [g] = await this.x.all(
      `select count(*) as groups, coalesce(sum(size), 0) as bytes from (select content_group, max(size) as size from files where state = 'present' and content_group is not null group by content_group) g`,
    );
    return { logicalBytes: num(r?.logical), diskBytes: num(r?.own) + num(g?.bytes), sharedGroups: num(g?.groups), sharedFiles: num(r?.shared) };
  }
}

/** The state a verdict leaves a verifiable row in (null: unreadable leaves it as it is). */
function stateOf(result: VerifyResultKind): string | null {
  return result === 'ok' ? 'present' : result === 'corrupt' ? 'corrupt' : result === 'missing' ? 'missing' : null;
}

function eventInsert(x: SqlExec, e: EventRecord): Statement {
  return {
    sql: `insert into events (run_id, at, action, path, job_id, bytes, reason) values (?, ?, ?, ?, ?, ?, ?)`,
    params: [e.runId, x.at(e.at), e.action, e.path, e.jobId, e.bytes, e.reason],
  };
}
