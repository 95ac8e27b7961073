// Where images to migrate come from, and where their bytes go: the store's own files, a
// directory, or the rows of a user table. Each source pages through what is still to do
// (so a rerun picks up exactly what a killed run left), writes a batch in one transaction,
// and reads back digests so originals are deleted only after the bytes are verified.
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from '../../context.ts';
import { iterateFiles } from '../../db/catalog.ts';
import type { FileRecord, NewImage, StoredDigest, UserTableShape, UserTableTarget } from '../../db/types.ts';
import { ConfinementError } from '../../storage/confined.ts';
import { checkRelPath } from '../../storage/paths.ts';
import { walkTree } from '../../storage/walk.ts';
import { applyDeletion, finishInterrupted, planDeletion, type FileToDelete } from '../lifecycle/engine.ts';
import { DeleteGate } from '../lifecycle/gate.ts';
import { openDeletionTarget } from '../lifecycle/target.ts';
import { planDeletionOn } from '../lifecycle/engine.ts';

/** File extensions treated as images in store and directory mode. */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp', '.gif', '.tif', '.tiff', '.avif', '.heic', '.heif'];

export function isImagePath(p: string): boolean {
  return IMAGE_EXTENSIONS.includes(path.extname(p).toLowerCase());
}

/** One image file of a unit: where to read it, and how to name it in reports and rows. */
export interface UnitFile {
  /** Absolute path to read; null when the path is unusable (reason in `problem`). */
  abs: string | null;
  /** The path as the source names it (store path, row value). */
  original: string;
  problem?: string;
  /**
   * Opens the file for reading through its directory held open (store mode): set, it is used
   * instead of `abs`, and the unit's `release` must be called once the unit is done.
   */
  open?: () => Promise<fs.promises.FileHandle>;
  /** Reads the whole file from a store without descriptors (an S3 object), at most `max` bytes: set, it is used instead of `abs`. */
  readAll?: (max: number) => Promise<Buffer>;
}

/** What is migrated and committed together: one store file, or one row with its paths. */
export interface Unit {
  key: string | number;
  owner: string;
  files: UnitFile[];
  /** Set when the row itself cannot be migrated (e.g. its path value cannot be parsed). */
  problem?: string;
  /** What was read of each file (fstat of the descriptor read), for the delete's re-check. */
  read?: { size: number; mtimeMs: number; identity?: string }[];
  /** Releases what the unit holds open (directories); called once it is done with. */
  release?: () => void;
}

export interface EncodedUnit {
  unit: Unit;
  images: NewImage[];
}

export interface ImageSource {
  /** How reports name it: 'store', 'dir:/abs', 'users.profile_photo_path'. */
  readonly name: string;
  /** What is there and how much is still to do, when it can be counted cheaply. */
  count(): Promise<{ total: number; pending: number } | null>;
  /**
   * How many units pages() will yield, by a listing pass (the catalog or the directory, no file
   * read), for a source count() cannot answer: the progress bar's total.
   */
  pendingCount?(): Promise<number>;
  /** Pages of units still to migrate; `skipped` counts units found already migrated. */
  pages(pageSize: number): AsyncGenerator<{ units: Unit[]; skipped: number }>;
  /** Writes units in one transaction; returns the keys actually written (the rest were there already). */
  write(units: readonly EncodedUnit[]): Promise<Set<string>>;
  digests(keys: readonly (string | number)[]): Promise<StoredDigest[]>;
  /**
   * Finishes the original deletions a killed run of this kind left 'deleting' (store mode:
   * their images were verified before the intent). Called first when deleting originals.
   */
  recover?(): Promise<{ deleted: number; bytes: number; failed: { path: string; reason: string }[] }>;
  /** Deletes the originals of verified units; store files go through the delete protocol. */
  deleteOriginals(units: readonly Unit[], runId: string): Promise<{ deleted: number; bytes: number; kept: number; failed: { path: string; reason: string }[] }>;
}

async function unlinkFiles(files: string[]): Promise<{ deleted: string[]; bytes: number; failed: { path: string; reason: string }[] }> {
  const deleted: string[] = [];
  const failed: { path: string; reason: string }[] = [];
  let bytes = 0;
  for (const f of new Set(files)) {
    try {
      const st = fs.lstatSync(f, { throwIfNoEntry: false });
      if (!st) continue; // already gone (two rows named the same file)
      if (!st.isFile()) throw new Error('not a regular file');
      fs.unlinkSync(f);
      deleted.push(f);
      bytes += st.size;
    } catch (err) {
      failed.push({ path: f, reason: `original not deleted: ${(err as Error).message}` });
    }
  }
  return { deleted, bytes, failed };
}

