// A plan too large for memory is spooled to a temporary NDJSON file and read back in order.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

export class Spool<T> {
  readonly #dir = fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-plan-'));
  readonly #file = path.join(this.#dir, 'plan.ndjson');
  readonly #fd = fs.openSync(this.#file, 'w', 0o600);
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

  async *read(): AsyncGenerator<T> {
    this.#flush();
    const rl = readline.createInterface({ input: fs.createReadStream(this.#file), crlfDelay: Infinity });
    for await (const line of rl) if (line) yield JSON.parse(line) as T;
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
