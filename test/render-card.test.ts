import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateSync, inflateSync } from 'node:zlib';
import { after, before, describe, test } from './helpers/node-test.ts';
import { PDFDocument, PDFDict, PDFName, PDFRawStream, PDFStream } from 'pdf-lib';
import sharp from 'sharp';
import { GENERATOR_VERSION, RenderError, renderCard, validateCardData } from '../src/render/card.ts';
import type { CardData, RenderedFile } from '../src/render/card.ts';
import { PHOTO_BOX } from '../src/render/card-layout.ts';
import { mrzLines } from '../src/render/mrz.ts';
import { registerFonts, textLayer } from '../src/render/text.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

const base: CardData = {
  holderName: 'Zoë Ångström',
  licenceNumber: 'ANGST751120Z99AB',
  categories: ['AM', 'A', 'B', 'BE', 'C1'],
  issueDate: '2021-03-14',
  expiryDate: '2031-03-13',
  dateOfBirth: '1975-11-20',
  address: '12 Harbour Row\nPort Utopia UT1 4AB',
};

let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'render-card-'));
  // Stored landscape, left half red and right half blue; orientation 6 means
  // "rotate 90° clockwise to display", so red should end up on top.
  const halves = Buffer.from(
    '<svg xmlns="http://www.w3.org/2000/svg" width="600" height="400">' +
      '<rect width="300" height="400" fill="#ff0000"/><rect x="300" width="300" height="400" fill="#0000ff"/></svg>',
  );
  await sharp(halves).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toFile(path.join(dir, 'rotated.jpg'));
  await sharp(halves).png().toFile(path.join(dir, 'plain.png'));
  await writeFile(path.join(dir, 'fake.jpg'), 'this is not a JPEG\n');
  await writeFile(path.join(dir, 'bomb.png'), pngHeaderOnly(20_000, 20_000));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A PNG that declares a huge size but carries almost no data. */
function pngHeaderOnly(width: number, height: number): Buffer {
  const chunk = (type: string, body: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type, 'latin1'), body])));
    return Buffer.concat([len, Buffer.from(type, 'latin1'), body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 0, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(width + 1))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function byRole(files: RenderedFile[]): Record<RenderedFile['role'], Buffer> {
  return Object.fromEntries(files.map((f) => [f.role, f.bytes])) as Record<RenderedFile['role'], Buffer>;
}

function hashes(files: RenderedFile[]): Record<string, string> {
  return Object.fromEntries(files.map((f) => [f.role, createHash('sha256').update(f.bytes).digest('hex')]));
}

/** Reverses PNG row filters, as a PDF reader does for /Predictor 15. */
function unfilter(data: Buffer, width: number, height: number, bpp: number): Buffer {
  const stride = width * bpp;
  const out = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const type = data[y * (stride + 1)]!;
    for (let x = 0; x < stride; x++) {
      const raw = data[y * (stride + 1) + 1 + x]!;
      const a = x >= bpp ? out[y * stride + x - bpp]! : 0;
      const b = y > 0 ? out[(y - 1) * stride + x]! : 0;
      const c = x >= bpp && y > 0 ? out[(y - 1) * stride + x - bpp]! : 0;
      const p = a + b - c;
      const paeth =
        Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      const pred = [0, a, b, (a + b) >> 1, paeth][type];
      assert.notEqual(pred, undefined, `bad filter type ${type}`);
      out[y * stride + x] = (raw + pred!) & 0xff;
    }
  }
  return out;
}

async function pixel(png: Buffer, x: number, y: number): Promise<[number, number, number]> {
  const { data } = await sharp(png).extract({ left: x, top: y, width: 1, height: 1 }).raw().toBuffer({ resolveWithObject: true });
  return [data[0]!, data[1]!, data[2]!];
}

