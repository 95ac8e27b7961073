// Image encoder process body (see encoder.ts): compresses what storectl sends, within a
// memory budget, and exits when storectl's IPC channel closes.
import sharp from 'sharp';
import { Budget } from '../pool.ts';
import { compressImage, decodeCost } from './compress.ts';
import { inlineEncoder, ReadFailed, type EncoderReply, type EncoderRequest } from './encoder.ts';
import { ImageRejected } from './compress.ts';

// One libvips thread per pipeline, pipelines side by side (bench/images.ts: faster on 2 cores
// than fewer multi-threaded ones); no operation cache: every image is new.
sharp.concurrency(1);
sharp.cache(false);
const budget = new Budget(Number(process.env.STORECTL_ENCODER_BUDGET) || 128 * 1024 * 1024);
const encoder = inlineEncoder((input, opts) => compressImage(input, opts, (header) => budget.acquire(decodeCost(header))));

process.on('message', async (m: EncoderRequest) => {
  let reply: EncoderReply;
  try {
    const input = m.input instanceof Uint8Array ? Buffer.from(m.input.buffer, m.input.byteOffset, m.input.byteLength) : m.input;
    reply = { id: m.id, ok: true, result: await encoder.compress(input, m.opts) };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof ReadFailed) reply = { id: m.id, ok: false, read: true, message, ...(err.code ? { code: err.code } : {}) };
    else reply = { id: m.id, ok: false, message, ...(err instanceof ImageRejected ? { kind: err.kind } : {}) };
  }
  process.send!(reply);
});
process.on('disconnect', () => process.exit(0));
