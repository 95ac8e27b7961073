// Newline-delimited JSON, a chunk at a time: lines split on the byte '\n', so a multi-byte
// character cut between two chunks is joined before it is decoded.
import fs from 'node:fs';

export class LineSplitter {
  private carry: Buffer | undefined;

  /** The complete lines in this chunk (empty lines dropped). */
  push(chunk: Buffer): string[] {
    const buf = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
    const out: string[] = [];
    let start = 0;
    for (let nl = buf.indexOf(0x0a, start); nl !== -1; nl = buf.indexOf(0x0a, start)) {
      if (nl > start) out.push(buf.toString('utf8', start, nl));
      start = nl + 1;
    }
    this.carry = start < buf.length ? Buffer.from(buf.subarray(start)) : undefined;
    return out;
  }

  /** What is left after the last newline, if anything. */
  end(): string | undefined {
    const rest = this.carry?.length ? this.carry.toString('utf8') : undefined;
    this.carry = undefined;
    return rest;
  }
}

/** Lines of a file, read synchronously 1 MiB at a time. */
export class LineReader implements Iterable<string> {
  constructor(private readonly file: string) {}

  *[Symbol.iterator](): Iterator<string> {
    const fd = fs.openSync(this.file, 'r');
    try {
      const splitter = new LineSplitter();
      const buf = Buffer.allocUnsafe(1 << 20);
      for (;;) {
        const n = fs.readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        yield* splitter.push(buf.subarray(0, n));
      }
      const tail = splitter.end();
      if (tail) yield tail;
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** Appends text to a file through a buffer, hashing nothing and holding at most ~1 MiB. */
export class LineWriter {
  private parts: string[] = [];
  private pending = 0;
  readonly fd: number;
  bytes = 0;

  constructor(readonly file: string) {
    this.fd = fs.openSync(file, 'w', 0o600);
  }

  write(text: string): void {
    this.parts.push(text);
    this.pending += text.length;
    if (this.pending >= 1 << 20) this.flush();
  }

  flush(): void {
    if (!this.parts.length) return;
    const buf = Buffer.from(this.parts.join(''), 'utf8');
    let off = 0;
    while (off < buf.length) off += fs.writeSync(this.fd, buf, off, buf.length - off);
    this.bytes += buf.length;
    this.parts = [];
    this.pending = 0;
  }

  close(): void {
    this.flush();
    fs.closeSync(this.fd);
  }
}
