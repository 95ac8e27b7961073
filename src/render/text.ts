import { access } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import sharp from 'sharp';
import type { RawLayer } from './raster.ts';

export type FontKey = 'sans' | 'bold' | 'mono' | 'monoBold';

const FACES: Record<FontKey, { file: string; family: string }> = {
  sans: { file: 'DejaVuSans.ttf', family: 'DejaVu Sans' },
  bold: { file: 'DejaVuSans-Bold.ttf', family: 'DejaVu Sans Bold' },
  mono: { file: 'DejaVuSansMono.ttf', family: 'DejaVu Sans Mono' },
  monoBold: { file: 'DejaVuSansMono-Bold.ttf', family: 'DejaVu Sans Mono Bold' },
};

export const FONT_DIR = path.join(
  path.dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json')),
  'ttf',
);

function fontFile(font: FontKey): string {
  return path.join(FONT_DIR, FACES[font].file);
}

let registered: Promise<void> | undefined;

/**
 * libvips adds a `fontfile` to fontconfig process-wide, and application fonts
 * then win over an installed copy of the same family. Every face is registered
 * up front so that markup mixing faces never falls back to a system file.
 */
export function registerFonts(): Promise<void> {
  registered ??= (async () => {
    for (const key of Object.keys(FACES) as FontKey[]) {
      const file = fontFile(key);
      await access(file);
      await sharp({ text: { text: '.', font: `${FACES[key].family} 10`, fontfile: file } }).raw().toBuffer();
    }
  })();
  registered.catch(() => {
    registered = undefined;
  });
  return registered;
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

export function escapeMarkup(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

export interface TextOptions {
  font: FontKey;
  /** Pixels (text is rendered at 72 dpi, so 1 pt = 1 px). */
  size: number;
  color: string;
  /** Wrap width in pixels; lines are not wrapped when absent. */
  wrap?: number;
}

export interface TextLayer extends RawLayer {
  /** Distance between successive baselines. */
  lineHeight: number;
  /** Number of lines after wrapping. */
  lines: number;
}

// Drawn with alpha 1/65535, which rounds to fully transparent; its ink spans the full line height.
const ANCHOR = '<span alpha="1">\u2502</span>';

const advances = new Map<string, Promise<number>>();

function renderMarkup(markup: string, o: TextOptions) {
  return sharp({
    text: {
      text: markup,
      font: `${FACES[o.font].family} ${o.size}`,
      fontfile: fontFile(o.font),
      dpi: 72,
      rgba: true,
      ...(o.wrap ? { width: o.wrap, wrap: 'word-char' as const } : {}),
    },
  })
    .raw()
    .toBuffer({ resolveWithObject: true });
}

function lineAdvance(o: TextOptions): Promise<number> {
  const key = `${o.font}/${o.size}`;
  let adv = advances.get(key);
  if (!adv) {
    adv = Promise.all([renderMarkup(ANCHOR, o), renderMarkup(`${ANCHOR}\n${ANCHOR}`, o)]).then(
      ([one, two]) => two.info.height - one.info.height,
    );
    advances.set(key, adv);
    adv.catch(() => advances.delete(key));
  }
  return adv;
}

/**
 * libvips crops text to its ink box, so the top of the image would depend on
 * which glyphs occur. An invisible full-height glyph on a line of its own above
 * the text pins the crop; that line is then sliced off, leaving an image whose
 * row 0 is the top of the first text line whatever the content.
 */
export async function textLayer(text: string, o: TextOptions): Promise<TextLayer> {
  const body = escapeMarkup(text);
  const [adv, { data, info }] = await Promise.all([
    lineAdvance(o),
    renderMarkup(`<span foreground="${o.color}">${ANCHOR}\n${body}</span>`, o),
  ]);
  const height = info.height - adv;
  // The ink of a line ends between its baseline (~0.8 line) and its descent (1 line).
  const lines = Math.max(1, Math.round(height / adv));
  return { data: data.subarray(adv * info.width * 4), width: info.width, height, lineHeight: adv, lines };
}
