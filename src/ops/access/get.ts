// get: a file's bytes, checked against the catalog's SHA-256. To a file: written to a temp
// file beside it and renamed into place only when the bytes match (nothing at the target
// otherwise). To a stream: hashed while streaming, a mismatch reported after the bytes.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';
import type { Context } from '../../context.ts';
import type { FileRecord } from '../../db/types.ts';
import { checkTarget } from '../../db/user-tables.ts';
import { FailedError, IntegrityError, NotFoundError, UsageError, errorMessage } from '../../errors.ts';
import { writeFileAtomicSync } from '../../storage/atomic.ts';
import { sha256 } from '../../storage/hash.ts';
import { mismatchSentence, streamContent } from './content.ts';
import { resolveFile, type FileTarget } from './resolve.ts';

export interface GetReport {
  jobId: string | null;
  role: string;
  path: string;
  contentType: string;
  size: number;
  sha256: string;
  /** Where the bytes went: a file path, or '-' for stdout. */
  output: string;
  verified: boolean;
}

export async function findForGet(ctx: Context, target: FileTarget): Promise<FileRecord> {
  return resolveFile(ctx.catalog, target);
}

function report(row: FileRecord, output: string, verified: boolean): GetReport {
  return { jobId: row.jobId, role: row.role, path: row.path, contentType: row.contentType, size: row.size, sha256: row.sha256, output, verified };
}

/** Writes the row's bytes to `out` through a temp file in its directory; renames only on a match. */
export async function getToFile(ctx: Context, row: FileRecord, out: string): Promise<GetReport> {
  const st = fs.statSync(out, { throwIfNoEntry: false });
  if (st?.isDirectory()) throw new UsageError(`-o ${out} is a directory`, 'name the file to write, e.g. -o ' + path.join(out, path.basename(row.path)));
  const dir = path.dirname(path.resolve(out));
  const tmp = path.join(dir, `.${path.basename(out)}.storectl-get-${process.pid}-${randomBytes(4).toString('hex')}`);
  let sink: fs.WriteStream;
  try {
    sink = fs.createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
    await new Promise<void>((resolve, reject) => sink.once('open', () => resolve()).once('error', reject));
  } catch (err) {
    throw new FailedError(`cannot write ${out}: ${errorMessage(err)}`);
  }
  try {
    const got = await streamContent(ctx, row, sink);
    if (!got.ok) throw new IntegrityError(`${mismatchSentence(row, got)}; nothing written to ${out}`, 'storectl verify finds every such file; restore it from a backup');
    const fd = fs.openSync(tmp, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, out);
    return report(row, out, true);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** Streams the row's bytes into `sink` (left open); returns the report and whether they matched. */
export async function getToStream(ctx: Context, row: FileRecord, sink: Writable): Promise<{ report: GetReport; mismatch?: string }> {
  const got = await streamContent(ctx, row, sink, { end: false });
  return { report: report(row, '-', got.ok), ...(got.ok ? {} : { mismatch: mismatchSentence(row, got) }) };
}

export interface ImageQuery {
  key: string;
  /** Table mode: the table, its key column, and where the bytes are. */
  table?: string;
  keyColumn?: string;
  dataColumn?: string;
  pathColumn?: string;
  index: number;
}

export interface ImageRead {
  source: string;
  key: string;
  index: number;
  format: string;
  bytes: number;
  sha256: string;
  data: Buffer;
}

/** Reads back an image migrate-images-to-db moved into the database, checked against its stored SHA-256 where one is kept. */
export async function readImage(ctx: Context, q: ImageQuery): Promise<ImageRead> {
  if (q.table === undefined) {
    const img = (await ctx.catalog.readImage({ source: 'store', key: q.key, index: q.index })) ?? (q.index === 0 ? await ctx.catalog.readImage({ originalPath: q.key }) : null);
    if (!img) throw new NotFoundError(`no image ${JSON.stringify(q.key)}${q.index ? ` [${q.index}]` : ''} in the images table`, 'store mode keys are store paths (or the original path of a --from-dir file)');
    return checkedImage(img.source, img.sourceKey, img.sourceIndex, img.format, img.sha256, img.data);
  }
  const target = checkTarget({ table: q.table, key: q.keyColumn ?? 'id', pathColumn: q.pathColumn ?? 'path', ...(q.dataColumn ? { dataColumn: q.dataColumn } : {}) });
  if (!target.dataColumn) {
    if (!q.pathColumn) throw new UsageError('table mode without --data-column reads storectl\'s images table: pass --path-column (as migrate-images-to-db was given)');
    const source = `${target.table}.${target.pathColumn}`;
    const img = await ctx.catalog.readImage({ source, key: q.key, index: q.index });
    if (!img) throw new NotFoundError(`no image for ${target.table} key ${JSON.stringify(q.key)}${q.index ? ` [${q.index}]` : ''} in the images table`);
    return checkedImage(img.source, img.sourceKey, img.sourceIndex, img.format, img.sha256, img.data);
  }
  let value: unknown;
  try {
    value = await ctx.catalog.readUserRowData(target, q.key);
  } catch (err) {
    throw new UsageError(`cannot read ${target.table}.${target.dataColumn}: ${errorMessage(err)}`, 'check --table, --key and --data-column');
  }
  if (value === undefined) throw new NotFoundError(`no row of ${target.table} with ${target.key} = ${JSON.stringify(q.key)}`);
  const { userRowElement } = await import('../../db/access.ts');
  const data = userRowElement(value, q.index);
  if (!data) throw new NotFoundError(`${target.table} ${target.key} = ${JSON.stringify(q.key)} has no image in ${target.dataColumn}${q.index ? ` at index ${q.index}` : ''} (not migrated, or cleared)`);
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
  return { source: `${target.table}.${target.dataColumn}`, key: q.key, index: q.index, format: sniffImageFormat(buf), bytes: buf.length, sha256: sha256(buf), data: buf };
}

function checkedImage(source: string, key: string, index: number, format: string, expected: string, data: Buffer): ImageRead {
  const got = sha256(data);
  if (got !== expected) throw new IntegrityError(`image ${source} ${key} [${index}]: stored bytes hash to ${got}, the row records ${expected}`);
  return { source, key, index, format, bytes: data.length, sha256: got, data };
}

function sniffImageFormat(b: Buffer): string {
  if (b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  if (b.length >= 8 && b[0] === 0x89 && b.toString('latin1', 1, 4) === 'PNG') return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8) return 'jpeg';
  return 'unknown';
}

/** Writes an image read back to a file (temp + fsync + rename). */
export function writeImageFile(out: string, data: Buffer): void {
  if (fs.statSync(out, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`-o ${out} is a directory`, 'name the file to write');
  try {
    writeFileAtomicSync(path.resolve(out), data);
  } catch (err) {
    throw new FailedError(`cannot write ${out}: ${errorMessage(err)}`);
  }
}
