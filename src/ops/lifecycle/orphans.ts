// cleanup-orphaned: files on disk without a catalog row, and present rows without their file.
// The sorted walk and the sorted catalog stream are merged (drift.ts); neither is held whole.
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from '../../context.ts';
import { IN_PROGRESS_STATUSES, type EventRecord, type FileRecord } from '../../db/types.ts';
import { sha256FileSync, sha256Stream } from '../../storage/hash.ts';
import { FailedError, UsageError, errorMessage } from '../../errors.ts';
import { isSafeRelPath } from '../../storage/paths.ts';
import { WalkError } from '../../storage/walk.ts';
import { compareTreeWithCatalog } from '../drift.ts';
import { mapPool } from '../pool.ts';
import { BATCH_FILES, SWAPPED_REASON, UNLINK_CONCURRENCY, stoppedMidRun } from './apply.ts';
import { Limiter } from '../pool.ts';
import { DeleteGate, GateBatch, QuarantineTarget, quarantineBytes, type DeletionTarget, type DiskState, type GateResult } from './gate.ts';
import { BlobNotFoundError } from '../../storage/blob.ts';
import { guardCap, guardEmptyCatalog, guardEmptyStore } from './guards.ts';
import { openDeletionTarget } from './target.ts';
import { withStoreLock } from '../store-lock.ts';
import { Spool } from './spool.ts';
import { pausePoint } from '../../test-hooks.ts';

export interface OrphanOptions {
  dryRun: boolean;
  minAgeMs: number;
  /** 'N' or 'N%' of the files walked. */
  maxDelete: string;
  /** Move orphans under this directory instead of deleting them. */
  quarantine?: string;
  waitMs: number;
  list: boolean;
  allowEmptyCatalog: boolean;
  allowEmptyRoot: boolean;
  confirm: (plan: { orphans: number; bytes: number; missing: number; orphanPaths: readonly string[]; missingPaths: readonly string[] }) => Promise<boolean>;
}

interface Orphan {
  path: string;
  size: number;
  mtimeMs: number;
  /** S3: the ETag seen while planning (the re-check refuses another). */
  identity?: string;
}
interface Missing {
  id: number;
  path: string;
  size: number;
  jobId: string | null;
}

export interface OrphanReport {
  dryRun: boolean;
  minAge: string;
  quarantine: string | null;
  walkedFiles: number;
  orphans: { files: number; bytes: number; paths: string[] };
  /** Orphans younger than --min-age: may be being written; left alone. */
  young: number;
  /** Unreferenced files inside the directory of a job still being produced: left alone. */
  inProgress: number;
  missing: { files: number; bytes: number; paths: string[] };
  /** Files that came back with their 'missing' row's size and SHA-256: the rows become 'present' again. */
  revived: { files: number; bytes: number; paths: string[] };
  /** Symlinks and other non-files in the tree: never followed, never deleted. */
  anomalies: string[];
  /** Lists are complete with --dry-run or --list, else the first few. */
  listsComplete: boolean;
  result?: { deleted: number; moved: number; bytes: number; markedMissing: number; revived: number; dirsRemoved: number };
  changed: { path: string; reason: string }[];
  failed: { path: string; reason: string }[];
}

const SAMPLE = 20;

export async function runCleanupOrphaned(ctx: Context, o: OrphanOptions): Promise<OrphanReport> {
  const root = ctx.config.root;
  const s3 = ctx.store.capabilities.kind !== 'local';
  if (o.quarantine && !s3) {
    const q = path.resolve(o.quarantine);
    // Compared with symlinks resolved: a quarantine that reaches into the data tree through a
    // symlinked directory (its own path or the root's) is inside it all the same.
    for (const [where, top] of [[q, root], [realPathOf(q), realPathOf(root)]] as const) {
      const rel = path.relative(top, where);
      if (!rel.startsWith('..') && !path.isAbsolute(rel) && !(rel === '.storectl' || rel.startsWith(`.storectl${path.sep}`))) {
        throw new UsageError(`--quarantine ${q} is inside the data tree${where === q ? '' : ` (it resolves to ${where} through a symlink)`}`, 'choose a directory outside the root (or under its .storectl/)');
      }
    }
  }
  const has = await ctx.catalog.hasFiles();
  if (s3) await guardEmptyCatalogS3(ctx, has.any, o.allowEmptyCatalog);
  else guardEmptyCatalog(root, has.any, o.allowEmptyCatalog);
  await guardEmptyStore(ctx.store, root, has.present, o.allowEmptyRoot, ctx.catalog);
  const run = async () => {
    const orphans = new Spool<Orphan>();
    const missing = new Spool<Missing>();
    try {
      return await planAndApply(ctx, o, orphans, missing);
    } finally {
      orphans.dispose();
      missing.dispose();
    }
  };
  return o.dryRun ? run() : withStoreLock(ctx, 'cleanup-orphaned', o.waitMs, run);
}

