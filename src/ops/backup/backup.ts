// `storectl backup`: one archive of the catalog (one snapshot) and the files of every present
// row, each file read once, hashed while read and checked against its row.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { isProcessAlive } from '../../db/shared.ts';
import path from 'node:path';
import { VERSION } from '../../version.ts';
import { openAllTiers, type Context } from '../../context.ts';
import { DUMP_TABLES, encodeRow } from '../../db/dump.ts';
import type { CatalogSnapshot, FileRecord } from '../../db/types.ts';
import { FailedError, IntegrityError, StorectlError, UsageError, errorMessage, isFault } from '../../errors.ts';
import { refuseEmptyCatalog } from '../../db/connect.ts';
import { GroupKeepers, type GroupKeeper } from '../../db/path-index.ts';
import { countDataFiles } from '../../storage/walk.ts';
import { schemaVersion } from '../../db/migrations.ts';
import { ensureDir, fsyncDir } from '../../storage/atomic.ts';
import { checkRelPath, UnsafePathError } from '../../storage/paths.ts';
import { createArchiveWriter, isCompressible, type ArchiveFormat, type ArchiveWriter } from './archive-writer.ts';
import { LineWriter } from './lines.ts';
import {
  ARCHIVE_FORMAT,
  PLAIN_FORMAT,
  CATALOG_PREFIX,
  FILES_PREFIX,
  MANIFEST,
  MANIFEST_FILES,
  MANIFEST_SUMMARY,
  fileLine,
  type ManifestHead,
  type ManifestSummary,
  type SkippedFile,
} from './manifest.ts';
import { applyRetention, backupFileName, hasRules, parseBackupName, planRetention, type RetentionDecision, type RetentionRules } from './retention.ts';
import { verifyArchive } from './verify.ts';
import { pausePoint } from '../../test-hooks.ts';
import type { Readable } from 'node:stream';
import { BlobNotFoundError } from '../../storage/blob.ts';
import { openContent } from '../access/content.ts';

export interface BackupOptions {
  /** Exact output path; or `dir` (a timestamped name inside it). */
  output?: string;
  dir?: string;
  format: ArchiveFormat;
  metadataOnly: boolean;
  /** With dir: retention applied after a backup that exited 0 and verified. */
  retention?: RetentionRules;
}

export interface BackupReport {
  path: string;
  format: ArchiveFormat;
  bytes: number;
  /** Names archived (file entries and names stored as links), and their bytes. */
  files: number;
  fileBytes: number;
  /** Of those, names the catalog records as sharing content with a name archived before: no entry of their own, the content is held once. */
  linked: { files: number; bytes: number };
  tables: Record<string, number>;
  metadataOnly: boolean;
  createdAt: string;
  durationMs: number;
  skipped: { count: number; vanished: number; mismatched: number; other: number; sample: SkippedFile[] };
  pruned: string[];
  /** The archive was read back and verified (done before any pruning). */
  verified: boolean;
  /** With retention rules: what was kept and why; empty when nothing was pruned because files were left out. */
  retention: RetentionDecision[];
  /** Why no retention ran although rules were given. */
  retentionSkipped?: string;
  /** Temp files and work directories of dead backup processes removed from the target directory. */
  leftoversRemoved: string[];
}

/** Files up to this size are read whole, once; bigger ones are hashed, then copied. */
const READ_WHOLE_LIMIT = 64 << 20;
const PAGE = 2000;