describe('renderCard', () => {
  test('returns the five files in order with content types', async () => {
    const files = await renderCard(base);
    assert.deepEqual(
      files.map((f) => [f.role, f.contentType]),
      [
        ['front.png', 'image/png'],
        ['back.png', 'image/png'],
        ['front.pdf', 'application/pdf'],
        ['back.pdf', 'application/pdf'],
        ['combined.pdf', 'application/pdf'],
      ],
    );
    assert.equal(GENERATOR_VERSION, 'storectl-card/1');
  });

  test('PNGs are CR80 at 300 dpi', async () => {
    const files = byRole(await renderCard({ ...base, photo: 'plain.png' }, { baseDir: dir }));
    for (const role of ['front.png', 'back.png'] as const) {
      const meta = await sharp(files[role]).metadata();
      assert.equal(meta.format, 'png');
      assert.equal(meta.width, 1012, role);
      assert.equal(meta.height, 638, role);
      assert.equal(meta.channels, 3, role);
      assert.equal(meta.density, 300, role);
    }
  });

  test('PDFs have 1/1/2 card-sized pages, fixed metadata and the PNG pixels', async () => {
    const files = byRole(await renderCard(base));
    const expected = { 'front.pdf': 1, 'back.pdf': 1, 'combined.pdf': 2 } as const;
    for (const [role, pages] of Object.entries(expected) as [keyof typeof expected, number][]) {
      const doc = await PDFDocument.load(files[role], { updateMetadata: false });
      assert.equal(doc.getPageCount(), pages, role);
      for (const page of doc.getPages()) {
        const { width, height } = page.getSize();
        assert.ok(Math.abs(width - 242.65) < 0.01, `${role} width ${width}`);
        assert.ok(Math.abs(height - 153.07) < 0.01, `${role} height ${height}`);
      }
      assert.equal(doc.getProducer(), GENERATOR_VERSION);
      assert.equal(doc.getCreator(), 'storectl');
      assert.equal(doc.getTitle(), `Driving licence ${base.licenceNumber}`);
      assert.equal(doc.getCreationDate()?.toISOString(), '2021-03-14T00:00:00.000Z');
      assert.equal(doc.getModificationDate()?.toISOString(), '2021-03-14T00:00:00.000Z');
    }

    // No PDF renderer is at hand, so decode the embedded image the way a reader would.
    const combined = await PDFDocument.load(files['combined.pdf']);
    for (const [i, png] of [files['front.png'], files['back.png']].entries()) {
      const xobjects = combined.getPage(i).node.Resources()!.lookup(PDFName.of('XObject'), PDFDict);
      const image = xobjects.lookup(PDFName.of('Card'), PDFStream);
      assert.ok(image instanceof PDFRawStream);
      assert.equal(image.dict.get(PDFName.of('Width'))?.toString(), '1012');
      assert.equal(image.dict.get(PDFName.of('Height'))?.toString(), '638');
      assert.equal(image.dict.get(PDFName.of('Filter'))?.toString(), '/FlateDecode');
      const pixels = unfilter(inflateSync(image.contents), 1012, 638, 3);
      assert.ok(pixels.equals(await sharp(png).raw().toBuffer()), `page ${i + 1} pixels`);
    }
  });

  test('is byte-for-byte deterministic, also across processes and time zones', async () => {
    const data = { ...base, photo: 'rotated.jpg' };
    const first = hashes(await renderCard(data, { baseDir: dir }));
    const second = hashes(await renderCard(structuredClone(data), { baseDir: dir }));
    assert.deepEqual(second, first);

    const script = `
      const { renderCard } = await import(${JSON.stringify(new URL('../src/render/card.ts', import.meta.url).href)});
      const { createHash } = await import('node:crypto');
      const files = await renderCard(${JSON.stringify(data)}, { baseDir: ${JSON.stringify(dir)} });
      console.log(JSON.stringify(Object.fromEntries(files.map((f) => [f.role, createHash('sha256').update(f.bytes).digest('hex')]))));
    `;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: root,
      env: { ...process.env, TZ: 'Pacific/Chatham' },
      encoding: 'utf8',
    });
    assert.equal(child.status, 0, child.stderr);
    assert.deepEqual(JSON.parse(child.stdout), first);
  });

  test('places the photo with EXIF orientation applied', async () => {
    const withPhoto = byRole(await renderCard({ ...base, photo: path.join(dir, 'rotated.jpg') }));
    const cx = PHOTO_BOX.left + PHOTO_BOX.width / 2;
    const [rt, gt, bt] = await pixel(withPhoto['front.png'], cx, PHOTO_BOX.top + 20);
    const [rb, gb, bb] = await pixel(withPhoto['front.png'], cx, PHOTO_BOX.top + PHOTO_BOX.height - 20);
    assert.ok(rt > 200 && gt < 60 && bt < 60, `top should be red, got ${[rt, gt, bt]}`);
    assert.ok(rb < 60 && gb < 60 && bb > 200, `bottom should be blue, got ${[rb, gb, bb]}`);

    const placeholder = byRole(await renderCard(base));
    assert.ok(!placeholder['front.png'].equals(withPhoto['front.png']));
    assert.ok(placeholder['back.png'].equals(withPhoto['back.png']), 'the photo only appears on the front');
  });

  test('resolves a relative photo against baseDir', async () => {
    const rel = byRole(await renderCard({ ...base, photo: 'plain.png' }, { baseDir: dir }));
    const abs = byRole(await renderCard({ ...base, photo: path.join(dir, 'plain.png') }));
    assert.ok(rel['front.png'].equals(abs['front.png']));
  });

  test('a missing photo is a RenderError', async () => {
    const missing = path.join(dir, 'nope', 'missing.jpg');
    await assert.rejects(renderCard({ ...base, photo: 'nope/missing.jpg' }, { baseDir: dir }), (err: unknown) => {
      assert.ok(err instanceof RenderError);
      assert.equal(err.message, `photo not found: ${missing}`);
      return true;
    });
  });

  test('a photo that is not an image is a RenderError', async () => {
    const fake = path.join(dir, 'fake.jpg');
    await assert.rejects(renderCard({ ...base, photo: fake }), (err: unknown) => {
      assert.ok(err instanceof RenderError);
      assert.equal(err.message, `photo is not an image: ${fake}`);
      return true;
    });
    await assert.rejects(renderCard({ ...base, photo: dir }), RenderError);
  });

  test('a decompression bomb is a RenderError', async () => {
    await assert.rejects(renderCard({ ...base, photo: 'bomb.png' }, { baseDir: dir }), (err: unknown) => {
      assert.ok(err instanceof RenderError);
      assert.match(err.message, /^photo is too large: /);
      return true;
    });
  });

  test('invalid card data is a RenderError', async () => {
    await assert.rejects(renderCard({ ...base, issueDate: '2021-02-30' }), (err: unknown) => {
      assert.ok(err instanceof RenderError);
      assert.match(err.message, /issueDate/);
      return true;
    });
  });

  test('renders hostile and non-Latin text literally', async () => {
    const hostile = `O'Brien <&> "x" </span><span foreground="red">`;
    const files = await renderCard({ ...base, holderName: hostile, address: '<b>bold</b> & </markup>\n&amp;' });
    assert.equal(files.length, 5);
    for (const holderName of ['Zoë Ångström', 'Łukasz Żółć', 'Иван Петров', 'محمد علي', '王小明']) {
      assert.equal((await renderCard({ ...base, holderName })).length, 5, holderName);
    }

    await registerFonts();
    const o = { font: 'sans', size: 20, color: '#000000' } as const;
    const tagged = await textLayer('a<b>b</b>', o);
    const plain = await textLayer('ab', o);
    assert.ok(tagged.width > plain.width * 3, 'markup in user text is printed, not interpreted');
  });

  test('writes a transliterated machine-readable zone', () => {
    const [l1, l2, l3] = mrzLines({ ...base, holderName: 'Иван Петров', licenceNumber: 'AB-12 345' });
    for (const line of [l1, l2, l3]) assert.match(line, /^[A-Z0-9<]{30}$/);
    assert.ok(l1.startsWith('DLUTOAB12345'));
    assert.ok(l3.startsWith('PETROV<<IVAN<'));
  });
});

