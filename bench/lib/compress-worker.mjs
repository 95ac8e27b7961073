// Worker thread for bench/lib/images-parallel.ts: compresses files it is sent (tsx registered here,
// since a worker does not inherit the parent's --import hooks on Node 20).
import { parentPort } from 'node:worker_threads';
import fs from 'node:fs';
import { register } from 'tsx/esm/api';

register();
const sharp = (await import('sharp')).default;
sharp.concurrency(1);
sharp.cache(false);
const { compressImage } = await import('../../src/ops/images/compress.ts');
parentPort.on('message', async (file) => {
  const r = await compressImage(fs.readFileSync(file));
  parentPort.postMessage(r.data.length);
});
