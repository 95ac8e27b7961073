// SQLite calls of a deletion run on a second connection in a worker thread. better-sqlite3 is
// synchronous: a transaction (and the WAL checkpoint it may trigger) on the main thread stops
// it from refilling the unlinks in flight, and on this kind of disk that idled the unlinks for
// a quarter of a cleanup run. In a worker, the main thread only waits on a promise.
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { DeletionLane } from './catalog.ts';

export type LaneMethod = 'getJobs' | 'markDeleting' | 'finishDeletions';
export type LaneRequest = { id: number; method: LaneMethod | 'close'; args: unknown[] };
export type LaneReply = { id: number; result?: unknown; error?: { message: string; code?: string } };

export async function openSqliteThread(file: string): Promise<DeletionLane> {
  const script = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './sqlite-thread.mjs' : './sqlite-thread.js', import.meta.url));
  const worker = new Worker(script, { workerData: { file }, stdout: false, stderr: false });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let seq = 0;
  let dead: Error | undefined;
  const failAll = (err: Error) => {
    dead ??= err;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  worker.on('message', (m: LaneReply) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.error) p.reject(Object.assign(new Error(m.error.message), m.error.code ? { code: m.error.code } : {}));
    else p.resolve(m.result);
  });
  worker.on('error', (err) => failAll(new Error(`catalog thread failed: ${err.message}`)));
  worker.on('exit', (code) => failAll(new Error(`catalog thread exited (code ${code})`)));
  const call = <T>(method: LaneRequest['method'], args: unknown[]): Promise<T> => {
    if (dead) return Promise.reject(dead);
    const id = ++seq;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage({ id, method, args } satisfies LaneRequest);
    });
  };
  // Wait until the connection is open, so a catalog that cannot be opened fails here, plainly.
  await call('getJobs', [[]]);
  return {
    getJobs: (ids) => call('getJobs', [ids]),
    markDeleting: (ids, reason) => call('markDeleting', [ids, reason]),
    finishDeletions: (outcome) => call('finishDeletions', [outcome]),
    async close() {
      if (!dead) await call('close', []).catch(() => {});
      await worker.terminate();
    },
  };
}
