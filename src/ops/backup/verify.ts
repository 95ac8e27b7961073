// Reads a backup archive once, in order, checking everything: the entry sequence, every
// name (no `..`, no absolute path, nothing under .storectl/), every kind (regular files only:
// no symlinks, hard links or devices), every file's size and SHA-256 against the manifest,
// every catalog table's rows and SHA-256, that every catalog row parses, every file row's path
// is safe, and every archived file is the one its own catalog row describes (size, SHA-256),
// the archived paths being exactly the present rows (less those listed as not archived); a name
// stored as a link (format 2) must name an earlier entry its own row shares a content_group with. Entries can be
// staged (written under a staging directory) as they pass, so a restore reads the archive
// once; nothing is trusted until the whole archive has been read and compared.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeArchivedRow, DumpFormatError, DumpRowRefusedError, isDumpTable, type DumpTable } from '../../db/dump.ts';
import { pgRefusal } from '../../db/portable.ts';
import { IntegrityError, StorectlError, UsageError, errorMessage } from '../../errors.ts';
import { PathIndex } from '../../db/path-index.ts';
import { VERSION } from '../../version.ts';
import { compareBytewise, checkRelPath, UnsafePathError } from '../../storage/paths.ts';
import type { Progress } from '../../progress.ts';
import { ArchiveFormatError, detectFormat, readArchive, type ArchiveEntry } from './archive-reader.ts';
import { LineReader, LineSplitter, LineWriter } from './lines.ts';
import {
  ARCHIVE_FORMAT,
  CATALOG_PREFIX,
  FILES_PREFIX,
  MANIFEST,
  MANIFEST_FILES,
  MANIFEST_SUMMARY,
  type ManifestHead,
  type ManifestSummary,
} from './manifest.ts';

export interface VerifyResult {
  archive: string;
  format: 'tar.gz' | 'tar' | 'zip';
  head: ManifestHead;
  summary: ManifestSummary;
  /** Names restored (file entries and names stored as links) and their bytes. */
  files: number;
  bytes: number;
  /** Of those, names whose content the archive holds once, in another name's entry. */
  linked: number;
  tables: Record<string, number>;
}

export interface StageTarget {
  /** Where file entries go (`tree/`) and catalog tables (`catalog/`); work files too. */
  dir: string;
  /** Write files under dir/tree; false verifies only (files are hashed and dropped). */
  writeTree: boolean;
  /** With writeTree, write only the files this accepts (verify --repair-from wants a few). */
  only?: (rel: string) => boolean;
}

const IN_MEMORY_LIMIT = 64 << 20;

function corrupt(archive: string, what: string): IntegrityError {
  return new IntegrityError(`archive ${archive} is corrupt: ${what}`, 'nothing was restored; use another backup');
}

/** Refuses an archive newer than this storectl, naming both versions. */
export function checkVersions(archive: string, head: ManifestHead, schemaVersion: number): void {
  if (head.format > ARCHIVE_FORMAT) {
    throw new UsageError(
      `archive ${archive} has backup format ${head.format} (storectl ${head.tool?.version ?? '?'}); this storectl ${VERSION} reads format ${ARCHIVE_FORMAT} and older`,
      'restore it with a newer storectl',
      'archive_too_new',
    );
  }
  if (head.schemaVersion > schemaVersion) {
    throw new UsageError(
      `archive ${archive} has catalog schema version ${head.schemaVersion}; this storectl ${VERSION} knows schema version ${schemaVersion}`,
      'restore it with a newer storectl',
      'archive_too_new',
    );
  }
}

function parseHead(archive: string, text: string): ManifestHead {
  let head: ManifestHead;
  try {
    head = JSON.parse(text);
  } catch {
    throw corrupt(archive, `${MANIFEST} is not valid JSON`);
  }
  if (!head || typeof head !== 'object' || !Number.isInteger(head.format) || !Number.isInteger(head.schemaVersion) || !Array.isArray(head.tables)) {
    throw corrupt(archive, `${MANIFEST} lacks format, schemaVersion or tables`);
  }
  return head;
}

