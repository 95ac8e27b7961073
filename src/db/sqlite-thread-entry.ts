// Catalog thread body: one SqliteCatalog on its own connection, serving calls one at a time;
// the re-check reads and intents that feed the unlinks go before waiting tombstones.
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../errors.ts';
import { SqliteCatalog } from './sqlite.ts';
import { LaneQueue } from './shared.ts';
import type { LaneReply, LaneRequest } from './sqlite-thread.ts';

const catalog = new SqliteCatalog((workerData as { file: string }).file);
const lane = new LaneQueue();

parentPort!.on('message', (m: LaneRequest) => {
  const call = async (): Promise<unknown> => {
    if (m.method === 'close') {
      await lane.drained();
      return catalog.close();
    }
    return (catalog[m.method] as (...a: unknown[]) => Promise<unknown>)(...m.args);
  };
  const settled = m.method === 'close' ? call() : lane.run(m.method !== 'finishDeletions', call);
  settled.then(
    (result) => parentPort!.postMessage({ id: m.id, result } satisfies LaneReply),
    (err: unknown) => {
      const code = (err as { code?: unknown }).code;
      parentPort!.postMessage({ id: m.id, error: { message: errorMessage(err), ...(typeof code === 'string' ? { code } : {}) } } satisfies LaneReply);
    },
  );
});
