// The sorted tree walk on worker threads, delivered in chunks, in the same order as walkTree.
// Listing directories is most of the cost of comparing a large tree with the catalog, and
// it is kernel work that runs in parallel: the tree is cut into subtrees ("units"), the
// threads walk every other unit, and the main thread reads them back in order while it
// reads the catalog and merges. No async step per file.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { WalkError, kindOf, readDirEntries, type EntryKind, type TreeEntry } from './walk.ts';
import { workerScript } from '../threads.ts';

export const KIND_CODE: Record<EntryKind, number> = { file: 0, symlink: 1, other: 2 };
export const KIND_BY_CODE: readonly EntryKind[] = ['file', 'symlink', 'other'];

export interface WalkWorkerData {
  root: string;
  /** This thread's units (directories relative to the root), in walk order. */
  units: string[];
  chunkSize: number;
  maxInFlight: number;
  /** Int32 counter of chunks posted and not yet consumed. */
  credit: SharedArrayBuffer;
}

/** A chunk of one unit; `end` marks the unit's last chunk (possibly empty). */
export type WalkMessage = { paths: string; kinds: Uint8Array; end: boolean } | { error: { relPath: string; message: string } };

/** One chunk of the walk: paths ('/'-separated, relative to the root) and their kinds (KIND_CODE). */
export interface TreeChunk {
  paths: string[];
  kinds: Uint8Array;
  /** A backend whose listing says what it holds (S3: size, LastModified, ETag), per path. */
  listed?: ListedState[];
}

/** What a listing said of one object, as a re-check will see it (mtime at the second, as a HEAD gives it). */
export interface ListedState {
  size: number;
  mtimeMs: number;
  identity?: string;
}

/** A listed (or HEADed) object as a re-check compares it: LastModified cut to the second. */
export function listedState(e: { size: number; mtime: Date; identity?: string }): ListedState {
  return { size: e.size, mtimeMs: Math.floor(e.mtime.getTime() / 1000) * 1000, ...(e.identity ? { identity: e.identity } : {}) };
}

const CHUNK = 4096;
const MAX_IN_FLIGHT = 16;
/** Cut the tree into at least this many subtrees (when it has them), for an even split. */
const MIN_UNITS = 64;
/** Never expand deeper than this to find units: deeper trees are walked as they are. */
const MAX_PLAN_DEPTH = 6;

type PlanItem = { unit: string } | TreeEntry;

/**
 * The top of the tree in walk order, expanded a level at a time until it holds MIN_UNITS
 * directories: entries found on the way, and the directories (units) the threads will walk.
 * Reads a few hundred directories at most; the units are walked whole by the threads.
 */
export function planUnits(root: string): PlanItem[] {
  let items: PlanItem[] = [{ unit: '' }];
  for (let depth = 0; depth < MAX_PLAN_DEPTH; depth++) {
    const units = items.filter((i) => 'unit' in i).length;
    if (units === 0 || (depth > 0 && units >= MIN_UNITS)) break;
    const next: PlanItem[] = [];
    for (const item of items) {
      if (!('unit' in item)) {
        next.push(item);
        continue;
      }
      for (const d of readDirEntries(root, item.unit, true)) {
        const p = item.unit ? `${item.unit}/${d.name}` : d.name;
        next.push(d.isDirectory() ? { unit: p } : { path: p, kind: kindOf(d) });
      }
    }
    items = next;
  }
  return items;
}

/** The messages of one walk thread, consumed in order. */
class ThreadStream {
  readonly #queue: WalkMessage[] = [];
  #wake: (() => void) | null = null;
  #failure: Error | null = null;
  #exited = false;
  readonly #inFlight: Int32Array;
  readonly worker: Worker;

  constructor(script: string, data: WalkWorkerData) {
    this.#inFlight = new Int32Array(data.credit);
    this.worker = new Worker(script, { workerData: data, stdout: false, stderr: false });
    this.worker.on('message', (m: WalkMessage) => {
      this.#queue.push(m);
      this.#notify();
    });
    this.worker.on('error', (err) => {
      this.#failure ??= new WalkError('', err);
      this.#notify();
    });
    this.worker.on('exit', (code) => {
      this.#exited = true;
      if (code !== 0) this.#failure ??= new WalkError('', new Error(`walk thread exited with code ${code}`));
      this.#notify();
    });
  }

  #notify(): void {
    this.#wake?.();
    this.#wake = null;
  }

  /** The next chunk of the unit this thread is walking; throws the thread's WalkError. */
  async next(): Promise<{ chunk: TreeChunk; end: boolean }> {
    for (;;) {
      const m = this.#queue.shift();
      if (m) {
        if ('error' in m) throw new WalkError(m.error.relPath, new Error(m.error.message));
        Atomics.sub(this.#inFlight, 0, 1);
        Atomics.notify(this.#inFlight, 0);
        return { chunk: { paths: m.paths ? m.paths.split('\0') : [], kinds: m.kinds }, end: m.end };
      }
      if (this.#failure) throw this.#failure;
      if (this.#exited) throw new WalkError('', new Error('walk thread ended early'));
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  async close(): Promise<void> {
    if (!this.#exited) await this.worker.terminate();
  }
}

/**
 * walkTree(root, { sorted: true }) on worker threads, chunk by chunk: the same entries in the
 * same order, under the same rules (no symlink followed, `.storectl/` skipped, a missing
 * root yields nothing). A read error throws WalkError here. Memory: at most MAX_IN_FLIGHT
 * chunks of CHUNK paths per thread between the threads.
 */
export async function* walkTreeChunks(root: string, opts: { threads?: number; chunkSize?: number; maxInFlight?: number } = {}): AsyncGenerator<TreeChunk> {
  const chunkSize = opts.chunkSize ?? CHUNK;
  const plan = planUnits(root);
  const units = plan.flatMap((i) => ('unit' in i ? [i.unit] : []));
  const threads = Math.max(1, Math.min(opts.threads ?? Math.min(2, os.availableParallelism()), units.length));
  const script = workerScript(import.meta.url, './walk-worker.mjs', './walk-worker.js');
  const streams = Array.from(
    { length: units.length ? threads : 0 },
    (_, t) =>
      new ThreadStream(script, {
        root,
        units: units.filter((_, i) => i % threads === t),
        chunkSize,
        maxInFlight: opts.maxInFlight ?? MAX_IN_FLIGHT,
        credit: new SharedArrayBuffer(4),
      }),
  );
  try {
    // Entries the plan met above the units (files at the top of the tree), handed out in order.
    let loose: TreeEntry[] = [];
    const takeLoose = (): TreeChunk => {
      const chunk = { paths: loose.map((e) => e.path), kinds: Uint8Array.from(loose, (e) => KIND_CODE[e.kind]) };
      loose = [];
      return chunk;
    };
    let unitIndex = 0;
    for (const item of plan) {
      if (!('unit' in item)) {
        loose.push(item);
        if (loose.length === chunkSize) yield takeLoose();
        continue;
      }
      if (loose.length) yield takeLoose();
      const stream = streams[unitIndex++ % threads]!;
      for (;;) {
        const { chunk, end } = await stream.next();
        if (chunk.paths.length) yield chunk;
        if (end) break;
      }
    }
    if (loose.length) yield takeLoose();
  } finally {
    await Promise.all(streams.map((s) => s.close()));
  }
}
