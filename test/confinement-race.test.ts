// Confinement under a race (issue 14): while cleanup-expired, cleanup-orphaned and
// migrate-images-to-db --delete-originals run, a racer process swaps the directories they act
// in for symlinks to look-alikes outside the root (same names, sizes and mtimes, other bytes).
// Nothing outside the root may be deleted or read, and the swaps must be reported.
import { after, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { buildSyntheticStore } from '../bench/lib/synth.ts';
import { iterateFiles } from '../src/db/catalog.ts';
import { RACE_FREE } from '../src/storage/confined.ts';
import { LocalBlobStore } from '../src/storage/blobstore.ts';
import { DIALECTS, REPO, runCli, tmpDir, type Store } from './helpers/env.ts';
import { query } from './helpers/images.ts';

const RACER = path.join(REPO, 'test', 'helpers', 'racer.mjs');
const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

interface Outside {
  dir: string;
  /** Every look-alike file outside the root, with its bytes' digest and mtime. */
  files: { abs: string; sha: string; mtimeMs: number }[];
  pairs: { dir: string; outside: string }[];
}

/**
 * For each directory (relative to root), a look-alike outside: the same file names, sizes and
 * mtimes, other bytes (`fill` gives them, by file).
 */
function lookAlikes(root: string, dirs: string[], fill: (abs: string, size: number) => Buffer): Outside {
  const base = tmpDir('storectl-outside-');
  const o: Outside = { dir: base, files: [], pairs: [] };
  dirs.forEach((rel, i) => {
    const src = path.join(root, ...rel.split('/'));
    const dst = path.join(base, String(i));
    fs.mkdirSync(dst, { recursive: true });
    for (const name of fs.readdirSync(src)) {
      const st = fs.statSync(path.join(src, name));
      const abs = path.join(dst, name);
      const bytes = fill(path.join(src, name), st.size);
      assert.equal(bytes.length, st.size);
      fs.writeFileSync(abs, bytes);
      fs.utimesSync(abs, st.atime, st.mtime);
      o.files.push({ abs, sha: sha(bytes), mtimeMs: fs.statSync(abs).mtimeMs });
    }
    o.pairs.push({ dir: src, outside: dst });
  });
  return o;
}

function checkOutsideIntact(o: Outside) {
  for (const f of o.files) {
    assert.ok(fs.existsSync(f.abs), `a file outside the root was deleted: ${f.abs}`);
    assert.equal(sha(fs.readFileSync(f.abs)), f.sha, `changed outside the root: ${f.abs}`);
  }
}

/** Runs the CLI while the racer swaps; returns the result and how many swaps the racer made. */
async function raced(o: Outside, args: string[], pace: string[] = []) {
  const spec = path.join(o.dir, 'pairs.json');
  const count = path.join(o.dir, 'swaps');
  fs.writeFileSync(spec, JSON.stringify(o.pairs));
  const racer = spawn(process.execPath, [RACER, spec, count, ...pace], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => racer.on('exit', () => r()));
  for (let i = 0; i < 500 && !fs.existsSync(count); i++) await new Promise((r) => setTimeout(r, 10));
  // Let it swap for a while before the run starts, then for the whole run.
  await new Promise((r) => setTimeout(r, 100));
  const r = await runCli(args);
  racer.kill('SIGTERM');
  await exited;
  const swaps = Number(fs.readFileSync(count, 'utf8'));
  return { r, swaps };
}

function reported(r: { json: { changed: { reason: string }[]; failed: { reason: string }[] } }): number {
  return [...r.json.changed, ...r.json.failed].filter((x) => /symlink|moved or replaced/.test(x.reason)).length;
}

for (const d of DIALECTS) {
  describe(`confinement under a racing symlink swap: ${d.name}`, { skip: d.skip || (!RACE_FREE && 'needs /proc/self/fd (Linux)') }, () => {
    const cleanups: (() => Promise<void>)[] = [];
    after(async () => {
      for (const f of cleanups) await f();
    });
    const track = (store: Store, o?: Outside) =>
      cleanups.push(async () => {
        await store.dispose();
        if (o) fs.rmSync(o.dir, { recursive: true, force: true });
      });

    test('cleanup-expired: nothing outside deleted, swapped jobs reported, every store file kept or tombstoned', async () => {
      const store = await d.makeStore();
      await buildSyntheticStore({ root: store.root, databaseUrl: store.databaseUrl || undefined, jobs: 240, filesPerJob: 5, minBytes: 64, maxBytes: 256, days: 30 });
      const dry = await runCli([...store.args, '--json', 'cleanup-expired', '--dry-run', '--list']);
      assert.equal(dry.code, 0, dry.stderr);
      const planned: string[] = dry.json.list.map((x: { path: string }) => x.path);
      assert.ok(planned.length > 300, `plan too small: ${planned.length}`);
      const dirs = [...new Set(planned.map((p) => path.posix.dirname(p)))];
      const o = lookAlikes(store.root, dirs, (_abs, size) => Buffer.alloc(size, 0x58));
      track(store, o);
      const { r, swaps } = await raced(o, [...store.args, '--json', '--yes', 'cleanup-expired']);
      assert.ok(r.code === 0 || r.code === 3, r.stderr);
      assert.ok(swaps > 0, 'the racer swapped directories');
      checkOutsideIntact(o);
      assert.ok(reported(r) > 0, `swaps during the run are reported: ${JSON.stringify([...r.json.changed, ...r.json.failed].slice(0, 3))}`);
      // Every planned store file is still in the store (where the racer left it) or tombstoned.
      const c = await store.open();
      try {
        for await (const f of iterateFiles(c)) {
          if (!planned.includes(f.path)) continue;
          assert.notEqual(f.state, 'deleting', `left deleting: ${f.path}`);
          if (f.state === 'present') assert.ok(fs.existsSync(path.join(store.root, f.path)), `present row without its file: ${f.path}`);
        }
      } finally {
        await c.close();
      }
      // The swapped jobs are finished by a run without the racer.
      const again = await runCli([...store.args, '--json', '--yes', 'cleanup-expired']);
      assert.equal(again.code, 0, again.stderr);
      checkOutsideIntact(o);
    });

    test('cleanup-orphaned: nothing outside deleted, swaps reported', async () => {
      const store = await d.makeStore();
      await buildSyntheticStore({ root: store.root, databaseUrl: store.databaseUrl || undefined, jobs: 40, filesPerJob: 5, minBytes: 64, maxBytes: 256, days: 30, orphans: 600 });
      const dirs = fs.readdirSync(path.join(store.root, 'cards/2020/01/01')).map((n) => `cards/2020/01/01/${n}`);
      assert.ok(dirs.length >= 100);
      const o = lookAlikes(store.root, dirs, (_abs, size) => Buffer.alloc(size, 0x59));
      track(store, o);
      // The walk fails closed when a directory vanishes under it (exit 1, nothing deleted): run
      // again until one run gets past the walk, with a slower racer so that one does.
      let got: Awaited<ReturnType<typeof raced>> | undefined;
      for (let i = 0; i < 8 && !got; i++) {
        const before = o.files.length;
        const x = await raced(o, [...store.args, '--json', '--yes', 'cleanup-orphaned', '--min-age', '0s', '--max-delete', '100%'], ['40', '2']);
        checkOutsideIntact(o);
        assert.equal(o.files.length, before);
        if (x.r.code === 1) assert.equal(x.r.json.error.code, 'walk_failed', x.r.stdout);
        else got = x;
      }
      assert.ok(got, 'one raced run got past the walk');
      const { r, swaps } = got;
      assert.ok(r.code === 0 || r.code === 3, `exit ${r.code}: ${r.stderr} ${r.stdout.slice(0, 600)}`);
      assert.ok(swaps > 0);
      checkOutsideIntact(o);
      assert.ok(reported(r) + r.json.anomalies.length > 0, 'swaps seen during the walk or the deletions are reported');
      const again = await runCli([...store.args, '--json', '--yes', 'cleanup-orphaned', '--min-age', '0s', '--max-delete', '100%']);
      assert.equal(again.code, 0, again.stderr);
      checkOutsideIntact(o);
      const left = fs.existsSync(path.join(store.root, 'cards/2020/01/01')) ? fs.readdirSync(path.join(store.root, 'cards/2020/01/01'), { recursive: true, withFileTypes: true }).filter((e) => !e.isDirectory()) : [];
      assert.deepEqual(left.map((e) => e.name), [], 'every orphan is gone in the end');
    });

    test('migrate-images-to-db --delete-originals: no outside image read or deleted', async () => {
      const store = await d.makeStore();
      const blobs = new LocalBlobStore(store.root);
      // Uncompressed PNGs: the size depends on the dimensions only, so a blue look-alike of a
      // red original has its exact size.
      const png = (rgb: { r: number; g: number; b: number }) => sharp({ create: { width: 48, height: 48, channels: 3, background: rgb } }).png({ compressionLevel: 0, adaptiveFiltering: false }).toBuffer();
      const red = await png({ r: 220, g: 10, b: 10 });
      const blue = await png({ r: 10, g: 10, b: 220 });
      assert.equal(red.length, blue.length);
      const at = new Date('2026-11-01T00:00:00Z');
      const rows = [];
      for (let i = 0; i < 60; i++) {
        const rel = `uploads/u${String(i).padStart(3, '0')}/photo.png`;
        blobs.put(rel, red);
        rows.push({ jobId: null, role: 'photo.png', category: 'uploads', owner: 'acme', path: rel, contentType: 'image/png', size: red.length, sha256: sha(red), createdAt: at });
      }
      const c = await store.open();
      await c.insertFiles(rows);
      await c.close();
      const dirs = rows.map((x) => path.posix.dirname(x.path));
      const o = lookAlikes(store.root, dirs, () => blue);
      track(store, o);
      const { r, swaps } = await raced(o, [...store.args, '--json', '--yes', 'migrate-images-to-db', '--delete-originals']);
      assert.ok(r.code === 0 || r.code === 3, r.stderr);
      assert.ok(swaps > 0);
      checkOutsideIntact(o);
      // Every stored image is the red original, never the blue look-alike.
      const images = await query<{ source_key: string; data: Buffer }>(store, `select source_key, data from images`);
      for (const img of images) {
        const { channels } = await sharp(img.data).stats();
        assert.ok(channels[0]!.mean > channels[2]!.mean, `an image outside the root was read for ${img.source_key}`);
      }
      const files = await query<{ path: string; state: string }>(store, `select path, state from files`);
      for (const f of files) {
        assert.notEqual(f.state, 'deleting', `left deleting: ${f.path}`);
        if (f.state === 'present') assert.ok(fs.existsSync(path.join(store.root, f.path)), `present without its file: ${f.path}`);
      }
      assert.ok(r.json.failures.length > 0, 'the swaps are reported');
    });
  });
}
