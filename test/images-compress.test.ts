// The WebP compression of migrate-images-to-db, on images in memory (no database).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { compressImage, DEFAULT_COMPRESS, ImageRejected } from '../src/ops/images/compress.ts';
import { inspectWebp, noisyPhoto, smallJpeg, truncatedJpeg } from './helpers/images.ts';
import { parseMigrateImagesConfig, resolveTargets } from '../src/ops/images/targets.ts';
import { resolveRowPath, rowPaths } from '../src/ops/images/sources.ts';

/** A PNG whose header claims width x height pixels, with almost no data: a decompression bomb's shape. */
function pngClaiming(width: number, height: number): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Buffer) => {
    let c = 0xffffffff;
    for (const x of b) c = crcTable[(c ^ x) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(Buffer.alloc(1024))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

test('a decompression bomb is refused by the pixel limit before decoding', async () => {
  await assert.rejects(compressImage(pngClaiming(60_000, 60_000)), (e: ImageRejected) => e instanceof ImageRejected && e.kind === 'too_many_pixels');
  await assert.rejects(compressImage(await smallJpeg(200, 100), { ...DEFAULT_COMPRESS, maxInputPixels: 10_000 }), (e: ImageRejected) => e.kind === 'too_many_pixels');
});

test('not an image, and a truncated JPEG, are rejected with their reason', async () => {
  await assert.rejects(compressImage(Buffer.from('just text\n')), (e: ImageRejected) => e.kind === 'not_an_image');
  await assert.rejects(compressImage(await truncatedJpeg()), (e: ImageRejected) => e.kind === 'corrupt');
  await assert.rejects(compressImage(Buffer.alloc(0)), ImageRejected);
});

test('an image still too big at the lowest quality is downscaled until it fits, and says so', async () => {
  const r = await compressImage(await noisyPhoto(255, 1100));
  assert.equal(r.quality, 40);
  assert.equal(r.downscaled, true);
  assert.ok(r.data.length <= 500 * 1024);
  assert.ok(r.width < 1024 && r.width === r.height);
  const back = await inspectWebp(r.data);
  assert.deepEqual([back.width, back.height], [r.width, r.height]);
});

test('a small cap forces the quality ladder in order', async () => {
  const img = await smallJpeg(800, 600, 4);
  const full = await compressImage(img);
  const capped = await compressImage(img, { ...DEFAULT_COMPRESS, maxBytes: Math.floor(full.data.length * 0.7) });
  assert.equal(full.quality, 85);
  assert.ok(capped.quality < 85 && DEFAULT_COMPRESS.qualities.includes(capped.quality));
  assert.ok(capped.data.length <= Math.floor(full.data.length * 0.7));
});

test('row path values: text, arrays, JSON arrays; relative paths stay inside the base dir', () => {
  assert.deepEqual(rowPaths('a.jpg', false), ['a.jpg']);
  assert.deepEqual(rowPaths(['a.jpg', 'b.jpg'], false), ['a.jpg', 'b.jpg']);
  assert.deepEqual(rowPaths('["a.jpg","b.jpg"]', true), ['a.jpg', 'b.jpg']);
  assert.ok(!Array.isArray(rowPaths('["a.jpg"]', false)));
  assert.ok(!Array.isArray(rowPaths('[1,2]', true)));
  assert.ok(!Array.isArray(rowPaths(42, true)));
  assert.equal(resolveRowPath('/srv/up', 'x/a.jpg').abs, '/srv/up/x/a.jpg');
  assert.equal(resolveRowPath('/srv/up', '/abs/a.jpg').abs, '/abs/a.jpg');
  assert.match(resolveRowPath('/srv/up', '../etc/passwd').problem!, /escapes/);
  assert.match(resolveRowPath('/srv/up', 'x/../../a').problem!, /escapes/);
});

test('config targets are validated; flags choose the mode', () => {
  const cfg = parseMigrateImagesConfig(
    {
      workers: 2,
      baseDir: 'uploads',
      targets: [
        { table: 'users', pathColumn: 'profile_photo_path', dataColumn: 'profile_photo_data' },
        { table: 'parts', key: 'part_id', pathColumn: 'image_paths', dataColumn: 'image_data', baseDir: '/srv/parts' },
      ],
    },
    '/etc/app',
  );
  assert.equal(cfg.baseDir, '/etc/app/uploads');
  const targets = resolveTargets({}, cfg, '/cwd');
  assert.deepEqual(targets, [
    { kind: 'table', target: { table: 'users', key: 'id', pathColumn: 'profile_photo_path', dataColumn: 'profile_photo_data' }, baseDir: '/etc/app/uploads' },
    { kind: 'table', target: { table: 'parts', key: 'part_id', pathColumn: 'image_paths', dataColumn: 'image_data' }, baseDir: '/srv/parts' },
  ]);
  assert.deepEqual(resolveTargets({}, {}, '/cwd'), [{ kind: 'store' }]);
  assert.deepEqual(resolveTargets({ fromDir: 'in' }, cfg, '/cwd'), [{ kind: 'dir', dir: '/cwd/in' }]);
  const usage = (e: { exitCode?: number }) => e.exitCode === 2;
  assert.throws(() => parseMigrateImagesConfig({ targets: [{ table: 'users; drop table jobs', pathColumn: 'p' }] }, '/'), usage);
  assert.throws(() => parseMigrateImagesConfig({ targets: [{ table: 'users' }] }, '/'), usage);
  assert.throws(() => parseMigrateImagesConfig({ targets: [{ table: 'users', pathColumn: 'p', extra: 1 }] }, '/'), usage);
  assert.throws(() => parseMigrateImagesConfig({ workers: 0 }, '/'), usage);
  assert.throws(() => parseMigrateImagesConfig({ nope: 1 }, '/'), usage);
  assert.throws(() => resolveTargets({ table: 'users' }, {}, '/'), usage);
  assert.throws(() => resolveTargets({ pathColumn: 'p' }, {}, '/'), usage);
  assert.throws(() => resolveTargets({ table: 'users', pathColumn: 'p', fromDir: 'x' }, {}, '/'), usage);
});

test('insideDir: only files under the directory, symlinked directories resolved', async () => {
  const { insideDir } = await import('../src/ops/images/sources.ts');
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-inside-'));
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-outside-'));
  try {
    fs.mkdirSync(path.join(base, 'a'));
    fs.symlinkSync(outside, path.join(base, 'link'));
    assert.equal(insideDir(base, path.join(base, 'a', 'x.jpg')), true);
    assert.equal(insideDir(base, path.join(base, 'link', 'x.jpg')), false);
    assert.equal(insideDir(base, path.join(outside, 'x.jpg')), false);
    assert.equal(insideDir(base, base), false);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
    fs.rmSync(outside, { recursive: true, force: true });
  }
});

/** Colour patches side by side, made as sRGB then converted to a CMYK JPEG (with or without its profile). */
async function cmykPatches(colours: number[][], width: number, embedProfile: boolean): Promise<Buffer> {
  const sharp = (await import('sharp')).default;
  const h = 200;
  const raw = Buffer.alloc(width * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < width; x++) raw.set(colours[Math.floor((x * colours.length) / width)]!, (y * width + x) * 3);
  let p = sharp(raw, { raw: { width, height: h, channels: 3 } }).toColourspace('cmyk');
  if (embedProfile) p = p.withIccProfile('cmyk');
  return p.jpeg({ quality: 95 }).toBuffer();
}

test('a CMYK JPEG, with its ICC profile or without one, is stored in sRGB with its colours', async () => {
  const sharp = (await import('sharp')).default;
  // In the CMYK gamut (a round trip through the profile keeps them within a few levels).
  const colours = [
    [200, 90, 80],
    [90, 160, 90],
    [230, 170, 80],
    [120, 120, 120],
    [180, 140, 100],
    [220, 200, 180],
    [100, 130, 160],
    [150, 80, 120],
  ];
  for (const embed of [true, false]) {
    // Wide (JPEG shrink-on-load) and, with a tiny size cap, down the raster and quality ladder path.
    for (const [width, opts] of [
      [3200, DEFAULT_COMPRESS],
      [800, { ...DEFAULT_COMPRESS, maxBytes: 4000 }],
    ] as const) {
      const input = await cmykPatches(colours, width, embed);
      const meta = await sharp(input).metadata();
      assert.equal(meta.space, 'cmyk');
      assert.equal(Boolean(meta.icc), embed);
      const out = await compressImage(input, opts);
      const { data, info } = await sharp(out.data).raw().toBuffer({ resolveWithObject: true });
      assert.equal(info.channels, 3);
      let sum = 0;
      colours.forEach((c, i) => {
        const x = Math.floor(((i + 0.5) / colours.length) * info.width);
        const o = (Math.floor(info.height / 2) * info.width + x) * 3;
        const got = [data[o]!, data[o + 1]!, data[o + 2]!];
        const delta = Math.max(...got.map((v, j) => Math.abs(v - c[j]!)));
        sum += got.reduce((a, v, j) => a + Math.abs(v - c[j]!), 0);
        // Converting the CMYK values without the profile (255 - C, times 255 - K) is off by 24-68 here.
        assert.ok(delta <= 22, `profile ${embed}, width ${width}: patch ${i} is ${got}, was ${c} (delta ${delta})`);
      });
      const mean = sum / (colours.length * 3);
      assert.ok(mean <= 10, `profile ${embed}, width ${width}: mean delta ${mean.toFixed(1)}`);
    }
  }
});
