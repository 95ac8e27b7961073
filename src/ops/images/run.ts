// migrate-images-to-db: pages through what each source still has to migrate, compresses
// images with a bounded number of sharp pipelines in flight, commits in batches, and only
// then (verified) deletes originals. The pipelines run in an encoder process (encoder.ts) within
// a memory budget; this process holds at most `workers` originals plus one batch of results.
import fs from 'node:fs';
import os from 'node:os';
import type { Context } from '../../context.ts';
import { noProgress } from '../../progress.ts';
import type { NewImage } from '../../db/types.ts';
import { DEFAULT_COMPRESS, ImageRejected, type CompressOptions } from './compress.ts';
import { EncoderBroken, openedFileLink, processEncoder, readFailure, ReadFailed, readOpened, type Encoded as EncodedImage, type EncoderInput, type ImageEncoder } from './encoder.ts';
import type { EncodedUnit, ImageSource, Unit } from './sources.ts';

export interface MigrateImagesOptions {
  dryRun: boolean;
  /** Stop after this many units (rows or files) were attempted, over all sources. */
  limit?: number;
  deleteOriginals: boolean;
  /** Images compressed at once (sharp pipelines in flight, within the encoder's memory budget). */
  workers: number;
  /** Units committed per transaction. */
  batchSize: number;
  /** Largest original file read, in bytes. */
  maxFileBytes: number;
  compress: CompressOptions;
  /** Where images are compressed (default: an encoder process of `workers` pipelines). */
  encoder?: ImageEncoder;
}

export const DEFAULTS = {
  // One pipeline more than cores: it fills the gaps while a pipeline reads, parses a header or
  // waits for the main thread (bench/images.ts: 3 pipelines beat 2 on 2 cores in every run).
  workers: os.availableParallelism() + 1,
  batchSize: 32,
  maxFileBytes: 256 * 1024 * 1024,
};

export interface Failure {
  source: string;
  key: string;
  path: string | null;
  reason: string;
}

export interface FormatStats {
  format: string;
  images: number;
  bytesBefore: number;
  bytesAfter: number;
}

export interface SourceReport {
  source: string;
  /** Rows or files seen with something to migrate, when the source can count them. */
  total: number | null;
  migratedUnits: number;
  migratedImages: number;
  skipped: number;
  failed: number;
  bytesBefore: number;
  bytesAfter: number;
}

export interface MigrateImagesReport {
  dryRun: boolean;
  sources: SourceReport[];
  migrated: number;
  migratedRows: number;
  skipped: number;
  failed: number;
  bytesBefore: number;
  bytesAfter: number;
  /** bytesAfter / bytesBefore (0 when nothing was migrated). */
  ratio: number;
  savedBytes: number;
  byFormat: FormatStats[];
  /** Images that went below the longest-side limit to fit the size cap. */
  downscaled: { source: string; key: string; path: string; width: number; height: number; bytes: number }[];
  deletedOriginals: number;
  deletedBytes: number;
  /** Originals not deleted because rows not migrated yet still name them. */
  keptShared: number;
  failures: Failure[];
  /** More failures happened than are listed. */
  failuresTruncated: boolean;
  limitReached: boolean;
  elapsedMs: number;
  imagesPerSecond: number;
}

const MAX_LISTED = 1000;

interface ImageNote {
  format: string;
  downscaled: boolean;
}
type Encoded = { encoded: EncodedUnit; notes: ImageNote[] };
type Outcome = ({ ok: true } & Encoded) | { ok: false; failures: Failure[] };

