// Deterministic photo-like test images: smooth gradients (value noise at a few octaves,
// upscaled with a smooth kernel), fine detail and sensor-like noise, JPEG-encoded with sharp.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { prng } from '../../src/ops/sample.ts';

/** A width x height RGB raster of photo-like content, the same for the same seed. */
export async function photoRaster(width: number, height: number, seed: number): Promise<Buffer> {
  const rnd = prng(seed);
  const out = new Float32Array(width * height * 3);
  // Octaves: coarse colour fields (sky, walls), mid shapes, fine texture.
  const octaves: [number, number][] = [
    [6, 0.55],
    [24, 0.25],
    [96, 0.12],
    [Math.max(8, Math.floor(width / 8)), 0.08],
  ];
  for (const [cells, weight] of octaves) {
    const cw = Math.max(2, cells);
    const ch = Math.max(2, Math.round((cells * height) / width));
    const small = Buffer.alloc(cw * ch * 3);
    for (let i = 0; i < small.length; i++) small[i] = Math.floor(rnd() * 256);
    const big = await sharp(small, { raw: { width: cw, height: ch, channels: 3 } })
      .resize(width, height, { fit: 'fill', kernel: 'cubic' })
      .raw()
      .toBuffer();
    for (let i = 0; i < out.length; i++) out[i]! += big[i]! * weight;
  }
  const px = Buffer.alloc(width * height * 3);
  let s = seed * 2654435761 >>> 0;
  for (let i = 0; i < out.length; i++) {
    // xorshift noise: cheap per-pixel grain
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const grain = ((s >>> 0) % 17) - 8;
    const v = out[i]! + grain;
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