export async function runBackup(ctx: Context, opts: BackupOptions): Promise<BackupReport> {
  const started = Date.now();
  const now = ctx.clock();
  if (opts.output) checkOutputPath(path.resolve(opts.output));
  await openAllTiers(ctx);
  const has = await ctx.catalog.hasFiles();
  if (!has.any) {
    // An S3 store: the first page of the listing says whether the bucket holds objects.
    const objects = ctx.store.capabilities.kind === 'local' ? undefined : await countFirstPage(ctx);
    refuseEmptyCatalog(ctx.catalog.location, { root: ctx.store.url, countFiles: () => objects ?? countDataFiles(ctx.config.root) }, 'has no file rows');
  }
  const target = resolveTarget(opts, now);
  ensureDir(path.dirname(target));
  const leftoversRemoved = removeDeadLeftovers(path.dirname(target));
  const base = path.basename(target);
  const suffix = `${LEFTOVER_HOST}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmp = path.join(path.dirname(target), `.${base}.tmp-${suffix}`);
  const work = path.join(path.dirname(target), `.${base}.work-${suffix}`);
  fs.mkdirSync(work, { mode: 0o700 });
  const migrations = await ctx.catalog.migrationStatus();
  const snapshot = await ctx.catalog.openSnapshot();
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  let fdOpen = true;
  try {
    const writer = createArchiveWriter(opts.format, fd, work);
    // Format 2 only when the snapshot has content to store as links; else format 1, which an
    // older storectl reads too.
    const archiveFormat = !opts.metadataOnly && (await snapshot.sharesContent()) ? ARCHIVE_FORMAT : PLAIN_FORMAT;
    const head: ManifestHead = {
      format: archiveFormat,
      tool: { name: 'storectl', version: VERSION },
      createdAt: now.toISOString(),
      source: { dialect: ctx.catalog.dialect },
      schemaVersion: migrations.filter((m) => m.applied).length,
      metadataOnly: opts.metadataOnly,
      tables: [...DUMP_TABLES],
    };
    await writer.add(MANIFEST, Buffer.from(JSON.stringify(head, null, 2) + '\n'), { mtime: now, compressible: true });

    const tables: ManifestSummary['tables'] = {};
    for (const table of DUMP_TABLES) {
      const spool = path.join(work, `${table}.ndjson`);
      const out = new LineWriter(spool);
      const sha = createHash('sha256');
      let rows = 0;
      try {
        for await (const page of snapshot.tableRows(table, table === 'images' ? 100 : PAGE)) {
          let text = '';
          for (const row of page) text += encodeRow(table, row) + '\n';
          sha.update(text);
          out.write(text);
          rows += page.length;
        }
      } finally {
        out.close();
      }
      tables[table] = { rows, bytes: out.bytes, sha256: sha.digest('hex') };
      await writer.addFromFile(`${CATALOG_PREFIX}${table}.ndjson`, spool, out.bytes, { mtime: now, compressible: true });
      fs.rmSync(spool);
    }

    const list = new LineWriter(path.join(work, MANIFEST_FILES));
    const listSha = createHash('sha256');
    const skipped: SkippedFile[] = [];
    let files = 0;
    let fileBytes = 0;
    const linked = { files: 0, bytes: 0 };
    const keepers = new GroupKeepers(path.join(work, 'keepers.db'));
    try {
      if (!opts.metadataOnly) {
        const progress = ctx.progress('backup', tables.files!.rows);
        const dirs: { last?: string } = {};
        for await (const row of presentFiles(snapshot)) {
          // A name the catalog records as sharing content with one archived already: checked, not stored again.
          const k = row.contentGroup === null ? undefined : keepers.get(row.contentGroup);
          const keeper = archiveFormat >= 2 && k && k.size === row.size && k.sha256 === row.sha256 ? k : undefined;
          const outcome = keeper ? await checkShared(ctx, row, keeper, work, dirs) : await archiveFile(ctx, writer, row, work, dirs);
          progress.tick(1, 'reason' in outcome ? 0 : row.size);
          if (files === 0) await pausePoint('backup-files');
          if ('reason' in outcome) {
            skipped.push(outcome);
            ctx.log.warn(`not archived: ${row.path}: ${outcome.detail}`);
            continue;
          }
          const line = fileLine({ path: row.path, size: outcome.size, sha256: outcome.sha256, ...(keeper ? { link: keeper.path } : {}) });
          listSha.update(line);
          list.write(line);
          if (keeper) {
            linked.files++;
            linked.bytes += outcome.size;
            continue;
          }
          files++;
          fileBytes += outcome.size;
          if (row.contentGroup !== null && !k) keepers.set(row.contentGroup, { path: row.path, size: outcome.size, sha256: outcome.sha256, fileId: localFileId(ctx, row) });
        }
        progress.done();
      }
    } finally {
      list.close();
      keepers.close();
    }
    await writer.addFromFile(MANIFEST_FILES, list.file, list.bytes, { mtime: now, compressible: true });
    const summary: ManifestSummary = {
      format: archiveFormat,
      finishedAt: ctx.clock().toISOString(),
      tables,
      files: { count: files, bytes: fileBytes },
      ...(linked.files ? { linked: { count: linked.files, bytes: linked.bytes } } : {}),
      filesListSha256: listSha.digest('hex'),
      skipped,
    };
    await writer.add(MANIFEST_SUMMARY, Buffer.from(JSON.stringify(summary, null, 2) + '\n'), { mtime: now, compressible: true });
    await writer.finish();
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fdOpen = false;
    // A backup that left files out is named .partial in a --dir: retention never counts it as good.
    const final = opts.dir && skipped.length ? partialName(target) : target;
    fs.renameSync(tmp, final);
    fsyncDir(path.dirname(final));
    await snapshot.close();

    const rules = opts.retention ?? {};
    let verified = false;
    let retention: RetentionDecision[] = [];
    let retentionSkipped: string | undefined;
    let pruned: string[] = [];
    if (opts.dir && hasRules(rules)) {
      if (skipped.length) {
        retentionSkipped = `${skipped.length} file(s) were not archived: nothing was pruned`;
      } else {
        // Read the new archive back before anything older goes.
        await verifyWritten(final, path.dirname(final));
        verified = true;
        retention = planRetention(path.resolve(opts.dir), rules, now, final);
        pruned = applyRetention(retention);
      }
    }
    const mismatched = skipped.filter((s) => s.reason === 'mismatch').length;
    const vanished = skipped.filter((s) => s.reason === 'vanished').length;
    return {
      path: final,
      format: opts.format,
      bytes: fs.statSync(final).size,
      files: files + linked.files,
      fileBytes: fileBytes + linked.bytes,
      linked,
      tables: Object.fromEntries(Object.entries(tables).map(([t, v]) => [t, v.rows])),
      metadataOnly: opts.metadataOnly,
      createdAt: head.createdAt,
      durationMs: Date.now() - started,
      skipped: { count: skipped.length, vanished, mismatched, other: skipped.length - vanished - mismatched, sample: skipped.slice(0, 20) },
      pruned,
      verified,
      retention,
      ...(retentionSkipped ? { retentionSkipped } : {}),
      leftoversRemoved,
    };
  } catch (err) {
    if (fdOpen) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err instanceof StorectlError ? err : new FailedError(`backup to ${target} failed: ${errorMessage(err)}`, 'no archive was written; its temp file was removed', isFault(err) ? 'io_failed' : 'failed');
  } finally {
    await snapshot.close().catch(() => {});
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** --output must be a regular file or not exist: never a device, a directory, a FIFO or a symlink. */
export function checkOutputPath(output: string): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.lstatSync(output, { throwIfNoEntry: false });
  } catch (err) {
    throw new UsageError(`--output ${output}: ${errorMessage(err)}`, 'name a writable path; nothing was written', 'bad_output');
  }
  if (!st || st.isFile()) return;
  const kind = st.isSymbolicLink() ? 'a symlink' : st.isDirectory() ? 'a directory' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'not a regular file';
  throw new UsageError(`--output ${output} exists and is ${kind}: refusing to replace it`, 'name a new file or an existing regular file (or use --dir DIR); nothing was written', 'bad_output');
}

function partialName(target: string): string {
  return target.replace(/\.(tar\.gz|zip)$/, '.partial.$1');
}

/** Reads a just-written archive back through the restore verifier (files hashed, nothing kept). */
async function verifyWritten(archive: string, dir: string): Promise<void> {
  const work = fs.mkdtempSync(path.join(dir, `.${path.basename(archive)}.verify-${LEFTOVER_HOST}-${process.pid}-`));
  try {
    await verifyArchive(archive, { schemaVersion: schemaVersion(), stage: { dir: work, writeTree: false } });
  } catch (err) {
    // Renamed out of the good backups' names: retention never counts it, keeps it or prunes it.
    const aside = archive.replace(/\.(tar\.gz|zip)$/, '.unverified.$1');
    let kept = archive;
    try {
      fs.renameSync(archive, aside);
      fsyncDir(path.dirname(aside));
      kept = aside;
    } catch {
      /* left under its name; the message says where it is */
    }
    throw new IntegrityError(
      `the archive ${archive} was written but does not verify: ${errorMessage(err)}; it is kept as ${kept}, which retention never counts`,
      'nothing was pruned; check the disk (or the row named), then run the backup again',
    );
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** This host, as it appears in temp names (a dot-free, slash-free token). */
const LEFTOVER_HOST = os.hostname().replace(/[^A-Za-z0-9_]/g, '_') || 'host';
/** .<archive>.tmp-<host>-<pid>-<hex> and .work-/.verify- of a backup; the host part is missing in older names. */
const LEFTOVER = /^\..+\.(?:tmp|work|verify)-(?:([A-Za-z0-9_]+)-)?(\d+)-[0-9a-zA-Z]+$/;

/**
 * Removes the temp files and work directories that a killed or crashed backup left in dir:
 * only those of this host whose process is gone. Returns the names removed.
 */
export function removeDeadLeftovers(dir: string): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = LEFTOVER.exec(name);
    if (!m) continue;
    const host = m[1];
    const pid = Number(m[2]);
    if (host !== undefined && host !== LEFTOVER_HOST) continue;
    if (pid === process.pid || isProcessAlive(pid)) continue;
    fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

function resolveTarget(opts: BackupOptions, now: Date): string {
  if (opts.output) return path.resolve(opts.output);
  const dir = path.resolve(opts.dir!);
  let name = backupFileName(now, opts.format);
  for (let i = 1; fs.existsSync(path.join(dir, name)) || fs.existsSync(path.join(dir, partialName(name))); i++) name = backupFileName(now, opts.format, i);
  return path.join(dir, name);
}

/** Present rows in path order, a keyset page at a time (the catalog keeps pages on the path index). */
async function* presentFiles(snapshot: CatalogSnapshot): AsyncGenerator<FileRecord> {
  let afterPath: string | undefined;
  for (;;) {
    const page = await snapshot.filePage({ states: ['present'], afterPath, limit: PAGE });
    yield* page;
    if (page.length < PAGE) return;
    afterPath = page[page.length - 1]!.path;
  }
}

/** Reads a file once, hashing it; archives it only when it matches its row. */
export async function archiveFile(
  ctx: Context,
  writer: ArchiveWriter,
  row: FileRecord,
  work: string,
  dirs: { last?: string },
): Promise<{ size: number; sha256: string } | SkippedFile> {
  // A file on another tier (or stored encoded) is archived with its original bytes, read through openContent.
  if (row.tier !== 'hot' || row.encoding !== null || row.tierTarget?.startsWith('=')) return archiveObject(ctx, writer, row, work, () => openTiered(ctx, row));
  if (ctx.store.capabilities.kind !== 'local') return archiveObject(ctx, writer, row, work);
  const skip = (reason: SkippedFile['reason'], detail: string): SkippedFile => ({ path: row.path, reason, detail });
  let fd: number;
  try {
    fd = fs.openSync(resolveChecked(ctx, row.path, dirs), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (err instanceof UnsafePathError) return skip('unsafe', err.message);
    if (code === 'ENOENT' || code === 'ENOTDIR') return skip('vanished', 'file is gone');
    if (code === 'ELOOP') return skip('unsafe', 'file is a symlink');
    return skip('unreadable', errorMessage(err));
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return skip('unsafe', 'not a regular file');
    if (st.size !== row.size) return skip('mismatch', `size ${st.size} on disk, ${row.size} in the catalog`);
    const name = `${FILES_PREFIX}${row.path}`;
    const entry = { mtime: st.mtime, compressible: isCompressible(row.path) };
    if (st.size <= READ_WHOLE_LIMIT) {
      const data = Buffer.allocUnsafe(st.size);
      let got = 0;
      while (got < data.length) {
        const n = fs.readSync(fd, data, got, data.length - got, got);
        if (n === 0) break;
        got += n;
      }
      if (got !== st.size) return skip('mismatch', `file shrank while read (${got} of ${st.size} bytes)`);
      const sha256 = createHash('sha256').update(data).digest('hex');
      if (sha256 !== row.sha256) return skip('mismatch', `SHA-256 ${sha256} on disk, ${row.sha256} in the catalog`);
      await writer.add(name, data, entry);
      return { size: got, sha256 };
    }
    // A big file: hash it first, then archive a private copy, so what is archived is what was hashed.
    const copy = path.join(work, 'big-file');
    const h = createHash('sha256');
    const out = fs.openSync(copy, 'w', 0o600);
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      let pos = 0;
      for (;;) {
        const n = fs.readSync(fd, buf, 0, buf.length, pos);
        if (n === 0) break;
        h.update(buf.subarray(0, n));
        fs.writeSync(out, buf, 0, n);
        pos += n;
      }
      if (pos !== st.size) return skip('mismatch', `file changed size while read (${pos} of ${st.size} bytes)`);
    } finally {
      fs.closeSync(out);
    }
    const sha256 = h.digest('hex');
    if (sha256 !== row.sha256) {
      fs.rmSync(copy, { force: true });
      return skip('mismatch', `SHA-256 ${sha256} on disk, ${row.sha256} in the catalog`);
    }
    await writer.addFromFile(name, copy, st.size, entry);
    fs.rmSync(copy, { force: true });
    return { size: st.size, sha256 };
  } finally {
    fs.closeSync(fd);
  }
}

/** Checks what an ArchiveWriter would be given, and keeps nothing. */
const CHECK_ONLY: ArchiveWriter = { add: async () => {}, addFromFile: async () => {}, finish: async () => {} };

/** A plain file in the local tree (hot, stored as is): read through the root, not a tier. */
function isLocalPlain(ctx: Context, row: FileRecord): boolean {
  return ctx.store.capabilities.kind === 'local' && row.tier === 'hot' && row.encoding === null && !row.tierTarget?.startsWith('=');
}

/** The device and inode of a row's file in the local tree, '' when there is none to name. */
function localFileId(ctx: Context, row: FileRecord): string {
  if (!isLocalPlain(ctx, row)) return '';
  try {
    const st = fs.lstatSync(ctx.blobs.abs(row.path), { bigint: true });
    return st.isFile() ? `${st.dev}:${st.ino}` : '';
  } catch {
    return '';
  }
}

/**
 * A name recorded as sharing content with an archived one (same content_group, size and
 * SHA-256): still one of the name's own files with its row's content? When it is the very file
 * (inode) that was archived and hashed, yes at once; otherwise it is read and hashed as
 * archiveFile would, and nothing is written. Then the archive names it as a link to the keeper.
 */
async function checkShared(ctx: Context, row: FileRecord, keeper: GroupKeeper, work: string, dirs: { last?: string }): Promise<{ size: number; sha256: string } | SkippedFile> {
  if (keeper.fileId && localFileId(ctx, row) === keeper.fileId) {
    const st = fs.lstatSync(ctx.blobs.abs(row.path));
    if (st.size === row.size) return { size: row.size, sha256: row.sha256 };
  }
  return archiveFile(ctx, CHECK_ONLY, row, work, dirs);
}

/** A row's original bytes from its tier; a file missing there is BlobNotFoundError, as a vanished object is. */
async function openTiered(ctx: Context, row: FileRecord): Promise<Readable> {
  try {
    return await openContent(ctx, row);
  } catch (err) {
    if (err instanceof IntegrityError && /not (on disk|in )/.test(err.message)) throw new BlobNotFoundError(row.path);
    throw err;
  }
}

async function countFirstPage(ctx: Context): Promise<number> {
  for await (const page of ctx.store.list({ pageSize: 1000 })) return page.length;
  return 0;
}

/**
 * An S3 store's object for the archive: streamed from one GET, hashed as it arrives, archived
 * only when size and SHA-256 are its row's. Up to READ_WHOLE_LIMIT it is held in memory as a
 * local file is; a bigger one goes through a private copy in the work directory first, so
 * memory stays flat whatever the object's size and the number of objects.
 */
async function archiveObject(
  ctx: Context,
  writer: ArchiveWriter,
  row: FileRecord,
  work: string,
  open: () => Promise<Readable> = () => ctx.store.get(row.path),
): Promise<{ size: number; sha256: string } | SkippedFile> {
  const skip = (reason: SkippedFile['reason'], detail: string): SkippedFile => ({ path: row.path, reason, detail });
  let body: Readable;
  try {
    body = await open();
  } catch (err) {
    if (err instanceof BlobNotFoundError) return skip('vanished', `object is gone from ${ctx.store.url}`);
    if (err instanceof IntegrityError && /is not in /.test(err.message)) return skip('vanished', err.message);
    if (err instanceof UnsafePathError) return skip('unsafe', err.message);
    return skip('unreadable', errorMessage(err));
  }
  const name = `${FILES_PREFIX}${row.path}`;
  // The object's own mtime is not needed by restore; the row's keeps archives of both backends alike.
  const entry = { mtime: row.mtime ?? row.createdAt, compressible: isCompressible(row.path) };
  const h = createHash('sha256');
  let size = 0;
  const whole = row.size <= READ_WHOLE_LIMIT;
  const chunks: Buffer[] = [];
  const copy = path.join(work, 'big-file');
  let out = whole ? undefined : fs.openSync(copy, 'w', 0o600);
  const big = out !== undefined;
  try {
    try {
      for await (const c of body) {
        const b = c as Buffer;
        size += b.length;
        if (size > row.size) {
          body.destroy();
          return skip('mismatch', `object larger than the catalog's ${row.size} bytes`);
        }
        h.update(b);
        if (out !== undefined) fs.writeSync(out, b);
        else chunks.push(b);
      }
    } catch (err) {
      return skip('unreadable', `reading the object broke off after ${size} bytes: ${errorMessage(err)}`);
    }
    if (size !== row.size) return skip('mismatch', `size ${size} in the bucket, ${row.size} in the catalog`);
    const sha256 = h.digest('hex');
    if (sha256 !== row.sha256) return skip('mismatch', `SHA-256 ${sha256} in the bucket, ${row.sha256} in the catalog`);
    if (out === undefined) await writer.add(name, Buffer.concat(chunks, size), entry);
    else {
      fs.closeSync(out);
      out = undefined;
      await writer.addFromFile(name, copy, size, entry);
    }
    return { size, sha256 };
  } finally {
    if (out !== undefined) fs.closeSync(out);
    if (big) fs.rmSync(copy, { force: true });
  }
}