async function readAll(entry: ArchiveEntry, limit: number): Promise<Buffer> {
  if (entry.size > limit) throw new ArchiveFormatError(`entry ${entry.name} is too large (${entry.size} bytes)`);
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of entry.chunks()) {
    parts.push(c);
    n += c.length;
    if (n > limit) throw new ArchiveFormatError(`entry ${entry.name} is too large`);
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
}

/**
 * Verifies the whole archive; with a stage target, also writes it out under target.dir.
 * Throws IntegrityError (exit 4) on anything wrong, UsageError for a too-new archive.
 */
export async function verifyArchive(
  archive: string,
  opts: { schemaVersion: number; stage?: StageTarget; progress?: Progress },
): Promise<VerifyResult> {
  let format: VerifyResult['format'];
  try {
    format = detectFormat(archive);
  } catch (err) {
    if (err instanceof ArchiveFormatError) throw corrupt(archive, err.message);
    throw err;
  }
  const stage = opts.stage;
  const workDir = stage?.dir;
  const treeDir = stage?.writeTree ? path.join(stage.dir, 'tree') : undefined;
  if (workDir) fs.mkdirSync(path.join(workDir, 'catalog'), { recursive: true, mode: 0o750 });
  if (treeDir) fs.mkdirSync(treeDir, { recursive: true, mode: 0o750 });

  let head: ManifestHead | undefined;
  let summary: ManifestSummary | undefined;
  const tables = new Map<string, { rows: number; bytes: number; sha256: string; present?: number }>();
  // Observed files, as "path size sha" lines, compared with manifest-files.ndjson at the end.
  const observed = createHash('sha256');
  let observedCount = 0;
  let observedBytes = 0;
  const expectedList = createHash('sha256');
  let listedCount = 0;
  // Names whose content the archive holds once, in an earlier entry (manifest lines with `link`).
  let linkedCount = 0;
  let linkedBytes = 0;
  // Spooled only to name the first disagreement when the digests differ.
  const observedSpool = workDir ? new LineWriter(path.join(workDir, 'observed.txt')) : undefined;
  const listedSpool = workDir ? new LineWriter(path.join(workDir, 'listed.txt')) : undefined;
  let phase: 'head' | 'catalog' | 'files' | 'list' | 'summary' | 'end' = 'head';
  let lastPath: string | undefined;
  // Entries come in path order: a directory made for one file serves its siblings.
  const madeDirs = { last: '' };
  // Each archived file is checked against its own catalog row (present rows, by path, on disk).
  const indexDir = workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-verify-'));
  const rowsByPath = new PathIndex(path.join(indexDir, 'present-rows.db'));
  // Files are checked against the list that comes after them: keep a running digest of
  // the canonical lines on both sides, so neither list is held in memory.
  const canon = (p: string, size: number, sha: string) => `${JSON.stringify(p)} ${size} ${sha}\n`;

  try {
    for await (const entry of readArchive(archive)) {
      if (entry.kind !== 'file') throw corrupt(archive, `entry ${JSON.stringify(entry.name)} is a ${entry.kind}; only regular files are allowed`);
      const name = entry.name;
      if (phase === 'end') throw corrupt(archive, `unexpected entry ${JSON.stringify(name)} after ${MANIFEST_SUMMARY}`);
      if (phase === 'head') {
        if (name !== MANIFEST) throw corrupt(archive, `first entry is ${JSON.stringify(name)}, not ${MANIFEST}`);
        head = parseHead(archive, (await readAll(entry, 1 << 20)).toString('utf8'));
        checkVersions(archive, head, opts.schemaVersion);
        phase = 'catalog';
        continue;
      }
      if (phase === 'catalog' && name.startsWith(CATALOG_PREFIX)) {
        const table = name.slice(CATALOG_PREFIX.length).replace(/\.ndjson$/, '');
        if (!isDumpTable(table) || name !== `${CATALOG_PREFIX}${table}.ndjson` || !head!.tables.includes(table) || tables.has(table)) {
          throw corrupt(archive, `unexpected catalog entry ${JSON.stringify(name)}`);
        }
        const t = await readTable(archive, entry, table, workDir, table === 'files' ? rowsByPath : undefined);
        tables.set(table, t);
        // The catalog comes before the files: the present rows are what the files phase will
        // read (less any the backup could not archive), so the bar gets its total and an ETA.
        if (table === 'files' && !head!.metadataOnly) opts.progress?.setTotal?.(t.present);
        continue;
      }
      if ((phase === 'catalog' || phase === 'files') && name.startsWith(FILES_PREFIX)) {
        phase = 'files';
        const rel = name.slice(FILES_PREFIX.length);
        try {
          checkRelPath(rel);
        } catch (err) {
          if (err instanceof UnsafePathError) throw corrupt(archive, `entry ${JSON.stringify(name)} is unsafe (${err.message})`);
          throw err;
        }
        if (lastPath !== undefined && compareBytewise(lastPath, rel) >= 0) throw corrupt(archive, `entry ${JSON.stringify(name)} is out of order or repeated`);
        lastPath = rel;
        const row = rowsByPath.take(rel);
        if (!row) throw corrupt(archive, `entry ${JSON.stringify(name)} has no present row in the archive's catalog`);
        // With a selection, a file recorded as sharing content is staged too: a name chosen later
        // in the list may be a link to it (its content is held once, by this entry).
        const wanted = !stage?.only || stage.only(rel) || row.contentGroup !== null;
        const { sha256, size } = await stageFile(entry, rel, wanted ? treeDir : undefined, madeDirs);
        if (row.size !== size || row.sha256 !== sha256) {
          throw corrupt(archive, `${rel}: the archived file (${size} bytes, SHA-256 ${sha256}) is not the file its catalog row describes (${row.size} bytes, SHA-256 ${row.sha256})`);
        }
        const line = canon(rel, size, sha256);
        observed.update(line);
        observedSpool?.write(line);
        observedCount++;
        observedBytes += size;
        opts.progress?.tick(1, size);
        continue;
      }
      if ((phase === 'catalog' || phase === 'files') && name === MANIFEST_FILES) {
        phase = 'list';
        const splitter = new LineSplitter();
        const listSha = createHash('sha256');
        /**
         * A name stored as a link: its content is the earlier entry `link` (archived and checked
         * above). Both must be present rows the archive's catalog records as sharing one
         * content_group, with the same size and SHA-256; staged as a hard link to that file.
         */
        const takeLink = (rel: string, size: number, sha256: string, link: unknown) => {
          const what = `${MANIFEST_FILES}: ${JSON.stringify(rel)} stored as a link to ${JSON.stringify(link)}`;
          if (typeof link !== 'string') throw corrupt(archive, `${MANIFEST_FILES} has a malformed link line`);
          if (head!.format < 2) throw corrupt(archive, `${what}: a format-${head!.format} archive has no links`);
          try {
            checkRelPath(rel);
            checkRelPath(link);
          } catch (err) {
            if (err instanceof UnsafePathError) throw corrupt(archive, `${what} is unsafe (${err.message})`);
            throw err;
          }
          const target = rowsByPath.get(link);
          if (!target?.seen) throw corrupt(archive, `${what}, which is not a file entry of the archive`);
          const row = rowsByPath.take(rel);
          if (!row) throw corrupt(archive, `${what}: it has no present row in the archive's catalog, or is archived twice`);
          if (row.size !== size || row.sha256 !== sha256 || target.size !== size || target.sha256 !== sha256) {
            throw corrupt(archive, `${what}: sizes or SHA-256 disagree (the line, its row and the target's row)`);
          }
          if (row.contentGroup === null || row.contentGroup !== target.contentGroup) {
            throw corrupt(archive, `${what}: the archive's catalog does not record the two as sharing content`);
          }
          if (treeDir && (!stage?.only || stage.only(rel))) {
            const abs = path.join(treeDir, ...rel.split('/'));
            fs.mkdirSync(path.dirname(abs), { recursive: true, mode: 0o750 });
            fs.linkSync(path.join(treeDir, ...link.split('/')), abs);
          }
          linkedCount++;
          linkedBytes += size;
          opts.progress?.tick(1, 0);
        };
        const take = (line: string) => {
          let f: { path?: unknown; size?: unknown; sha256?: unknown; link?: unknown };
          try {
            f = JSON.parse(line);
          } catch {
            throw corrupt(archive, `${MANIFEST_FILES} has a line that is not JSON`);
          }
          if (typeof f.path !== 'string' || typeof f.size !== 'number' || typeof f.sha256 !== 'string') {
            throw corrupt(archive, `${MANIFEST_FILES} has a malformed line`);
          }
          if (f.link !== undefined) {
            takeLink(f.path, f.size, f.sha256, f.link);
            return;
          }
          const canonLine = canon(f.path, f.size, f.sha256);
          expectedList.update(canonLine);
          listedSpool?.write(canonLine);
          listedCount++;
        };
        for await (const c of entry.chunks()) {
          listSha.update(c);
          for (const line of splitter.push(c)) take(line);
        }
        const tail = splitter.end();
        if (tail) take(tail);
        tables.set(MANIFEST_FILES, { rows: listedCount, bytes: entry.size, sha256: listSha.digest('hex') });
        continue;
      }
      if (phase === 'list' && name === MANIFEST_SUMMARY) {
        try {
          summary = JSON.parse((await readAll(entry, 256 << 20)).toString('utf8'));
        } catch (err) {
          if (err instanceof ArchiveFormatError) throw err;
          throw corrupt(archive, `${MANIFEST_SUMMARY} is not valid JSON`);
        }
        phase = 'end';
        continue;
      }
      throw corrupt(archive, `unexpected entry ${JSON.stringify(name)}`);
    }
    const dup = rowsByPath.duplicate();
    if (dup !== undefined) throw corrupt(archive, `the catalog has two present rows for ${JSON.stringify(dup)}`);
    if (head && !head.metadataOnly && phase === 'end') checkUnarchived(archive, rowsByPath, summary);
  } catch (err) {
    throw asCorruption(archive, err);
  } finally {
    observedSpool?.close();
    listedSpool?.close();
    rowsByPath.close();
    if (!workDir) fs.rmSync(indexDir, { recursive: true, force: true });
  }
  if (phase !== 'end' || !head || !summary) throw corrupt(archive, 'it ends early (no complete manifest)');
  if (summary.format !== head.format) throw corrupt(archive, 'the manifest disagrees with itself about the format');
  // Every table the head names must be there, with the rows and hash the summary records.
  for (const t of head.tables) {
    const got = tables.get(t);
    const want = summary.tables?.[t];
    if (!got) throw corrupt(archive, `catalog table ${t} is missing`);
    if (!want || want.rows !== got.rows || want.sha256 !== got.sha256) throw corrupt(archive, `catalog table ${t} disagrees with the manifest`);
  }
  const list = tables.get(MANIFEST_FILES)!;
  if (summary.filesListSha256 !== list.sha256) throw corrupt(archive, `${MANIFEST_FILES} disagrees with ${MANIFEST_SUMMARY}`);
  if (summary.files?.count !== observedCount || summary.files?.bytes !== observedBytes || listedCount !== observedCount) {
    throw corrupt(archive, `the manifest lists ${listedCount} files (${summary.files?.bytes} bytes), the archive holds ${observedCount} (${observedBytes} bytes)`);
  }
  if ((summary.linked?.count ?? 0) !== linkedCount || (summary.linked?.bytes ?? 0) !== linkedBytes) {
    throw corrupt(archive, `the manifest summary records ${summary.linked?.count ?? 0} names stored as links, the file list ${linkedCount}`);
  }
  // Every present row has its file in the archive, or is listed as not archived.
  const presentRows = tables.get('files')?.present ?? 0;
  if (!head.metadataOnly && presentRows !== observedCount + linkedCount + (summary.skipped?.length ?? 0)) {
    throw corrupt(archive, `the catalog has ${presentRows} present files, the archive holds ${observedCount}, stores ${linkedCount} as links and lists ${summary.skipped?.length ?? 0} as not archived`);
  }
  if (observed.digest('hex') !== expectedList.digest('hex')) {
    throw corrupt(archive, firstDifference(observedSpool?.file, listedSpool?.file));
  }
  tables.delete(MANIFEST_FILES);
  return {
    archive,
    format,
    head,
    summary,
    files: observedCount + linkedCount,
    bytes: observedBytes + linkedBytes,
    linked: linkedCount,
    tables: Object.fromEntries([...tables].map(([t, v]) => [t, v.rows])),
  };
}

