// A tiny deflate encoder for tar headers and padding: one block with the fixed Huffman code,
// literals plus distance-1 matches for runs of zeros, followed by an empty stored block so the
// stream is on a byte boundary again. A 512-byte header with the padding before it shrinks to
// about a fifth, at a few microseconds an entry (zlib's deflateRawSync costs ~30 us a call).

const LIT_CODE = new Uint16Array(288);
const LIT_BITS = new Uint8Array(288);
for (let s = 0; s < 288; s++) {
  let code: number;
  let bits: number;
  if (s < 144) [code, bits] = [0x30 + s, 8];
  else if (s < 256) [code, bits] = [0x190 + s - 144, 9];
  else if (s < 280) [code, bits] = [s - 256, 7];
  else [code, bits] = [0xc0 + s - 280, 8];
  // Huffman codes go most significant bit first into an LSB-first bit stream: reverse them.
  let rev = 0;
  for (let i = 0; i < bits; i++) rev |= ((code >> i) & 1) << (bits - 1 - i);
  LIT_CODE[s] = rev;
  LIT_BITS[s] = bits;
}
const LEN_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEN_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];

class BitWriter {
  private acc = 0;
  private n = 0;
  len = 0;
  constructor(readonly out: Buffer) {}
  bits(value: number, count: number): void {
    this.acc |= value << this.n;
    this.n += count;
    while (this.n >= 8) {
      this.out[this.len++] = this.acc & 0xff;
      this.acc >>>= 8;
      this.n -= 8;
    }
  }
  align(): void {
    if (this.n > 0) this.bits(0, 8 - this.n);
  }
}

function lengthSymbol(len: number): number {
  let i = LEN_BASE.length - 1;
  while (LEN_BASE[i]! > len) i--;
  return i;
}

/** Deflate blocks (never final) that decode to `data`; ends byte-aligned. */
export function deflateFixed(data: Uint8Array): Buffer {
  const w = new BitWriter(Buffer.allocUnsafe(Math.ceil((data.length * 9) / 8) + 16));
  w.bits(0, 1); // BFINAL = 0
  w.bits(1, 2); // BTYPE = 01, fixed Huffman
  let i = 0;
  while (i < data.length) {
    const b = data[i]!;
    if (b === 0 && i > 0 && data[i - 1] === 0) {
      let run = 0;
      while (i + run < data.length && data[i + run] === 0 && run < 258) run++;
      if (run >= 3) {
        const sym = lengthSymbol(run);
        w.bits(LIT_CODE[257 + sym]!, LIT_BITS[257 + sym]!);
        if (LEN_EXTRA[sym]) w.bits(run - LEN_BASE[sym]!, LEN_EXTRA[sym]!);
        w.bits(0, 5); // distance code 0: distance 1
        i += run;
        continue;
      }
    }
    w.bits(LIT_CODE[b]!, LIT_BITS[b]!);
    i++;
  }
  w.bits(LIT_CODE[256]!, LIT_BITS[256]!); // end of block
  // An empty stored block: back on a byte boundary for the stored or deflated data that follows.
  w.bits(0, 3);
  w.align();
  w.bits(0x0000, 16);
  w.bits(0xffff, 16);
  return w.out.subarray(0, w.len);
}
