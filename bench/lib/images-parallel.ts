// One way of running storectl's compression in parallel, in its own process, over a list of
// files: prints {images, seconds, bytesAfter, maxRssKb} as JSON. Used by bench/images.ts to
// pick how migrate-images-to-db parallelises.
//   node --import tsx bench/lib/images-parallel.ts pipelines|workers <n> <vipsThreads> FILE...
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import sharp from 'sharp';
import { compressImage, decodeCost } from '../../src/ops/images/compress.ts';
import { Budget } from '../../src/ops/pool.ts';

const [mode, nArg, threadsArg, ...files] = process.argv.slice(2);
const n = Number(nArg);
const started = performance.now();
let bytesAfter = 0;

// BUDGET=bytes: admit pipelines by decodeCost within that budget, as the encoder process does.
const budget = process.env.BUDGET ? new Budget(Number(process.env.BUDGET)) : undefined;

if (mode === 'pipelines') {
  // n sharp pipelines in flight in this thread; libvips uses `threads` threads per pipeline.
  sharp.concurrency(Number(threadsArg));
  sharp.cache(false);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < files.length) {
        const f = files[next++]!;
        const r = await compressImage(await fs.promises.readFile(f), undefined, budget ? (h) => budget.acquire(decodeCost(h)) : undefined);
        bytesAfter += r.data.length;
      }
    }),
  );
} else {
  // n worker threads, each with one pipeline at a time.
  let next = 0;
  await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<void>((resolve, reject) => {
          const w = new Worker(new URL('./compress-worker.mjs', import.meta.url));
          const feed = () => {
            if (next < files.length) w.postMessage(files[next++]);
            else void w.terminate().then(() => resolve());
          };
          w.on('message', (size: number) => {
            bytesAfter += size;
            feed();
          });
          w.on('error', reject);
          w.on('online', feed);
        }),
    ),
  );
}
const seconds = (performance.now() - started) / 1000;
console.log(JSON.stringify({ images: files.length, seconds, bytesAfter, maxRssKb: process.resourceUsage().maxRSS }));
