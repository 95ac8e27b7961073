// dedup: finds present files with the same SHA-256 and size (of one owner, or across owners
// with acrossOwners) straight from the catalog, and replaces the extra copies by hard links (or
// reflinks) to one of them. The plan (groups, copies, bytes linking frees) comes from the
// catalog alone, so a dry run is one query. A real run holds the store lock and, per group:
// looks at every member (lstat: regular file, the catalog's size), reads one name of each
// distinct copy back (size and SHA-256 against the catalog), picks the copy most names already
// share as the keeper, and for each other name re-checks that the file is still the one that
// was read (dev, ino, size, mtime), links the keeper to a temp name in the store's staging
// directory (.storectl/staging, same file system) and renames it over the name: at every moment
// each name holds its old copy or the keeper's, both the full content. The catalog then records
// that the names share content (files.content_group, as put --on-duplicate link does). A run
// killed midway leaves names already linked (the rerun sees the shared inode and records them)
// and at worst a temp name under .storectl/staging, which the next run holding the lock clears.
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from '../context.ts';
import { integrityCatalog, type ContentGroup, type ContentRow, type IntegrityCatalog } from '../db/integrity.ts';
import type { EventRecord } from '../db/types.ts';
import { FailedError, UsageError } from '../errors.ts';
import type { HashPool } from '../storage/hash-pool.ts';
import { pausePoint } from '../test-hooks.ts';
import { mapPool } from './pool.ts';
import { withStoreLock } from './store-lock.ts';

export type DedupMode = 'hardlink' | 'reflink' | 'auto';
export const DEDUP_MODES: readonly DedupMode[] = ['hardlink', 'reflink', 'auto'];

export interface DedupOptions {
  dryRun: boolean;
  owner?: string;
  acrossOwners: boolean;
  /** hardlink (default); reflink (copy-on-write clones; refused where the file system has none); auto: reflink where supported, else hard links. */
  mode: DedupMode;
  /** List at most this many groups in the report (0: all); the totals always cover every group. */
  top: number;
  waitMs: number;
  threads?: number;
  /** Asked before a real run changes anything (the plan's totals). */
  confirm?: (plan: DedupPlanTotals) => Promise<boolean>;
}

export interface DedupPlanTotals {
  /** Groups of files with the same content and more than one copy on disk. */
  groups: number;
  files: number;
  copies: number;
  /** Bytes linking every group would free: sum of (copies - 1) x size. */
  freeableBytes: number;
}

export interface DedupGroupReport extends ContentGroup {
  /** Real run: the name every other name now shares. */
  keep?: string;
  /** Real run: linked (every copy), partial (some skipped), already (the names shared one copy on disk already), skipped (nothing linked). */
  outcome?: 'linked' | 'partial' | 'already' | 'skipped';
  /** Real run: names replaced by a link this run. */
  linked?: number;
}

export interface DedupSkip {
  path: string;
  jobId: string | null;
  reason: string;
}

export interface DedupResult {
  groupsLinked: number;
  filesLinked: number;
  /** Names found already sharing the keeper's copy on disk (a rerun after a crash), recorded in the catalog. */
  alreadyShared: number;
  /** Bytes of copies no name refers to any more (copies with links outside the group are not counted). */
  bytesFreed: number;
  /** Files left as they were, and why (changed since planning, reads back wrong, not a regular file). */
  skipped: DedupSkip[];
}

export interface DedupReport {
  dryRun: boolean;
  backend: 'local' | 's3';
  /** The mode asked for, and the one used (auto: reflink or hardlink). */
  mode: DedupMode;
  modeUsed?: 'hardlink' | 'reflink';
  owner: string | null;
  acrossOwners: boolean;
  plan: DedupPlanTotals;
  /** Largest first (bytes linking frees); at most `top` of them. */
  groups: DedupGroupReport[];
  /** Groups not listed (past --top). */
  groupsNotListed: number;
  /** Why this run only reports (an S3 store). */
  reportOnly?: string;
  result?: DedupResult;
  durationMs: number;
}

