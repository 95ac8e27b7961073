// Planning looks at every due file on disk (lstat through the gate). At a million files that
// is a second of system calls on the main thread, which meanwhile could be reading the next
// page of the catalog: a worker thread makes them while the main thread reads.
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { DiskState } from './gate.ts';

/** DiskState kinds as numbers, so a page of answers crosses the thread boundary as arrays. */
export const DISK_KINDS = ['file', 'gone', 'symlink', 'other', 'unsafe'] as const;

export interface InspectRequest {
  id: number;
  /** Relative paths joined by '\0' (which no path holds). */
  paths: string;
}

export interface InspectReply {
  id: number;
  kinds: Uint8Array;
  sizes: Float64Array;
  mtimes: Float64Array;
  /** Why a path is unsafe, by index. */
  reasons: Record<number, string>;
  error?: string;
}

export function decodeStates(r: InspectReply): DiskState[] {
  const out: DiskState[] = new Array(r.kinds.length);
  for (let i = 0; i < r.kinds.length; i++) {
    const kind = DISK_KINDS[r.kinds[i]!]!;
    out[i] = kind === 'file' ? { kind, size: r.sizes[i]!, mtimeMs: r.mtimes[i]! } : kind === 'unsafe' ? { kind, reason: r.reasons[i] ?? 'unsafe path' } : { kind };
  }
  return out;
}

export interface Inspector {
  /** What is on disk at each path, by lstat through a gate on the root (in order). */
  inspect(paths: readonly string[]): Promise<DiskState[]>;
  close(): Promise<void>;
}

export function openInspector(root: string): Inspector {
  const script = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './inspect-thread.mjs' : './inspect-thread.js', import.meta.url));
  const worker = new Worker(script, { workerData: { root }, stdout: false, stderr: false });
  const pending = new Map<number, { resolve: (v: DiskState[]) => void; reject: (e: Error) => void }>();
  let seq = 0;
  let dead: Error | undefined;
  const failAll = (err: Error) => {
    dead ??= err;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  worker.on('message', (m: InspectReply) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.error) p.reject(new Error(m.error));
    else p.resolve(decodeStates(m));
  });
  worker.on('error', (err) => failAll(new Error(`inspect thread failed: ${err.message}`)));
  worker.on('exit', (code) => failAll(new Error(`inspect thread exited (code ${code})`)));
  return {
    inspect(paths) {
      if (dead) return Promise.reject(dead);
      if (!paths.length) return Promise.resolve([]);
      const id = ++seq;
      return new Promise<DiskState[]>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, paths: paths.join('\0') } satisfies InspectRequest);
      });
    },
    async close() {
      await worker.terminate();
    },
  };
}
