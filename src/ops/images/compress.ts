// One image in, one verified WebP out: EXIF orientation applied, longest side at most
// 1024 px, alpha flattened onto white, quality ladder until the result fits the size cap.
import { createHash } from 'node:crypto';
import sharp, { type OutputInfo, type Sharp } from 'sharp';

export interface CompressOptions {
  /** Longest side of the result, in pixels. */
  maxSide: number;
  /** Size cap of the result, in bytes. */
  maxBytes: number;
  /** WebP qualities tried in order until the result fits. */
  qualities: readonly number[];
  /** Refuse inputs with more pixels than this (decompression bombs). */
  maxInputPixels: number;
  /** libwebp method 0-6: CPU spent per image for smaller files (4 is cwebp's and Pillow's default). */
  effort: number;
}

export const DEFAULT_COMPRESS: CompressOptions = {
  maxSide: 1024,
  maxBytes: 500 * 1024,
  qualities: [85, 75, 60, 50, 40],
  maxInputPixels: 100_000_000,
  effort: 4,
};

export interface Compressed {
  data: Buffer;
  sha256: string;
  width: number;
  height: number;
  quality: number;
  /** Source format as the decoder saw it (jpeg, png, webp, gif, ...). */
  sourceFormat: string;
  /** True when the image had to go below maxSide to fit maxBytes at the lowest quality. */
  downscaled: boolean;
}

/** Why an image cannot be migrated: a reason a person can act on. */
export class ImageRejected extends Error {
  constructor(
    readonly kind: 'not_an_image' | 'corrupt' | 'too_many_pixels' | 'unfit',
    message: string,
  ) {
    super(message);
  }
}

/** What a decoder reports about an image before it decodes it (sharp's metadata, in part). */
export interface ImageHeader {
  format?: string;
  width?: number;
  height?: number;
  channels?: number;
  /** Progressive JPEG, interlaced PNG or GIF. */
  isProgressive?: boolean;
}

/**
 * Working memory one compression of this image needs, in bytes: an estimate that errs high.
 * Measured with real 2560-5120 px wallpapers (bench/results/images-rss.md): a baseline JPEG or a
 * PNG streams through shrink-on-load in a few lines (0.5-2.5 bytes a pixel); a progressive
 * JPEG keeps every DCT coefficient of the whole image (2 bytes a sample: 88 MB for a 5120x2880
 * 4:4:4 one); an interlaced PNG and other formats are decoded whole.
 */
export function decodeCost(h: ImageHeader): number {
  const pixels = (h.width ?? 0) * (h.height ?? 0);
  const channels = Math.max(3, h.channels ?? 3);
  const fixed = 8 * 1024 * 1024;
  if (h.format === 'jpeg') return fixed + Math.ceil(h.isProgressive ? pixels * channels * 2 : pixels * 0.75);
  if (h.format === 'png' && !h.isProgressive) return fixed + pixels * 2.5;
  return fixed + pixels * (channels + 1);
}

/** Maps sharp/libvips errors to a short reason; anything unknown stays "corrupt". */
function rejection(err: unknown): ImageRejected {
  const msg = err instanceof Error ? err.message : String(err);
  if (/unsupported image format|bad seek|not a known file format/i.test(msg)) return new ImageRejected('not_an_image', 'not an image (unsupported or unrecognised format)');
  if (/pixel limit/i.test(msg)) return new ImageRejected('too_many_pixels', 'image has more pixels than the limit (possible decompression bomb)');
  return new ImageRejected('corrupt', `corrupt image: ${msg.split('\n')[0]}`);
}

/**
 * Compresses one image held in memory. Decodes once to a flattened, oriented, resized
 * RGB raster, encodes WebP from it down the quality ladder, and, when even the lowest
 * quality is over the cap, shrinks the raster until it fits. The chosen WebP is decoded
 * again and its size checked before it is returned: a broken result is never handed on.
 */
