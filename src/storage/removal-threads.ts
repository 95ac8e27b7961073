// A pool of threads that make the deletion engine's system calls: lstat re-checks, unlinks,
// rmdirs and the closing of removed directories, synchronously, each thread blocking in the
// kernel while the others go on.
//
// Why (bench/results/cleanup-engine.md, "the removal threads"): a CPU profile of cleanup-expired
// deleting 20,000 files and 4,000 job directories put 1.4 s of the main thread in closeSync of
// removed directories (the close that frees an rmdir'ed directory's inode is a journal write on
// ext4) and 1.3 s in handing fs.promises.unlink to libuv's pool, against a 4.4 s run; the main
// thread was the critical path, and the catalog calls waited behind it. 16 threads unlinking
// synchronously did the same unlinks as fast as `xargs -P16 rm`, twice as fast as 64
// fs.promises.unlink in flight.
//
// The names a thread gets were resolved by the main thread against directories it holds open
// (storage/confined.ts: /proc/self/fd/N/NAME, which every thread of the process resolves the
// same way), so confinement is exactly that of the main thread's acts.
import { Worker } from 'node:worker_threads';
import { threadCaller, workerScript, type ThreadCaller, type ThreadReply } from '../threads.ts';

/**
 * Threads in the pool. 8, not the 16 requests in flight this disk rewards (baselines.md): each
 * thread is a node isolate of about 8 MB, and the unlinks are not the critical path (the catalog
 * lane is). bench/results/cleanup-engine.md, "Fewer removal threads": 16, 8 and 4 threads, three
 * interleaved rounds of 20,000 deletions, medians 6.42, 5.63 and 5.54 s; peak RSS 346, 280, 235 MB.
 */
export const REMOVAL_THREADS = 8;

export const KINDS = ['file', 'gone', 'symlink', 'other', 'unsafe', 'error'] as const;
export type LookKind = (typeof KINDS)[number];
export const OUTCOMES = ['deleted', 'gone', 'mismatch', 'failed'] as const;
export type RemovalOutcome = (typeof OUTCOMES)[number];

/** A system call's error as a thread reports it (enough for errors.ts to word it as on the main thread). */
export interface SysError {
  message: string;
  code?: string;
  syscall?: string;
  path?: string;
}

export interface Looked {
  kind: LookKind;
  size: number;
  mtimeMs: number;
  error?: SysError;
}

/** A directory whose files a removal request carries (files [first, first + count) of the request). */
export interface RemovalDir {
  /** The directory's name relative to its parent held open (for rmdir). */
  name: string;
  /** Its own descriptor, handed over to be closed by the thread; -1 when not held. */
  fd: number;
  /** Its path from the root, for the check that the path still names it; null: no check (not held). */
  abs: string | null;
  dev: number;
  ino: number;
  /** Remove it once its files are gone, if it is empty. */
  rmdir: boolean;
  first: number;
  count: number;
}

/**
 * Per file: 'unlink' (checked already), 'recheck' (a regular file of the expected size and mtime,
 * else left as it is), 'skip' (already gone when planned: counts as gone, untouched).
 */
export const MODES = ['unlink', 'recheck', 'skip'] as const;
export type RemovalMode = (typeof MODES)[number];

export interface RemovalRequest {
  names: string[];
  mode: RemovalMode[];
  /** Per file: size and mtimeMs expected, flat (read only where 'recheck'). */
  expect: number[];
  dirs: RemovalDir[];
}

export interface RemovalReply {
  outcomes: RemovalOutcome[];
  /** Per file: what the re-check saw (where it refused, or failed). */
  looked: Looked[];
  dirs: ('kept' | 'removed' | 'moved')[];
}

interface LookReply extends ThreadReply {
  kinds: Uint8Array;
  sizes: Float64Array;
  mtimes: Float64Array;
  errors: Record<number, SysError>;
}

interface RemoveReply extends LookReply {
  outcomes: Uint8Array;
  dirs: Uint8Array;
}

function looked(r: LookReply): Looked[] {
  const out: Looked[] = new Array(r.kinds.length);
  for (let i = 0; i < r.kinds.length; i++) out[i] = { kind: KINDS[r.kinds[i]!]!, size: r.sizes[i]!, mtimeMs: r.mtimes[i]!, ...(r.errors[i] ? { error: r.errors[i] } : {}) };
  return out;
}

const DIR_STATES = ['kept', 'removed', 'moved'] as const;

/**
 * The pool: started on first use, each call goes to the thread with the fewest calls waiting.
 * A thread keeps the process alive only while a call to it is waiting, so a pool left idle
 * never holds the process open.
 */
export class RemovalThreads {
  #threads: { worker: Worker; caller: ThreadCaller<object, unknown>; waiting: number }[] = [];

  constructor(readonly size = REMOVAL_THREADS) {}

  #pick() {
    if (!this.#threads.length) {
      const script = workerScript(import.meta.url, './removal-thread.mjs', './removal-thread.js');
      for (let i = 0; i < this.size; i++) {
        // trackUnmanagedFds off: a thread closes descriptors the main thread opened (handed over),
        // which node would otherwise warn about on stderr.
        const worker = new Worker(script, { stdout: false, stderr: false, trackUnmanagedFds: false });
        const t = { worker, caller: threadCaller<object, ThreadReply, unknown>(worker, 'removal', (r) => r), waiting: 0 };
        worker.unref();
        // Node 20 refs a worker again when it comes online: unref it then too, unless a call waits.
        worker.on('online', () => {
          if (t.waiting === 0) worker.unref();
        });
        // An idle thread of a closed pool ends without a word.
        worker.on('error', () => {});
        this.#threads.push(t);
      }
    }
    let best = this.#threads[0]!;
    for (const t of this.#threads) if (t.waiting < best.waiting) best = t;
    return best;
  }

  async #call<R>(request: object): Promise<R> {
    const t = this.#pick();
    if (t.waiting++ === 0) t.worker.ref();
    try {
      return (await t.caller.call(request)) as R;
    } finally {
      if (--t.waiting === 0) t.worker.unref();
    }
  }

  /** lstat of each name (never following it), in order. */
  async look(names: readonly string[]): Promise<Looked[]> {
    if (!names.length) return [];
    return looked(await this.#call<LookReply>({ op: 'look', names: names.join('\0') }));
  }

  /** Re-checks, unlinks and removes directories as the request says; never throws for one file. */
  async remove(req: RemovalRequest): Promise<RemovalReply> {
    const r = await this.#call<RemoveReply>({
      op: 'remove',
      names: req.names.join('\0'),
      mode: Uint8Array.from(req.mode, (x) => MODES.indexOf(x)),
      expect: Float64Array.from(req.expect),
      dirs: req.dirs,
    });
    return { outcomes: Array.from(r.outcomes, (o) => OUTCOMES[o]!), looked: looked(r), dirs: Array.from(r.dirs, (d) => DIR_STATES[d]!) };
  }

  /** Ends the threads (nothing may be in flight). */
  close(): void {
    for (const t of this.#threads) void t.worker.terminate();
    this.#threads = [];
  }
}

let shared: RemovalThreads | undefined;

/**
 * The process's one pool, started by the first deletion that needs it and kept (idle threads
 * cost nothing and hold nothing open but their own loops): a run that opens several gates (one
 * per tier, or a test process running many commands) starts its threads once, not per gate.
 */
export function removalThreads(): RemovalThreads {
  return (shared ??= new RemovalThreads());
}