/** Reads and compresses every image of one unit; any failure fails the unit (nothing of it is written). */
async function encodeUnit(src: ImageSource, unit: Unit, opts: MigrateImagesOptions, encoder: ImageEncoder, now: Date): Promise<Outcome> {
  const key = String(unit.key);
  if (unit.problem) return { ok: false, failures: [{ source: src.name, key, path: null, reason: unit.problem }] };
  const images: NewImage[] = [];
  const notes: ImageNote[] = [];
  const failures: Failure[] = [];
  for (const [i, f] of unit.files.entries()) {
    const fail = (reason: string) => failures.push({ source: src.name, key, path: f.original, reason });
    if (!f.abs) {
      fail(f.problem ?? 'unusable path');
      continue;
    }
    // The encoder reads local originals itself: a plain path, or (store mode) the file opened
    // here through its directory held open, by its /proc/PID/fd link; the bytes never pass
    // through this process. Remote objects (and, off Linux, opened files) are read here and
    // handed over.
    let input: EncoderInput = { file: f.abs, maxBytes: opts.maxFileBytes };
    let opened: fs.promises.FileHandle | undefined;
    let c: EncodedImage;
    try {
      try {
        if (f.readAll) input = await f.readAll(opts.maxFileBytes);
        else if (f.open) {
          opened = await f.open();
          const link = openedFileLink(opened.fd);
          input = link ? { file: link, maxBytes: opts.maxFileBytes, opened: true } : await readOpened(opened, opts.maxFileBytes);
        }
      } catch (err) {
        fail(readFailure(err));
        continue;
      }
      try {
        c = await encoder.compress(input, opts.compress);
      } catch (err) {
        if (err instanceof EncoderBroken) throw err;
        fail(err instanceof ReadFailed ? readFailure(err) : err instanceof ImageRejected ? err.message : `cannot compress: ${(err as Error).message}`);
        continue;
      }
    } finally {
      await opened?.close();
    }
    notes.push({ format: c.sourceFormat, downscaled: c.downscaled });
    images.push({
      source: src.name,
      sourceKey: key,
      sourceIndex: i,
      owner: unit.owner,
      originalPath: f.original,
      originalBytes: c.inputBytes,
      originalFormat: c.sourceFormat,
      format: 'webp',
      width: c.width,
      height: c.height,
      bytes: c.data.length,
      quality: c.quality,
      sha256: c.sha256,
      data: c.data,
      createdAt: now,
    });
  }
  if (failures.length) return { ok: false, failures };
  return { ok: true, encoded: { unit, images }, notes };
}

/** Runs the migration over the sources in order and returns the report (never throws for one bad image). */
export async function migrateImages(ctx: Context, sources: ImageSource[], opts: MigrateImagesOptions): Promise<MigrateImagesReport> {
  const encoder = opts.encoder ?? processEncoder(opts.workers);
  try {
    return await migrateWith(ctx, sources, opts, encoder);
  } finally {
    if (!opts.encoder) await encoder.close();
  }
}

