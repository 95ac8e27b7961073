import { createHash } from 'node:crypto';
import sharp from 'sharp';
import type { CardData } from './card-data.ts';
import { ISSUER_CODE, mrzLines } from './mrz.ts';
import { Canvas } from './raster.ts';
import type { RawLayer, Rgb } from './raster.ts';
import { textLayer } from './text.ts';
import type { TextLayer, TextOptions } from './text.ts';

/** CR80 at 300 dpi. */
export const CARD_W = 1012;
export const CARD_H = 638;
export const PHOTO_BOX = { left: 40, top: 136, width: 268, height: 344 } as const;

/** Raw 3-channel pixels, already sized to PHOTO_BOX. */
export interface Photo {
  data: Buffer;
  width: number;
  height: number;
}

const NAVY = '#17335f';
const NAVY_LIGHT = '#2b5694';
const GOLD = '#c9a227';
const LABEL = '#4d6484';
const INK = '#0f2240';
const WHITE = '#ffffff';

const PNG_OPTIONS = { compressionLevel: 6, adaptiveFiltering: false, palette: false } as const;

function displayDate(iso: string): string {
  return `${iso.slice(8, 10)}.${iso.slice(5, 7)}.${iso.slice(0, 4)}`;
}

const f = (n: number) => n.toFixed(1);

function waves(count: number, top: number, gap: number, phase: number, color: string): string {
  let paths = '';
  for (let i = 0; i < count; i++) {
    let d = '';
    for (let x = 0; x <= CARD_W; x += 12) {
      const y = top + i * gap + 9 * Math.sin(x / 70 + i * 0.55 + phase) + 4 * Math.sin(x / 23 + i * 1.3);
      d += `${x === 0 ? 'M' : 'L'}${x} ${f(y)}`;
    }
    paths += `<path d="${d}"/>`;
  }
  return `<g fill="none" stroke="${color}" stroke-width="1.2">${paths}</g>`;
}

function rosette(cx: number, cy: number, r: number, color: string): string {
  let out = `<g fill="none" stroke="${color}" stroke-width="1.1">`;
  for (let i = 0; i < 18; i++) {
    const a = (i * Math.PI) / 9;
    out += `<circle cx="${f(cx + (r / 2) * Math.cos(a))}" cy="${f(cy + (r / 2) * Math.sin(a))}" r="${f(r / 2)}"/>`;
  }
  return `${out}</g>`;
}

function starRing(cx: number, cy: number, r: number): string {
  let out = `<g fill="${GOLD}">`;
  for (let i = 0; i < 12; i++) {
    const a = (i * Math.PI) / 6;
    const sx = cx + r * Math.sin(a);
    const sy = cy - r * Math.cos(a);
    const pts: string[] = [];
    for (let k = 0; k < 10; k++) {
      const rr = k % 2 === 0 ? 4.6 : 1.9;
      const b = (k * Math.PI) / 5;
      pts.push(`${f(sx + rr * Math.sin(b))},${f(sy - rr * Math.cos(b))}`);
    }
    out += `<polygon points="${pts.join(' ')}"/>`;
  }
  return `${out}</g>`;
}

function svgDoc(body: string): Buffer {
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${CARD_W}" height="${CARD_H}" viewBox="0 0 ${CARD_W} ${CARD_H}">` +
      `<defs><linearGradient id="bg" x1="0" y1="0" x2="1" y2="1">` +
      `<stop offset="0" stop-color="#f4f8fc"/><stop offset="0.6" stop-color="#e2edf6"/><stop offset="1" stop-color="#f3ecdc"/>` +
      `</linearGradient><linearGradient id="band" x1="0" y1="0" x2="1" y2="0">` +
      `<stop offset="0" stop-color="${NAVY}"/><stop offset="1" stop-color="${NAVY_LIGHT}"/></linearGradient></defs>` +
      `<rect width="${CARD_W}" height="${CARD_H}" fill="url(#bg)"/>${body}</svg>`,
  );
}

