/** Unpremultiplied RGBA pixels, as produced by sharp's text rendering. */
export interface RawLayer {
  data: Buffer;
  width: number;
  height: number;
}

export type Rgb = readonly [number, number, number];

/**
 * An opaque RGB pixel buffer that layers are blended into with integer
 * arithmetic. sharp's composite works in floating point over the whole canvas
 * for every overlay, which cost more than the rest of the card put together.
 */
export class Canvas {
  readonly data: Buffer;

  constructor(
    readonly width: number,
    readonly height: number,
    background: Buffer,
  ) {
    if (background.length !== width * height * 3) throw new Error('background must be raw RGB of the canvas size');
    this.data = Buffer.from(background);
  }

  /** Alpha-blends an RGBA layer, clipped to the canvas. */
  draw(layer: RawLayer, left: number, top: number): void {
    const x0 = Math.round(left);
    const y0 = Math.round(top);
    const xs = Math.max(0, -x0);
    const xe = Math.min(layer.width, this.width - x0);
    const src = layer.data;
    const dst = this.data;
    for (let y = Math.max(0, -y0); y < layer.height && y0 + y < this.height; y++) {
      let s = (y * layer.width + xs) * 4;
      let d = ((y0 + y) * this.width + x0 + xs) * 3;
      for (let x = xs; x < xe; x++, s += 4, d += 3) {
        const a = src[s + 3]!;
        if (a === 0) continue;
        if (a === 255) {
          dst[d] = src[s]!;
          dst[d + 1] = src[s + 1]!;
          dst[d + 2] = src[s + 2]!;
          continue;
        }
        const b = 255 - a;
        dst[d] = ((src[s]! * a + dst[d]! * b + 127) / 255) | 0;
        dst[d + 1] = ((src[s + 1]! * a + dst[d + 1]! * b + 127) / 255) | 0;
        dst[d + 2] = ((src[s + 2]! * a + dst[d + 2]! * b + 127) / 255) | 0;
      }
    }
  }

  /** Copies opaque RGB pixels; the caller keeps them inside the canvas. */
  blit(rgb: Buffer, width: number, height: number, left: number, top: number): void {
    for (let y = 0; y < height; y++) {
      rgb.copy(this.data, ((top + y) * this.width + left) * 3, y * width * 3, (y + 1) * width * 3);
    }
  }

  fillRect(left: number, top: number, width: number, height: number, [r, g, b]: Rgb, opacity = 1): void {
    const a = Math.round(opacity * 255);
    const na = 255 - a;
    const dst = this.data;
    for (let y = Math.max(0, top); y < Math.min(this.height, top + height); y++) {
      for (let x = Math.max(0, left); x < Math.min(this.width, left + width); x++) {
        const d = (y * this.width + x) * 3;
        dst[d] = ((r * a + dst[d]! * na + 127) / 255) | 0;
        dst[d + 1] = ((g * a + dst[d + 1]! * na + 127) / 255) | 0;
        dst[d + 2] = ((b * a + dst[d + 2]! * na + 127) / 255) | 0;
      }
    }
  }
}
