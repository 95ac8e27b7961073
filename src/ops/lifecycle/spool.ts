// A plan too large for memory is spooled to a temporary NDJSON file and read back in order.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { isProcessAlive } from '../../db/shared.ts';

const SPOOL_PREFIX = 'storectl-plan-';
let swept = false;

/**
 * Removes the spools of cleanup runs that were killed: storectl-plan-<pid>-* of a process that
 * is gone (the temp directory is this host's), and pid-less ones of older versions untouched for a day.
 */
export function sweepDeadSpools(tmp = os.tmpdir()): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(tmp).filter((n) => n.startsWith(SPOOL_PREFIX));
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = /^storectl-plan-(\d+)-/.exec(name);
    const full = path.join(tmp, name);
    try {
      if (m) {
        if (Number(m[1]) === process.pid || isProcessAlive(Number(m[1]))) continue;
      } else if (Date.now() - fs.statSync(full).mtimeMs < 86_400_000) continue;
      fs.rmSync(full, { recursive: true, force: true });
      removed.push(name);
    } catch {
      /* another user's, or gone already */
    }
  }
  return removed;
}

export class Spool<T> {
  readonly #dir = (() => {
    if (!swept) {
      swept = true;
      sweepDeadSpools();
    }
    return fs.mkdtempSync(path.join(os.tmpdir(), `${SPOOL_PREFIX}${process.pid}-`));
  })();
  readonly #file = path.join(this.#dir, 'plan.ndjson');
  readonly #fd = fs.openSync(this.#file, 'w', 0o600);
  readonly #decoder = new StringDecoder('utf8');
  #buffer: string[] = [];
  #size = 0;
  count = 0;

  push(item: T): void {
    const line = JSON.stringify(item);
    this.#buffer.push(line);
    this.#size += line.length;
    this.count++;
    if (this.#size > 1 << 20) this.#flush();
  }

  #flush(): void {
    if (this.#buffer.length) fs.writeSync(this.#fd, this.#buffer.join('\n') + '\n');
    this.#buffer = [];
    this.#size = 0;
  }

  /**
   * Reads the items back in order. Synchronous reads on purpose: an asynchronous read queues on
   * libuv's thread pool behind the unlinks the reader is feeding, and stalls them.
   */
  *read(): Generator<T> {
    this.#flush();
    const fd = fs.openSync(this.#file, 'r');
    try {
      const buf = Buffer.alloc(1 << 20);
      let rest = '';
      for (;;) {
        const n = fs.readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        const lines = (rest + this.#decoder.write(buf.subarray(0, n))).split('\n');
        rest = lines.pop()!;
        for (const line of lines) if (line) yield JSON.parse(line) as T;
      }
      rest += this.#decoder.end();
      if (rest) yield JSON.parse(rest) as T;
    } finally {
      fs.closeSync(fd);
    }
  }

  dispose(): void {
    try {
      fs.closeSync(this.#fd);
    } catch {
      /* closed already */
    }
    fs.rmSync(this.#dir, { recursive: true, force: true });
  }
}