function frontSvg(hasPhoto: boolean): Buffer {
  const { left, top, width, height } = PHOTO_BOX;
  const cx = left + width / 2;
  const placeholder = hasPhoto
    ? ''
    : `<rect x="${left}" y="${top}" width="${width}" height="${height}" fill="#dde5ee"/>` +
      `<g fill="#a9b8c9"><circle cx="${cx}" cy="${top + 128}" r="62"/>` +
      `<path d="M${left + 22} ${top + height} C${left + 22} ${top + 250} ${cx - 60} ${top + 208} ${cx} ${top + 208} ` +
      `C${cx + 60} ${top + 208} ${left + width - 22} ${top + 250} ${left + width - 22} ${top + height} Z"/></g>`;
  return svgDoc(
    waves(17, 128, 28, 0, '#c4d5e6') +
      rosette(760, 420, 170, '#d9c48c') +
      `<rect width="${CARD_W}" height="104" fill="url(#band)"/>` +
      `<rect y="104" width="${CARD_W}" height="6" fill="${GOLD}"/>` +
      `<circle cx="948" cy="52" r="38" fill="${NAVY}" stroke="${GOLD}" stroke-width="2"/>` +
      starRing(948, 52, 27) +
      `<rect x="${left - 6}" y="${top - 6}" width="${width + 12}" height="${height + 12}" rx="6" fill="${WHITE}" stroke="#9fb3c8" stroke-width="2"/>` +
      placeholder +
      `<rect y="${CARD_H - 38}" width="${CARD_W}" height="38" fill="url(#band)"/>` +
      `<rect y="${CARD_H - 41}" width="${CARD_W}" height="3" fill="${GOLD}"/>`,
  );
}

/** A PDF417-looking block; the bars come from a hash of the card data, so they are stable but carry nothing. */
function barcode(seed: string, width: number, rows: number, rowH: number, module: number): RawLayer {
  const start = '11111111010101000';
  const stop = '111111101000101001';
  const modules = Math.floor(width / module);
  const w = modules * module;
  const data = Buffer.alloc(w * rows * rowH * 4);
  const ink = [0x11, 0x1a, 0x2b, 0xff];
  for (let r = 0; r < rows; r++) {
    let bits = '';
    for (let k = 0; bits.length < modules; k++) {
      for (const byte of createHash('sha256').update(`${seed}/${r}/${k}`).digest()) bits += byte.toString(2).padStart(8, '0');
    }
    const row = start + bits.slice(0, modules - start.length - stop.length) + stop;
    for (let m = 0; m < modules; m++) {
      if (row[m] !== '1') continue;
      for (let y = r * rowH; y < (r + 1) * rowH; y++) {
        for (let x = m * module; x < (m + 1) * module; x++) data.set(ink, (y * w + x) * 4);
      }
    }
  }
  return { data, width: w, height: rows * rowH };
}

interface BackTable {
  x: number;
  width: number;
  top: number;
  headerH: number;
  rowH: number;
  rows: number;
}

const MRZ_TOP = 470;
const PANEL = { x: 620, top: 94, width: 352, height: MRZ_TOP - 94 - 18 } as const;
const BARCODE_TOP = 372;

function backSvg(): Buffer {
  return svgDoc(
    waves(14, 96, 27, 2, '#cbd9e8') +
      `<rect width="${CARD_W}" height="72" fill="url(#band)"/>` +
      `<rect y="72" width="${CARD_W}" height="5" fill="${GOLD}"/>` +
      `<rect x="${PANEL.x}" y="${PANEL.top}" width="${PANEL.width}" height="${PANEL.height}" rx="8" fill="${WHITE}" fill-opacity="0.6" stroke="#b8c8d9" stroke-width="1.5"/>` +
      `<rect y="${MRZ_TOP}" width="${CARD_W}" height="${CARD_H - MRZ_TOP}" fill="#f8f6ef"/>` +
      `<rect y="${MRZ_TOP}" width="${CARD_W}" height="2" fill="#b8c8d9"/>`,
  );
}

function hex(color: string): Rgb {
  const n = Number.parseInt(color.slice(1), 16);
  return [n >> 16, (n >> 8) & 0xff, n & 0xff];
}

