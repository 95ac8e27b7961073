import sharp from 'sharp';
import type { CardData } from './card-data.ts';
import { ISSUER_CODE, mrzLines } from './mrz.ts';
import { overlay, textLayer } from './text.ts';
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

interface BackTable {
  x: number;
  width: number;
  top: number;
  headerH: number;
  rowH: number;
  rows: number;
}

function backSvg(t: BackTable, mrzTop: number): Buffer {
  let rows = '';
  for (let i = 0; i < t.rows; i++) {
    const y = t.top + t.headerH + i * t.rowH;
    rows += `<rect x="${t.x}" y="${y}" width="${t.width}" height="${t.rowH}" fill="${i % 2 ? '#e6eef7' : WHITE}" fill-opacity="0.85"/>`;
  }
  const tableH = t.headerH + t.rows * t.rowH;
  return svgDoc(
    waves(14, 96, 27, 2, '#cbd9e8') +
      `<rect width="${CARD_W}" height="72" fill="url(#band)"/>` +
      `<rect y="72" width="${CARD_W}" height="5" fill="${GOLD}"/>` +
      `<rect x="${t.x}" y="${t.top}" width="${t.width}" height="${t.headerH}" fill="${NAVY}"/>` +
      rows +
      `<rect x="${t.x}" y="${t.top}" width="${t.width}" height="${tableH}" fill="none" stroke="#8aa2bd" stroke-width="1.5"/>` +
      `<rect x="620" y="${t.top}" width="352" height="${mrzTop - t.top - 18}" rx="8" fill="${WHITE}" fill-opacity="0.6" stroke="#b8c8d9" stroke-width="1.5"/>` +
      `<rect y="${mrzTop}" width="${CARD_W}" height="${CARD_H - mrzTop}" fill="#f8f6ef"/>` +
      `<rect y="${mrzTop}" width="${CARD_W}" height="2" fill="#b8c8d9"/>`,
  );
}

function encode(svg: Buffer, overlays: sharp.OverlayOptions[]): Promise<Buffer> {
  return sharp(svg).composite(overlays).removeAlpha().png(PNG_OPTIONS).toBuffer();
}

const label = (s: string, color = LABEL) => textLayer(s, { font: 'sans', size: 15, color });

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

export async function drawFront(d: CardData, photo: Photo | undefined): Promise<Buffer> {
  const x0 = 340;
  const maxW = CARD_W - x0 - 36;
  const col2 = x0 + 300;
  const value = (s: string, o: Partial<TextOptions> = {}) =>
    textLayer(s, { font: 'bold', size: 30, color: INK, ...o });
  const cats = d.categories.join('  ');

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

  const out: sharp.OverlayOptions[] = [];
  if (photo) {
    out.push({
      input: photo.data,
      raw: { width: photo.width, height: photo.height, channels: 3 },
      left: PHOTO_BOX.left,
      top: PHOTO_BOX.top,
    });
  }
  out.push(
    overlay(title, 40, 20),
    overlay(subtitle, 42, 70),
    overlay(emblem, 948 - emblem.width / 2, 52 - emblem.lineHeight / 2),
    overlay(footer, 20, CARD_H - 27),
  );
  const block = (l: TextLayer) => l.lines * l.lineHeight;
  let y = 134;
  const field = (l: TextLayer, v: TextLayer, x = x0) => {
    out.push(overlay(l, x, y), overlay(v, x, y + block(l) + 2));
    return block(l) + 2 + block(v) + 12;
  };
  y += field(nameL, name);
  if (dobL && dob) y += field(dobL, dob);
  field(expL, exp, col2);
  y += field(issL, iss);
  y += field(numL, num);
  field(catL, cat);
  return encode(frontSvg(photo !== undefined), out);
}

export async function drawBack(d: CardData): Promise<Buffer> {
  const mrzTop = 470;
  const n = d.categories.length;
  const table: BackTable = { x: 36, width: 560, top: 94, headerH: 34, rowH: 0, rows: n };
  table.rowH = Math.min(36, Math.floor((mrzTop - 18 - table.top - table.headerH) / n));
  const fs = Math.max(12, Math.min(20, Math.round(table.rowH * 0.58)));
  const cols = [table.x + 20, table.x + 150, table.x + 360];
  const panelX = 640;
  const panelW = 312;

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
    d.address ? textLayer(d.address, { font: 'sans', size: 20, color: INK, wrap: panelW }) : undefined,
    label('1/2. HOLDER'),
    textLayer(d.holderName, { font: 'bold', size: 20, color: INK, wrap: panelW }),
    textLayer(mrzLines(d).join('\n'), { font: 'mono', size: 36, color: '#1a1a1a' }),
  ]);

  const out: sharp.OverlayOptions[] = [
    overlay(title, 40, 20),
    overlay(number, Math.max(CARD_W - 40 - number.width, 40 + title.width + 24), 23),
  ];
  const headY = table.top + (table.headerH - h1.lineHeight) / 2;
  out.push(overlay(h1, cols[0]!, headY), overlay(h2, cols[1]!, headY), overlay(h3, cols[2]!, headY));
  catCells.forEach((c, i) => {
    const y = table.top + table.headerH + i * table.rowH + (table.rowH - c.lineHeight) / 2;
    out.push(overlay(c, cols[0]!, y), overlay(from, cols[1]!, y), overlay(until, cols[2]!, y));
  });

  let y = table.top + 12;
  const field = (l: TextLayer, v: TextLayer) => {
    out.push(overlay(l, panelX, y), overlay(v, panelX, y + l.lineHeight + 2));
    y += l.lineHeight + 2 + v.lines * v.lineHeight + 14;
  };
  if (addrL && addr) field(addrL, addr);
  field(holderL, holder);

  out.push(overlay(mrz, (CARD_W - mrz.width) / 2, mrzTop + (CARD_H - mrzTop - mrz.lines * mrz.lineHeight) / 2));
  return encode(backSvg(table, mrzTop), out);
}
