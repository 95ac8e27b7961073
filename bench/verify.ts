// verify's read-back throughput against the tools an operator would use instead, in the same run:
// `find ... -print0 | xargs -0 -P2 sha256sum` and the same through `openssl dgst -sha256`.
// Two stores: many small files (200,000 of about 5 KB, about 1 GB) and one 1 GiB file. Each is
// measured warm (page cache full: the files were just read) and, where this machine lets a
// process drop the page cache (root, /proc/sys/vm/drop_caches writable), cold.
// Goal (issue 18): at least 0.85 of the faster baseline's throughput; peak RSS under 300 MB.
//   node --import tsx bench/verify.ts [--quick] [--files N] [--big-mib N] [--rounds N]
// Results: bench/results/verify.md (not written by --quick)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createCipheriv, createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { openCatalog } from '../src/db/connect.ts';
import { parseDatabaseUrl } from '../src/db/url.ts';
import type { NewFile } from '../src/db/types.ts';
import { REPO, arg, flag, fmt, median, shell, storectl, table, type Measured } from './lib/measure.ts';

const quick = flag('--quick');
const FILES = Number(arg('--files', quick ? '20000' : '200000'));
const BIG_MIB = Number(arg('--big-mib', quick ? '128' : '1024'));
const ROUNDS = Number(arg('--rounds', quick ? '1' : '3'));
const work = path.join(REPO, 'bench/.work/verify');

/** Deterministic content of small file i: 2-8 KB of AES-CTR keystream (incompressible, distinct, made natively). */
const KEY = Buffer.alloc(16, 7);
function smallContent(i: number): Buffer {
  const size = 2048 + ((i * 7919) % 6144);
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(i, 0);
  return createCipheriv('aes-128-ctr', KEY, iv).update(Buffer.alloc(size));
}

async function buildStore(name: string, files: { rel: string; data: () => Buffer }[]): Promise<{ root: string; bytes: number }> {
  const root = path.join(work, name);
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  const c = await openCatalog(parseDatabaseUrl(undefined, root), { create: true, migrate: 'never' });
  await c.migrate();
  let bytes = 0;
  const at = new Date('2026-11-01T00:00:00Z');
  let batch: NewFile[] = [];
  let lastDir = '';
  for (const f of files) {
    const data = f.data();
    const abs = path.join(root, f.rel);
    const dir = path.dirname(abs);
    if (dir !== lastDir) fs.mkdirSync((lastDir = dir), { recursive: true, mode: 0o750 });
    fs.writeFileSync(abs, data, { mode: 0o600 });
    bytes += data.length;
    batch.push({ jobId: null, role: 'blob', category: 'temp', owner: 'bench', path: f.rel, contentType: 'application/octet-stream', size: data.length, sha256: createHash('sha256').update(data).digest('hex'), createdAt: at });
    if (batch.length === 5000) {
      await c.insertFiles(batch);
      batch = [];
    }
  }
  if (batch.length) await c.insertFiles(batch);
  await c.close();
  return { root, bytes };
}

/** One big file of a pattern that does not repeat (multiplicative hash of the offset). */
function bigFile(mib: number): Buffer {
  const b = Buffer.allocUnsafe(mib << 20);
  for (let off = 0; off < b.length; off += 4) b.writeUInt32LE(Math.imul(off, 2246822519) >>> 0, off);
  return b;
}