function drawTable(c: Canvas, t: BackTable): void {
  c.fillRect(t.x, t.top, t.width, t.headerH, hex(NAVY));
  for (let i = 0; i < t.rows; i++) {
    c.fillRect(t.x, t.top + t.headerH + i * t.rowH, t.width, t.rowH, hex(i % 2 ? '#e6eef7' : WHITE), 0.85);
  }
  const h = t.headerH + t.rows * t.rowH;
  const border = hex('#8aa2bd');
  c.fillRect(t.x - 1, t.top - 1, t.width + 2, 2, border);
  c.fillRect(t.x - 1, t.top + h - 1, t.width + 2, 2, border);
  c.fillRect(t.x - 1, t.top - 1, 2, h + 2, border);
  c.fillRect(t.x + t.width - 1, t.top - 1, 2, h + 2, border);
}

const backgrounds = new Map<string, Promise<Buffer>>();

/** The static artwork is rasterised once per process and kept as raw RGB (about 2 MB each). */
function background(key: string, svg: () => Buffer): Promise<Buffer> {
  let bg = backgrounds.get(key);
  if (!bg) {
    bg = sharp(svg()).removeAlpha().raw().toBuffer();
    backgrounds.set(key, bg);
    bg.catch(() => backgrounds.delete(key));
  }
  return bg;
}

function encode(canvas: Canvas): Promise<Buffer> {
  return sharp(canvas.data, { raw: { width: CARD_W, height: CARD_H, channels: 3 } })
    .withDensity(300)
    .png(PNG_OPTIONS)
    .toBuffer();
}

const label = (s: string) => textLayer(s, { font: 'sans', size: 15, color: LABEL });

/** Shrinks a single line down to `min` px, then wraps at that size. */
async function fitted(s: string, o: TextOptions, maxWidth: number, min: number): Promise<TextLayer> {
  let layer = await textLayer(s, o);
  let size = Math.floor((o.size * maxWidth) / layer.width);
  while (layer.width > maxWidth && size >= min) {
    layer = await textLayer(s, { ...o, size });
    size--;
  }
  return layer.width > maxWidth ? textLayer(s, { ...o, size: min, wrap: maxWidth }) : layer;
}

/** Wrapped text that drops to `min` px when it needs more than `maxLines` lines. */
async function fittedLines(s: string, o: TextOptions, maxLines: number, min: number): Promise<TextLayer> {
  const layer = await textLayer(s, o);
  return layer.lines > maxLines ? textLayer(s, { ...o, size: min }) : layer;
}

export async function drawFront(d: CardData, photo: Photo | undefined): Promise<Buffer> {
  const x0 = 340;
  const maxW = CARD_W - x0 - 36;
  const col2 = x0 + 300;
  const value = (s: string, o: Partial<TextOptions> = {}) =>
    textLayer(s, { font: 'bold', size: 30, color: INK, ...o });
  const cats = d.categories.join('  ');
  const base = background(photo ? 'front' : 'front-placeholder', () => frontSvg(photo !== undefined));

  const [title, subtitle, emblem, footer, nameL, name, dobL, dob, issL, iss, expL, exp, numL, num, catL, cat] =
    await Promise.all([
      textLayer('DRIVING LICENCE', { font: 'bold', size: 42, color: WHITE }),
      textLayer('UTOPIA  ·  PERMIS DE CONDUIRE  ·  FÜHRERSCHEIN', { font: 'sans', size: 17, color: '#c9d6ea' }),
      textLayer(ISSUER_CODE, { font: 'bold', size: 17, color: WHITE }),
      textLayer('UTOPIA · DRIVING LICENCE · '.repeat(5), { font: 'sans', size: 12, color: '#8fa7c8' }),
      label('1/2. NAME'),
      fitted(d.holderName, { font: 'bold', size: 36, color: INK }, maxW, 22),
      d.dateOfBirth ? label('3. DATE OF BIRTH') : undefined,
      d.dateOfBirth ? value(displayDate(d.dateOfBirth)) : undefined,
      label('4a. ISSUED'),
      value(displayDate(d.issueDate)),
      label('4b. EXPIRES'),
      value(displayDate(d.expiryDate)),
      label('5. LICENCE NO.'),
      fitted(d.licenceNumber, { font: 'monoBold', size: 30, color: INK }, maxW, 18),
      label('9. CATEGORIES'),
      value(cats, { size: cats.length > 36 ? 24 : 30, wrap: maxW }),
    ]);

  const canvas = new Canvas(CARD_W, CARD_H, await base);
  if (photo) canvas.blit(photo.data, photo.width, photo.height, PHOTO_BOX.left, PHOTO_BOX.top);
  const put = (layer: RawLayer, left: number, top: number) => canvas.draw(layer, left, top);
  put(title, 40, 20);
  put(subtitle, 42, 70);
  put(emblem, 948 - emblem.width / 2, 52 - emblem.lineHeight / 2);
  put(footer, 20, CARD_H - 27);
  const block = (l: TextLayer) => l.lines * l.lineHeight;
  let y = 134;
  const field = (l: TextLayer, v: TextLayer, x = x0) => {
    put(l, x, y);
    put(v, x, y + block(l) + 2);
    return block(l) + 2 + block(v) + 12;
  };
  y += field(nameL, name);
  if (dobL && dob) y += field(dobL, dob);
  field(expL, exp, col2);
  y += field(issL, iss);
  y += field(numL, num);
  field(catL, cat);
  return encode(canvas);
}

