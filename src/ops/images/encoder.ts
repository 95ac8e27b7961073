// Where images are compressed: in a child process of storectl, not in storectl itself.
//
// glibc gives each thread that allocates its own malloc arena, up to 8 per core, and keeps
// what the decoders free in them: in one process, with libvips and libuv threads taking turns,
// migrate-images-to-db peaked at 537-630 MB RSS on 128 real 2560-5120 px wallpapers. MALLOC_ARENA_MAX
// is read when a process starts, so storectl cannot cap its own arenas; it starts its encoder
// with the cap in the environment instead, and storectl's own pid (what an operator or a
// supervisor signals) stays the process that holds the lock and the catalog.
// The encoder admits pipelines by a memory budget (decodeCost), so three progressive 5K JPEGs
// at once do not add up to 270 MB of DCT coefficients. It exits when storectl does, however
// storectl ends (its IPC channel closes, even on kill -9). If the encoder dies (a decoder
// crash, the OOM killer), the images it held fail with that reason and a new one is started.
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { workerScript } from '../../threads.ts';
import { ImageRejected, type Compressed, type CompressOptions } from './compress.ts';

/**
 * An image's bytes, or a local file the encoder reads itself (at most maxBytes). `opened`: the
 * file is a /proc/PID/fd/N link to a file storectl holds open (opened through its directory, as
 * store mode does), reopened as that very file: followed, never resolved as a path again.
 */
export type EncoderInput = Buffer | { file: string; maxBytes: number; opened?: boolean };
export type Encoded = Compressed & { inputBytes: number };

/** Compresses images; close() ends what it started (until then it keeps the process alive). */
export interface ImageEncoder {
  compress(input: EncoderInput, opts: CompressOptions): Promise<Encoded>;
  close(): Promise<void>;
}

export interface EncoderRequest {
  id: number;
  input: Uint8Array | { file: string; maxBytes: number; opened?: boolean };
  opts: CompressOptions;
}
export type EncoderReply =
  | { id: number; ok: true; result: Omit<Encoded, 'data'> & { data: Uint8Array } }
  | { id: number; ok: false; kind?: ImageRejected['kind']; read?: boolean; code?: string; message: string };

/** The original could not be read (missing, a symlink, too large, ...). */
export class ReadFailed extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** Why an original could not be read, as the report lists it. */
export function readFailure(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' ? 'missing file' : code === 'ELOOP' ? 'is a symlink (not followed)' : code === 'EISDIR' ? 'not a regular file' : err instanceof Error ? err.message : String(err);
}

/** Reads an opened original: a regular file of at most maxBytes. */
export async function readOpened(fh: fs.promises.FileHandle, maxBytes: number): Promise<Buffer> {
  const st = await fh.stat();
  if (!st.isFile()) throw new Error('not a regular file');
  if (st.size > maxBytes) throw new Error(`file is larger than ${maxBytes} bytes`);
  return fh.readFile();
}

/** Reads a local original; O_NOFOLLOW: a symlink planted where an image was is refused, not followed. */
export async function readLocalFile(file: string, maxBytes: number, opened = false): Promise<Buffer> {
  const fh = await fs.promises.open(file, opened ? fs.constants.O_RDONLY : fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    return await readOpened(fh, maxBytes);
  } finally {
    await fh.close();
  }
}

/**
 * How the encoder can read a file this process holds open: /proc/PID/fd/N on Linux (the bytes
 * never pass through this process), else undefined (read it here and hand the bytes over).
 */
export function openedFileLink(fd: number): string | undefined {
  return process.platform === 'linux' ? `/proc/${process.pid}/fd/${fd}` : undefined;
}

/** Compresses in this process (tests, and where a child process is not wanted). */
export function inlineEncoder(compress: (input: Buffer, opts: CompressOptions) => Promise<Compressed>): ImageEncoder {
  return {
    async compress(input, opts) {
      let bytes: Buffer;
      try {
        bytes = Buffer.isBuffer(input) ? input : await readLocalFile(input.file, input.maxBytes, input.opened);
      } catch (err) {
        throw new ReadFailed(readFailure(err), (err as NodeJS.ErrnoException).code);
      }
      return { ...(await compress(bytes, opts)), inputBytes: bytes.length };
    },
    close: async () => {},
  };
}

