// Reads a backup archive entry by entry, tar (gzipped or not) or zip, whichever the file is.
// Entries come out as they are stored, with their kind: deciding what is acceptable (no
// links, no devices, no `..`) is the caller's job (verify.ts), so nothing here touches disk
// beyond reading the archive.
import fs from 'node:fs';
import { pipeline } from 'node:stream';
import zlib from 'node:zlib';
import tarStream from 'tar-stream';

export type EntryKind = 'file' | 'directory' | 'symlink' | 'hardlink' | 'device' | 'other';

export interface ArchiveEntry {
  name: string;
  kind: EntryKind;
  size: number;
  /** The entry's bytes; read it at most once, before asking for the next entry. */
  chunks(): AsyncIterable<Buffer>;
}

/** The archive cannot be read: truncated, corrupt, or not an archive at all. */
export class ArchiveFormatError extends Error {}

export function detectFormat(file: string): 'tar.gz' | 'tar' | 'zip' {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(512);
    const n = fs.readSync(fd, head, 0, 512, 0);
    if (n >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'tar.gz';
    if (n >= 4 && head.readUInt32LE(0) === 0x04034b50) return 'zip';
    if (n >= 4 && head.readUInt32LE(0) === 0x06054b50) return 'zip';
    if (n === 512 && head.toString('ascii', 257, 262) === 'ustar') return 'tar';
    throw new ArchiveFormatError('not a tar.gz, tar or zip archive');
  } finally {
    fs.closeSync(fd);
  }
}

export function readArchive(file: string): AsyncGenerator<ArchiveEntry> {
  const format = detectFormat(file);
  return format === 'zip' ? readZip(file) : readTar(file, format === 'tar.gz');
}

function tarKind(type: string | null | undefined): EntryKind {
  switch (type) {
    case 'file':
    case 'contiguous-file':
      return 'file';
    case 'directory':
      return 'directory';
    case 'symlink':
      return 'symlink';
    case 'link':
      return 'hardlink';
    case 'character-device':
    case 'block-device':
    case 'fifo':
      return 'device';
    default:
      return 'other';
  }
}

async function* readTar(file: string, gzipped: boolean): AsyncGenerator<ArchiveEntry> {
  const extract = tarStream.extract();
  let failure: Error | undefined;
  const source = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  const done = (err?: Error | null) => {
    if (err) failure ??= err;
  };
  if (gzipped) pipeline(source, zlib.createGunzip({ chunkSize: 256 * 1024 }), extract, done);
  else pipeline(source, extract, done);
  try {
    for await (const entry of extract) {
      let consumed = false;
      yield {
        name: entry.header.name,
        kind: tarKind(entry.header.type),
        size: entry.header.size ?? 0,
        chunks: () => {
          consumed = true;
          return entry as AsyncIterable<Buffer>;
        },
      };
      if (!consumed) for await (const _ of entry) void _;
    }
  } catch (err) {
    throw new ArchiveFormatError(`archive is truncated or corrupt: ${(failure ?? (err as Error)).message}`);
  } finally {
    extract.destroy();
    source.destroy();
  }
  if (failure) throw new ArchiveFormatError(`archive is truncated or corrupt: ${failure.message}`);
}

// ---------------------------------------------------------------- zip

const MAX32 = 0xffffffff;

