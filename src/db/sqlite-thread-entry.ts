// Catalog thread body: one SqliteCatalog on its own connection, serving the calls through the
// same queued lane as PostgreSQL's (one at a time, re-check reads and intents first).
import { parentPort, workerData } from 'node:worker_threads';
import { errorReply } from '../threads.ts';
import { SqliteCatalog } from './sqlite.ts';
import { queuedLane } from './shared.ts';
import type { LaneReply, LaneRequest } from './sqlite-thread.ts';

const catalog = new SqliteCatalog((workerData as { file: string }).file);
const lane = queuedLane(catalog);

parentPort!.on('message', (m: LaneRequest) => {
  const settled = m.method === 'close' ? lane.close().then(() => catalog.close()) : (lane[m.method] as (...a: unknown[]) => Promise<unknown>)(...m.args);
  settled.then(
    (result) => parentPort!.postMessage({ id: m.id, result } satisfies LaneReply),
    (err: unknown) => parentPort!.postMessage(errorReply(m.id, err)),
  );
});
