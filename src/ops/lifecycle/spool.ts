// A plan too large for memory is spooled to a temporary NDJSON file and read back in order.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';

export class Spool<T> {
  readonly #dir = fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-plan-'));
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
