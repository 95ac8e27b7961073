// The one way access commands read a file row's content: streamed, hashed while read, and
// judged against the row's size and SHA-256 (get, export; url serves only rows read this way).
// A local tree is read through a descriptor opened without following a symlink; an S3 store
// through the BlobStore (ctx.store), the object streamed as it arrives.
import fs from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Context } from '../../context.ts';
import type { FileRecord } from '../../db/types.ts';
import { FailedError, IntegrityError, StorectlError, errorMessage } from '../../errors.ts';
import { BlobNotFoundError } from '../../storage/blob.ts';
import { hashingTap } from '../../storage/hash.ts';

export interface ReadOutcome {
  size: number;
  sha256: string;
  /** Size and SHA-256 equal the row's. */
  ok: boolean;
}

/** A readable stream of a row's bytes: the local file (no symlink followed) or the S3 object. */
export async function openContent(ctx: Pick<Context, 'blobs' | 'store'>, row: Pick<FileRecord, 'path'>): Promise<Readable> {
  if (ctx.store.capabilities.kind !== 'local') return openObject(ctx, row);
  return openLocalFile(ctx, row);
}

async function openObject(ctx: Pick<Context, 'store'>, row: Pick<FileRecord, 'path'>): Promise<Readable> {
  try {
    return await ctx.store.get(row.path);
  } catch (err) {
    if (err instanceof BlobNotFoundError) {
      throw new IntegrityError(`${row.path} is recorded as present but is not in the store (${ctx.store.url})`, 'storectl stats --check-disk shows the drift; restore it from a backup');
    }
    if (err instanceof StorectlError) throw err;
    throw new FailedError(`cannot read ${row.path} from ${ctx.store.url}: ${errorMessage(err)}`);
  }
}

function openLocalFile(ctx: Pick<Context, 'blobs'>, row: Pick<FileRecord, 'path'>): fs.ReadStream {
  const abs = ctx.blobs.abs(row.path);
  let fd: number;
  try {
    fd = fs.openSync(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new IntegrityError(`${row.path} is recorded as present but is not on disk`, 'storectl stats --check-disk shows the drift; restore it from a backup');
    if (code === 'ELOOP') throw new IntegrityError(`${row.path} is a symlink in the store: refused`);
    throw new IntegrityError(`cannot read ${row.path}: ${errorMessage(err)}`);
  }
  return fs.createReadStream('', { fd, highWaterMark: 1 << 20 });
}

/** Pipes a row's bytes into `sink`, hashing them on the way; `end: false` leaves the sink open (stdout). */
export async function streamContent(ctx: Pick<Context, 'blobs' | 'store'>, row: Pick<FileRecord, 'path' | 'size' | 'sha256'>, sink: Writable, opts: { end?: boolean } = {}): Promise<ReadOutcome> {
  const hashed = hashingTap();
  const source = await openContent(ctx, row);
  let sourceFailed = false;
  source.once('error', () => (sourceFailed = true));
  try {
    await pipeline(source, hashed.tap, sink, { end: opts.end ?? true });
  } catch (err) {
    // The object's stream broke off (a reset connection, a timeout): one line, not the SDK's.
    if (!sourceFailed || err instanceof StorectlError || ctx.store.capabilities.kind === 'local') throw err;
    throw new FailedError(`reading ${row.path} from ${ctx.store.url} failed after ${hashed.bytes()} bytes: ${errorMessage(err)}`);
  }
  const sha256 = hashed.digest();
  const size = hashed.bytes();
  return { size, sha256, ok: size === row.size && sha256 === row.sha256 };
}

export function mismatchSentence(row: Pick<FileRecord, 'path' | 'size' | 'sha256'>, got: ReadOutcome): string {
  return got.size !== row.size
    ? `${row.path}: read ${got.size} bytes, the catalog records ${row.size}`
    : `${row.path}: SHA-256 ${got.sha256} does not match the catalog's ${row.sha256}`;
}
