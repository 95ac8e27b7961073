// export: the present files of chosen jobs into one archive (the backup writers), with a
// manifest; every file is hashed while read and archived only when it matches its row. A local
// tree is read as backup reads it; an S3 store object by object through ctx.store, each
// streamed into a private copy while hashed, and archived from that copy only when it matches.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { openAllTiers, type Context } from '../../context.ts';
import { FailedError, UsageError, errorMessage } from '../../errors.ts';
import { fsyncDir } from '../../storage/atomic.ts';
import { archiveFile } from '../backup/backup.ts';
import { createArchiveWriter, isCompressible, type ArchiveFormat, type ArchiveWriter } from '../backup/archive-writer.ts';
import type { FileRecord } from '../../db/types.ts';
import { IntegrityError } from '../../errors.ts';
import { mismatchSentence, streamContent } from './content.ts';
import { FILES_PREFIX } from '../backup/manifest.ts';
import { LineWriter } from '../backup/lines.ts';
import { selectJobs, type JobSelection } from './select.ts';

export const EXPORT_MANIFEST = 'manifest.ndjson';

/** One line of the manifest: a file of a chosen job and what became of it. */
export interface ExportEntry {
  job: string;
  role: string;
  path: string;
  size: number;
  sha256: string;
  /** archived; deleted (a tombstone: not in the archive); or why a present row was not archived. */
  state: 'archived' | 'deleted' | 'missing' | 'mismatch' | 'vanished' | 'unreadable' | 'unsafe';
  deletedAt?: string;
  reason?: string;
}

export interface ExportReport {
  output: string;
  format: ArchiveFormat;
  jobs: number;
  archived: { files: number; bytes: number };
  deleted: number;
  /** Present rows whose bytes did not match (or could not be read): listed, not archived. */
  problems: { path: string; state: string; detail: string }[];
  notFound: string[];
}

export function formatOf(output: string, format: string | undefined): ArchiveFormat {
  if (format !== undefined) {
    if (format !== 'tar.gz' && format !== 'zip') throw new UsageError(`bad --format ${JSON.stringify(format)}`, 'tar.gz or zip');
    return format;
  }
  if (/\.zip$/i.test(output)) return 'zip';
  if (/\.(tar\.gz|tgz)$/i.test(output) || output === '-') return 'tar.gz';
  throw new UsageError(`cannot tell the archive format of ${output}`, 'name it .tar.gz, .tgz or .zip, or pass --format');
}

export async function runExport(ctx: Context, sel: JobSelection, o: { output: string; format: ArchiveFormat; sink?: Writable }): Promise<ExportReport> {
  await openAllTiers(ctx);
  const toStream = o.output === '-';
  const target = toStream ? path.join(os.tmpdir(), 'storectl-export') : path.resolve(o.output);
  if (!toStream && fs.statSync(target, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`--output ${o.output} is a directory`);
  const suffix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const dir = path.dirname(target);
  const tmp = path.join(dir, `.${path.basename(target)}.tmp-${suffix}`);
  const work = path.join(dir, `.${path.basename(target)}.work-${suffix}`);
  let fd: number;
  try {
    fs.mkdirSync(work, { mode: 0o700 });
    fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  } catch (err) {
    fs.rmSync(work, { recursive: true, force: true });
    throw new FailedError(`cannot write ${o.output}: ${errorMessage(err)}`);
  }
  const report: ExportReport = { output: o.output, format: o.format, jobs: 0, archived: { files: 0, bytes: 0 }, deleted: 0, problems: [], notFound: [] };
  let fdOpen = true;
  try {
    const writer = createArchiveWriter(o.format, fd, work);
    const manifest = new LineWriter(path.join(work, EXPORT_MANIFEST));
    const now = ctx.clock();
    const dirs: { last?: string } = {};
    const progress = ctx.progress('export');
    try {
      for await (const job of selectJobs(ctx, sel, now, (id) => report.notFound.push(id))) {
        report.jobs++;
        for (const row of await ctx.catalog.filesOfJob(job.id)) {
          const entry: ExportEntry = { job: job.id, role: row.role, path: row.path, size: row.size, sha256: row.sha256, state: 'archived' };
          if (row.state === 'deleted' || row.state === 'deleting') {
            entry.state = 'deleted';
            if (row.deletedAt) entry.deletedAt = row.deletedAt.toISOString();
            if (row.deleteReason) entry.reason = row.deleteReason;
            report.deleted++;
          } else if (row.state !== 'present') {
            entry.state = 'missing';
            entry.reason = `recorded as ${row.state}`;
            report.problems.push({ path: row.path, state: row.state, detail: `the catalog records it as ${row.state}` });
          } else {
            const got = ctx.store.capabilities.kind === 'local' ? await archiveFile(ctx, writer, row, work, dirs) : await archiveObject(ctx, writer, row, work);
            if ('reason' in got) {
              entry.state = got.reason;
              entry.reason = got.detail;
              report.problems.push({ path: row.path, state: got.reason, detail: got.detail });
              ctx.log.warn(`not archived: ${row.path}: ${got.detail}`);
            } else {
              report.archived.files++;
              report.archived.bytes += got.size;
            }
          }
          manifest.write(JSON.stringify(entry) + '\n');
          progress.tick();
        }
      }
    } finally {
      manifest.close();
      progress.done();
    }
    await writer.addFromFile(EXPORT_MANIFEST, manifest.file, manifest.bytes, { mtime: now, compressible: true });
    await writer.finish();
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fdOpen = false;
    if (toStream) {
      await pipeline(fs.createReadStream(tmp), o.sink!, { end: false });
      fs.rmSync(tmp, { force: true });
    } else {
      fs.renameSync(tmp, target);
      fsyncDir(dir);
    }
    return report;
  } catch (err) {
    if (fdOpen) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/**
 * One object of an S3 store into the archive: streamed from the store into a private copy in
 * `work` while hashed, archived from the copy only when its size and SHA-256 are the row's
 * (what is archived is what was hashed; memory does not grow with the object).
 */
export async function archiveObject(
  ctx: Context,
  writer: ArchiveWriter,
  row: FileRecord,
  work: string,
): Promise<{ size: number; sha256: string } | { path: string; reason: 'vanished' | 'mismatch' | 'unreadable'; detail: string }> {
  const copy = path.join(work, 'object');
  try {
    const got = await streamContent(ctx, row, fs.createWriteStream(copy, { mode: 0o600 }));
    if (!got.ok) return { path: row.path, reason: 'mismatch', detail: mismatchSentence(row, got).replace(`${row.path}: `, '') };
    await writer.addFromFile(`${FILES_PREFIX}${row.path}`, copy, got.size, { mtime: row.createdAt, compressible: isCompressible(row.path) });
    return { size: got.size, sha256: got.sha256 };
  } catch (err) {
    if (err instanceof IntegrityError) return { path: row.path, reason: 'vanished', detail: 'the object is not in the store' };
    // One object that could not be read is listed; a store that cannot be reached at all
    // (endpoint, credentials: a UsageError) ends the export.
    if (err instanceof FailedError) return { path: row.path, reason: 'unreadable', detail: errorMessage(err) };
    throw err;
  } finally {
    fs.rmSync(copy, { force: true });
  }
}

export { FILES_PREFIX };
