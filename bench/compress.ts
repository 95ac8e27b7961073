// Compression on the sample store (storectl generate): per category and file type, what gzip and
// brotli (the settings storectl uses: gzip level 6, brotli quality 5) make of the files, how many
// pass the default 10% saving, and the codec's throughput on this machine (one thread, in process,
// compressing each file's bytes once); then the real bin end to end: storectl tier --compress over
// every job (read, compress, staged copy read back, atomic replace, read back, catalog flip).
//   node --import tsx bench/compress.ts [--quick] [--sample N]
// Results: bench/results/compress.md (not written by --quick)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { openCatalog } from '../src/db/connect.ts';
import { parseDatabaseUrl } from '../src/db/url.ts';
import { REPO, arg, flag, fmt, storectl, table } from './lib/measure.ts';

const quick = flag('--quick');
const SAMPLE = Number(arg('--sample', quick ? '20' : '100'));
const MIN_SAVING = 0.1;
const work = path.join(REPO, 'bench/.work/compress');
fs.rmSync(work, { recursive: true, force: true });
fs.mkdirSync(work, { recursive: true });
const root = path.join(work, 'store');

const codecs = {
  gzip: (b: Buffer) => zlib.gzipSync(b, { level: 6 }),
  br: (b: Buffer) => zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } }),
} as const;

const gen = storectl(['--root', root, 'generate', '--sample', String(SAMPLE), '--seed', '7', '--workers', '1']);
process.stderr.write(`generated ${SAMPLE} jobs in ${fmt(gen.seconds)} s\n`);

interface Tally {
  files: number;
  bytes: number;
  out: Record<string, number>;
  kept: Record<string, number>;
  keptIn: Record<string, number>;
  keptOut: Record<string, number>;
  ms: Record<string, number>;
}
const groups = new Map<string, Tally>();
const c = await openCatalog(parseDatabaseUrl(undefined, root), { create: false, migrate: 'never' });
try {
  let afterPath: string | undefined;
  for (;;) {
    const page = await c.filePage({ states: ['present'], afterPath, limit: 1000 });
    for (const f of page) {
      const ext = path.extname(f.path).slice(1).toLowerCase() || '-';
      const key = `${f.category}\t${ext}`;
      const t = groups.get(key) ?? { files: 0, bytes: 0, out: {}, kept: {}, keptIn: {}, keptOut: {}, ms: {} };
      groups.set(key, t);
      const bytes = fs.readFileSync(path.join(root, f.path));
      t.files++;
      t.bytes += bytes.length;
      for (const [name, codec] of Object.entries(codecs)) {
        const t0 = performance.now();
        const out = codec(bytes);
        t.ms[name] = (t.ms[name] ?? 0) + performance.now() - t0;
        t.out[name] = (t.out[name] ?? 0) + out.length;
        if (out.length <= bytes.length * (1 - MIN_SAVING)) {
          t.kept[name] = (t.kept[name] ?? 0) + 1;
          t.keptIn[name] = (t.keptIn[name] ?? 0) + bytes.length;
          t.keptOut[name] = (t.keptOut[name] ?? 0) + out.length;
        }
      }
    }
    if (page.length < 1000) break;
    afterPath = page.at(-1)!.path;
  }
} finally {
  await c.close();
}

const mb = (b: number) => b / 1e6;
const rows: (string | number)[][] = [];
for (const [key, t] of [...groups].sort()) {
  const [category, ext] = key.split('\t');
  for (const name of Object.keys(codecs)) {
    rows.push([
      category!,
      ext!,
      name,
      t.files,
      fmt(mb(t.bytes), 2),
      `${fmt((1 - t.out[name]! / t.bytes) * 100, 1)}%`,
      `${t.kept[name] ?? 0} of ${t.files}`,
      t.kept[name] ? `${fmt((1 - t.keptOut[name]! / t.keptIn[name]!) * 100, 1)}%` : '-',
      fmt(mb(t.bytes) / (t.ms[name]! / 1000), 1),
    ]);
  }
}

// End to end: every job's files through storectl tier --compress (gzip, the default), twice: the
// first run compresses, the second finds only what was not worth it and leaves it.
const e2e = storectl(['--root', root, '--json', '--yes', 'tier', '--kind', 'card,export', '--compress']);
const rep = JSON.parse(e2e.stdout) as { plan: { files: number; bytes: number }; result: { compressed: number; bytesBefore: number; bytesAfter: number; notWorthIt: number } };
const again = storectl(['--root', root, '--json', '--yes', 'tier', '--kind', 'card,export', '--compress']);
const rep2 = JSON.parse(again.stdout) as { plan: { files: number; bytes: number }; result: { compressed: number } };
const verify = storectl(['--root', root, '--json', 'verify']);
const v = JSON.parse(verify.stdout) as { checked?: number; corrupt?: number };

const out = [
  `Sample store: storectl generate --sample ${SAMPLE} --seed 7 (${[...groups.values()].reduce((a, t) => a + t.files, 0)} files, ${fmt(mb([...groups.values()].reduce((a, t) => a + t.bytes, 0)), 1)} MB), ${new Date().toISOString()}, ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, load ${os.loadavg().map((x) => fmt(x, 1)).join(' ')}, node ${process.version}.`,
  '',
  'Per category and file type, each codec over every file (one thread, in process; saving = 1 - compressed/original over all the files; kept = files that save at least 10%, the default `compression.minSaving`, and what those save):',
  '',
  table(['category', 'type', 'codec', 'files', 'MB', 'saving (all)', 'kept (>= 10%)', 'saving (kept)', 'MB/s'], rows),
  `End to end, \`storectl tier --kind card,export --compress --yes\` (gzip): ${rep.plan.files} files (${fmt(mb(rep.plan.bytes), 1)} MB) looked at in ${fmt(e2e.seconds, 2)} s wall (${fmt(mb(rep.plan.bytes) / e2e.seconds, 1)} MB/s, process start included; PNGs are recognised by their first bytes and not compressed, every other file is compressed once to measure it); ${rep.result.compressed} compressed, ${fmt(mb(rep.result.bytesBefore), 2)} MB -> ${fmt(mb(rep.result.bytesAfter), 2)} MB; ${rep.result.notWorthIt} not worth it. A second run: ${rep2.plan.files} files looked at again (the ones left as they were), ${rep2.result.compressed} compressed, ${fmt(again.seconds, 2)} s. \`storectl verify\` afterwards: exit ${verify.status}${v.corrupt !== undefined ? `, ${v.corrupt} corrupt` : ''}.`,
  '',
  'Reading: card PNGs are compressed already (deflate inside PNG) and card PDFs carry their images and fonts as compressed streams, so neither shrinks by the 10% storectl asks (about 1-2%); CSV exports (the sample store has no JSON exports) shrink about four-fold, and the small temp files (no job, so `tier` does not select them) more. On a card store compression saves almost nothing; on exports it saves most of their bytes. A rerun compresses every PDF again only to find it not worth it (no outcome is remembered), so it costs as much as the first run. The MB/s are one thread on a shared, loaded machine (see the load above): compare codecs and categories within this table, not with other machines.',
  '',
].join('\n');
process.stdout.write(out);
if (!quick) fs.writeFileSync(path.join(REPO, 'bench/results/compress.md'), `# compress\n\n${out}`);
fs.rmSync(work, { recursive: true, force: true });