/**
 * The absolute path of a row's file, refusing symlinked directories on the way. Rows come in
 * path order, so a job's files share their directory: it is checked once, not once a file
 * (five lstat calls saved a file). Whatever happens, a file is archived only if its bytes
 * hash to its row's SHA-256.
 */
function resolveChecked(ctx: Context, rel: string, dirs: { last?: string }): string {
  const slash = rel.lastIndexOf('/');
  const dir = slash < 0 ? '' : rel.slice(0, slash);
  if (dirs.last === dir) return path.join(ctx.blobs.root, ...checkRelPath(rel).split('/'));
  const abs = ctx.blobs.abs(rel);
  dirs.last = dir;
  return abs;
}


export interface PruneReport {
  dir: string;
  dryRun: boolean;
  decisions: RetentionDecision[];
  pruned: string[];
  /** Backups named .partial (files left out): never counted, never pruned. */
  partial: string[];
}

/** `backup --prune`: the retention rules alone over the good backups in dir (the newest good one always stays). */
export function runPrune(dir: string, rules: RetentionRules, dryRun: boolean, now: Date): PruneReport {
  if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`--dir ${dir} is not a directory`);
  const decisions = planRetention(dir, rules, now);
  const partial = fs.readdirSync(dir).filter((n) => parseBackupName(n)?.partial);
  return { dir, dryRun, decisions, pruned: dryRun ? [] : applyRetention(decisions), partial };
}
