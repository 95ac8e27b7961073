import { fork, type ChildProcess } from 'node:child_process';
import { RenderError, renderCard, type CardData, type RenderedFile } from './card.ts';
import { workerScript } from '../threads.ts';

export interface CardRenderer {
  render(data: CardData, baseDir: string): Promise<RenderedFile[]>;
  close(): Promise<void>;
}

/** Renders in this thread: no start-up cost, one core. */
export function inlineRenderer(): CardRenderer {
  return { render: (data, baseDir) => renderCard(data, { baseDir }), close: async () => {} };
}

interface Pending {
  resolve: (files: RenderedFile[]) => void;
  reject: (err: Error) => void;
}

type Reply = { id: number; files?: { role: RenderedFile['role']; contentType: string; bytes: Uint8Array }[]; error?: string; renderError?: boolean };

/**
 * Renders in `size` worker processes, round robin; the caller bounds how many are in flight.
 * Processes rather than threads: libvips renders text under a process-wide lock.
 */
export function workerRenderer(size: number): CardRenderer {
  const script = workerScript(import.meta.url, './worker.mjs', './render-worker.js');
  const pending = new Map<number, Pending & { worker: ChildProcess }>();
  let nextId = 0;
  let closing = false;
  const workers = Array.from({ length: size }, () => {
    const w = fork(script, [], { serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    w.on('message', (m: Reply) => {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.files) p.resolve(m.files.map((f) => ({ role: f.role, contentType: f.contentType, bytes: Buffer.from(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength) })));
      else p.reject(m.renderError ? new RenderError(m.error) : new Error(m.error));
    });
    w.on('exit', (code, signal) => {
      if (closing) return;
      const err = new Error(`render worker exited (${signal ?? code})`);
      for (const [id, p] of pending) if (p.worker === w) (pending.delete(id), p.reject(err));
    });
    return w;
  });
  return {
    render(data, baseDir) {
      const id = nextId++;
      const worker = workers[id % size]!;
      if (worker.exitCode !== null || worker.signalCode !== null) return Promise.reject(new Error('render worker is not running'));
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject, worker });
        worker.send({ id, data, baseDir });
      });
    },
    async close() {
      closing = true;
      await Promise.all(
        workers.map((w) => (w.exitCode !== null || w.signalCode !== null ? undefined : new Promise<void>((res) => (w.once('exit', () => res()), w.disconnect())))),
      );
    },
  };
}
