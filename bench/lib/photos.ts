// Deterministic photo-like test images: smooth gradients (value noise at a few octaves,
// upscaled with a smooth kernel), fine detail and sensor-like noise, JPEG-encoded with sharp.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { prng } from '../../src/ops/sample.ts';

/** A width x height RGB raster of photo-like content, the same for the same seed. */
export async function photoRaster(width: number, height: number, seed: number): Promise<Buffer> {
  const rnd = prng(seed);
  // Smooth content is built at a quarter of the size and upscaled once; grain is added at full size.
  const bw = Math.max(8, Math.ceil(width / 4));
  const bh = Math.max(8, Math.ceil(height / 4));
  const base = Buffer.alloc(bw * bh * 3);
  const acc = new Uint16Array(bw * bh * 3);
  // Octaves (cells across, weight in %): coarse colour fields (sky, walls), mid shapes, fine texture.
  const octaves: [number, number][] = [
    [6, 55],
    [24, 25],
    [96, 12],
    [Math.max(8, Math.floor(bw / 2)), 8],
  ];
  for (const [cells, weight] of octaves) {
    const cw = Math.max(2, Math.min(cells, bw));
    const ch = Math.max(2, Math.min(bh, Math.round((cells * height) / width)));
    const small = Buffer.alloc(cw * ch * 3);
    for (let i = 0; i < small.length; i++) small[i] = Math.floor(rnd() * 256);
    const layer = await sharp(small, { raw: { width: cw, height: ch, channels: 3 } }).resize(bw, bh, { fit: 'fill', kernel: 'cubic' }).raw().toBuffer();
    for (let i = 0; i < acc.length; i++) acc[i]! += layer[i]! * weight;
  }
  for (let i = 0; i < acc.length; i++) base[i] = Math.min(255, Math.round(acc[i]! / 100));
  // Objects with edges (hard and soft) over the smooth background, as a scene has.
  const shapes: string[] = [];
  for (let i = 0; i < 24; i++) {
    const colour = `rgb(${Math.floor(rnd() * 256)},${Math.floor(rnd() * 256)},${Math.floor(rnd() * 256)})`;
    const x = Math.floor(rnd() * width);
    const y = Math.floor(rnd() * height);
    const w = Math.floor((0.03 + rnd() * 0.25) * width);
    const h = Math.floor((0.03 + rnd() * 0.25) * height);
    const opacity = (0.35 + rnd() * 0.5).toFixed(2);
    shapes.push(
      rnd() < 0.5
        ? `<rect x="${x}" y="${y}" width="${w}" height="${h}" rx="${Math.floor(rnd() * 40)}" fill="${colour}" fill-opacity="${opacity}"/>`
        : `<ellipse cx="${x}" cy="${y}" rx="${w / 2}" ry="${h / 2}" fill="${colour}" fill-opacity="${opacity}"/>`,
    );
  }
  const svg = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${shapes.join('')}</svg>`);
  const px = await sharp(await sharp(base, { raw: { width: bw, height: bh, channels: 3 } }).resize(width, height, { fit: 'fill', kernel: 'cubic' }).png({ compressionLevel: 0 }).toBuffer())
    .composite([{ input: svg }])
    .removeAlpha()
    .raw()
    .toBuffer();
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < px.length; i++) {
    // xorshift noise: cheap per-pixel grain and detail
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const v = px[i]! + ((s >>> 0) % 17) - 8;
    px[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return px;
}

/** A photo-like JPEG (quality 90, as cameras and phones write them). */
export async function photoJpeg(width: number, height: number, seed: number, opts: { orientation?: number } = {}): Promise<Buffer> {
  const raw = await photoRaster(width, height, seed);
  let p = sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 });
  if (opts.orientation) p = p.withMetadata({ orientation: opts.orientation });
  return p.toBuffer();
}

/** Writes `count` photo-like JPEGs into dir (cached: existing files of the right name are kept). */
export async function writePhotoSet(dir: string, count: number, width: number, height: number, seed = 1): Promise<string[]> {
  fs.mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const file = path.join(dir, `photo-${width}x${height}-${seed}-${String(i).padStart(4, '0')}.jpg`);
    if (!fs.existsSync(file)) {
      const tmp = `${file}.tmp`;
      fs.writeFileSync(tmp, await photoJpeg(width, height, seed * 100_003 + i));
      fs.renameSync(tmp, file);
    }
    files.push(file);
  }
  return files;
}