/** How many of the keys are not stored under `name` yet (what unstoredPages will yield). */
async function countUnstored(ctx: Context, name: string, keys: AsyncIterable<string> | Iterable<string>): Promise<number> {
  let pending = 0;
  let page: string[] = [];
  const flush = async () => {
    const done = new Set(await ctx.catalog.storedImageKeys(name, page));
    for (const k of page) if (!done.has(k)) pending++;
    page = [];
  };
  for await (const k of keys) {
    page.push(k);
    if (page.length >= 1000) await flush();
  }
  if (page.length) await flush();
  return pending;
}

/** Pages of units, leaving out those already stored under `name` (a rerun skips them). */
async function* unstoredPages(ctx: Context, name: string, units: AsyncIterable<Unit> | Iterable<Unit>, pageSize: number) {
  let page: Unit[] = [];
  const flush = async () => {
    const done = new Set(await ctx.catalog.storedImageKeys(name, page.map((u) => String(u.key))));
    const kept = page.filter((u) => !done.has(String(u.key)));
    const out = { units: kept, skipped: page.length - kept.length };
    page = [];
    return out;
  };
  for await (const u of units) {
    page.push(u);
    if (page.length >= pageSize) yield await flush();
  }
  if (page.length) yield await flush();
}

/**
 * The store's image files. Each unit holds its file's directories open (a gate batch of its
 * own): the file is read and, once migrated, re-checked and unlinked through the same
 * descriptors, so a directory swapped for a symlink meanwhile is never read nor deleted from.
 */
interface StoreRow {
  id: number;
  size: number;
  jobId: string | null;
}

/** The catalog's present image files; one whose path is unsafe comes as a unit reporting it. */
async function* presentImages(ctx: Context): AsyncGenerator<FileRecord | { problem: Unit }> {
  for await (const f of iterateFiles(ctx.catalog, ['present'])) {
    if (!isImagePath(f.path)) continue;
    try {
      checkRelPath(f.path);
    } catch (err) {
      yield { problem: { key: f.path, owner: f.owner, files: [{ abs: null, original: f.path, problem: (err as Error).message }] } };
      continue;
    }
    yield f;
  }
}

async function* storeUnits(ctx: Context, gate: DeleteGate, rows: Map<string, StoreRow>): AsyncGenerator<Unit> {
  for await (const f of presentImages(ctx)) {
    if ('problem' in f) {
      yield f.problem;
      continue;
    }
    const held = gate.batch();
    const unit: Unit = {
      key: f.path,
      owner: f.owner,
      files: [],
      release: () => {
        held.close();
        rows.delete(f.path);
      },
    };
    rows.set(f.path, { id: f.id, size: f.size, jobId: f.jobId });
    unit.files.push({
      abs: f.path,
      original: f.path,
      open: async () => {
        let fh: fs.promises.FileHandle;
        try {
          fh = await held.scope.openRead(f.path);
        } catch (err) {
          if (err instanceof ConfinementError) throw new Error(`unsafe path: ${err.message} (not followed)`);
          throw err;
        }
        const st = await fh.stat();
        (unit.read ??= [])[0] = { size: st.size, mtimeMs: st.mtimeMs };
        return fh;
      },
    });
    yield unit;
  }
}

/**
 * An S3 store's image objects: each read whole with one GET after a HEAD, whose size, ETag and
 * LastModified are what the delete's re-check (--delete-originals) compares with: an object
 * replaced since it was read is kept.
 */
async function* s3StoreUnits(ctx: Context, rows: Map<string, StoreRow>): AsyncGenerator<Unit> {
  for await (const f of presentImages(ctx)) {
    if ('problem' in f) {
      yield f.problem;
      continue;
    }
    const unit: Unit = { key: f.path, owner: f.owner, files: [], release: () => rows.delete(f.path) };
    rows.set(f.path, { id: f.id, size: f.size, jobId: f.jobId });
    unit.files.push({
      abs: f.path,
      original: f.path,
      readAll: async (max) => {
        const head = await ctx.store.stat(f.path);
        if (!head) throw Object.assign(new Error('missing file'), { code: 'ENOENT' });
        if (head.size > max) throw new Error(`file is larger than ${max} bytes`);
        const chunks: Buffer[] = [];
        let n = 0;
        for await (const c of await ctx.store.get(f.path)) {
          n += (c as Buffer).length;
          if (n > max) throw new Error(`file is larger than ${max} bytes`);
          chunks.push(c as Buffer);
        }
        if (n !== head.size) throw new Error(`the object changed while read (${n} bytes, HEAD said ${head.size})`);
        (unit.read ??= [])[0] = { size: head.size, mtimeMs: head.mtime.getTime(), identity: head.identity };
        return Buffer.concat(chunks, n);
      },
    });
    yield unit;
  }
}