const S3_REASON = 'objects in an S3 store cannot share content by link';
const MAX_SKIPS = 10_000;
const NO_REFLINK = new Set(['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EINVAL', 'ENOSYS', 'ENOTTY', 'ERR_FS_CP_EINVAL']);

function totalsOf(groups: readonly ContentGroup[]): DedupPlanTotals {
  const t: DedupPlanTotals = { groups: groups.length, files: 0, copies: 0, freeableBytes: 0 };
  for (const g of groups) {
    t.files += g.files;
    t.copies += g.copies;
    t.freeableBytes += g.freeable;
  }
  return t;
}

/** The refusal of a real run on an S3 store (exit 2): one line, nothing changed. */
export function s3Refusal(root: string): UsageError {
  return new UsageError(`dedup cannot link on an S3 store (${root}): ${S3_REASON}; nothing was changed`, 'run dedup --dry-run to see what sharing would save', 'unsupported_backend');
}

export async function runDedup(ctx: Context, o: DedupOptions): Promise<DedupReport> {
  const t0 = Date.now();
  const s3 = ctx.store.capabilities.kind !== 'local';
  if (s3 && !o.dryRun) throw s3Refusal(ctx.store.url);
  const ic = integrityCatalog(ctx.catalog);
  // One owner's files across owners are that owner's files: grouped by owner, members of that owner only.
  const acrossOwners = o.acrossOwners && o.owner === undefined;
  const plan = async () => ic.contentGroups({ owner: o.owner, acrossOwners });
  const report = (groups: ContentGroup[]): DedupReport => {
    const listed = o.top > 0 ? groups.slice(0, o.top) : groups;
    return {
      dryRun: o.dryRun,
      backend: s3 ? 's3' : 'local',
      mode: o.mode,
      owner: o.owner ?? null,
      acrossOwners: o.acrossOwners,
      plan: totalsOf(groups),
      groups: listed.map((g) => ({ ...g })),
      groupsNotListed: groups.length - listed.length,
      ...(s3 ? { reportOnly: S3_REASON } : {}),
      durationMs: 0,
    };
  };
  if (o.dryRun) {
    const r = report(await plan());
    r.durationMs = Date.now() - t0;
    return r;
  }
  return withStoreLock(ctx, 'dedup', o.waitMs, async () => {
    const groups = await plan();
    const r = report(groups);
    const listed = new Map<ContentGroup, DedupGroupReport>();
    groups.slice(0, r.groups.length).forEach((g, i) => listed.set(g, r.groups[i]!));
    const result: DedupResult = { groupsLinked: 0, filesLinked: 0, alreadyShared: 0, bytesFreed: 0, skipped: [] };
    r.result = result;
    if (!groups.length) {
      r.durationMs = Date.now() - t0;
      return r;
    }
    if (o.confirm && !(await o.confirm(r.plan))) throw new FailedError('cancelled: nothing was changed', undefined, 'cancelled');
    ctx.blobs.clearStaging();
    const staging = ctx.blobs.stagingDir('dedup');
    const pool = ctx.blobs.hashPool(o.threads);
    const progress = ctx.progress('deduplicating', groups.length);
    try {
      r.modeUsed = o.mode === 'hardlink' ? 'hardlink' : await probeReflink(ctx, ic, groups[0]!, staging, o.mode);
      const linker = new GroupLinker(ctx, ic, pool, staging, r.modeUsed, result);
      await mapPool(groups, 2 * pool.threads, async (g) => {
        const out = await linker.run(g);
        const row = listed.get(g);
        if (row) Object.assign(row, out);
        progress.tick();
      });
    } finally {
      progress.done();
      await pool.close();
      fs.rmSync(staging, { recursive: true, force: true });
    }
    r.durationMs = Date.now() - t0;
    return r;
  });
}

/**
 * --mode reflink or auto: one clone of a file of the first group into staging tells whether the
 * file system can. reflink without support is refused before anything changed (exit 2); auto
 * falls back to hard links.
 */