/** Sequential reads through a file region, refilled a MiB at a time. */
class Cursor {
  private buf = Buffer.alloc(0);
  private at = 0;
  constructor(
    private readonly fd: number,
    private pos: number,
    private readonly end: number,
  ) {}
  take(n: number): Buffer {
    if (this.at + n > this.buf.length) {
      const rest = this.buf.subarray(this.at);
      const want = Math.max(n - rest.length, 1 << 20);
      const more = Buffer.alloc(Math.min(want, this.end - this.pos));
      const got = more.length ? fs.readSync(this.fd, more, 0, more.length, this.pos) : 0;
      this.pos += got;
      this.buf = Buffer.concat([rest, more.subarray(0, got)]);
      this.at = 0;
      if (n > this.buf.length) throw new ArchiveFormatError('zip central directory is truncated');
    }
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
}

function readAt(fd: number, pos: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  const got = fs.readSync(fd, b, 0, n, pos);
  if (got !== n) throw new ArchiveFormatError('zip archive is truncated');
  return b;
}

function findCentralDirectory(fd: number, size: number): { offset: number; size: number; entries: number } {
  const tail = Math.min(size, 22 + 0xffff);
  const b = readAt(fd, size - tail, tail);
  let i = b.length - 22;
  while (i >= 0 && b.readUInt32LE(i) !== 0x06054b50) i--;
  if (i < 0) throw new ArchiveFormatError('zip archive is truncated (no end of central directory)');
  let entries = b.readUInt16LE(i + 10);
  let cdSize = b.readUInt32LE(i + 12);
  let cdOffset = b.readUInt32LE(i + 16);
  const locAt = i - 20;
  if (locAt >= 0 && b.readUInt32LE(locAt) === 0x07064b50) {
    const z64 = Number(b.readBigUInt64LE(locAt + 8));
    const z = readAt(fd, z64, 56);
    if (z.readUInt32LE(0) !== 0x06064b50) throw new ArchiveFormatError('zip64 end of central directory is corrupt');
    entries = Number(z.readBigUInt64LE(32));
    cdSize = Number(z.readBigUInt64LE(40));
    cdOffset = Number(z.readBigUInt64LE(48));
  }
  if (cdOffset + cdSize > size) throw new ArchiveFormatError('zip central directory lies outside the archive');
  return { offset: cdOffset, size: cdSize, entries };
}

function zipKind(externalAttrs: number, name: string): EntryKind {
  const mode = externalAttrs >>> 16;
  const type = mode & 0o170000;
  if (name.endsWith('/') || type === 0o040000) return 'directory';
  if (type === 0o120000) return 'symlink';
  if (type === 0 || type === 0o100000) return 'file';
  return 'device';
}

async function* readZip(file: string): AsyncGenerator<ArchiveEntry> {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const cd = findCentralDirectory(fd, size);
    const cur = new Cursor(fd, cd.offset, cd.offset + cd.size);
    for (let n = 0; n < cd.entries; n++) {
      const h = cur.take(46);
      if (h.readUInt32LE(0) !== 0x02014b50) throw new ArchiveFormatError('zip central directory is corrupt');
      const method = h.readUInt16LE(10);
      const crc = h.readUInt32LE(16);
      let csize = h.readUInt32LE(20);
      let usize = h.readUInt32LE(24);
      const nameLen = h.readUInt16LE(28);
      const extraLen = h.readUInt16LE(30);
      const commentLen = h.readUInt16LE(32);
      const attrs = h.readUInt32LE(38);
      let offset = h.readUInt32LE(42);
      const name = cur.take(nameLen).toString('utf8');
      const extra = cur.take(extraLen);
      cur.take(commentLen);
      for (let e = 0; e + 4 <= extra.length; ) {
        const id = extra.readUInt16LE(e);
        const len = extra.readUInt16LE(e + 2);
        if (id === 0x0001) {
          let p = e + 4;
          const next = () => {
            const v = Number(extra.readBigUInt64LE(p));
            p += 8;
            return v;
          };
          if (usize === MAX32) usize = next();
          if (csize === MAX32) csize = next();
          if (offset === MAX32) offset = next();
        }
        e += 4 + len;
      }
      const local = readAt(fd, offset, 30);
      if (local.readUInt32LE(0) !== 0x04034b50) throw new ArchiveFormatError(`zip entry ${name} has no local header`);
      const localName = readAt(fd, offset + 30, local.readUInt16LE(26)).toString('utf8');
      if (localName !== name) throw new ArchiveFormatError(`zip entry ${name} disagrees with its local header (${localName})`);
      const dataAt = offset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
      if (dataAt + csize > size) throw new ArchiveFormatError(`zip entry ${name} lies outside the archive`);
      if (method !== 0 && method !== 8) throw new ArchiveFormatError(`zip entry ${name} uses unsupported method ${method}`);
      yield {
        name,
        kind: zipKind(attrs, name),
        size: usize,
        chunks: () => zipChunks(fd, dataAt, csize, usize, method, crc, name),
      };
    }
  } finally {
    fs.closeSync(fd);
  }
}

async function* zipChunks(fd: number, at: number, csize: number, usize: number, method: number, crc: number, name: string): AsyncGenerator<Buffer> {
  let got = 0;
  let sum = 0;
  const check = (b: Buffer) => {
    got += b.length;
    sum = zlib.crc32(b, sum);
    if (got > usize) throw new ArchiveFormatError(`zip entry ${name} is longer than recorded`);
    return b;
  };
  if (method === 0) {
    for (let done = 0; done < csize; ) {
      const b = readAt(fd, at + done, Math.min(1 << 20, csize - done));
      done += b.length;
      yield check(b);
    }
  } else if (csize > 0) {
    const inflate = zlib.createInflateRaw();
    const source = fs.createReadStream('', { fd, start: at, end: at + csize - 1, autoClose: false, highWaterMark: 1 << 20 });
    let failure: Error | undefined;
    pipeline(source, inflate, (err) => {
      if (err) failure = err;
    });
    try {
      for await (const b of inflate) yield check(b as Buffer);
    } catch (err) {
      throw new ArchiveFormatError(`zip entry ${name} is corrupt: ${(failure ?? (err as Error)).message}`);
    }
    if (failure) throw new ArchiveFormatError(`zip entry ${name} is corrupt: ${failure.message}`);
  }
  if (got !== usize || (sum >>> 0) !== crc >>> 0) throw new ArchiveFormatError(`zip entry ${name} fails its CRC-32 or size check`);
}