/** A catalog without any file row beside a bucket with objects under the prefix: a wrong database URL. */
async function guardEmptyCatalogS3(ctx: Context, hasRows: boolean, allow: boolean): Promise<void> {
  if (allow || hasRows) return;
  for await (const page of ctx.store.list({ pageSize: 1 })) {
    if (!page.length) continue;
    throw new UsageError(
      `refusing: the catalog has no file rows, but the bucket under ${ctx.store.url} has objects (a wrong --database?)`,
      'check --database / STORECTL_DATABASE_URL; pass --allow-empty-catalog if every object really is unreferenced',
      'guard_empty_catalog',
    );
  }
}

/** realpath of p, or of its deepest existing ancestor with the rest appended (p may not exist yet). */
function realPathOf(p: string): string {
  const rest: string[] = [];
  let cur = p;
  for (;;) {
    try {
      return path.join(fs.realpathSync(cur), ...rest.reverse());
    } catch {
      const up = path.dirname(cur);
      if (up === cur) return p;
      rest.push(path.basename(cur));
      cur = up;
    }
  }
}

/** Directory segments that may name a job (cards/Y/M/D/<job>/f, temp/<job>/f): all but category and file. */
function jobDirCandidates(rel: string): string[] {
  return rel.split('/').slice(1, -1);
}

/** The orphans among `list` inside the directory of a job still being produced. */
async function inProgressOrphans(ctx: Context, list: Orphan[]): Promise<Set<string>> {
  const ids = [...new Set(list.flatMap((x) => jobDirCandidates(x.path)))];
  if (!ids.length) return new Set();
  const live = new Set((await ctx.catalog.getJobs(ids)).filter((j) => IN_PROGRESS_STATUSES.includes(j.status)).map((j) => j.id));
  return new Set(list.filter((x) => jobDirCandidates(x.path).some((s) => live.has(s))).map((x) => x.path));
}