async function probeReflink(ctx: Context, ic: IntegrityCatalog, g: ContentGroup, staging: string, mode: 'reflink' | 'auto'): Promise<'reflink' | 'hardlink'> {
  const [first] = await ic.groupMembers(g);
  if (!first) return mode === 'auto' ? 'hardlink' : 'reflink';
  const probe = path.join(staging, 'reflink-probe');
  try {
    fs.copyFileSync(ctx.blobs.abs(first.path), probe, fs.constants.COPYFILE_FICLONE_FORCE);
    return 'reflink';
  } catch (err) {
    const code = String((err as NodeJS.ErrnoException).code ?? '');
    if (!NO_REFLINK.has(code)) throw err;
    if (mode === 'auto') {
      ctx.log.info(`the file system under ${ctx.config.root} has no reflinks (${code}): linking with hard links (--mode auto)`);
      return 'hardlink';
    }
    throw new UsageError(
      `the file system under ${ctx.config.root} does not support reflinks (${code}): nothing was changed`,
      'run with --mode hardlink (hard links), or --mode auto (reflinks where supported, else hard links)',
      'no_reflink',
    );
  } finally {
    fs.rmSync(probe, { force: true });
  }
}

interface Seen {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  nlink: bigint;
}

const sameFile = (a: Seen, b: Seen) => a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs;

/** One copy on disk: the names (rows) that refer to it and what lstat saw of it. */
interface Copy {
  key: string;
  seen: Seen;
  rows: ContentRow[];
}

class GroupLinker {
  constructor(
    readonly ctx: Context,
    readonly ic: IntegrityCatalog,
    readonly pool: HashPool,
    readonly staging: string,
    readonly mode: 'hardlink' | 'reflink',
    readonly result: DedupResult,
  ) {}

  skip(row: ContentRow, reason: string): void {
    if (this.result.skipped.length < MAX_SKIPS) this.result.skipped.push({ path: row.path, jobId: row.jobId, reason });
    this.ctx.log.debug(`dedup skipped ${row.path}: ${reason}`);
  }

  look(row: ContentRow): Seen | string {
    let st: fs.BigIntStats | undefined;
    try {
      st = fs.lstatSync(this.ctx.blobs.abs(row.path), { bigint: true, throwIfNoEntry: false });
    } catch (err) {
      return `cannot look at it: ${(err as Error).message}`;
    }
    if (!st) return 'missing on disk';
    if (!st.isFile()) return 'not a regular file';
    if (Number(st.size) !== row.size) return `size on disk ${st.size} differs from the catalog's ${row.size}`;
    return { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, nlink: st.nlink };
  }

