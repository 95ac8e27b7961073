// Archives storectl writes, read by independent readers: Debian's tar and unzip (CI installs
// unzip), not only storectl's own reader. Includes a ZIP64 archive (more than 65,535 entries).
import { describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createArchiveWriter } from '../src/ops/backup/archive-writer.ts';
import { ARCHIVE_FORMAT, PLAIN_FORMAT } from '../src/ops/backup/manifest.ts';
import { DIALECTS, runCli, tmpDir } from './helpers/env.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const unzipSkip = spawnSync('unzip', ['-v']).status === 0 ? false : process.env.CI ? false : 'unzip is not installed (apt-get install -y unzip)';

/** Every regular file under dir, relative path -> SHA-256. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const abs = path.join(dir, p);
    if (fs.lstatSync(abs).isFile()) out[p] = sha(fs.readFileSync(abs));
  }
  return out;
}

describe('the zip writer read by unzip', { skip: unzipSkip }, () => {
  test('70,000 entries (ZIP64 end records): unzip -t passes, lists every entry, extracts the bytes', async () => {
    const work = tmpDir();
    try {
      const file = path.join(work, 'many.zip');
      const fd = fs.openSync(file, 'w', 0o600);
      const w = createArchiveWriter('zip', fd, work);
      const N = 70_000;
      const mtime = new Date('2026-11-01T10:00:00Z');
      const picked = new Map<string, Buffer>();
      for (let i = 0; i < N; i++) {
        const name = `files/d${i % 97}/f-${String(i).padStart(6, '0')}.${i % 2 ? 'png' : 'txt'}`;
        const data = Buffer.from(`entry ${i} ${'x'.repeat(i % 50)}\n`);
        await w.add(name, data, { mtime, compressible: i % 2 === 0 });
        if (i % 9973 === 0 || i === N - 1) picked.set(name, data);
      }
      await w.finish();
      fs.closeSync(fd);
      const t = spawnSync('unzip', ['-tq', file], { encoding: 'utf8', maxBuffer: 1 << 26 });
      assert.equal(t.status, 0, t.stdout + t.stderr);
      assert.match(t.stdout, /No errors detected/);
      const listing = spawnSync('unzip', ['-Z1', file], { encoding: 'utf8', maxBuffer: 1 << 26 });
      assert.equal(listing.status, 0, listing.stderr);
      const names = listing.stdout.split('\n').filter(Boolean);
      assert.equal(names.length, N);
      assert.equal(new Set(names).size, N);
      for (const [name, data] of picked) {
        const one = spawnSync('unzip', ['-p', file, name]);
        assert.equal(one.status, 0, String(one.stderr));
        assert.deepEqual(one.stdout, data, name);
      }
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});

for (const d of DIALECTS) {
  describe(`backup archives read by tar and unzip: ${d.name}`, { skip: d.skip || unzipSkip }, () => {
    test('tar.gz: tar -tzf lists and tar -xzf extracts the files byte-identical; zip: unzip -t passes and unzip extracts them', async () => {
      const store = await d.makeStore();
      const work = tmpDir();
      try {
        await (await store.open()).close();
        const input = path.join(work, 'in');
        fs.mkdirSync(input);
        for (let i = 0; i < 12; i++) fs.writeFileSync(path.join(input, `f${i}.${i % 3 ? 'csv' : 'png'}`), randomBytes(100 + i * 37));
        const put = await runCli([...store.args, '--json', 'put', ...fs.readdirSync(input).map((n) => path.join(input, n)), '--job', 'job-arch', '--category', 'uploads']);
        assert.equal(put.code, 0, put.stdout + put.stderr);
        const stored = Object.fromEntries(Object.entries(tree(store.root)).filter(([p]) => !p.startsWith('.storectl')));
        assert.equal(Object.keys(stored).length, 12);
        for (const format of ['tar.gz', 'zip'] as const) {
          const archive = path.join(work, `b.${format}`);
          const b = await runCli([...store.args, 'backup', '--output', archive, '--format', format]);
          assert.equal(b.code, 0, b.stdout + b.stderr);
          const out = path.join(work, `x-${format}`);
          fs.mkdirSync(out);
          if (format === 'tar.gz') {
            const names = execFileSync('tar', ['-tzf', archive], { encoding: 'utf8' }).split('\n').filter(Boolean);
            for (const p of Object.keys(stored)) assert.ok(names.includes(`files/${p}`), `tar lists files/${p}`);
            execFileSync('tar', ['-xzf', archive, '-C', out]);
          } else {
            const t = spawnSync('unzip', ['-t', archive], { encoding: 'utf8' });
            assert.equal(t.status, 0, t.stdout + t.stderr);
            execFileSync('unzip', ['-q', archive, '-d', out]);
          }
          const extracted = tree(path.join(out, 'files'));
          assert.deepEqual(extracted, stored, `${format}: the files extracted by the system tool are the store's`);
          // The manifest, as the system tool extracted it, names each file with the SHA-256 of
          // the bytes that tool extracted.
          // No two files share content here: the archive is format 1, which every storectl reads
          // (format 2, with linked names, only when the catalog records shared content: dedup.test.ts).
          assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')).format, PLAIN_FORMAT);
          assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'manifest-summary.json'), 'utf8')).format, PLAIN_FORMAT);
          assert.equal(ARCHIVE_FORMAT, 2, 'this storectl reads format 2 (linked names)');
          const restored = await d.makeStore({ migrate: false });
          try {
            const r = await runCli([...restored.args, '--json', 'restore', archive, '--yes']);
            assert.equal(r.code, 0, r.stdout + r.stderr);
            assert.deepEqual(Object.fromEntries(Object.entries(tree(restored.root)).filter(([p]) => !p.startsWith('.storectl'))), stored, `${format}: a format-1 archive restores byte-identical`);
          } finally {
            await restored.dispose();
          }
          const listed = fs.readFileSync(path.join(out, 'manifest-files.ndjson'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { path: string; sha256: string });
          assert.deepEqual(Object.fromEntries(listed.map((f) => [f.path, f.sha256])), extracted, `${format}: manifest-files.ndjson agrees with the extracted bytes`);
        }
      } finally {
        fs.rmSync(work, { recursive: true, force: true });
        await store.dispose();
      }
    });
  });
}
