// Walk thread body: walks its units (subtrees) in byte order and posts them in chunks, each
// unit ending with an `end` chunk. A bounded number of chunks are in flight (a shared counter
// the main thread decrements as it consumes them), so memory stays flat however far this
// thread could run ahead.
import { parentPort, workerData } from 'node:worker_threads';
import { WalkError, visitSubtree } from './walk.ts';
import { KIND_CODE, type WalkMessage, type WalkWorkerData } from './walk-chunks.ts';

const { root, units, chunkSize, maxInFlight, credit } = workerData as WalkWorkerData;
const inFlight = new Int32Array(credit);

function post(msg: WalkMessage): void {
  for (;;) {
    const n = Atomics.load(inFlight, 0);
    if (n < maxInFlight) break;
    Atomics.wait(inFlight, 0, n, 200);
  }
  Atomics.add(inFlight, 0, 1);
  parentPort!.postMessage(msg);
}

let paths: string[] = [];
let kinds = new Uint8Array(chunkSize);
const flush = (end: boolean) => {
  // '\0' cannot occur in a file name: one string crosses the thread boundary instead of thousands.
  post({ paths: paths.join('\0'), kinds: kinds.subarray(0, paths.length), end });
  paths = [];
  kinds = new Uint8Array(chunkSize);
};

try {
  for (const unit of units) {
    visitSubtree(root, unit, true, (p, kind) => {
      kinds[paths.length] = KIND_CODE[kind];
      paths.push(p);
      if (paths.length === chunkSize) flush(false);
    });
    flush(true);
  }
} catch (err) {
  const relPath = err instanceof WalkError ? err.relPath : '';
  const cause = err instanceof WalkError ? (err.cause as Error | undefined) : (err as Error);
  parentPort!.postMessage({ error: { relPath, message: String(cause?.message ?? err) } } satisfies WalkMessage);
}
