// Worker threads and processes of storectl: where a worker's script is, and request/reply
// calls to a worker thread.
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { errorMessage } from './errors.ts';

/**
 * A worker's script, next to the module `from` (its import.meta.url): from src/, the .mjs shim
 * that loads TypeScript through tsx; from the bundle, the entry scripts/build.mjs emits.
 */
export function workerScript(from: string, dev: string, built: string): string {
  return fileURLToPath(new URL(from.endsWith('.ts') ? dev : built, from));
}

/** What a thread answers to a call: the call's id, and `error` when the call failed. */
export interface ThreadReply {
  id: number;
  error?: { message: string; code?: string };
}

/** The reply to a failed call, keeping a string `code` (SQLITE_BUSY, EACCES, ...). */
export function errorReply(id: number, err: unknown): ThreadReply {
  const code = (err as { code?: unknown } | null)?.code;
  return { id, error: { message: errorMessage(err), ...(typeof code === 'string' ? { code } : {}) } };
}

export interface ThreadCaller<Req, T> {
  call(request: Req, transfer?: ArrayBuffer[]): Promise<T>;
  /** Why the thread is gone, once it is. */
  readonly dead: Error | undefined;
}

/**
 * Calls to a worker thread, each answered by a reply with its id (`read` turns a successful
 * reply into the result). Once the thread fails or exits, every call waiting and every later
 * one rejects, saying so.
 */
export function threadCaller<Req extends object, Reply extends ThreadReply, T>(worker: Worker, name: string, read: (reply: Reply) => T): ThreadCaller<Req, T> {
  const pending = new Map<number, { resolve: (v: T) => void; reject: (e: Error) => void }>();
  let seq = 0;
  let dead: Error | undefined;
  const failAll = (err: Error) => {
    dead ??= err;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  worker.on('message', (m: Reply) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.error) p.reject(Object.assign(new Error(m.error.message), m.error.code ? { code: m.error.code } : {}));
    else p.resolve(read(m));
  });
  worker.on('error', (err) => failAll(new Error(`${name} thread failed: ${err.message}`)));
  worker.on('exit', (code) => failAll(new Error(`${name} thread exited (code ${code})`)));
  return {
    call(request, transfer) {
      if (dead) return Promise.reject(dead);
      const id = ++seq;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ ...request, id }, transfer);
      });
    },
    get dead() {
      return dead;
    },
  };
}