export async function compressImage(input: Buffer, opts: CompressOptions = DEFAULT_COMPRESS, admit?: Admission): Promise<Compressed> {
  let release: (() => void) | undefined;
  try {
    return await compressAdmitted(input, opts, async (header) => {
      release = await admit?.(header);
    });
  } finally {
    release?.();
  }
}

/**
 * Waits until the image, of the header given, may be decoded (a memory budget shared by the
 * pipelines of a process), and returns the function that gives its share back.
 */
export type Admission = (header: ImageHeader) => Promise<() => void>;

async function compressAdmitted(input: Buffer, opts: CompressOptions, admitted: (header: ImageHeader) => Promise<void>): Promise<Compressed> {
  const open = () => sharp(input, { limitInputPixels: opts.maxInputPixels, failOn: 'warning', sequentialRead: true });
  // Orient, fit inside maxSide, flatten onto white, sRGB: the same raster for every attempt.
  const prepare = (p: Sharp) =>
    p.rotate().resize(opts.maxSide, opts.maxSide, { fit: 'inside', withoutEnlargement: true }).flatten({ background: '#ffffff' }).toColourspace('srgb').removeAlpha();
  let sourceFormat: string;
  let first: { data: Buffer; info: OutputInfo };
  const [q0, ...lower] = opts.qualities;
  try {
    // failOn 'warning' turns libjpeg's "premature end of data" (a truncated file) into an error.
    const img = open();
    const header = await img.metadata();
    sourceFormat = header.format ?? 'unknown';
    await admitted(header);
    // Most images fit at the first quality: one streaming pass, decode to WebP.
    first = await prepare(img).webp({ quality: q0!, effort: opts.effort }).toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw rejection(err);
  }
  let data = first.data;
  let quality = q0!;
  let width = first.info.width;
  let height = first.info.height;
  let downscaled = false;
  if (data.length > opts.maxBytes) {
    // Decode once more, to a raster every lower quality and smaller size is encoded from.
    const raster = await prepare(open()).raw().toBuffer({ resolveWithObject: true });
    const { channels } = raster.info;
    const encode = (q: number, w: number, h: number) => {
      let p = sharp(raster.data, { raw: { width: raster.info.width, height: raster.info.height, channels } });
      if (w !== raster.info.width || h !== raster.info.height) p = p.resize(w, h, { fit: 'fill' });
      return p.webp({ quality: q, effort: opts.effort }).toBuffer();
    };
    for (const q of lower) {
      quality = q;
      data = await encode(q, width, height);
      if (data.length <= opts.maxBytes) break;
    }
    while (data.length > opts.maxBytes) {
      // Bytes scale roughly with area: aim a little under the cap.
      const f = Math.min(0.9, Math.sqrt(opts.maxBytes / data.length) * 0.95);
      const w = Math.max(1, Math.floor(width * f));
      const h = Math.max(1, Math.floor(height * f));
      if (w === width && h === height) throw new ImageRejected('unfit', `cannot fit under ${opts.maxBytes} bytes`);
      width = w;
      height = h;
      downscaled = true;
      data = await encode(quality, width, height);
    }
  }
  await verifyWebp(data, width, height);
  return { data, sha256: createHash('sha256').update(data).digest('hex'), width, height, quality, sourceFormat, downscaled };
}

/** Decodes a WebP fully and checks its dimensions; throws when it does not round-trip. */
export async function verifyWebp(data: Buffer, width: number, height: number): Promise<void> {
  let info: OutputInfo;
  try {
    ({ info } = await sharp(data, { failOn: 'warning' }).raw().toBuffer({ resolveWithObject: true }));
  } catch (err) {
    throw new ImageRejected('corrupt', `encoded WebP does not decode: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (info.format !== 'raw' || info.width !== width || info.height !== height) {
    throw new ImageRejected('corrupt', `encoded WebP decodes to ${info.width}x${info.height}, expected ${width}x${height}`);
  }
}