function* dirUnits(root: string): Generator<Unit> {
  for (const e of walkTree(root, { sorted: true })) {
    if (!isImagePath(e.path)) continue;
    const abs = path.join(root, ...e.path.split('/'));
    // A symlink named like an image is never followed: listed as a failure, not passed over in silence.
    if (e.kind === 'symlink') yield { key: e.path, owner: '', files: [{ abs: null, original: abs, problem: 'a symlink: never followed' }] };
    if (e.kind !== 'file') continue;
    yield { key: e.path, owner: '', files: [{ abs, original: abs }] };
  }
}

/** The image files the catalog lists as present in the store, keyed by store path. */
export function storeSource(ctx: Context): ImageSource {
  const name = 'store';
  const s3 = ctx.store.capabilities.kind !== 'local';
  const gate = s3 ? undefined : new DeleteGate(ctx.config.root, false);
  /** The catalog rows of the units in hand, by path. */
  const rows = new Map<string, StoreRow>();
  return {
    name,
    async count() {
      return null;
    },
    async pendingCount() {
      return countUnstored(ctx, name, (async function* () {
        for await (const f of presentImages(ctx)) yield 'problem' in f ? String(f.problem.key) : f.path;
      })());
    },
    async *pages(pageSize) {
      yield* unstoredPages(ctx, name, gate ? storeUnits(ctx, gate, rows) : s3StoreUnits(ctx, rows), pageSize);
    },
    async write(units) {
      const images = units.flatMap((u) => u.images);
      await ctx.catalog.insertImages(images);
      // A unit whose row was there already (a concurrent run) is indistinguishable here; digests decide.
      return new Set(units.map((u) => String(u.unit.key)));
    },
    digests: (keys) => ctx.catalog.storedImageDigests(name, keys.map(String)),
    async recover() {
      const r = await finishInterrupted(ctx, 'migrated-to-db');
      return { deleted: r.files, bytes: r.bytes, failed: [...r.failed, ...r.changed].map((f) => ({ path: f.path, reason: `original not deleted: ${f.reason}` })) };
    },
    async deleteOriginals(units) {
      return deleteStoreOriginals(ctx, units, rows);
    },
  };
}

/**
 * Store originals of verified units, through the deletion engine (reason migrated-to-db): each
 * file is re-checked against what was read of it (size, mtime of the descriptor read) and
 * unlinked through its directory held open; a file not deleted goes back to 'present' with a
 * delete_failed event saying why.
 */
async function deleteStoreOriginals(ctx: Context, units: readonly Unit[], rows: Map<string, StoreRow>) {
  const files: FileToDelete[] = [];
  const failed: { path: string; reason: string }[] = [];
  for (const u of units) {
    const row = rows.get(String(u.key));
    const seen = u.read?.[0];
    if (!row || !seen) failed.push({ path: String(u.key), reason: 'original not deleted: not read through the store' });
    else files.push({ ...row, path: String(u.key), seen });
  }
  // Every file carries what was read of it, so planning looks nothing up (on S3: no HEAD again).
  const plan = ctx.store.capabilities.kind === 'local' ? planDeletion(ctx, files, { kind: 'migrated-to-db' }) : await planDeletionOn(openDeletionTarget(ctx, true), files, { kind: 'migrated-to-db' });
  for (const s of plan.skipped) failed.push({ path: s.path, reason: `original not deleted: ${s.reason}` });
  const r = await applyDeletion(ctx, plan);
  for (const f of [...r.failed, ...r.changed]) failed.push({ path: f.path, reason: `original not deleted: ${f.reason}` });
  return { deleted: r.files, bytes: r.bytes, kept: 0, failed };
}

/** Image files under a directory (outside the catalog), keyed by their path relative to it. */
export function dirSource(ctx: Context, dir: string): ImageSource {
  const root = path.resolve(dir);
  const name = `dir:${root}`;
  return {
    name,
    async count() {
      return null;
    },
    async pendingCount() {
      return countUnstored(ctx, name, (function* () {
        for (const u of dirUnits(root)) yield String(u.key);
      })());
    },
    async *pages(pageSize) {
      yield* unstoredPages(ctx, name, dirUnits(root), pageSize);
    },
    async write(units) {
      await ctx.catalog.insertImages(units.flatMap((u) => u.images));
      return new Set(units.map((u) => String(u.unit.key)));
    },
    digests: (keys) => ctx.catalog.storedImageDigests(name, keys.map(String)),
    async deleteOriginals(units, runId) {
      const at = ctx.clock();
      const r = await unlinkFiles(units.flatMap((u) => u.files.map((f) => f.abs!)));
      await ctx.catalog.addEvents(r.deleted.map((p) => ({ runId, at, action: 'delete', path: p, jobId: null, bytes: null, reason: 'migrated-to-db' })));
      return { deleted: r.deleted.length, bytes: r.bytes, kept: 0, failed: r.failed };
    },
  };
}