/**
 * Any failure while reading the archive that is not our own I/O (an errno with a syscall) nor
 * one of our typed errors is the archive's fault: zlib's and tar's messages become one
 * "archive ... is corrupt" line, exit 4.
 */
function asCorruption(archive: string, err: unknown): unknown {
  if (err instanceof DumpRowRefusedError) {
    return new IntegrityError(
      `archive ${archive} cannot be restored: ${err.message}`,
      'nothing was restored; archives are restored into either dialect, so a row PostgreSQL refuses is refused everywhere: use another backup',
    );
  }
  if (err instanceof ArchiveFormatError || err instanceof DumpFormatError) return corrupt(archive, err.message);
  if (err instanceof StorectlError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e === 'object' && e.syscall) return err;
  return corrupt(archive, errorMessage(err));
}

/** The present rows without a file in the archive must be exactly those listed as not archived. */
function checkUnarchived(archive: string, index: PathIndex, summary: ManifestSummary | undefined): void {
  const skipped = summary?.skipped ?? [];
  if (!Array.isArray(skipped)) throw corrupt(archive, `${MANIFEST_SUMMARY} has a malformed list of files not archived`);
  const listed = new Set<string>();
  for (const s of skipped) {
    if (!s || typeof s.path !== 'string' || listed.has(s.path) || !index.unseenHas(s.path)) {
      throw corrupt(archive, `${MANIFEST_SUMMARY} lists ${JSON.stringify(s?.path)} as not archived, but it is not a present row without its file`);
    }
    listed.add(s.path);
  }
  const unseen = index.unseenCount();
  if (unseen !== listed.size) {
    const sample = index.unseen(listed.size + 3).filter((p) => !listed.has(p));
    throw corrupt(archive, `${unseen - listed.size} present row(s) have no file in the archive and are not listed as not archived (e.g. ${sample.map((p) => JSON.stringify(p)).join(', ')})`);
  }
}