  async run(g: ContentGroup): Promise<Pick<DedupGroupReport, 'keep' | 'outcome' | 'linked'>> {
    const members = await this.ic.groupMembers(g);
    // The copies on disk, by identity; a member that is not what the catalog says is left alone.
    const copies = new Map<string, Copy>();
    let skipped = 0;
    const skip = (row: ContentRow, reason: string) => {
      skipped++;
      this.skip(row, reason);
    };
    for (const row of members) {
      const seen = this.look(row);
      if (typeof seen === 'string') {
        skip(row, seen);
        continue;
      }
      const key = `${seen.dev}:${seen.ino}`;
      const c = copies.get(key);
      if (c) c.rows.push(row);
      else copies.set(key, { key, seen, rows: [row] });
    }
    // Read back one name of each copy: size and SHA-256 must be the catalog's.
    const list = [...copies.values()];
    const hashed = list.length > 1 ? await this.pool.hash(list.map((c) => c.rows[0]!.path)) : [];
    const good: Copy[] = [];
    list.forEach((c, i) => {
      if (list.length > 1) {
        const got = hashed[i]!;
        const bad = !got.ok ? got.reason : got.size !== g.size ? `reads back ${got.size} bytes, the catalog says ${g.size}` : got.sha256 !== g.sha256 ? `reads back SHA-256 ${got.sha256.slice(0, 12)}..., the catalog says ${g.sha256.slice(0, 12)}... (run storectl verify)` : undefined;
        if (bad) {
          for (const row of c.rows) skip(row, bad);
          return;
        }
      }
      good.push(c);
    });
    if (!good.length) return { outcome: 'skipped', linked: 0 };
    // The keeper: the copy most names share already (fewest links to make), then the oldest row.
    good.sort((a, b) => b.rows.length - a.rows.length || a.rows[0]!.id - b.rows[0]!.id);
    const keeper = good[0]!;
    const keep = keeper.rows[0]!;
    // Names on the keeper's copy the catalog does not record as sharing it yet (a run killed after linking).
    const shared = keeper.rows.slice(1).filter((r) => keep.contentGroup === null || r.contentGroup !== keep.contentGroup);
    const linkedIds: number[] = shared.map((r) => r.id);
    this.result.alreadyShared += shared.length;
    const events: EventRecord[] = [];
    let linked = 0;
    for (const c of good.slice(1)) {
      let all = true;
      for (const row of c.rows) {
        // Re-check just before acting: the keeper and this name are still the files read back.
        const k = this.look(keep);
        if (typeof k === 'string' || !sameFile(k, keeper.seen)) {
          for (const rest of c.rows.slice(c.rows.indexOf(row))) skip(rest, `the kept copy ${keep.path} changed since it was read back`);
          all = false;
          break;
        }
        const now = this.look(row);
        if (typeof now === 'string' || !sameFile(now, c.seen)) {
          skip(row, typeof now === 'string' ? `${now} (changed since it was read back)` : 'changed since it was read back (dev, inode, size or mtime)');
          all = false;
          continue;
        }
        try {
          if (this.mode === 'hardlink') this.ctx.blobs.linkFrom(row.path, keep.path, this.staging);
          else this.ctx.blobs.reflinkFrom(row.path, keep.path, this.staging);
        } catch (err) {
          skip(row, `cannot link: ${(err as Error).message}`);
          all = false;
          continue;
        }
        linked++;
        linkedIds.push(row.id);
        events.push({ runId: this.ctx.runId, at: this.ctx.clock(), action: 'dedup-link', path: row.path, jobId: row.jobId, bytes: row.size, reason: `shares the content of ${keep.path} (${this.mode})` });
        await pausePoint('dedup.linking');
      }
      // The copy is freed when every name of it was relinked and nothing outside the group refers to it.
      if (all && c.seen.nlink === BigInt(c.rows.length)) this.result.bytesFreed += g.size;
    }
    if (linkedIds.length) await this.ic.recordLinked(keep.id, linkedIds, events);
    this.result.filesLinked += linked;
    if (linked) this.result.groupsLinked++;
    const outcome = linked === 0 ? (good.length === 1 && skipped === 0 ? 'already' : 'skipped') : skipped > 0 ? 'partial' : 'linked';
    return { keep: keep.path, outcome, linked };
  }
}

/**
 * After a restore: the archive holds each name's content in full, so the restored names are
 * separate copies; the catalog still records which of them share content. Each such name is
 * linked to the first of its group again (the same atomic link-and-rename as dedup), where both
 * are regular files with the catalog's size and SHA-256 (restore verified every file against
 * the archive's manifest). Local stores only; returns the names linked.
 */
export async function relinkRecorded(ctx: Context): Promise<number> {
  if (ctx.store.capabilities.kind !== 'local') return 0;
  const ic = integrityCatalog(ctx.catalog);
  const staging = ctx.blobs.stagingDir('relink');
  let linked = 0;
  try {
    let after: { group: number; id: number } | null = null;
    let keeper: ContentRow | null = null;
    let keeperId: string | null = null;
    for (;;) {
      const page = await ic.sharedPage(after, 2000);
      for (const row of page) {
        if (!keeper || keeper.contentGroup !== row.contentGroup) {
          keeper = row;
          keeperId = ctx.blobs.contentId(row.path);
          continue;
        }
        if (!keeperId || row.sha256 !== keeper.sha256 || row.size !== keeper.size) continue;
        const id = ctx.blobs.contentId(row.path);
        if (!id || id === keeperId || ctx.blobs.stat(row.path)?.size !== row.size) continue;
        ctx.blobs.linkFrom(row.path, keeper.path, staging);
        linked++;
      }
      if (page.length < 2000) break;
      const last = page[page.length - 1]!;
      after = { group: last.contentGroup!, id: last.id };
    }
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  return linked;
}