/** Working memory the encoder's pipelines may hold at once, by decodeCost (bytes). */
export const ENCODER_BUDGET = 128 * 1024 * 1024;

/** The encoder died this many times in a row without answering once: the run stops. */
const MAX_DEATHS = 3;

/** The encoder process cannot be kept running: no image can be compressed. */
export class EncoderBroken extends Error {}

interface Pending {
  resolve: (c: Encoded) => void;
  reject: (e: Error) => void;
}

/**
 * One encoder process (started on first use) running up to `pipelines` sharp pipelines at a
 * time within `budget` bytes of decode memory.
 */
export function processEncoder(pipelines: number, budget = ENCODER_BUDGET): ImageEncoder {
  const script = workerScript(import.meta.url, './encoder.mjs', './image-encoder.js');
  let child: ChildProcess | undefined;
  let pending = new Map<number, Pending>();
  let nextId = 0;
  let deaths = 0;
  let closing = false;

  const start = (): ChildProcess => {
    const env = {
      ...process.env,
      // glibc malloc, read at start (an operator's own values win): two arenas for all the
      // threads, and every block of 128 KiB or more mmap'd and unmapped when freed instead of
      // kept in an arena (the threshold would otherwise grow to 32 MiB as pixel buffers are
      // freed). Measured on 128 real 5120x2880 wallpapers: see bench/results/images-rss.md.
      MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2',
      MALLOC_MMAP_THRESHOLD_: process.env.MALLOC_MMAP_THRESHOLD_ ?? '131072',
      MALLOC_TRIM_THRESHOLD_: process.env.MALLOC_TRIM_THRESHOLD_ ?? '131072',
      // Pipelines, plus one for headers: storectl's own pool size is for its file I/O.
      UV_THREADPOOL_SIZE: String(Math.max(4, pipelines + 1)),
      STORECTL_ENCODER_BUDGET: String(budget),
    };
    const w = fork(script, [], { env, serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const mine = pending;
    w.on('message', (m: EncoderReply) => {
      const p = mine.get(m.id);
      if (!p) return;
      mine.delete(m.id);
      deaths = 0;
      if (m.ok) p.resolve({ ...m.result, data: Buffer.from(m.result.data.buffer, m.result.data.byteOffset, m.result.data.byteLength) });
      else p.reject(m.read ? new ReadFailed(m.message, m.code) : m.kind ? new ImageRejected(m.kind, m.message) : new Error(m.message));
    });
    let gone = false;
    const died = (why: string) => {
      // 'error' and 'exit' can both come for one death: count it once.
      if (gone) return;
      gone = true;
      if (child === w) child = undefined;
      if (closing && !mine.size) return;
      deaths++;
      const err = deaths >= MAX_DEATHS ? new EncoderBroken(`image encoder process ${why}, ${deaths} times in a row: stopping`) : new ImageRejected('corrupt', `image encoder process ${why} while compressing it`);
      for (const p of mine.values()) p.reject(err);
      mine.clear();
    };
    w.on('exit', (code, signal) => died(signal ? `was killed (${signal})` : `exited (code ${code})`));
    w.on('error', (err) => died(`failed: ${err.message}`));
    return w;
  };

  return {
    compress(input, opts) {
      if (deaths >= MAX_DEATHS) return Promise.reject(new EncoderBroken(`image encoder process died ${deaths} times in a row`));
      if (!child) {
        pending = new Map();
        child = start();
      }
      const w = child;
      const id = nextId++;
      return new Promise<Encoded>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        const req: EncoderRequest = { id, input, opts };
        w.send(req, (err) => {
          if (err && pending.delete(id)) reject(new ImageRejected('corrupt', `cannot hand the image to the encoder process: ${err.message}`));
        });
      });
    },
    async close() {
      closing = true;
      const w = child;
      child = undefined;
      if (!w || w.exitCode !== null || w.signalCode !== null) return;
      await new Promise<void>((res) => {
        w.once('exit', () => res());
        w.disconnect();
      });
    },
  };
}