function firstDifference(observedFile: string | undefined, listedFile: string | undefined): string {
  const generic = "a file's size or SHA-256 disagrees with the manifest";
  if (!observedFile || !listedFile) return generic;
  const a = new LineReader(observedFile)[Symbol.iterator]();
  const b = new LineReader(listedFile)[Symbol.iterator]();
  for (;;) {
    const x = a.next();
    const y = b.next();
    if (x.done || y.done) return generic;
    if (x.value !== y.value) {
      const split = (l: string) => {
        const i = l.lastIndexOf(' ', l.lastIndexOf(' ') - 1);
        return { path: JSON.parse(l.slice(0, i)) as string, rest: l.slice(i + 1) };
      };
      const got = split(x.value);
      const want = split(y.value);
      return got.path === want.path
        ? `${got.path}: archived as ${got.rest}, manifest says ${want.rest}`
        : `the archive holds ${got.path} where the manifest lists ${want.path}`;
    }
  }
}

async function readTable(
  archive: string,
  entry: ArchiveEntry,
  table: DumpTable,
  workDir: string | undefined,
  index?: PathIndex,
): Promise<{ rows: number; bytes: number; sha256: string; present: number }> {
  const sha = createHash('sha256');
  let present = 0;
  const splitter = new LineSplitter();
  /** Checks a row (files: its path is safe); true when it is a present row. */
  const take = (row: Record<string, unknown>): boolean => {
    if (table === 'files') {
      try {
        checkRelPath(String(row.path));
      } catch (err) {
        if (err instanceof UnsafePathError) throw corrupt(archive, `catalog row ${row.id} of files has an unsafe path ${JSON.stringify(row.path)} (${err.message}): refused`);
        throw err;
      }
      if (row.state === 'present') index?.add(String(row.path), Number(row.size), String(row.sha256), row.contentGroup === null || row.contentGroup === undefined ? null : Number(row.contentGroup));
    }
    return row.state === 'present';
  };
  const fd = workDir ? fs.openSync(path.join(workDir, 'catalog', `${table}.ndjson`), 'w', 0o600) : undefined;
  let rows = 0;
  let bytes = 0;
  try {
    for await (const c of entry.chunks()) {
      sha.update(c);
      bytes += c.length;
      if (fd !== undefined) fs.writeSync(fd, c);
      for (const line of splitter.push(c)) {
        if (take(decodeArchivedRow(table, line, pgRefusal))) present++;
        rows++;
      }
    }
    const tail = splitter.end();
    if (tail) {
      if (take(decodeArchivedRow(table, tail, pgRefusal))) present++;
      rows++;
    }
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  if (bytes !== entry.size) throw corrupt(archive, `catalog table ${table} is truncated`);
  return { rows, bytes, sha256: sha.digest('hex'), present };
}

async function stageFile(
  entry: ArchiveEntry,
  rel: string,
  treeDir: string | undefined,
  madeDirs: { last: string },
): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let abs: string | undefined;
  if (treeDir) {
    abs = path.join(treeDir, ...rel.split('/'));
    const dir = path.dirname(abs);
    if (madeDirs.last !== dir) {
      fs.mkdirSync(dir, { recursive: true, mode: 0o750 });
      madeDirs.last = dir;
    }
  }
  if (entry.size <= IN_MEMORY_LIMIT) {
    const data = await readAll(entry, IN_MEMORY_LIMIT);
    h.update(data);
    if (abs) fs.writeFileSync(abs, data, { mode: 0o600, flag: 'wx' });
    return { sha256: h.digest('hex'), size: data.length };
  }
  const fd = abs ? fs.openSync(abs, 'wx', 0o600) : undefined;
  let size = 0;
  try {
    for await (const c of entry.chunks()) {
      h.update(c);
      size += c.length;
      if (fd !== undefined) fs.writeSync(fd, c);
    }
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  return { sha256: h.digest('hex'), size };
}

/** Reads a staged table back as batches of rows, synchronously (for one import transaction). */
export function* stagedRows(file: string, table: DumpTable, batchRows = 500, batchBytes = 8 << 20): Generator<Record<string, unknown>[]> {
  if (!fs.existsSync(file)) return;
  let batch: Record<string, unknown>[] = [];
  let bytes = 0;
  for (const line of new LineReader(file)) {
    batch.push(decodeArchivedRow(table, line, pgRefusal));
    bytes += line.length;
    if (batch.length >= batchRows || bytes >= batchBytes) {
      yield batch;
      batch = [];
      bytes = 0;
    }
  }
  if (batch.length) yield batch;
}
