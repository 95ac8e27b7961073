// Warm re-verify of many small files, storectl against the faster baseline, paired rounds in one
// run (each round: storectl, `find | xargs -P2 openssl dgst -sha256` and `find | xargs -P2 sha256sum`, order rotating), with
// verify's phase profile (STORECTL_PROFILE). The store is built once under bench/.work/verify-small
// and kept (--fresh rebuilds it); files as bench/verify.ts makes them.
// --base DIR adds another checkout's build of storectl (its bin/storectl, e.g. the code before
// a change) as one more tool of each round, on the same store.
//   nice -n 10 node --import tsx bench/verify-small.ts [--files N] [--rounds N] [--profile FILE] [--base DIR]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createCipheriv, createHash } from 'node:crypto';
import { openCatalog } from '../src/db/connect.ts';
import { parseDatabaseUrl } from '../src/db/url.ts';
import type { NewFile } from '../src/db/types.ts';
import { REPO, arg, flag, fmt, measure, median, requireFreshBuild, shell, storectl } from './lib/measure.ts';

const FILES = Number(arg('--files', '200000'));
const ROUNDS = Number(arg('--rounds', '3'));
const profile = arg('--profile', '');
const base = arg('--base', '');
const root = path.join(REPO, 'bench/.work/verify-small', String(FILES));
const KEY = Buffer.alloc(16, 7);
function smallContent(i: number): Buffer {
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(i, 0);
  return createCipheriv('aes-128-ctr', KEY, iv).update(Buffer.alloc(2048 + ((i * 7919) % 6144)));
}

async function build(): Promise<void> {
  if (!flag('--fresh') && fs.existsSync(path.join(root, '.built'))) return;
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  const c = await openCatalog(parseDatabaseUrl(undefined, root), { create: true, migrate: 'never' });
  await c.migrate();
  const at = new Date('2026-11-01T00:00:00Z');
  let batch: NewFile[] = [];
  for (let i = 0; i < FILES; i++) {
    const rel = `temp/${String(Math.floor(i / 1000)).padStart(4, '0')}/f${i}.bin`;
    if (i % 1000 === 0) fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true, mode: 0o750 });
    const data = smallContent(i);
    fs.writeFileSync(path.join(root, rel), data, { mode: 0o600 });
    batch.push({ jobId: null, role: 'blob', category: 'temp', owner: 'bench', path: rel, contentType: 'application/octet-stream', size: data.length, sha256: createHash('sha256').update(data).digest('hex'), createdAt: at });
    if (batch.length === 5000) {
      await c.insertFiles(batch);
      batch = [];
    }
  }
  if (batch.length) await c.insertFiles(batch);
  await c.close();
  fs.writeFileSync(path.join(root, '.built'), '');
}

requireFreshBuild();
if (base) requireFreshBuild(base);
await build();
const q = (p: string) => `'${p.replace(/'/g, "'\\''")}'`;
const env = profile ? { ...process.env, STORECTL_PROFILE: profile } : process.env;
const find = `find ${q(root)} -path ${q(path.join(root, '.storectl'))} -prune -o -name '*.bin' -type f -print0`;
const tools: [string, () => ReturnType<typeof shell>][] = [
  ['storectl verify', () => storectl(['--root', root, '--json', 'verify'], { stdio: ['ignore', 'pipe', 'pipe'], env })],
  ['find | xargs -P2 openssl dgst -sha256', () => shell(`${find} | xargs -0 -P2 -n 1000 openssl dgst -sha256 > /dev/null`)],
  ['find | xargs -P2 sha256sum', () => shell(`${find} | xargs -0 -P2 -n 1000 sha256sum > /dev/null`)],
];
// The base build is not a baseline: listed apart (after the baselines), ratios to it said apart.
if (base) tools.push([`storectl verify (base: ${path.basename(base)})`, () => measure(process.execPath, [path.join(base, 'bin', 'storectl'), '--root', root, '--json', 'verify'], { stdio: ['ignore', 'pipe', 'pipe'] })]);
const baselines = base ? tools.length - 2 : tools.length - 1;
const load0 = os.loadavg().map((x) => x.toFixed(1)).join(' ');
const secs: number[][] = tools.map(() => []);
const rss: number[][] = tools.map(() => []);
for (const [, run] of tools) run(); // warm-up: the first verify records every file; the measured ones re-verify
for (let r = 0; r < ROUNDS; r++) {
  for (let k = 0; k < tools.length; k++) {
    const i = (k + r) % tools.length;
    const m = tools[i]![1]();
    if (m.status !== 0) throw new Error(`${tools[i]![0]} exited ${m.status}: ${m.stderr.slice(0, 300)}`);
    secs[i]!.push(m.seconds);
    rss[i]!.push(m.maxRssMb);
  }
}
process.stdout.write(`${FILES} small files warm, ${ROUNDS} paired rounds, load ${load0} at start, ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} at end\n`);
tools.forEach(([t], i) => process.stdout.write(`${t}: ${secs[i]!.map((s) => fmt(s)).join(' / ')} s, median ${fmt(median(secs[i]!))}, peak RSS ${Math.max(...rss[i]!)} MB\n`));
// Throughput ratio to the faster baseline of the same round (the goal: at least 0.85).
const faster = secs[0]!.map((_, r) => Math.min(...secs.slice(1, 1 + baselines).map((t) => t[r]!)));
const ratios = secs[0]!.map((s, r) => faster[r]! / s);
for (let b = 1; b < tools.length; b++) process.stdout.write(`ratio to ${tools[b]![0]} per round: ${secs[0]!.map((s, r) => fmt(secs[b]![r]! / s)).join(' / ')}\n`);
process.stdout.write(`ratio to the faster baseline per round: ${ratios.map((x) => fmt(x)).join(' / ')}; median ${fmt(median(ratios))}\n`);
if (base) {
  const b = secs[tools.length - 1]!;
  const baseRatios = b.map((_, r) => faster[r]! / b[r]!);
  process.stdout.write(`base build's ratio to the faster baseline per round: ${baseRatios.map((x) => fmt(x)).join(' / ')}; median ${fmt(median(baseRatios))}\n`);
}