export async function drawBack(d: CardData): Promise<Buffer> {
  const base = background('back', backSvg);
  const n = d.categories.length;
  const table: BackTable = { x: 36, width: 560, top: PANEL.top, headerH: 34, rowH: 0, rows: n };
  table.rowH = Math.min(36, Math.floor((PANEL.height - table.headerH) / n));
  const fs = Math.max(12, Math.min(20, Math.round(table.rowH * 0.68)));
  const cols = [table.x + 20, table.x + 150, table.x + 360];
  const panelX = PANEL.x + 20;
  const panelW = PANEL.width - 40;

  const head = (s: string) => textLayer(s, { font: 'bold', size: 14, color: WHITE });
  const cell = (s: string, font: 'bold' | 'sans') => textLayer(s, { font, size: fs, color: INK });
  const [title, number, h1, h2, h3, from, until, catCells, addrL, addr, holderL, holder, mrz] = await Promise.all([
    textLayer('9. CATEGORIES  ·  ENTITLEMENTS', { font: 'bold', size: 26, color: WHITE }),
    textLayer(d.licenceNumber, { font: 'monoBold', size: 24, color: WHITE }),
    head('CAT.'),
    head('4a. VALID FROM'),
    head('4b. VALID UNTIL'),
    cell(displayDate(d.issueDate), 'sans'),
    cell(displayDate(d.expiryDate), 'sans'),
    Promise.all(d.categories.map((c) => cell(c, 'bold'))),
    d.address ? label('8. ADDRESS') : undefined,
    d.address ? fittedLines(d.address, { font: 'sans', size: 20, color: INK, wrap: panelW }, 4, 16) : undefined,
    label('1/2. HOLDER'),
    fittedLines(d.holderName, { font: 'bold', size: 20, color: INK, wrap: panelW }, 2, 16),
    textLayer(mrzLines(d).join('\n'), { font: 'mono', size: 36, color: '#1a1a1a' }),
  ]);

  const canvas = new Canvas(CARD_W, CARD_H, await base);
  drawTable(canvas, table);
  const put = (layer: RawLayer, left: number, top: number) => canvas.draw(layer, left, top);
  put(title, 40, 20);
  put(number, Math.max(CARD_W - 40 - number.width, 40 + title.width + 24), 23);
  const headY = table.top + (table.headerH - h1.lineHeight) / 2;
  [h1, h2, h3].forEach((h, i) => put(h, cols[i]!, headY));
  catCells.forEach((c, i) => {
    const y = table.top + table.headerH + i * table.rowH + (table.rowH - c.lineHeight) / 2;
    [c, from, until].forEach((l, j) => put(l, cols[j]!, y));
  });

  let y = table.top + 12;
  const field = (l: TextLayer, v: TextLayer) => {
    put(l, panelX, y);
    put(v, panelX, y + l.lineHeight + 2);
    y += l.lineHeight + 2 + v.lines * v.lineHeight + 14;
  };
  if (addrL && addr) field(addrL, addr);
  field(holderL, holder);

  put(mrz, (CARD_W - mrz.width) / 2, MRZ_TOP + (CARD_H - MRZ_TOP - mrz.lines * mrz.lineHeight) / 2);
  put(barcode(`${d.licenceNumber}\n${d.holderName}\n${d.issueDate}`, panelW, 6, 11, 2), panelX, BARCODE_TOP);
  return encode(canvas);
}
