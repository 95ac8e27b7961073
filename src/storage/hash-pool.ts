// Reading files back to hash them, on worker threads: synchronous reads in 1 MiB chunks, a
// batch of files per call. Synchronous reads on two threads were measured fastest here for many
// small files (shared/baselines.md: 2.3 s for 200k files, promise fan-out 9-10 s), and 1 MiB
// chunks for large ones. Paths are catalog paths, checked; a directory on the way that is a
// symlink, or a file that is one, is refused rather than followed.
import { createHash, hash as hashOnce } from 'node:crypto';
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
  /** For a check: the expected sizes, and SHA-256 hex digests concatenated (64 characters each). */
  sizes?: Float64Array;
  sha256s?: string;
}

/** A check's verdict per file: matches, differs (size or SHA-256), gone, cannot be read. */
export const CHECK_OK = 0;
export const CHECK_MISMATCH = 1;
export const CHECK_MISSING = 2;
export const CHECK_UNREADABLE = 3;

/** What checking a batch found: a verdict per file, and what was read for each file that is not ok. */
export interface CheckOutcome {
  codes: Uint8Array;
  /** Index -> what reading it found (only for codes other than CHECK_OK). */
  details: Map<number, HashOutcome>;
}

interface CheckReply extends ThreadReply {
  codes: Uint8Array;
  /** Index -> [size, sha256] read, or [missing, reason] when it could not be read. */
  found: Record<number, [number, string] | [boolean, string]>;
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
      // O_NONBLOCK: a FIFO where a file was is refused below instead of hanging the open.
      const fd = fs.openSync(path.join(root, rel), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
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

/**
 * Checks files under root against their expected size and SHA-256 (the thread body of a check).
 * A file that reads back as expected costs an open, one read and a close: the read asks for one
 * byte more than expected, so a short read (end of file) proves the size, and the digest is one
 * call. Anything else (a size or digest that differs, an error, an empty file) is read again the
 * careful way (hashBatch: fstat, regular file only, to the end) for the verdict and its detail.
 */
export function checkBatch(root: string, rels: readonly string[], sizes: Float64Array, sha256s: string): Omit<CheckReply, 'id'> {
  const codes = new Uint8Array(rels.length);
  const found: CheckReply['found'] = {};
  const checkedDirs = new Set<string>();
  const prefix = root.endsWith('/') ? root : `${root}/`;
  const careful: number[] = [];
  for (let i = 0; i < rels.length; i++) {
    const rel = rels[i]!;
    const want = sizes[i]!;
    if (want <= 0 || want >= CHUNK || !quickMatch(prefix, rel, want, sha256s.slice(i * 64, i * 64 + 64), checkedDirs)) careful.push(i);
  }
  if (careful.length) {
    const r = hashBatch(root, careful.map((i) => rels[i]!));
    careful.forEach((idx, j) => {
      const f = r.failures[j];
      if (f) {
        codes[idx] = f[0] ? CHECK_MISSING : CHECK_UNREADABLE;
        found[idx] = f;
        return;
      }
      const size = r.sizes[j]!;
      const sha = r.digests.slice(j * 64, j * 64 + 64);
      if (size === sizes[idx] && sha === sha256s.slice(idx * 64, idx * 64 + 64)) return;
      codes[idx] = CHECK_MISMATCH;
      found[idx] = [size, sha];
    });
  }
  return { codes, found };
}

/** True when rel (smaller than a chunk, not empty) reads back with exactly this size and digest. */
function quickMatch(prefix: string, rel: string, want: number, sha256: string, checkedDirs: Set<string>): boolean {
  const buf = (buffer ??= Buffer.allocUnsafe(CHUNK));
  let fd: number;
  try {
    checkRelPath(rel);
    if (checkDirs(prefix, rel, checkedDirs) === 'missing') return false;
    // O_NONBLOCK: a FIFO where a file was must not hang the thread (it reads short, and the
    // careful pass reports it as not a regular file).
    fd = fs.openSync(prefix + rel, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch {
    return false;
  }
  try {
    const n = fs.readSync(fd, buf, 0, want + 1, null);
    return n === want && hashOnce('sha256', buf.subarray(0, n), 'hex') === sha256;
  } catch {
    return false;
  } finally {
    fs.closeSync(fd);
  }
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

function decodeCheck(r: Omit<CheckReply, 'id'>): CheckOutcome {
  const details = new Map<number, HashOutcome>();
  for (const [k, v] of Object.entries(r.found)) {
    const i = Number(k);
    details.set(i, r.codes[i] === CHECK_MISMATCH ? { ok: true, size: v[0] as number, sha256: v[1] } : { ok: false, missing: v[0] as boolean, reason: v[1] });
  }
  return { codes: r.codes, details };
}

/** A check done from hash outcomes (a pool without threads of its own: an S3 store's GETs). */
export function checkFromHashes(got: readonly HashOutcome[], sizes: ArrayLike<number>, sha256s: string): CheckOutcome {
  const codes = new Uint8Array(got.length);
  const details = new Map<number, HashOutcome>();
  got.forEach((g, i) => {
    if (g.ok && g.size === sizes[i] && g.sha256 === sha256s.slice(i * 64, i * 64 + 64)) return;
    codes[i] = !g.ok ? (g.missing ? CHECK_MISSING : CHECK_UNREADABLE) : CHECK_MISMATCH;
    details.set(i, g);
  });
  return { codes, details };
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
  /**
   * Checks a batch of files against their expected sizes and SHA-256 digests (hex, 64 characters
   * each, concatenated) on one of the threads: one verdict per file, details only for the others.
   */
  check(rels: readonly string[], sizes: Float64Array, sha256s: string): Promise<CheckOutcome>;
  close(): Promise<void>;
}

/** Threads to read with: the cores there are, at most 4 (more only queue on the disk). */
export function defaultHashThreads(): number {
  return Math.max(1, Math.min(4, os.availableParallelism()));
}

export function openHashPool(root: string, threads = defaultHashThreads()): HashPool {
  const script = workerScript(import.meta.url, './hash-worker.mjs', './hash-worker.js');
  const workers: { worker: Worker; caller: ThreadCaller<Omit<HashRequest, 'id'>, Omit<HashReply, 'id'> | Omit<CheckReply, 'id'>>; busy: number }[] = [];
  for (let i = 0; i < threads; i++) {
    const worker = new Worker(script, { workerData: { root }, stdout: false, stderr: false });
    workers.push({ worker, caller: threadCaller(worker, 'hash', (m: HashReply | CheckReply) => m), busy: 0 });
  }
  const onThread = async <T>(req: Omit<HashRequest, 'id'>, transfer?: ArrayBuffer[]): Promise<T> => {
    const w = workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    w.busy++;
    try {
      return (await w.caller.call(req, transfer)) as T;
    } finally {
      w.busy--;
    }
  };
  return {
    threads,
    async hash(rels) {
      if (!rels.length) return [];
      return decode(await onThread<HashReply>({ paths: rels.join('\0') }), rels.length);
    },
    async check(rels, sizes, sha256s) {
      if (!rels.length) return { codes: new Uint8Array(0), details: new Map() };
      return decodeCheck(await onThread<CheckReply>({ paths: rels.join('\0'), sizes, sha256s }));
    },
    async close() {
      await Promise.all(workers.map((w) => w.worker.terminate()));
    },
  };
}
