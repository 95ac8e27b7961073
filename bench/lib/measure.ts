// Measuring helpers for benchmarks: wall time and peak RSS of a command, medians, tables.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = path.join(REPO, 'bin', 'storectl');

export interface Measured {
  seconds: number;
  maxRssMb: number;
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command under GNU time and returns wall seconds and peak RSS. */
export function measure(cmd: string, args: string[], opts: SpawnSyncOptions = {}): Measured {
  const started = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], { encoding: 'utf8', maxBuffer: 1 << 30, ...opts });
  const seconds = (performance.now() - started) / 1000;
  const stderr = String(r.stderr ?? '');
  const lines = stderr.trimEnd().split('\n');
  const rssKb = Number(lines[lines.length - 1]);
  return { seconds, maxRssMb: Math.round(rssKb / 1024), status: r.status, stdout: String(r.stdout ?? ''), stderr: lines.slice(0, -1).join('\n') };
}

export function shell(script: string, opts: SpawnSyncOptions = {}): Measured {
  return measure('bash', ['-c', script], opts);
}

export function storectl(args: string[], opts: SpawnSyncOptions = {}): Measured {
  const m = measure(process.execPath, [BIN, ...args], opts);
  if (m.status !== 0 && m.status !== 3 && m.status !== 4) throw new Error(`storectl ${args.join(' ')} failed (${m.status}): ${m.stderr || m.stdout}`);
  return m;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Runs fn n times and keeps the run with the median wall time. */
export function medianOf(n: number, fn: () => Measured): Measured {
  const runs = Array.from({ length: n }, fn);
  const m = median(runs.map((r) => r.seconds));
  return runs.find((r) => r.seconds === m)!;
}

export function table(head: string[], rows: (string | number)[][]): string {
  const line = (r: (string | number)[]) => `| ${r.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n') + '\n';
}

export const fmt = (n: number, d = 2) => n.toFixed(d);
export const arg = (name: string, dflt?: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
export const flag = (name: string) => process.argv.includes(name);

/**
 * Throws unless dir's dist/ bundle is at least as new as its src/ (bin/storectl silently runs
 * the sources through tsx otherwise: slower, and every worker thread loads tsx, 40+ MB more).
 */
export function requireFreshBuild(dir = REPO): void {
  const newest = (d: string): number =>
    fs.readdirSync(d, { withFileTypes: true }).reduce((m, e) => Math.max(m, e.isDirectory() ? newest(path.join(d, e.name)) : fs.statSync(path.join(d, e.name)).mtimeMs), 0);
  const built = fs.statSync(path.join(dir, 'dist', 'main.js'), { throwIfNoEntry: false });
  if (!built || built.mtimeMs < newest(path.join(dir, 'src'))) throw new Error(`${dir}: dist/ is older than src/ (run npm run build there first)`);
}