const canDropCache = (() => {
  try {
    fs.accessSync('/proc/sys/vm/drop_caches', fs.constants.W_OK);
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
})();
const dropCache = () => {
  spawnSync('sync');
  fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
};
interface Row {
  store: string;
  cache: 'warm' | 'cold';
  tool: string;
  seconds: number[];
  rssMb: number[];
}

function runAll(name: string, root: string, cache: 'warm' | 'cold'): Row[] {
  const q = (p: string) => `'${p.replace(/'/g, "'\\''")}'`;
  const tools: [string, () => Measured][] = [
    ['storectl verify', () => storectl(['--root', root, '--json', 'verify'], { stdio: ['ignore', 'pipe', 'pipe'] })],
    ['find \\| xargs -P2 sha256sum', () => shell(`find ${q(root)} -path ${q(path.join(root, '.storectl'))} -prune -o -type f -print0 | xargs -0 -P2 -n 1000 sha256sum > /dev/null`)],
    ['find \\| xargs -P2 openssl dgst -sha256', () => shell(`find ${q(root)} -path ${q(path.join(root, '.storectl'))} -prune -o -type f -print0 | xargs -0 -P2 -n 1000 openssl dgst -sha256 > /dev/null`)],
  ];
  const rows: Row[] = tools.map(([tool]) => ({ store: name, cache, tool, seconds: [], rssMb: [] }));
  for (let r = 0; r < ROUNDS; r++) {
    // Rotate the order each round so no tool always runs right after another's reads.
    for (let k = 0; k < tools.length; k++) {
      const i = (k + r) % tools.length;
      if (cache === 'cold') dropCache();
      else tools[i]![1](); // warm-up read, not measured
      const m = tools[i]![1]();
      if (m.status !== 0) throw new Error(`${tools[i]![0]} exited ${m.status}: ${m.stderr.slice(0, 500)}`);
      rows[i]!.seconds.push(m.seconds);
      rows[i]!.rssMb.push(m.maxRssMb);
    }
  }
  return rows;
}

async function main(): Promise<void> {
  const load = os.loadavg()[0]!.toFixed(1);
  process.stderr.write(`building ${FILES} small files and one ${BIG_MIB} MiB file under ${work}\n`);
  const small = await buildStore(
    'small',
    Array.from({ length: FILES }, (_, i) => ({ rel: `temp/${String(Math.floor(i / 1000)).padStart(4, '0')}/f${i}.bin`, data: () => smallContent(i) })),
  );
  const big = await buildStore('big', [{ rel: 'temp/big.bin', data: () => bigFile(BIG_MIB) }]);
  const rows: Row[] = [];
  for (const [name, s] of [[`${FILES.toLocaleString('en-US')} small files`, small], [`one ${BIG_MIB} MiB file`, big]] as const) {
    for (const cache of canDropCache ? (['warm', 'cold'] as const) : (['warm'] as const)) rows.push(...runAll(name, s.root, cache));
  }
  const bytesOf = (store: string) => (store.includes('small') ? small.bytes : big.bytes);
  const out: string[] = [];
  out.push(`verify read-back: ${FILES.toLocaleString('en-US')} small files (${(small.bytes / 2 ** 30).toFixed(2)} GiB) and one ${BIG_MIB} MiB file; ${ROUNDS} round(s), median; load ${load} at start, ${os.cpus().length} cores; page cache ${canDropCache ? 'dropped before each cold run' : 'could not be dropped here (warm only)'}\n`);
  const groups = new Map<string, Row[]>();
  for (const r of rows) groups.set(`${r.store} ${r.cache}`, [...(groups.get(`${r.store} ${r.cache}`) ?? []), r]);
  const lines: (string | number)[][] = [];
  for (const [, g] of groups) {
    const s = g.find((r) => r.tool === 'storectl verify')!;
    const bestBaseline = Math.min(...g.filter((r) => r !== s).map((r) => median(r.seconds)));
    for (const r of g) {
      const mbps = bytesOf(r.store) / 2 ** 20 / median(r.seconds);
      lines.push([r.store, r.cache, r.tool, r.seconds.map((x) => fmt(x)).join(' / '), fmt(mbps, 0), Math.max(...r.rssMb), r === s ? fmt(bestBaseline / median(s.seconds)) : '']);
    }
  }
  out.push(table(['store', 'cache', 'tool', 'seconds (rounds)', 'MiB/s (median)', 'peak RSS MB', 'storectl throughput / faster baseline'], lines));
  out.push('Goal: storectl at least 0.85 of the faster baseline, peak RSS under 300 MB.\n');
  const text = out.join('\n');
  process.stdout.write(text);
  if (!quick) {
    fs.mkdirSync(path.join(REPO, 'bench/results'), { recursive: true });
    fs.writeFileSync(path.join(REPO, 'bench/results/verify.md'), `# verify\n\n\`node --import tsx bench/verify.ts${process.argv.slice(2).length ? ' ' + process.argv.slice(2).join(' ') : ''}\`, ${new Date().toISOString()}\n\n${text}`);
  }
  fs.rmSync(work, { recursive: true, force: true });
}

await main();
