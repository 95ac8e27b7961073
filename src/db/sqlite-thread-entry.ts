// Catalog thread body: one SqliteCatalog on its own connection, serving calls in order.
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../errors.ts';
import { SqliteCatalog } from './sqlite.ts';
import type { LaneReply, LaneRequest } from './sqlite-thread.ts';

const catalog = new SqliteCatalog((workerData as { file: string }).file);
// Calls run one at a time, in the order they were made (a promise chain), as on one connection.
let queue: Promise<void> = Promise.resolve();

parentPort!.on('message', (m: LaneRequest) => {
  queue = queue.then(async () => {
    let reply: LaneReply;
    try {
      if (m.method === 'close') reply = { id: m.id, result: await catalog.close() };
      else reply = { id: m.id, result: await (catalog[m.method] as (...a: unknown[]) => Promise<unknown>)(...m.args) };
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      reply = { id: m.id, error: { message: errorMessage(err), ...(typeof code === 'string' ? { code } : {}) } };
    }
    parentPort!.postMessage(reply);
  });
});
