import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { validateCardData } from './card-data.ts';
import type { CardData } from './card-data.ts';
import { PHOTO_BOX, drawBack, drawFront } from './card-layout.ts';
import type { Photo } from './card-layout.ts';
import { cardPdf, parsePng } from './pdf.ts';
import { registerFonts } from './text.ts';

export { validateCardData } from './card-data.ts';
export type { CardData, CardDataResult } from './card-data.ts';

export const GENERATOR_VERSION = 'storectl-card/1';

export interface RenderedFile {
  role: 'front.png' | 'back.png' | 'front.pdf' | 'back.pdf' | 'combined.pdf';
  contentType: string;
  bytes: Buffer;
}

export class RenderError extends Error {
  override name = 'RenderError';
}

export interface RenderOptions {
  /** Directory that a relative `photo` path is resolved against; defaults to the working directory. */
  baseDir?: string;
}

const MAX_PHOTO_PIXELS = 50_000_000;
const MAX_PHOTO_BYTES = 50 * 1024 * 1024;
const PHOTO_FORMATS = new Set(['jpeg', 'png', 'webp', 'heif', 'tiff', 'gif']);

async function loadPhoto(file: string): Promise<Photo> {
  let bytes: Buffer;
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new RenderError(`photo is not an image: ${file}`);
    if (st.size > MAX_PHOTO_BYTES) throw new RenderError(`photo is too large: ${file}`);
    bytes = await readFile(file);
  } catch (err) {
    if (err instanceof RenderError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new RenderError(`photo not found: ${file}`);
    throw new RenderError(`photo cannot be read: ${file} (${code ?? 'error'})`);
  }
  const image = sharp(bytes, { limitInputPixels: MAX_PHOTO_PIXELS });
  let format: string | undefined;
  try {
    format = (await image.metadata()).format;
  } catch (err) {
    throw decodeError(err, file);
  }
  // Vector and document formats (SVG, PDF) could pull in other files or fonts.
  if (!format || !PHOTO_FORMATS.has(format)) throw new RenderError(`photo format is not supported (${format}): ${file}`);
  try {
    const { data, info } = await image
      .rotate()
      .resize(PHOTO_BOX.width, PHOTO_BOX.height, { fit: 'cover', position: 'centre' })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`unexpected ${info.channels} channels`);
    return { data, width: info.width, height: info.height };
  } catch (err) {
    throw decodeError(err, file);
  }
}

function decodeError(err: unknown, file: string): RenderError {
  if (err instanceof Error && /pixel limit/i.test(err.message)) {
    return new RenderError(`photo is too large: ${file} (over ${MAX_PHOTO_PIXELS / 1e6} megapixels)`);
  }
  return new RenderError(`photo is not an image: ${file}`);
}

/**
 * Renders both sides of the card as PNG and PDF. Output is byte-for-byte
 * reproducible for the same data, photo bytes and library versions.
 */
export async function renderCard(data: CardData, opts: RenderOptions = {}): Promise<RenderedFile[]> {
  const checked = validateCardData(data);
  if (!checked.ok) throw new RenderError(`invalid card data: ${checked.field} ${checked.message}`);
  const card = checked.data;

  const photoPath = card.photo === undefined ? undefined : path.resolve(opts.baseDir ?? process.cwd(), card.photo);
  const [photo] = await Promise.all([photoPath ? loadPhoto(photoPath) : undefined, registerFonts()]);
  const [frontPng, backPng] = await Promise.all([drawFront(card, photo), drawBack(card)]);

  const front = parsePng(frontPng);
  const back = parsePng(backPng);
  const meta = {
    title: `Driving licence ${card.licenceNumber}`,
    creator: 'storectl',
    producer: GENERATOR_VERSION,
    date: new Date(`${card.issueDate}T00:00:00Z`),
  };
  const [frontPdf, backPdf, combinedPdf] = await Promise.all([
    cardPdf([front], meta),
    cardPdf([back], meta),
    cardPdf([front, back], meta),
  ]);
  return [
    { role: 'front.png', contentType: 'image/png', bytes: frontPng },
    { role: 'back.png', contentType: 'image/png', bytes: backPng },
    { role: 'front.pdf', contentType: 'application/pdf', bytes: frontPdf },
    { role: 'back.pdf', contentType: 'application/pdf', bytes: backPdf },
    { role: 'combined.pdf', contentType: 'application/pdf', bytes: combinedPdf },
  ];
}