/** Is abs inside dir, with symlinked directories on the way resolved? */
export function insideDir(dir: string, abs: string): boolean {
  try {
    const realDir = fs.realpathSync(dir);
    const realParent = fs.realpathSync(path.dirname(abs));
    const rel = path.relative(realDir, path.join(realParent, path.basename(abs)));
    return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
  } catch {
    return false;
  }
}

/** Resolves a path value from a row: relative paths stay inside baseDir; absolute ones are taken as they are. */
export function resolveRowPath(baseDir: string, value: string): UnitFile {
  if (typeof value !== 'string' || value === '') return { abs: null, original: String(value), problem: 'empty path' };
  if (value.includes('\0')) return { abs: null, original: value, problem: 'path contains NUL' };
  if (path.isAbsolute(value)) return { abs: path.normalize(value), original: value };
  const abs = path.resolve(baseDir, value);
  const rel = path.relative(baseDir, abs);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return { abs: null, original: value, problem: `path escapes the base directory ${baseDir}` };
  return { abs, original: value };
}

/** Splits a row's path value into its paths: text, PostgreSQL text[], or (SQLite) a JSON array. */
export function rowPaths(value: unknown, allowJsonArray: boolean): string[] | { problem: string } {
  if (Array.isArray(value)) return value.map((v) => (v === null ? '' : String(v)));
  if (typeof value !== 'string') return { problem: `path value is ${typeof value}, not text` };
  const t = value.trim();
  if (t.startsWith('[')) {
    if (!allowJsonArray) return { problem: 'path value is a JSON array: omit --data-column to store its images in the images table' };
    let parsed: unknown;
    try {
      parsed = JSON.parse(t);
    } catch {
      return { problem: 'path value starts with [ but is not a JSON array' };
    }
    if (!Array.isArray(parsed) || !parsed.every((p) => typeof p === 'string')) return { problem: 'path value is not a JSON array of strings' };
    return parsed;
  }
  return [value];
}

/** Rows of a user table: paths from a column, bytes into a column of the row or into `images`. */
export function tableSource(ctx: Context, target: UserTableTarget, shape: UserTableShape, baseDir: string): ImageSource {
  const arrays = target.dataColumn === undefined || shape.pathIsArray;
  return {
    name: shape.source,
    count: () => ctx.catalog.countUserRows(target, shape),
    async *pages(pageSize) {
      let after: string | number | undefined;
      for (;;) {
        const rows = await ctx.catalog.pendingUserRows(target, shape, after, pageSize);
        if (!rows.length) return;
        after = rows[rows.length - 1]!.key;
        const units = rows.map((r): Unit => {
          const paths = rowPaths(r.paths, arrays);
          if (!Array.isArray(paths)) return { key: r.key, owner: '', files: [], problem: paths.problem };
          return { key: r.key, owner: '', files: paths.map((p) => resolveRowPath(baseDir, p)) };
        });
        yield { units, skipped: 0 };
        if (rows.length < pageSize) return;
      }
    },
    async write(units) {
      const keys = await ctx.catalog.writeUserRowImages(
        target,
        shape,
        units.map((u) => ({ key: u.unit.key, images: u.images })),
      );
      return new Set(keys.map(String));
    },
    digests: (keys) => ctx.catalog.storedUserRowDigests(target, shape, keys),
    async deleteOriginals(units, runId) {
      const at = ctx.clock();
      // A file another row still has to migrate (a shared default image) stays until that row is done.
      const doomed: string[] = [];
      let kept = 0;
      const outside: { path: string; reason: string }[] = [];
      for (const f of units.flatMap((u) => u.files)) {
        // Paths come from table rows: never delete anything outside the base directory.
        if (!insideDir(baseDir, f.abs!)) outside.push({ path: f.abs!, reason: `original not deleted: outside the base directory ${baseDir}` });
        else if ((await ctx.catalog.countPendingReferences(target, shape, f.original)) > 0) kept++;
        else doomed.push(f.abs!);
      }
      const r = await unlinkFiles(doomed);
      r.failed.push(...outside);
      await ctx.catalog.addEvents(r.deleted.map((p) => ({ runId, at, action: 'delete', path: p, jobId: null, bytes: null, reason: `migrated-to-db ${shape.source}` })));
      return { deleted: r.deleted.length, bytes: r.bytes, kept, failed: r.failed };
    },
  };
}