async function migrateWith(ctx: Context, sources: ImageSource[], opts: MigrateImagesOptions, encoder: ImageEncoder): Promise<MigrateImagesReport> {
  const started = Date.now();
  const report: MigrateImagesReport = {
    dryRun: opts.dryRun,
    sources: [],
    migrated: 0,
    migratedRows: 0,
    skipped: 0,
    failed: 0,
    bytesBefore: 0,
    bytesAfter: 0,
    ratio: 0,
    savedBytes: 0,
    byFormat: [],
    downscaled: [],
    deletedOriginals: 0,
    deletedBytes: 0,
    keptShared: 0,
    failures: [],
    failuresTruncated: false,
    limitReached: false,
    elapsedMs: 0,
    imagesPerSecond: 0,
  };
  const formats = new Map<string, FormatStats>();
  let attempted = 0;
  /** Counts one failed unit (row or file) and lists each of its failures. */
  const addFailure = (sr: SourceReport, ...list: Failure[]) => {
    sr.failed++;
    report.failed++;
    for (const f of list) {
      if (report.failures.length < MAX_LISTED) report.failures.push(f);
      else report.failuresTruncated = true;
    }
  };

  for (const src of sources) {
    const counted = await src.count();
    const sr: SourceReport = {
      source: src.name,
      total: counted?.total ?? null,
      migratedUnits: 0,
      migratedImages: 0,
      skipped: counted ? counted.total - counted.pending : 0,
      failed: 0,
      bytesBefore: 0,
      bytesAfter: 0,
    };
    report.sources.push(sr);
    if (opts.deleteOriginals && !opts.dryRun && src.recover) {
      const d = await src.recover();
      report.deletedOriginals += d.deleted;
      report.deletedBytes += d.bytes;
      for (const f of d.failed) addFailure(sr, { source: src.name, key: '', path: f.path, reason: f.reason });
    }
    // A total for the bar (and its ETA): the source's count, else a listing pass (store and
    // directory: catalog rows or directory entries, no file read; bench/results/images-rss.md),
    // only when a bar shows.
    const pending = counted ? counted.pending : ctx.progress !== noProgress ? await src.pendingCount?.() : undefined;
    const progress = ctx.progress(`${opts.dryRun ? 'encoding (dry run)' : 'migrating'} ${src.name}`, pending === undefined ? undefined : Math.min(pending, (opts.limit ?? Infinity) - attempted));
    let pendingCommit: Encoded[] = [];

    const account = (done: Encoded[]) => {
      for (const { encoded, notes } of done) {
        sr.migratedUnits++;
        report.migratedRows++;
        encoded.images.forEach((img, i) => {
          sr.migratedImages++;
          report.migrated++;
          sr.bytesBefore += img.originalBytes;
          sr.bytesAfter += img.bytes;
          const format = notes[i]?.format ?? 'unknown';
          const f = formats.get(format) ?? { format, images: 0, bytesBefore: 0, bytesAfter: 0 };
          f.images++;
          f.bytesBefore += img.originalBytes;
          f.bytesAfter += img.bytes;
          formats.set(format, f);
          if (notes[i]?.downscaled && report.downscaled.length < MAX_LISTED) {
            report.downscaled.push({ source: src.name, key: img.sourceKey, path: img.originalPath, width: img.width, height: img.height, bytes: img.bytes });
          }
        });
      }
    };

    const flush = async () => {
      if (!pendingCommit.length) return;
      const batch = pendingCommit;
      pendingCommit = [];
      try {
        if (opts.dryRun) {
          account(batch);
          return;
        }
        const written = await src.write(batch.map((b) => b.encoded));
        const mine = batch.filter((b) => written.has(String(b.encoded.unit.key)));
        sr.skipped += batch.length - mine.length;
        account(mine);
        if (opts.deleteOriginals && mine.length) await deleteVerified(src, mine.map((b) => b.encoded), sr);
      } finally {
        // What the units held open (store mode: their directories) is released once they are done.
        for (const b of batch) b.encoded.unit.release?.();
      }
    };

    const deleteVerified = async (s: ImageSource, units: EncodedUnit[], r: SourceReport) => {
      // Read the stored bytes back and compare digests: only a unit whose every image is in
      // the database, byte for byte, loses its original files.
      const stored = new Map((await s.digests(units.map((u) => u.unit.key))).map((d) => [`${d.sourceKey}\u0000${d.sourceIndex}`, d.sha256]));
      const verified: Unit[] = [];
      for (const u of units) {
        const ok = u.images.every((img) => stored.get(`${img.sourceKey}\u0000${img.sourceIndex}`) === img.sha256);
        if (ok) verified.push(u.unit);
        else addFailure(r, { source: s.name, key: String(u.unit.key), path: null, reason: 'stored bytes do not match what was written; originals kept' });
      }
      if (!verified.length) return;
      const d = await s.deleteOriginals(verified, ctx.runId);
      report.deletedOriginals += d.deleted;
      report.deletedBytes += d.bytes;
      report.keptShared += d.kept;
      for (const f of d.failed) addFailure(r, { source: s.name, key: '', path: f.path, reason: f.reason });
    };

    const inFlight = new Set<Promise<void>>();
    const now = ctx.clock();
    outer: for await (const page of src.pages(Math.max(opts.batchSize, 64))) {
      sr.skipped += page.skipped;
      for (const unit of page.units) {
        if (opts.limit !== undefined && attempted >= opts.limit) {
          report.limitReached = true;
          break outer;
        }
        attempted++;
        const p = encodeUnit(src, unit, opts, encoder, now).then((o) => {
          if (o.ok) pendingCommit.push({ encoded: o.encoded, notes: o.notes });
          else {
            addFailure(sr, ...o.failures);
            unit.release?.();
          }
          progress.tick();
        });
        const tracked: Promise<void> = p.finally(() => inFlight.delete(tracked));
        // A unit that stops the run (EncoderBroken) is thrown by the race below; the others
        // in flight then end without anyone awaiting them.
        tracked.catch(() => {});
        inFlight.add(tracked);
        if (inFlight.size >= opts.workers) await Promise.race(inFlight);
        if (pendingCommit.length >= opts.batchSize) await flush();
      }
    }
    await Promise.all(inFlight);
    await flush();
    progress.done();
    report.bytesBefore += sr.bytesBefore;
    report.bytesAfter += sr.bytesAfter;
    if (report.limitReached) break;
  }
  report.skipped = report.sources.reduce((a, s) => a + s.skipped, 0);
  report.byFormat = [...formats.values()].sort((a, b) => b.images - a.images);
  report.ratio = report.bytesBefore ? Math.round((report.bytesAfter / report.bytesBefore) * 10000) / 10000 : 0;
  report.savedBytes = report.bytesBefore - report.bytesAfter;
  report.elapsedMs = Date.now() - started;
  report.imagesPerSecond = report.elapsedMs ? Math.round((report.migrated / (report.elapsedMs / 1000)) * 100) / 100 : 0;
  return report;
}