async function planAndApply(ctx: Context, o: OrphanOptions, orphans: Spool<Orphan>, missing: Spool<Missing>): Promise<OrphanReport> {
  const complete = o.dryRun || o.list;
  const report: OrphanReport = {
    dryRun: o.dryRun,
    minAge: `${Math.round(o.minAgeMs / 1000)}s`,
    quarantine: o.quarantine ? path.resolve(o.quarantine) : null,
    walkedFiles: 0,
    orphans: { files: 0, bytes: 0, paths: [] },
    young: 0,
    inProgress: 0,
    missing: { files: 0, bytes: 0, paths: [] },
    revived: { files: 0, bytes: 0, paths: [] },
    anomalies: [],
    listsComplete: complete,
    changed: [],
    failed: [],
  };
  const gate: DeletionTarget = openDeletionTarget(ctx, o.dryRun);
  const local = gate instanceof DeleteGate ? gate : null;
  /** lstat locally, HEAD on S3. */
  const look = async (p: string): Promise<DiskState> => (local ? local.inspect(p) : (await gate.look([p]))[0]!);
  const now = ctx.clock().getTime();
  let pending: Orphan[] = [];
  const revivals: Missing[] = [];
  const flush = async () => {
    const live = await inProgressOrphans(ctx, pending);
    for (const x of pending) {
      if (live.has(x.path)) {
        report.inProgress++;
        continue;
      }
      orphans.push(x);
      report.orphans.files++;
      report.orphans.bytes += x.size;
      if (complete || report.orphans.paths.length < SAMPLE) report.orphans.paths.push(x.path);
    }
    pending = [];
  };
  const progress = ctx.progress('walking');
  try {
    for await (const chunk of compareTreeWithCatalog(ctx)) {
      progress.tick(chunk.files + chunk.anomalies.length);
      report.walkedFiles += chunk.files;
      for (const a of chunk.anomalies) report.anomalies.push(`${a.path} (${a.kind})`);
      if (chunk.missing.length) {
        // The rows of the few paths missing from disk, as they are now.
        for (const row of await ctx.catalog.filesByPaths(chunk.missing)) {
          if (row.state !== 'present') continue; // 'deleting': cleanup-expired finishes it
          if (row.tier !== 'hot') continue; // its file lives on another tier, not in this tree
          if (!isSafeRelPath(row.path)) {
            report.anomalies.push(`${row.path} (catalog row with an unsafe path: left alone)`);
            continue;
          }
          missing.push({ id: row.id, path: row.path, size: row.size, jobId: row.jobId });
          report.missing.files++;
          report.missing.bytes += row.size;
          if (complete || report.missing.paths.length < SAMPLE) report.missing.paths.push(row.path);
        }
      }
      const back = chunk.orphans.length ? await cameBack(ctx, chunk.orphans) : new Map<string, FileRecord>();
      for (const [i, p] of chunk.orphans.entries()) {
        const row = back.get(p);
        if (row) {
          // A file whose row is 'missing' is not an orphan: it comes back if it is the row's file.
          const seen = await look(p);
          const same = seen.kind === 'file' && seen.size === row.size && (await hashOf(ctx, p)) === row.sha256;
          if (!same) {
            report.anomalies.push(`${p} (reappeared, but its size or SHA-256 differs from its 'missing' row: left alone)`);
            continue;
          }
          revivals.push({ id: row.id, path: row.path, size: row.size, jobId: row.jobId });
          report.revived.files++;
          report.revived.bytes += row.size;
          if (complete || report.revived.paths.length < SAMPLE) report.revived.paths.push(p);
          continue;
        }
        // What the listing said (S3: size, LastModified, ETag) plans it as a HEAD would; the
        // deletion gate re-checks each key before it goes, so a dry run and a real run agree.
        const listed = chunk.orphansListed?.[i];
        // A key the gate would refuse as unsafe is looked at by it, and reported so.
        const disk: DiskState = listed && isSafeRelPath(p) ? { kind: 'file', ...listed } : await look(p);
        if (disk.kind === 'error') throw new WalkError(p, new Error(disk.reason));
        if (disk.kind !== 'file') {
          report.anomalies.push(`${p} (${disk.kind === 'unsafe' ? disk.reason : disk.kind})`);
          continue;
        }
        if (now - disk.mtimeMs < o.minAgeMs) {
          report.young++;
          continue;
        }
        pending.push({ path: p, size: disk.size, mtimeMs: disk.mtimeMs, ...(disk.identity ? { identity: disk.identity } : {}) });
        if (pending.length >= 1000) await flush();
      }
    }
    await flush();
  } catch (err) {
    // Fail closed: a tree or catalog we could not read completely deletes nothing.
    if (err instanceof WalkError) throw new FailedError(`${err.message}: nothing was deleted`, 'fix the permission or I/O problem and run again', 'walk_failed');
    throw new FailedError(`cannot compare the tree with the catalog: ${errorMessage(err)}: nothing was deleted`, undefined, 'plan_failed');
  }
  progress.done();
  guardCap('orphan files', report.orphans.files, o.maxDelete, report.walkedFiles, 'files walked');
  if (o.dryRun) return report;
  const revived = async () => {
    const at = ctx.clock();
    return revivals.length
      ? ctx.catalog.reviveMissing(
          revivals.map((m) => m.id),
          revivals.map((m) => ({ runId: ctx.runId, at, action: 'revive_missing', path: m.path, jobId: m.jobId, bytes: m.size, reason: "file back with its row's size and SHA-256" })),
        )
      : 0;
  };
  if (report.orphans.files + report.missing.files === 0) {
    report.result = { deleted: 0, moved: 0, bytes: 0, markedMissing: 0, revived: await revived(), dirsRemoved: 0 };
    return report;
  }
  if (!(await o.confirm({ orphans: report.orphans.files, bytes: report.orphans.bytes, missing: report.missing.files, orphanPaths: report.orphans.paths, missingPaths: report.missing.paths }))) {
    throw new FailedError('cancelled: nothing was changed', undefined, 'cancelled');
  }
  const result = { deleted: 0, moved: 0, bytes: 0, markedMissing: 0, revived: await revived(), dirsRemoved: 0 };
  const applied = ctx.progress(o.quarantine ? 'moving' : 'deleting', report.orphans.files);
  const quarantine = o.quarantine ? new QuarantineTarget(path.resolve(o.quarantine)) : null;
  let batches = 0;
  // A test changes an orphan here, between what the plan saw and the re-check before it goes.
  await pausePoint('orphans.planned');
  try {
    for await (const batch of chunks(orphans.read(), BATCH_FILES)) {
      const held = gate.batch();
      try {
        // Re-check: still without a row, still not inside a live job's directory, unchanged on disk.
        const rows = new Set((await ctx.catalog.filesByPaths(batch.map((x) => x.path))).map((r) => r.path));
        const live = await inProgressOrphans(ctx, batch);
        // Recorded before they happen: a run killed (or cut off from the catalog) during the
        // unlinks leaves an intent event for every orphan it may have removed.
        const intentAt = ctx.clock();
        await ctx.catalog.addEvents(
          batch
            .filter((x) => !rows.has(x.path) && !live.has(x.path))
            .map((x) => ({ runId: ctx.runId, at: intentAt, action: quarantine ? 'quarantine_orphan_intent' : 'delete_orphan_intent', path: x.path, jobId: null, bytes: x.size, reason: quarantine ? `orphan: to be moved to ${quarantine.dir}` : 'orphan: no catalog row' })),
        );
        const keptWhy = (x: Orphan): GateResult | null =>
          rows.has(x.path) ? { outcome: 'changed', reason: 'now has a catalog row' } : live.has(x.path) ? { outcome: 'changed', reason: 'its job is being produced now' } : null;
        const expectOf = (x: Orphan) => ({ size: x.size, mtimeMs: x.mtimeMs, ...(x.identity ? { identity: x.identity } : {}) });
        let results: (GateResult & { to?: string })[];
        if (held instanceof GateBatch) {
          const batchHeld = held;
          results = await mapPool(batch, UNLINK_CONCURRENCY, async (x): Promise<GateResult & { to?: string }> => {
            const kept = keptWhy(x);
            if (kept) return kept;
            return quarantine ? batchHeld.moveAside(x.path, expectOf(x), quarantine) : batchHeld.remove(x.path, expectOf(x));
          });
        } else {
          // S3: re-checked by HEAD (size, ETag) and removed with DeleteObjects, per-key results.
          results = new Array(batch.length);
          const go = batch.map((x, i) => ({ x, i })).filter(({ x, i }) => {
            const kept = keptWhy(x);
            if (kept) results[i] = kept;
            return !kept;
          });
          // --quarantine: each object is first written into the quarantine directory (fsynced),
          // then removed with the same re-check; one that changed meanwhile stays in the bucket,
          // and its copy goes again.
          const copies = new Map<number, string>();
          if (quarantine) {
            await mapPool(go, UNLINK_CONCURRENCY, async ({ x, i }) => {
              try {
                copies.set(i, await quarantineBytes(quarantine, x.path, async () => (await ctx.store.get(x.path)) as AsyncIterable<Uint8Array>));
              } catch (err) {
                results[i] = err instanceof BlobNotFoundError ? { outcome: 'gone' } : { outcome: 'failed', reason: `quarantine: ${errorMessage(err)}` };
              }
            });
          }
          const send = go.filter(({ i }) => !results[i]);
          const removed = await held.removePlanned(send.map(({ x }) => ({ path: x.path, expect: expectOf(x) })), new Limiter(UNLINK_CONCURRENCY));
          send.forEach(({ i }, j) => {
            const r = removed.results[j]!;
            const copy = copies.get(i);
            if (copy !== undefined && r.outcome === 'deleted') results[i] = { outcome: 'moved', to: copy };
            else {
              if (copy !== undefined) fs.rmSync(path.join(quarantine!.dir, ...copy.split('/')), { force: true });
              results[i] = r;
            }
          });
        }
        const at = ctx.clock();
        const events: EventRecord[] = [];
        const removed: string[] = [];
        batch.forEach((x, i) => {
          const r = results[i]!;
          if (r.outcome === 'deleted' || r.outcome === 'moved') {
            if (r.outcome === 'deleted') result.deleted++;
            else result.moved++;
            result.bytes += x.size;
            removed.push(x.path);
            events.push({ runId: ctx.runId, at, action: r.outcome === 'deleted' ? 'delete_orphan' : 'quarantine_orphan', path: x.path, jobId: null, bytes: x.size, reason: quarantine ? `orphan: moved to ${path.join(quarantine.dir, ...(('to' in r && r.to) || x.path).split('/'))}` : 'orphan: no catalog row' });
          } else if (r.outcome === 'failed') report.failed.push({ path: x.path, reason: r.reason });
          else if (r.outcome === 'changed') report.changed.push({ path: x.path, reason: r.reason });
          else report.changed.push({ path: x.path, reason: 'gone before it was deleted' });
        });
        await ctx.catalog.addEvents(events);
        result.dirsRemoved += await held.pruneEmptied(removed, UNLINK_CONCURRENCY);
        for (const dir of held.swapped()) report.failed.push({ path: dir, reason: SWAPPED_REASON });
      } finally {
        held.close();
        quarantine?.renew();
      }
      applied.tick(batch.length);
      // A test stops here after the first batch, to cut the catalog off before the next.
      if (++batches === 1) await pausePoint('orphans-batch');
    }
  } catch (err) {
    throw stoppedMidRun('cleanup-orphaned', err, { files: result.deleted + result.moved, bytes: result.bytes }, {
      what: 'orphans',
      hint: 'each orphan it may have removed then has an intent event in the catalog: run cleanup-orphaned again once the catalog is back, it finds the rest',
    });
  } finally {
    quarantine?.close();
    gate.close();
  }
  applied.done();
  for await (const batch of chunks(missing.read(), BATCH_FILES)) {
    const at = ctx.clock();
    const seen = local ? batch.map((m) => local.inspect(m.path)) : await gate.look(batch.map((m) => m.path));
    const still = batch.filter((m, i) => {
      const d = seen[i]!;
      if (d.kind !== 'gone') report.changed.push({ path: m.path, reason: 'the file is back: not marked missing' });
      return d.kind === 'gone';
    });
    result.markedMissing += await ctx.catalog.markMissing(
      still.map((m) => m.id),
      still.map((m) => ({ runId: ctx.runId, at, action: 'mark_missing', path: m.path, jobId: m.jobId, bytes: m.size, reason: 'file not on disk' })),
    );
  }
  report.result = result;
  return report;
}

/** The 'missing' rows of these unreferenced paths: files that may have come back. */
async function cameBack(ctx: Context, paths: string[]): Promise<Map<string, FileRecord>> {
  const rows = await ctx.catalog.filesByPaths(paths);
  return new Map(rows.filter((r) => r.state === 'missing').map((r) => [r.path, r]));
}

async function hashOf(ctx: Context, rel: string): Promise<string | undefined> {
  try {
    if (ctx.store.capabilities.kind === 'local') return sha256FileSync(ctx.blobs.abs(rel)).sha256;
    return (await sha256Stream((await ctx.store.get(rel)) as AsyncIterable<Buffer>)).sha256;
  } catch {
    return undefined;
  }
}

async function* chunks<T>(items: Iterable<T> | AsyncIterable<T>, size: number): AsyncGenerator<T[]> {
  let batch: T[] = [];
  for await (const x of items) {
    batch.push(x);
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length) yield batch;
}
