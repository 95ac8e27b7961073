// Reading files back to hash them, on worker threads: synchronous reads in 1 MiB chunks, a
// batch of files per call. Synchronous reads on two threads were measured fastest here for many
// small files (shared/baselines.md: 2.3 s for 200k files, promise fan-out 9-10 s), and 1 MiB
// chunks for large ones. Paths are catalog paths, checked; a directory on the way that is a
// symlink, or a file that is one, is refused rather than followed.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { threadCaller, workerScript, type ThreadCaller, type ThreadReply } from '../threads.ts';
import { checkRelPath } from './paths.ts';

const CHUNK = 1 << 20;

/** What reading one file found: its size and SHA-256, or why it could not be read. */
export type HashOutcome =
  | { ok: true; size: number; sha256: string }
  | { ok: false; missing: boolean; reason: string };

export interface HashRequest {
  id: number;
  /** Catalog paths joined with '\0'. */
  paths: string;
}

interface HashReply extends ThreadReply {
  sizes: Float64Array;
  /** SHA-256 hex digests concatenated (64 characters each; empty slots for failures). */
  digests: string;
  /** Index -> failure: [missing, reason]. */
  failures: Record<number, [boolean, string]>;
}

let buffer: Buffer | undefined;

/** Hashes files under root synchronously (the thread body; also used inline). */
export function hashBatch(root: string, rels: readonly string[]): Omit<HashReply, 'id'> {
  const buf = (buffer ??= Buffer.allocUnsafe(CHUNK));
  const sizes = new Float64Array(rels.length);
  const digests: string[] = [];
  const failures: Record<number, [boolean, string]> = {};
  const checkedDirs = new Set<string>();
  rels.forEach((rel, i) => {
    try {
      checkRelPath(rel);
      const dir = checkDirs(root, rel, checkedDirs);
      if (dir === 'missing') {
        failures[i] = [true, 'missing (its directory is gone)'];
        digests.push(''.padEnd(64));
        return;
      }
      const fd = fs.openSync(path.join(root, rel), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      try {
        if (!fs.fstatSync(fd).isFile()) throw Object.assign(new Error('not a regular file'), { code: 'ENOTFILE' });
        const h = createHash('sha256');
        let size = 0;
        for (;;) {
          const n = fs.readSync(fd, buf, 0, CHUNK, null);
          if (n === 0) break;
          h.update(n === CHUNK ? buf : buf.subarray(0, n));
          size += n;
        }
        sizes[i] = size;
        digests.push(h.digest('hex'));
      } finally {
        fs.closeSync(fd);
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      failures[i] = code === 'ENOENT' ? [true, 'missing'] : [false, code === 'ELOOP' ? 'is a symlink' : code === 'ENOTFILE' ? 'not a regular file' : (err as Error).message];
      digests.push(''.padEnd(64));
    }
  });
  return { sizes, digests: digests.join(''), failures };
}

/** Refuses symlinked or non-directory components on the way to rel; 'missing' when one is gone. */
function checkDirs(root: string, rel: string, checked: Set<string>): 'ok' | 'missing' {
  let i = rel.indexOf('/');
  while (i !== -1) {
    const prefix = rel.slice(0, i);
    if (!checked.has(prefix)) {
      const st = fs.lstatSync(path.join(root, prefix), { throwIfNoEntry: false });
      if (!st) return 'missing';
      if (st.isSymbolicLink()) throw new Error(`${prefix} is a symlink`);
      if (!st.isDirectory()) throw new Error(`${prefix} is not a directory`);
      checked.add(prefix);
    }
    i = rel.indexOf('/', i + 1);
  }
  return 'ok';
}

function decode(r: Omit<HashReply, 'id'>, n: number): HashOutcome[] {
  const out: HashOutcome[] = [];
  for (let i = 0; i < n; i++) {
    const f = r.failures[i];
    out.push(f ? { ok: false, missing: f[0], reason: f[1] } : { ok: true, size: r.sizes[i]!, sha256: r.digests.slice(i * 64, i * 64 + 64) });
  }
  return out;
}

export interface HashPool {
  readonly threads: number;
  /** Hashes a batch of files on one of the threads; results in order. */
  hash(rels: readonly string[]): Promise<HashOutcome[]>;
  close(): Promise<void>;
}

/** Threads to read with: the cores there are, at most 4 (more only queue on the disk). */
export function defaultHashThreads(): number {
  return Math.max(1, Math.min(4, os.availableParallelism()));
}

export function openHashPool(root: string, threads = defaultHashThreads()): HashPool {
  const script = workerScript(import.meta.url, './hash-worker.mjs', './hash-worker.js');
  const workers: { worker: Worker; caller: ThreadCaller<{ paths: string }, Omit<HashReply, 'id'>>; busy: number }[] = [];
  for (let i = 0; i < threads; i++) {
    const worker = new Worker(script, { workerData: { root }, stdout: false, stderr: false });
    workers.push({ worker, caller: threadCaller(worker, 'hash', (m: HashReply) => m), busy: 0 });
  }
  return {
    threads,
    async hash(rels) {
      if (!rels.length) return [];
      const w = workers.reduce((a, b) => (b.busy < a.busy ? b : a));
      w.busy++;
      try {
        return decode(await w.caller.call({ paths: rels.join('\0') }), rels.length);
      } finally {
        w.busy--;
      }
    },
    async close() {
      await Promise.all(workers.map((w) => w.worker.terminate()));
    },
  };
}
