// The one way access commands read a file row's content: streamed, hashed while read, and
// judged against the row's size and SHA-256 (get, export; url serves only rows read this way).
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Context } from '../../context.ts';
import type { FileRecord } from '../../db/types.ts';
import { IntegrityError, errorMessage } from '../../errors.ts';

export interface ReadOutcome {
  size: number;
  sha256: string;
  /** Size and SHA-256 equal the row's. */
  ok: boolean;
}

/** A readable stream of a row's bytes (no symlink followed on the way or at the end). */
export function openContent(ctx: Pick<Context, 'blobs'>, row: Pick<FileRecord, 'path'>): fs.ReadStream {
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
export async function streamContent(ctx: Pick<Context, 'blobs'>, row: Pick<FileRecord, 'path' | 'size' | 'sha256'>, sink: Writable, opts: { end?: boolean } = {}): Promise<ReadOutcome> {
  const h = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  await pipeline(openContent(ctx, row), tap, sink, { end: opts.end ?? true });
  const sha256 = h.digest('hex');
  return { size, sha256, ok: size === row.size && sha256 === row.sha256 };
}

export function mismatchSentence(row: Pick<FileRecord, 'path' | 'size' | 'sha256'>, got: ReadOutcome): string {
  return got.size !== row.size
    ? `${row.path}: read ${got.size} bytes, the catalog records ${row.size}`
    : `${row.path}: SHA-256 ${got.sha256} does not match the catalog's ${row.sha256}`;
}
