// Compression (storectl tier --compress), end to end through the real bin on both dialects:
// a CSV export shrinks on disk and reads back identical with get; a PNG and incompressible bytes
// are left as they are, reported "not worth it"; the catalog keeps size and SHA-256 of the
// original; dry run == real run; verify, stats --check-disk, url, delete, backup + restore see
// the compressed files right; kill -9 at each step of the protocol, then rerun: every file
// readable at every moment, each row's encoding matches its file, nothing left over.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import sharp from 'sharp';
import { BIN, DIALECTS, REPO, runCli, tmpDir, type Store } from './helpers/env.ts';
import type { Catalog } from '../src/db/catalog.ts';
import { startS3, type S3Fixture } from './helpers/s3.ts';
import { makeS3Store, readObject } from './helpers/s3-store.ts';
import { sqlExec } from './helpers/cleanup-fixture.ts';

let s3: S3Fixture;
before(async () => {
  s3 = await startS3();
});
after(async () => {
  await s3?.dispose();
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function csv(rows: number, seed: string): Buffer {
  const lines = ['job_id,line,sku,quantity,amount'];
  for (let i = 0; i < rows; i++) lines.push(`${seed},${i},SKU-${String((i * 7919) % 100000).padStart(5, '0')},${(i % 40) + 1},${((i * 37) % 100000) / 100}`);
  return Buffer.from(lines.join('\n') + '\n');
}

interface Fixture {
  store: Store;
  c: Catalog;
  files: Map<string, Buffer>;
  cli: (...args: string[]) => ReturnType<typeof runCli>;
  dispose(): Promise<void>;
}

/** A store with a CSV export (two files), an upload job with a PNG and incompressible bytes. */
async function makeFixture(d: (typeof DIALECTS)[number]): Promise<Fixture> {
  const store = await d.makeStore();
  const cli = (...args: string[]) => runCli([...store.args, '--json', ...args]);
  if (!store.databaseUrl) assert.equal((await cli('migrate', '--create')).code, 0);
  const src = tmpDir('storectl-compress-src-');
  const files = new Map<string, Buffer>();
  const put = async (job: string, category: string, name: string, bytes: Buffer, ...more: string[]) => {
    const p = path.join(src, name);
    fs.writeFileSync(p, bytes);
    const r = await cli('put', p, '--job', job, '--category', category, '--yes', ...more);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  };
  const png = await sharp({ create: { width: 96, height: 64, channels: 3, background: { r: 200, g: 30, b: 90 } } }).png().toBuffer();
  await put('exp-1', 'exports', 'invoice.csv', csv(400, 'exp-1'));
  // Another export type: export names are <type>_<job>_<second>, and both puts may fall in one second.
  await put('exp-1', 'exports', 'summary.csv', csv(120, 'exp-1-summary'), '--export-type', 'summary');
  await put('up-1', 'uploads', 'photo.png', png);
  await put('up-1', 'uploads', 'noise.bin', randomBytes(8192));
  const c = await store.open();
  for (const job of ['exp-1', 'up-1']) {
    for (const row of await c.filesOfJob(job)) {
      const onDisk = fs.readFileSync(path.join(store.root, row.path));
      assert.equal(sha(onDisk), row.sha256);
      files.set(row.path, onDisk);
    }
  }
  return {
    store,
    c,
    files,
    cli,
    async dispose() {
      await c.close();
      await store.dispose();
      fs.rmSync(src, { recursive: true, force: true });
    },
  };
}

async function rowsByPath(c: Catalog, jobs: string[]) {
  const out = new Map<string, Awaited<ReturnType<Catalog['filesOfJob']>>[number]>();
  for (const j of jobs) for (const r of await c.filesOfJob(j)) out.set(r.path, r);
  return out;
}

/** get --path P -o FILE for every file: the original bytes, whatever is stored. */
async function readAll(f: Fixture): Promise<void> {
  const out = tmpDir('storectl-compress-get-');
  try {
    for (const [p] of f.files) {
      const o = path.join(out, path.basename(p));
      const r = await runCli([...f.store.args, 'get', '--path', p, '-o', o]);
      assert.equal(r.code, 0, `get ${p}: ${r.stdout}${r.stderr}`);
      const rows = await rowsByPath(f.c, ['exp-1', 'up-1']);
      assert.equal(sha(fs.readFileSync(o)), rows.get(p)!.sha256, `${p} reads back as the original`);
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

function stagingLeft(root: string): string[] {
  const dir = path.join(root, '.storectl', 'staging');
  return fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }) : [];
}

for (const d of DIALECTS) {
  describe(`compress: ${d.name}`, { skip: d.skip }, () => {
    test('CSVs shrink and read back identical; PNG and noise not worth it; dry run == real run; verify, check-disk, url, delete agree', async () => {
      const f = await makeFixture(d);
      try {
        const before = await rowsByPath(f.c, ['exp-1', 'up-1']);
        const dry = await f.cli('tier', 'exp-1', 'up-1', '--compress', '--dry-run', '--list');
        assert.equal(dry.code, 0, dry.stdout + dry.stderr);
        const wouldCompress = (dry.json.list as { path: string; outcome: string }[]).filter((x) => x.outcome === 'would compress').map((x) => x.path).sort();
        assert.equal(wouldCompress.length, 2);
        assert.ok(wouldCompress.every((p) => p.endsWith('.csv')));
        // Nothing changed by the dry run.
        for (const [p, r] of before) assert.equal(fs.statSync(path.join(f.store.root, p)).size, r.size);

        const real = await f.cli('tier', 'exp-1', 'up-1', '--compress', '--yes', '--list');
        assert.equal(real.code, 0, real.stdout + real.stderr);
        const rep = real.json;
        assert.deepEqual((rep.list as { path: string; outcome: string }[]).filter((x) => x.outcome === 'compressed').map((x) => x.path).sort(), wouldCompress);
        const nwi = new Map((rep.notWorthIt as { path: string; reason: string }[]).map((x) => [path.basename(x.path), x.reason]));
        assert.match(nwi.get('photo.png')!, /already compressed \(PNG\)/);
        assert.match(nwi.get('noise.bin')!, /gzip saves -?\d+\.\d%, less than 10%/);
        assert.equal(rep.result.compressed, 2);
        assert.ok(rep.result.bytesAfter < rep.result.bytesBefore / 2, 'CSV shrinks well');

        const after = await rowsByPath(f.c, ['exp-1', 'up-1']);
        for (const [p, r] of after) {
          const b = before.get(p)!;
          assert.equal(r.size, b.size, 'size stays the original');
          assert.equal(r.sha256, b.sha256, 'sha256 stays the original');
          assert.equal(r.tierTarget, null);
          const disk = fs.readFileSync(path.join(f.store.root, p));
          if (p.endsWith('.csv')) {
            assert.equal(r.encoding, 'gzip');
            assert.equal(r.storedSize, disk.length);
            assert.ok(disk.length < r.size * 0.9);
            assert.equal(sha(zlib.gunzipSync(disk)), r.sha256, 'the file on disk is the gzip of the original');
          } else {
            assert.equal(r.encoding, null);
            assert.equal(r.storedSize, null);
            assert.equal(sha(disk), r.sha256, 'left as it was');
          }
        }
        assert.deepEqual(stagingLeft(f.store.root), []);
        await readAll(f);
        // get to stdout: decompressed too.
        const csvPath = wouldCompress[0]!;
        const out = await runCli([...f.store.args, 'get', '--path', csvPath]);
        assert.equal(sha(Buffer.from(out.stdout)), after.get(csvPath)!.sha256);

        const verify = await f.cli('verify');
        assert.equal(verify.code, 0, verify.stdout + verify.stderr);
        const stats = await f.cli('stats', '--check-disk');
        assert.equal(stats.code, 0, stats.stdout);
        assert.equal(stats.json.drift.orphanFiles, 0);
        assert.equal(stats.json.drift.missingFiles, 0);
        const exp = (stats.json.compression as { category: string; compressedFiles: number; logicalBytes: number; storedBytes: number; savedBytes: number }[]).find((x) => x.category === 'exports')!;
        assert.equal(exp.compressedFiles, 2);
        assert.equal(exp.logicalBytes - exp.storedBytes, exp.savedBytes);
        assert.equal(exp.storedBytes, after.get(wouldCompress[0]!)!.storedSize! + after.get(wouldCompress[1]!)!.storedSize!);
        const up = (stats.json.compression as { category: string; savedBytes: number }[]).find((x) => x.category === 'uploads')!;
        assert.equal(up.savedBytes, 0);

        // A rerun finds nothing left to compress: the PNG and noise are known not worth it and skipped unread.
        const again = await f.cli('tier', 'exp-1', 'up-1', '--compress', '--yes');
        assert.equal(again.code, 0);
        assert.equal(again.json.result.compressed, 0);
        assert.equal(again.json.plan.files, 0);
        assert.equal(again.json.knownNotWorthIt, 2);

        // url refuses a compressed file with one line.
        const url = await runCli([...f.store.args, 'url', '--path', csvPath], { env: { STORECTL_URL_BASE: 'https://files.example.com/store', STORECTL_URL_SECRET: 'a'.repeat(32) } });
        assert.equal(url.code, 1, url.stdout + url.stderr);
        assert.match(url.stderr, /is stored gzip-compressed: a link would serve the compressed bytes/);
        assert.ok(url.stderr.trim().split('\n').length <= 2, 'one line (and the hint)');
        assert.match(url.stderr, /get --path/);

        // delete removes a compressed file (the deletion engine checks the stored size).
        const del = await f.cli('delete', 'exp-1', '--yes');
        assert.equal(del.code, 0, del.stdout + del.stderr);
        for (const p of wouldCompress) assert.equal(fs.existsSync(path.join(f.store.root, p)), false, `${p} deleted`);
        for (const r of (await rowsByPath(f.c, ['exp-1'])).values()) assert.equal(r.state, 'deleted');
      } finally {
        await f.dispose();
      }
    });

    test('not worth it is remembered per content and settings: skipped unread until the content or the codec changes; a dry run records nothing', async () => {
      const f = await makeFixture(d);
      try {
        const dry = await f.cli('tier', 'up-1', '--compress', '--dry-run');
        assert.equal(dry.code, 0, dry.stdout + dry.stderr);
        for (const r of (await rowsByPath(f.c, ['up-1'])).values()) assert.equal(r.compressChecked, null, 'a dry run writes nothing');
        const first = await f.cli('tier', 'up-1', '--compress', '--yes');
        assert.equal(first.code, 0, first.stdout + first.stderr);
        assert.equal(first.json.result.notWorthIt, 2);
        assert.equal(first.json.knownNotWorthIt, 0);
        const rows = await rowsByPath(f.c, ['up-1']);
        for (const r of rows.values()) assert.equal(r.compressChecked, `gzip:0.1:${r.sha256}`);
        const second = await f.cli('tier', 'up-1', '--compress', '--yes', '--list');
        assert.equal(second.code, 0, second.stdout + second.stderr);
        assert.equal(second.json.plan.files, 0);
        assert.equal(second.json.knownNotWorthIt, 2);
        assert.deepEqual(second.json.list, [], 'not read again');
        assert.equal(second.json.byCategory.find((c: { category: string }) => c.category === 'uploads').knownNotWorthIt, 2);
        const text = await runCli([...f.store.args, 'tier', 'up-1', '--compress', '--yes']);
        assert.match(text.stdout, /2 skipped unread, known not worth it/);
        // Another codec: tried again.
        const br = await f.cli('tier', 'up-1', '--compress', 'br', '--dry-run');
        assert.equal(br.json.plan.files, 2);
        assert.equal(br.json.knownNotWorthIt, 0);
        // New content (another SHA-256 in the row): tried again.
        const noise = [...rows.values()].find((r) => r.path.endsWith('noise.bin'))!;
        const text2 = csv(200, 'now-compressible');
        fs.writeFileSync(path.join(f.store.root, noise.path), text2);
        await sqlExec(f.c, `update files set size = ${text2.length}, sha256 = '${sha(text2)}' where id = ${noise.id}`);
        const third = await f.cli('tier', 'up-1', '--compress', '--yes');
        assert.equal(third.code, 0, third.stdout + third.stderr);
        assert.equal(third.json.knownNotWorthIt, 1, 'the PNG is still known');
        assert.equal(third.json.result.compressed, 1, 'the changed file is read and compressed');
      } finally {
        await f.dispose();
      }
    });

    test('--max-compress and compression.maxCompress cap a compress run: refused with exit 2 and nothing compressed; a dry run shows the verdict', async () => {
      const f = await makeFixture(d);
      const cfg = path.join(tmpDir(), 'storectl.config.json');
      fs.writeFileSync(cfg, JSON.stringify({ compression: { maxCompress: 1 } }));
      try {
        const before = await rowsByPath(f.c, ['exp-1', 'up-1']);
        const capped = await f.cli('tier', 'exp-1', 'up-1', '--compress', '--yes', '--max-compress', '3');
        assert.equal(capped.code, 2, capped.stdout + capped.stderr);
        assert.equal(capped.json.error.code, 'guard_max_compress');
        assert.match(capped.json.error.message, /would compress 4 files, over the cap of 3 \(--max-compress 3\)/);
        const fromConfig = await f.cli('--config', cfg, 'tier', 'exp-1', '--compress', '--yes');
        assert.equal(fromConfig.code, 2, fromConfig.stdout);
        assert.match(fromConfig.json.error.message, /compression\.maxCompress 1/);
        const pct = await f.cli('tier', 'exp-1', 'up-1', '--compress', '--yes', '--max-compress', '50%');
        assert.equal(pct.code, 2, pct.stdout);
        for (const [p, r] of await rowsByPath(f.c, ['exp-1', 'up-1'])) {
          assert.equal(r.encoding, null, `${p}: not compressed`);
          assert.equal(r.compressChecked, null);
          assert.equal(fs.statSync(path.join(f.store.root, p)).size, before.get(p)!.size);
        }
        const dry = await f.cli('tier', 'exp-1', 'up-1', '--compress', '--dry-run', '--max-compress', '3');
        assert.equal(dry.code, 0, dry.stdout);
        assert.equal(dry.json.cap.refused, true);
        const bad = await f.cli('tier', 'exp-1', '--compress', '--yes', '--max-compress', 'lots');
        assert.equal(bad.code, 2);
        const ok = await f.cli('tier', 'exp-1', 'up-1', '--compress', '--yes', '--max-compress', '100%');
        assert.equal(ok.code, 0, ok.stdout);
        assert.equal(ok.json.cap.refused, false);
        assert.equal(ok.json.result.compressed, 2);
      } finally {
        await f.dispose();
      }
    });

    test('compress rules: tier --compress without jobs compresses the jobs a due rule selects, --as-of shows what comes due', async () => {
      const f = await makeFixture(d);
      const cfg = path.join(tmpDir(), 'storectl.config.json');
      fs.writeFileSync(cfg, JSON.stringify({ compression: { algorithm: 'br', minSaving: 0.2 }, cleanup: { rules: [{ id: 'old-exports', action: 'compress', kind: 'export', statuses: ['completed'], ageFrom: 'completed_at', age: '7d' }] } }));
      try {
        const now = await f.cli('--config', cfg, 'tier', '--compress', '--dry-run');
        assert.equal(now.code, 0, now.stdout + now.stderr);
        assert.equal(now.json.plan.files, 0, 'nothing due yet');
        assert.deepEqual(now.json.rules.map((r: { id: string }) => r.id), ['old-exports']);
        const later = await f.cli('--config', cfg, 'tier', '--compress', '--dry-run', '--as-of', '+8d', '--list');
        assert.equal(later.code, 0, later.stdout + later.stderr);
        assert.equal(later.json.algorithm, 'br');
        assert.equal(later.json.minSaving, 0.2);
        assert.deepEqual((later.json.list as { jobId: string }[]).map((x) => x.jobId), ['exp-1', 'exp-1'], 'the export job only, not the upload');
        const noRules = await f.cli('tier', '--compress', '--dry-run');
        assert.equal(noRules.code, 2, 'no compress rules enabled: usage error');
        const bad = path.join(tmpDir(), 'bad.json');
        fs.writeFileSync(bad, JSON.stringify({ compression: { algorithm: 'lzma' } }));
        const refused = await f.cli('--config', bad, 'tier', 'exp-1', '--compress', '--dry-run');
        assert.equal(refused.code, 2);
        assert.match(refused.stdout, /compression.algorithm/);
        // zstd: refused with a clear line on a Node without it, compressed where node:zlib has it.
        const z = await f.cli('tier', 'exp-1', '--compress', 'zstd', '--yes');
        if (typeof (zlib as unknown as { zstdCompressSync?: unknown }).zstdCompressSync === 'function') assert.equal(z.code, 0, z.stdout);
        else {
          assert.equal(z.code, 2, z.stdout);
          assert.match(z.stdout, /has no zstd in node:zlib/);
        }
      } finally {
        await f.dispose();
      }
    });

    test('an S3 store: the object is replaced by its gzip, get reads the original back, a rerun finds nothing to do', async () => {
      const st = await makeS3Store(d, s3);
      const src = path.join(st.dir, 'rows.csv');
      const bytes = csv(300, 'exp-s3');
      fs.writeFileSync(src, bytes);
      try {
        const put = await st.cli('put', src, '--job', 'exp-s3', '--category', 'exports', '--yes');
        assert.equal(put.code, 0, put.stdout + put.stderr);
        const r = await st.cli('tier', 'exp-s3', '--compress', '--yes');
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.equal(r.json.result.compressed, 1);
        const [row] = await st.c.filesOfJob('exp-s3');
        assert.equal(row!.encoding, 'gzip');
        const obj = await readObject(st.bucket, row!.path);
        assert.equal(obj.length, row!.storedSize);
        assert.deepEqual(zlib.gunzipSync(obj), bytes);
        const out = path.join(st.dir, 'got.csv');
        const got = await st.cli('get', '--path', row!.path, '-o', out);
        assert.equal(got.code, 0, got.stdout + got.stderr);
        assert.deepEqual(fs.readFileSync(out), bytes);
        const again = await st.cli('tier', 'exp-s3', '--compress', '--yes');
        assert.equal(again.json.plan.files, 0);
        const v = await st.cli('verify');
        assert.equal(v.code, 0, v.stdout);
      } finally {
        await st.dispose();
      }
    });

    test('backup of a store with compressed files restores byte-identical files, as hot unencoded rows', async () => {
      const f = await makeFixture(d);
      const target = await d.makeStore({ migrate: false });
      const dir = tmpDir('storectl-compress-backup-');
      try {
        assert.equal((await f.cli('tier', 'exp-1', '--compress', 'br', '--yes')).code, 0);
        assert.equal((await f.cli('tier', 'up-1', '--compress', '--yes')).json.result.notWorthIt, 2);
        const compressed = [...(await rowsByPath(f.c, ['exp-1'])).values()];
        assert.ok(compressed.every((r) => r.encoding === 'br'));
        const archive = path.join(dir, 'b.tar.gz');
        const b = await f.cli('backup', '--output', archive);
        assert.equal(b.code, 0, b.stdout + b.stderr);
        const r = await runCli([...target.args, '--json', 'restore', archive, '--yes']);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const tc = await target.open();
        try {
          for (const row of compressed) {
            const restored = (await tc.filesByPaths([row.path]))[0]!;
            assert.equal(restored.encoding, null);
            assert.equal(restored.storedSize, null);
            assert.equal(restored.tier, 'hot');
            assert.equal(restored.tierTarget, null);
            assert.equal(restored.sha256, row.sha256);
            const disk = fs.readFileSync(path.join(target.root, row.path));
            assert.equal(disk.length, row.size);
            assert.equal(sha(disk), row.sha256, `${row.path} restored byte-identical (decompressed)`);
          }
        } finally {
          await tc.close();
        }
        const v = await runCli([...target.args, '--json', 'verify']);
        assert.equal(v.code, 0, v.stdout);
        // The not-worth-it verdicts come back with their rows: the restored store does not read those files again.
        const again = await runCli([...target.args, '--json', 'tier', 'up-1', '--compress', '--yes', '--list']);
        assert.equal(again.code, 0, again.stdout + again.stderr);
        assert.equal(again.json.knownNotWorthIt, 2);
        assert.deepEqual(again.json.list, []);
      } finally {
        await f.dispose();
        await target.dispose();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    for (const point of ['compress.intent', 'compress.stored', 'compress.flipped']) {
      test(`kill -9 at ${point}, then rerun: readable throughout, finished, nothing left over`, async () => {
        const f = await makeFixture(d);
        const pause = path.join(tmpDir(), 'pause');
        try {
          const child = spawn(process.execPath, [BIN, ...f.store.args, '--yes', 'tier', 'exp-1', '--compress'], {
            cwd: REPO,
            stdio: 'ignore',
            env: { ...process.env, NO_COLOR: '1', STORECTL_ROOT: '', STORECTL_DATABASE_URL: '', DATABASE_URL: '', STORECTL_TEST_PAUSE_AT: `${point}:${pause}` },
          });
          const exited = new Promise((r) => child.once('exit', r));
          for (let i = 0; i < 600 && !fs.existsSync(pause); i++) await new Promise((r) => setTimeout(r, 50));
          assert.ok(fs.existsSync(pause), `the run reached ${point}`);
          child.kill('SIGKILL');
          await exited;
          const mid = await rowsByPath(f.c, ['exp-1']);
          if (point !== 'compress.flipped') assert.ok([...mid.values()].some((r) => r.tierTarget?.startsWith('=gzip:')), 'an intent is left in flight');
          // Readable before any rerun (a reader tells the copy at the path by its size).
          await readAll(f);
          const rerun = await f.cli('tier', 'exp-1', '--compress', '--yes');
          assert.equal(rerun.code, 0, rerun.stdout + rerun.stderr);
          if (point !== 'compress.flipped') assert.ok(rerun.json.recovered >= 1);
          const after = await rowsByPath(f.c, ['exp-1']);
          for (const [p, r] of after) {
            assert.equal(r.tierTarget, null, `${p}: nothing in flight`);
            assert.equal(r.encoding, 'gzip', `${p}: compressed once the rerun is done`);
            const disk = fs.readFileSync(path.join(f.store.root, p));
            assert.equal(disk.length, r.storedSize);
            assert.equal(sha(zlib.gunzipSync(disk)), r.sha256);
          }
          assert.deepEqual(stagingLeft(f.store.root), [], 'no staged copy left');
          // No stray: the tree holds exactly the catalog's files.
          const stats = await f.cli('stats', '--check-disk');
          assert.equal(stats.code, 0, stats.stdout);
          assert.equal(stats.json.drift.orphanFiles, 0);
          await readAll(f);
        } finally {
          await f.dispose();
        }
      });
    }
  });
}
