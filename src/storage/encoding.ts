// How a file's bytes may be stored in a tier: as they are (null), or compressed with one of
// node:zlib's codecs. The catalog keeps size and SHA-256 of the original bytes; the row's
// `encoding` names the codec and `stored_size` what is stored.
import zlib from 'node:zlib';
import type { Transform } from 'node:stream';

export const ENCODINGS = ['gzip', 'br', 'zstd'] as const;
export type Encoding = (typeof ENCODINGS)[number];

type ZstdZlib = { createZstdCompress?: (o?: object) => Transform; createZstdDecompress?: () => Transform };

/** Whether this Node's zlib has the codec (zstd: Node 22.15 and later). */
export function encodingAvailable(e: string): e is Encoding {
  if (e === 'gzip' || e === 'br') return true;
  if (e === 'zstd') return typeof (zlib as unknown as ZstdZlib).createZstdDecompress === 'function';
  return false;
}

export function compressor(e: Encoding): Transform {
  if (e === 'gzip') return zlib.createGzip({ level: 6 });
  if (e === 'br') return zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } });
  const z = zlib as unknown as ZstdZlib;
  if (!z.createZstdCompress) throw new Error(`this Node (${process.version}) has no zstd in node:zlib`);
  return z.createZstdCompress();
}

export function decompressor(e: Encoding): Transform {
  if (e === 'gzip') return zlib.createGunzip();
  if (e === 'br') return zlib.createBrotliDecompress();
  const z = zlib as unknown as ZstdZlib;
  if (!z.createZstdDecompress) throw new Error(`this Node (${process.version}) has no zstd in node:zlib`);
  return z.createZstdDecompress();
}

/**
 * A compression in flight is recorded in files.tier_target as `=ENCODING:STORED_SIZE` (tier
 * names never start with '='; a transition's intents are a tier name or '-TIER'). While it is
 * set, the file in the row's tier is either the original (`size` bytes) or the compressed copy
 * (STORED_SIZE bytes, always fewer): its size tells which.
 */
export function compressMarker(e: Encoding, storedSize: number): string {
  return `=${e}:${storedSize}`;
}

export function parseCompressMarker(t: string | null | undefined): { encoding: Encoding; storedSize: number } | null {
  const m = t ? /^=(gzip|br|zstd):(\d+)$/.exec(t) : null;
  return m ? { encoding: m[1] as Encoding, storedSize: Number(m[2]) } : null;
}

export const isCompressMarker = (t: string | null | undefined) => typeof t === 'string' && t.startsWith('=');
