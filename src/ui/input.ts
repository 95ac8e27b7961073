import fs from 'node:fs';
import path from 'node:path';
import { UsageError, errorMessage } from '../errors.ts';
import type { IO } from './io.ts';

/** Reads a file named on the command line, or stdin for '-'. */
export async function readInput(name: string, io: IO): Promise<string> {
  if (name === '-') {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  try {
    return fs.readFileSync(path.resolve(io.cwd, name), 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${name}: ${errorMessage(err)}`, undefined, 'bad_input');
  }
}