describe('validateCardData', () => {
  const ok = (v: unknown) => {
    const r = validateCardData(v);
    assert.ok(r.ok, JSON.stringify(r));
    return r.data;
  };
  const bad = (v: unknown, field: string) => {
    const r = validateCardData(v);
    assert.equal(r.ok, false, `expected ${field} to be rejected`);
    if (!r.ok) {
      assert.equal(r.field, field, r.message);
      assert.ok(r.message.length > 0);
    }
  };

  test('accepts complete and minimal cards and drops unknown fields', () => {
    assert.deepEqual(ok(base), base);
    const { dateOfBirth, address, ...minimal } = base;
    void dateOfBirth;
    void address;
    assert.deepEqual(ok({ ...minimal, extra: 1, nested: { x: 1 } }), minimal);
    ok({ ...base, photo: 'photos/1.jpg', issueDate: '2024-02-29', expiryDate: '2024-02-29' });
  });

  test('rejects non-objects', () => {
    for (const v of [null, undefined, 'card', 3, []]) bad(v, 'card');
  });

  test('checks required strings', () => {
    bad({ ...base, holderName: undefined }, 'holderName');
    bad({ ...base, holderName: '   ' }, 'holderName');
    bad({ ...base, holderName: 42 }, 'holderName');
    bad({ ...base, holderName: 'x'.repeat(81) }, 'holderName');
    bad({ ...base, holderName: 'Tab\there' }, 'holderName');
    bad({ ...base, holderName: 'Line\u2028separator' }, 'holderName');
    bad({ ...base, holderName: 'Broken \uD800 surrogate' }, 'holderName');
    bad({ ...base, holderName: `Z${'\u0301'.repeat(8)}algo` }, 'holderName');
    bad({ ...base, licenceNumber: '' }, 'licenceNumber');
    bad({ ...base, licenceNumber: '1'.repeat(25) }, 'licenceNumber');
  });

  test('checks categories', () => {
    bad({ ...base, categories: 'A,B' }, 'categories');
    bad({ ...base, categories: [] }, 'categories');
    bad({ ...base, categories: ['B', 3] }, 'categories');
    bad({ ...base, categories: ['B', ''] }, 'categories');
    bad({ ...base, categories: ['TOOLONG'] }, 'categories');
    bad({ ...base, categories: ['B E'] }, 'categories');
    bad({ ...base, categories: ['B', 'B'] }, 'categories');
    bad({ ...base, categories: Array.from({ length: 17 }, (_, i) => `C${i}`) }, 'categories');
  });

  test('checks dates', () => {
    for (const d of ['2021-02-29', '2021-13-01', '2021-00-10', '2021-3-14', '14.03.2021', '2021-03-14T00:00:00Z', '1899-12-31']) {
      bad({ ...base, issueDate: d, dateOfBirth: undefined }, 'issueDate');
    }
    bad({ ...base, expiryDate: 20310313 }, 'expiryDate');
    bad({ ...base, expiryDate: '2021-03-13' }, 'expiryDate');
    bad({ ...base, dateOfBirth: '2021-03-14' }, 'dateOfBirth');
    bad({ ...base, dateOfBirth: '1975-02-30' }, 'dateOfBirth');
  });

  test('checks optional fields', () => {
    ok({ ...base, address: 'Line 1\nLine 2\nLine 3\nLine 4' });
    bad({ ...base, address: 'a\nb\nc\nd\ne' }, 'address');
    bad({ ...base, address: 'bell\u0007' }, 'address');
    bad({ ...base, address: 'x'.repeat(201) }, 'address');
    bad({ ...base, photo: 12 }, 'photo');
    bad({ ...base, photo: '' }, 'photo');
  });

  test('reports the first bad field', () => {
    bad({ ...base, holderName: '', issueDate: 'soon' }, 'holderName');
    bad({ ...base, categories: [], expiryDate: 'never' }, 'categories');
  });
});
