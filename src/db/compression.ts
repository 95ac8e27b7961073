// The compression role of the catalog: the intent of a compression in flight and the flip of a
// row to its encoding. Same SQL on both dialects through sqlExec; test/compress.test.ts runs it
// on both. The intent lives in files.tier_target as `=ENCODING:STORED_SIZE`
// (src/storage/encoding.ts): a transition never starts on a row that has one (its intent needs
// tier_target null) and never mistakes it for its own (tier names never start with '=').
import type { Catalog } from './catalog.ts';
import { tierRow, type TierRow } from './tiers.ts';
import type { EventRecord } from './types.ts';
import { sqlExec, type SqlExec, type Statement } from './sql-exec.ts';

export interface CompressFlip {
  id: number;
  marker: string;
  encoding: string;
  storedSize: number;
}

export interface CompressionCatalog {
  /** Records the intent on a present, unencoded row with nothing in flight; false when the row changed. */
  recordIntent(id: number, tier: string, marker: string): Promise<boolean>;
  /**
   * The row now names its encoding and stored size (size and sha256 stay the original's), with its
   * event; false when it changed. Its file is a new one now: it shares no copy with other names (content_group null).
   */
  flip(f: CompressFlip, event: EventRecord): Promise<boolean>;
  /**
   * Remembers that compressing this content is not worth it (marker ALGORITHM:MIN_SAVING:SHA256),
   * on the row only while it still holds that content unencoded: a later run skips it unread.
   */
  markNotWorthIt(id: number, sha256: string, marker: string): Promise<void>;
  /** Abandons an intent (the file was never replaced). */
  clearIntent(id: number, marker: string): Promise<void>;
  /** Rows with a compression in flight, a page after `afterId`. */
  inFlight(limit: number, afterId?: number): Promise<(TierRow & { category: string })[]>;
  /** Present bytes per category: original (logical) and stored, and how many files are encoded. */
  savingsByCategory(): Promise<{ category: string; files: number; encodedFiles: number; bytes: number; storedBytes: number }[]>;
}

export function compressionCatalog(catalog: Catalog): CompressionCatalog {
  return new SqlCompressionCatalog(sqlExec(catalog));
}

const COLS = 'id, job_id, path, size, sha256, content_type, category, state, tier, tier_target, encoding, stored_size, compress_checked';
const num = (v: unknown) => Number(v ?? 0);

class SqlCompressionCatalog implements CompressionCatalog {
  constructor(private readonly x: SqlExec) {}

  async recordIntent(id: number, tier: string, marker: string): Promise<boolean> {
    const rows = await this.x.all(`update files set tier_target = ? where id = ? and tier = ? and state = 'present' and tier_target is null and encoding is null and pack is null returning id`, [marker, id, tier]);
    return rows.length === 1;
  }

  async flip(f: CompressFlip, e: EventRecord): Promise<boolean> {
    const stmts: Statement[] = [
      { sql: `update files set encoding = ?, stored_size = ?, tier_target = null, content_group = null where id = ? and tier_target = ? and state = 'present'`, params: [f.encoding, f.storedSize, f.id, f.marker] },
      { sql: `insert into events (run_id, at, action, path, job_id, bytes, reason) values (?, ?, ?, ?, ?, ?, ?)`, params: [e.runId, this.x.at(e.at), e.action, e.path, e.jobId, e.bytes, e.reason] },
    ];
    const counts = await this.x.transaction(stmts);
    return counts[0] === 1;
  }

  async markNotWorthIt(id: number, sha256: string, marker: string): Promise<void> {
    await this.x.run(`update files set compress_checked = ? where id = ? and sha256 = ? and encoding is null and state = 'present'`, [marker, id, sha256]);
  }

  async clearIntent(id: number, marker: string): Promise<void> {
    await this.x.run(`update files set tier_target = null where id = ? and tier_target = ?`, [id, marker]);
  }

  async inFlight(limit: number, afterId?: number) {
    const rows = await this.x.all(
      `select ${COLS} from files where tier_target like '=%'${afterId !== undefined ? ' and id > ?' : ''} order by id limit ?`,
      afterId !== undefined ? [afterId, limit] : [limit],
    );
    return rows.map((r) => ({ ...tierRow(r), category: String(r.category) }));
  }

  async savingsByCategory() {
    const rows = await this.x.all(
      `select category, count(*) as n, sum(case when encoding is null then 0 else 1 end) as enc, coalesce(sum(size), 0) as bytes, coalesce(sum(coalesce(stored_size, size)), 0) as stored from files where state = 'present' group by category order by category`,
    );
    return rows.map((r) => ({ category: String(r.category), files: num(r.n), encodedFiles: num(r.enc), bytes: num(r.bytes), storedBytes: num(r.stored) }));
  }
}
