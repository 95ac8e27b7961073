import {
  PDFDocument,
  PDFName,
  concatTransformationMatrix,
  drawObject,
  popGraphicsState,
  pushGraphicsState,
} from 'pdf-lib';

const PT_PER_MM = 72 / 25.4;
export const CARD_WIDTH_PT = 85.6 * PT_PER_MM;
export const CARD_HEIGHT_PT = 54 * PT_PER_MM;

export interface PngImage {
  width: number;
  height: number;
  /** Concatenated IDAT payload: a zlib stream of PNG-filtered scanlines. */
  idat: Buffer;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Only accepts what the card renderer emits: 8-bit RGB, non-interlaced. */
export function parsePng(png: Buffer): PngImage {
  if (png.length < 33 || !png.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG');
  const idat: Buffer[] = [];
  let width = 0;
  let height = 0;
  for (let pos = 8; pos + 8 <= png.length; ) {
    const len = png.readUInt32BE(pos);
    const type = png.toString('latin1', pos + 4, pos + 8);
    const body = png.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      if (body[8] !== 8 || body[9] !== 2 || body[12] !== 0) {
        throw new Error('PNG must be 8-bit RGB and non-interlaced');
      }
    } else if (type === 'IDAT') {
      idat.push(body);
    } else if (type === 'IEND') {
      break;
    }
    pos += 12 + len;
  }
  if (!width || idat.length === 0) throw new Error('PNG has no image data');
  return { width, height, idat: Buffer.concat(idat) };
}

export interface PdfMeta {
  title: string;
  creator: string;
  producer: string;
  date: Date;
}

/**
 * PNG IDAT data is already a valid PDF FlateDecode stream once the PNG
 * predictor is declared, so pages embed it as-is instead of letting pdf-lib
 * decode and re-deflate the pixels (pdf-lib's drawImage also names resources
 * with random suffixes, which would break byte-for-byte reproducibility).
 */
export async function cardPdf(pages: PngImage[], meta: PdfMeta): Promise<Buffer> {
  const doc = await PDFDocument.create({ updateMetadata: false });
  doc.setTitle(meta.title);
  doc.setCreator(meta.creator);
  doc.setProducer(meta.producer);
  doc.setCreationDate(meta.date);
  doc.setModificationDate(meta.date);
  for (const img of pages) {
    const ref = doc.context.register(
      doc.context.stream(img.idat, {
        Type: 'XObject',
        Subtype: 'Image',
        Width: img.width,
        Height: img.height,
        ColorSpace: 'DeviceRGB',
        BitsPerComponent: 8,
        Filter: 'FlateDecode',
        DecodeParms: { Predictor: 15, Colors: 3, BitsPerComponent: 8, Columns: img.width },
      }),
    );
    const page = doc.addPage([CARD_WIDTH_PT, CARD_HEIGHT_PT]);
    const name = PDFName.of('Card');
    page.node.setXObject(name, ref);
    page.pushOperators(
      pushGraphicsState(),
      concatTransformationMatrix(CARD_WIDTH_PT, 0, 0, CARD_HEIGHT_PT, 0, 0),
      drawObject(name),
      popGraphicsState(),
    );
  }
  const bytes = await doc.save();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
