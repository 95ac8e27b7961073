// SQLite calls of a deletion run on a second connection in a worker thread. better-sqlite3 is
// synchronous: a transaction (and the WAL checkpoint it may trigger) on the main thread stops
// it from refilling the unlinks in flight, and on this kind of disk that idled the unlinks for
// a quarter of a cleanup run. In a worker, the main thread only waits on a promise.
import { Worker } from 'node:worker_threads';
import { threadCaller, workerScript, type ThreadReply } from '../threads.ts';
import type { DeletionLane } from './catalog.ts';

export type LaneMethod = 'getJobs' | 'markDeleting' | 'finishDeletions';
export type LaneRequest = { id: number; method: LaneMethod | 'close'; args: unknown[] };
export type LaneReply = ThreadReply & { result?: unknown };

export async function openSqliteThread(file: string): Promise<DeletionLane> {
  const worker = new Worker(workerScript(import.meta.url, './sqlite-thread.mjs', './sqlite-thread.js'), { workerData: { file }, stdout: false, stderr: false });
  const thread = threadCaller<Omit<LaneRequest, 'id'>, LaneReply, unknown>(worker, 'catalog', (m) => m.result);
  const call = <T>(method: LaneRequest['method'], args: unknown[]) => thread.call({ method, args }) as Promise<T>;
  // Wait until the connection is open, so a catalog that cannot be opened fails here, plainly.
  await call('getJobs', [[]]);
  return {
    getJobs: (ids) => call('getJobs', [ids]),
    markDeleting: (ids, reason) => call('markDeleting', [ids, reason]),
    finishDeletions: (outcome) => call('finishDeletions', [outcome]),
    async close() {
      if (!thread.dead) await call('close', []).catch(() => {});
      await worker.terminate();
    },
  };
}
