// Image fixtures for migrate-images-to-db tests, made with sharp, deterministic.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { photoRaster } from '../../bench/lib/photos.ts';
import type { Store } from './env.ts';
import { pgQuery } from './pg.ts';

/** 1600x1200 RGBA PNG: left half opaque red, right half fully transparent. */
export async function pngWithAlpha(): Promise<Buffer> {
  const w = 1600;
  const h = 1200;
  const px = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4;
      px[i] = 220;
      px[i + 1] = 30;
      px[i + 2] = 30;
      px[i + 3] = x < w / 2 ? 255 : 0;
    }
  }
  return sharp(px, { raw: { width: w, height: h, channels: 4 } }).png().toBuffer();
}

/** A photo with heavy grain (PNG, so nothing is lost before us): too big for quality 85. */
export async function noisyPhoto(amplitude = 120, side = 1100): Promise<Buffer> {
  const raw = await photoRaster(side, side, 7);
  let s = 12345;
  for (let i = 0; i < raw.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const n = ((s >>> 0) % (2 * amplitude + 1)) - amplitude;
    raw[i] = Math.max(0, Math.min(255, raw[i]! + n));
  }
  return sharp(raw, { raw: { width: side, height: side, channels: 3 } }).png().toBuffer();
}

export async function smallJpeg(width = 320, height = 240, seed = 3): Promise<Buffer> {
  return sharp(await photoRaster(width, height, seed), { raw: { width, height, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
}

/** A 600x400 landscape raster stored with EXIF orientation 6 (display rotated 90° clockwise: portrait). */
export async function sidewaysJpeg(): Promise<Buffer> {
  return sharp(await photoRaster(600, 400, 5), { raw: { width: 600, height: 400, channels: 3 } })
    .jpeg({ quality: 85 })
    .withMetadata({ orientation: 6 })
    .toBuffer();
}

export async function truncatedJpeg(): Promise<Buffer> {
  const full = await smallJpeg(800, 600, 9);
  return full.subarray(0, Math.floor(full.length / 2));
}

export function writeFiles(dir: string, files: Record<string, Buffer | string>): void {
  for (const [name, data] of Object.entries(files)) {
    const abs = path.join(dir, name);
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    fs.writeFileSync(abs, data);
  }
}

/** Runs SQL straight against a test store's database (user tables, checks on `images`; PostgreSQL: see pgClient). */
export async function query<T = Record<string, unknown>>(store: Store, text: string, params: unknown[] = []): Promise<T[]> {
  if (store.dialect === 'postgres') return pgQuery<T>(store.databaseUrl, text, params);
  const db = new Database(path.join(store.root, '.storectl', 'catalog.db'));
  try {
    const sqlText = text.replace(/\$\d+/g, '?');
    const stmt = db.prepare(sqlText);
    return (stmt.reader ? stmt.all(...params) : (stmt.run(...params), [])) as T[];
  } finally {
    db.close();
  }
}

/** Decodes stored WebP bytes: dimensions and one pixel. */
export async function inspectWebp(data: Buffer, at?: { x: number; y: number }) {
  const meta = await sharp(data).metadata();
  let pixel: number[] | undefined;
  if (at) {
    const { data: px, info } = await sharp(data).raw().toBuffer({ resolveWithObject: true });
    const i = (at.y * info.width + at.x) * info.channels;
    pixel = [...px.subarray(i, i + info.channels)];
  }
  return { format: meta.format, width: meta.width!, height: meta.height!, hasAlpha: meta.hasAlpha, pixel };
}

/** Runs several statements (DDL, fixtures) against a test store's database. */
export async function execSql(store: Store, text: string): Promise<void> {
  if (store.dialect === 'postgres') {
    await pgQuery(store.databaseUrl, text);
    return;
  }
  const db = new Database(path.join(store.root, '.storectl', 'catalog.db'));
  try {
    db.exec(text);
  } finally {
    db.close();
  }
}
