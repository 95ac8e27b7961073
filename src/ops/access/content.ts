// The one way commands read a file row's content: from the tier the row names, decoded as its
// encoding says, streamed, hashed while read, and judged against the row's size and SHA-256 (get,
// export, tier transitions; url serves only rows read this way). The local hot tree is read
// through a descriptor opened without following a symlink; every other place through its
// BlobStore (ctx.store, or the tier's from ctx.tiers), the object streamed as it arrives.
import fs from 'node:fs';
import { PassThrough, Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { tierStore, type Context } from '../../context.ts';
import type { FileRecord } from '../../db/types.ts';
import { FailedError, IntegrityError, StorectlError, errorMessage } from '../../errors.ts';
import { BlobNotFoundError, type BlobStore } from '../../storage/blob.ts';
import { hashingTap } from '../../storage/hash.ts';
import { decompressor, encodingAvailable, parseCompressMarker } from '../../storage/encoding.ts';

export interface ReadOutcome {
  size: number;
  sha256: string;
  /** Size and SHA-256 equal the row's. */
  ok: boolean;
}

/** What a reader needs of a row to find its bytes: where (tier), and how they are stored there. */
export type ContentRow = Pick<FileRecord, 'path'> & Partial<Pick<FileRecord, 'tier' | 'encoding' | 'storedSize' | 'tierTarget' | 'size' | 'pack' | 'packOffset'>>;
type ContentContext = Pick<Context, 'blobs' | 'store' | 'tiers'>;

/**
 * A readable stream of a row's original bytes, from the tier the row names: the local hot file
 * (no symlink followed), or the tier's BlobStore (a second local tree, an S3 bucket). A row with
 * an encoding is decoded on the way (the compression part of issue 21 wires the decoders in
 * `decodeStored`); the caller hashes what comes out against the row's size and SHA-256.
 */
export async function openContent(ctx: ContentContext, row: ContentRow): Promise<Readable> {
  const encoding = await storedEncoding(ctx, row);
  return decodeStored({ ...row, encoding }, await openStored(ctx, row));
}

/**
 * The encoding the row's bytes are stored with. A compression in flight (tier_target
 * `=ENCODING:STORED_SIZE`, src/storage/encoding.ts) has replaced the file or not yet: the file's
 * size tells which (the compressed copy is always smaller than the original).
 */
async function storedEncoding(ctx: ContentContext, row: ContentRow): Promise<string | null> {
  const pending = row.pack ? null : parseCompressMarker(row.tierTarget);
  if (!pending) return row.encoding ?? null;
  const store = await tierStore(ctx, row.tier ?? 'hot');
  const head = await store.stat(row.path);
  return head && head.size === pending.storedSize && pending.storedSize !== row.size ? pending.encoding : (row.encoding ?? null);
}

/** The row's bytes as stored in its tier (still encoded, storedSize long). */
export async function openStored(ctx: ContentContext, row: ContentRow): Promise<Readable> {
  const tier = row.tier ?? 'hot';
  if (row.pack) return openPacked(await tierStore(ctx, tier), row, tier);
  if (tier === 'hot') {
    if (ctx.store.capabilities.kind !== 'local') return openObject(ctx.store, row, tier);
    return openLocalFile(ctx, row);
  }
  return openObject(await tierStore(ctx, tier), row, tier);
}

/** Turns stored bytes into the original ones: as they are, or through the encoding's decoder. */
export function decodeStored(row: ContentRow, stored: Readable): Readable {
  const e = row.encoding;
  if (e === null || e === undefined) return stored;
  if (!encodingAvailable(e)) {
    stored.destroy();
    throw new FailedError(`${row.path} is stored with encoding ${e}, which this storectl (Node ${process.version}) cannot decode`, e === 'zstd' ? 'run storectl on Node 22.15 or later (node:zlib has zstd there)' : 'upgrade storectl');
  }
  const decoder = decompressor(e);
  // A stored copy that does not decode is not the file: an integrity problem, one line.
  pipeline(stored, decoder).catch(() => {});
  const out = decoder.on('error', () => {});
  const wrapped = new PassThrough();
  out.pipe(wrapped);
  out.on('error', (err) => wrapped.destroy(err instanceof StorectlError ? err : new IntegrityError(`${row.path}: its stored ${e} data does not decode (${errorMessage(err)})`, 'verify --repair-from BACKUP restores it')));
  stored.on('error', (err) => wrapped.destroy(err));
  return wrapped;
}

async function openObject(store: BlobStore, row: ContentRow, tier: string): Promise<Readable> {
  const where = tier === 'hot' ? `the store (${store.url})` : `tier ${tier} (${store.url})`;
  try {
    return await store.get(row.path);
  } catch (err) {
    if (err instanceof BlobNotFoundError) {
      throw new IntegrityError(`${row.path} is recorded as present but is not in ${where}`, 'storectl stats --check-disk shows the drift; restore it from a backup');
    }
    if (err instanceof StorectlError) throw err;
    throw new FailedError(`cannot read ${row.path} from ${tier === 'hot' ? store.url : where}: ${errorMessage(err)}`);
  }
}

/**
 * A packed row's stored bytes: one ranged GET of its slice of the pack object (pack-format.ts).
 * The caller's hash of the original bytes is the check (a short or wrong slice does not match).
 */
async function openPacked(store: BlobStore, row: ContentRow, tier: string): Promise<Readable> {
  const length = row.storedSize ?? row.size;
  const offset = row.packOffset;
  if (length === undefined || offset === null || offset === undefined) throw new IntegrityError(`${row.path}: its row names pack ${row.pack} but no place in it`, 'storectl verify names the damage; restore it from a backup');
  if (length === 0) return Readable.from([]);
  try {
    return await store.get(row.pack!, { start: offset, end: offset + length - 1 });
  } catch (err) {
    if (err instanceof BlobNotFoundError) {
      throw new IntegrityError(`${row.path} is recorded as present but its pack ${row.pack} is not in tier ${tier} (${store.url})`, 'storectl stats --check-disk shows the drift; restore it from a backup');
    }
    if (err instanceof StorectlError) throw err;
    throw new FailedError(`cannot read ${row.path} from its pack ${row.pack} in tier ${tier}: ${errorMessage(err)}`);
  }
}

function openLocalFile(ctx: Pick<Context, 'blobs'>, row: ContentRow): fs.ReadStream {
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
export async function streamContent(ctx: ContentContext, row: ContentRow & Pick<FileRecord, 'size' | 'sha256'>, sink: Writable, opts: { end?: boolean } = {}): Promise<ReadOutcome> {
  const hashed = hashingTap();
  const source = await openContent(ctx, row);
  let sourceFailed = false;
  source.once('error', () => (sourceFailed = true));
  try {
    await pipeline(source, hashed.tap, sink, { end: opts.end ?? true });
  } catch (err) {
    // The object's stream broke off (a reset connection, a timeout): one line, not the SDK's.
    if (!sourceFailed || err instanceof StorectlError || ((row.tier ?? 'hot') === 'hot' && ctx.store.capabilities.kind === 'local')) throw err;
    throw new FailedError(`reading ${row.path} from ${(row.tier ?? 'hot') === 'hot' ? ctx.store.url : `tier ${row.tier}`} failed after ${hashed.bytes()} bytes: ${errorMessage(err)}`);
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
