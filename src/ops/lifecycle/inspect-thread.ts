// Planning looks at every due file on disk (lstat through the gate). At a million files that
// is a second of system calls on the main thread, which meanwhile could be reading the next
// page of the catalog: a worker thread makes them while the main thread reads.
import { Worker } from 'node:worker_threads';
import { threadCaller, workerScript, type ThreadReply } from '../../threads.ts';
import type { DiskState } from './gate.ts';

/** DiskState kinds as numbers, so a page of answers crosses the thread boundary as arrays. */
export const DISK_KINDS = ['file', 'gone', 'symlink', 'other', 'unsafe', 'error'] as const;

export interface InspectRequest {
  id: number;
  /** Relative paths joined by '\0' (which no path holds). */
  paths: string;
}

export interface InspectReply extends ThreadReply {
  kinds: Uint8Array;
  sizes: Float64Array;
  mtimes: Float64Array;
  /** Why a path is unsafe, or could not be looked at, by index. */
  reasons: Record<number, string>;
}

export function decodeStates(r: InspectReply): DiskState[] {
  const out: DiskState[] = new Array(r.kinds.length);
  for (let i = 0; i < r.kinds.length; i++) {
    const kind = DISK_KINDS[r.kinds[i]!]!;
    out[i] = kind === 'file' ? { kind, size: r.sizes[i]!, mtimeMs: r.mtimes[i]! } : kind === 'unsafe' || kind === 'error' ? { kind, reason: r.reasons[i] ?? 'unsafe path' } : { kind };
  }
  return out;
}

export interface Inspector {
  /** What is on disk at each path, by lstat through a gate on the root (in order). */
  inspect(paths: readonly string[]): Promise<DiskState[]>;
  close(): Promise<void>;
}

export function openInspector(root: string): Inspector {
  const worker = new Worker(workerScript(import.meta.url, './inspect-thread.mjs', './inspect-thread.js'), { workerData: { root }, stdout: false, stderr: false });
  const thread = threadCaller<Omit<InspectRequest, 'id'>, InspectReply, DiskState[]>(worker, 'inspect', decodeStates);
  return {
    inspect: (paths) => (paths.length ? thread.call({ paths: paths.join('\0') }) : Promise.resolve([])),
    async close() {
      await worker.terminate();
    },
  };
}
