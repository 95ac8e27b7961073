// put end to end: the real bin on both dialects; effects checked on disk and in the catalog.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Catalog } from '../src/db/catalog.ts';
import { DIALECTS, runCli, tmpDir, type Store } from './helpers/env.ts';
import { listTree } from './helpers/tree.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const PDF = Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(3000)]);
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(2000)]);

for (const d of DIALECTS) {
  describe(`put: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let c: Catalog;
    let src: string;
    before(async () => {
      store = await d.makeStore();
      c = await store.open();
      src = tmpDir('storectl-put-src-');
      fs.writeFileSync(path.join(src, 'scan.jpg'), PDF); // a .jpg that is a PDF
      fs.writeFileSync(path.join(src, 'front.png'), PNG);
      fs.writeFileSync(path.join(src, 'report.csv'), 'id,total\n1,20\n');
    });
    after(async () => {
      await c?.close();
      await store?.dispose();
      fs.rmSync(src, { recursive: true, force: true });
    });
    const cli = (...args: string[]) => runCli([...store.args, '--json', 'put', ...args]);
    const tree = () => listTree(store.root).filter((f) => !f.path.startsWith('.storectl/'));

    test('a checksum mismatch writes nothing: no file, no row, no job, exit 4', async () => {
      const r = await cli(path.join(src, 'front.png'), '--job', 'up-0', '--owner', 'acme', '--sha256', sha(PDF));
      assert.equal(r.code, 4, r.stderr);
      assert.equal(r.json.checksumMismatch.length, 1);
      assert.equal(r.json.checksumMismatch[0].actual, sha(PNG));
      assert.deepEqual(tree(), []);
      assert.deepEqual(await c.getJobs(['up-0']), []);
      assert.equal((await c.counts()).files, 0);
      assert.deepEqual(fs.readdirSync(path.join(store.root, '.storectl', 'staging')), []);
    });

    test('files go in under the dated layout, 0600 in 0750, typed from their bytes; the right --sha256 is accepted', async () => {
      const r = await cli(path.join(src, 'scan.jpg'), '--job', 'up-1', '--owner', 'acme', '--sha256', sha(PDF));
      assert.equal(r.code, 0, r.stderr);
      const [job] = await c.getJobs(['up-1']);
      assert.equal(job!.owner, 'acme');
      assert.equal(job!.kind, 'upload');
      assert.equal(job!.filesState, 'on_disk');
      const d0 = job!.createdAt;
      const want = `uploads/${d0.getUTCFullYear()}/${String(d0.getUTCMonth() + 1).padStart(2, '0')}/${String(d0.getUTCDate()).padStart(2, '0')}/up-1/scan.jpg`;
      assert.equal(r.json.added[0].path, want);
      const [row] = await c.filesByPaths([want]);
      assert.equal(row!.contentType, 'application/pdf', 'a .jpg that is a PDF is recorded as PDF');
      assert.deepEqual(r.json.nameMismatch, [{ source: path.join(src, 'scan.jpg'), claimed: 'image/jpeg', detected: 'application/pdf' }]);
      assert.equal(row!.sha256, sha(PDF));
      assert.equal(row!.size, PDF.length);
      assert.equal(row!.owner, 'acme');
      const abs = path.join(store.root, want);
      assert.ok(fs.readFileSync(abs).equals(PDF));
      assert.equal(fs.statSync(abs).mode & 0o777, 0o600);
      assert.equal(fs.statSync(path.dirname(abs)).mode & 0o777, 0o750);
    });

    test('a duplicate of the same owner: link (hard link, one row more), skip (nothing), copy (second copy)', async () => {
      const orig = (await c.filesOfJob('up-1'))[0]!;
      const origAbs = path.join(store.root, orig.path);
      const link = await cli(path.join(src, 'scan.jpg'), '--job', 'up-2', '--owner', 'acme');
      assert.equal(link.code, 0, link.stderr);
      assert.equal(link.json.added[0].duplicate.mode, 'link');
      assert.equal(link.json.added[0].duplicate.of.path, orig.path);
      const linked = path.join(store.root, link.json.added[0].path);
      assert.equal(fs.statSync(linked).ino, fs.statSync(origAbs).ino, 'a hard link to the original');
      assert.equal(fs.statSync(origAbs).nlink, 2);
      const [a] = await c.filesByPaths([orig.path]);
      const [b] = await c.filesByPaths([link.json.added[0].path]);
      assert.ok(a!.contentGroup !== null && a!.contentGroup === b!.contentGroup, 'the catalog records the sharing');

      const skip = await cli(path.join(src, 'scan.jpg'), '--job', 'up-3', '--owner', 'acme', '--on-duplicate', 'skip');
      assert.equal(skip.code, 0, skip.stderr);
      assert.deepEqual(skip.json.added, []);
      assert.deepEqual(skip.json.skipped[0].existing, { path: orig.path, jobId: 'up-1' });
      assert.equal((await c.filesOfJob('up-3')).length, 0);
      assert.equal(fs.statSync(origAbs).nlink, 2);

      const copy = await cli(path.join(src, 'scan.jpg'), '--job', 'up-4', '--owner', 'acme', '--on-duplicate', 'copy');
      assert.equal(copy.code, 0, copy.stderr);
      assert.equal(copy.json.added[0].duplicate.mode, 'copy');
      const copied = path.join(store.root, copy.json.added[0].path);
      assert.notEqual(fs.statSync(copied).ino, fs.statSync(origAbs).ino);
      assert.ok(fs.readFileSync(copied).equals(PDF));
      assert.equal((await c.filesByPaths([copy.json.added[0].path]))[0]!.contentGroup, null);

      // another owner's identical file is no duplicate
      const other = await cli(path.join(src, 'scan.jpg'), '--job', 'up-5', '--owner', 'globex');
      assert.equal(other.json.added[0].duplicate, undefined);
      const st = await runCli([...store.args, '--json', 'stats']);
      assert.equal(st.json.disk.sharedFiles, 2);
      assert.equal(st.json.usage.totalBytes - st.json.disk.bytes, PDF.length, 'bytes on disk count the linked pair once');
    });

    test('exports get the export system naming: exports/<type>_<job>_<YYYYMMDD_HHMMSS>.<ext>', async () => {
      const r = await cli(path.join(src, 'report.csv'), '--job', 'exp-1', '--category', 'exports', '--export-type', 'orders');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.json.added[0].path, /^exports\/orders_exp-1_\d{8}_\d{6}\.csv$/);
      assert.equal(r.json.added[0].contentType, 'text/csv');
      const [job] = await c.getJobs(['exp-1']);
      assert.equal(job!.kind, 'export');
      assert.ok(fs.existsSync(path.join(store.root, r.json.added[0].path)));
    });

    test('missing, directory, symlink sources fail alone (exit 3); the others go in; stdin with --role', async () => {
      fs.symlinkSync(path.join(src, 'front.png'), path.join(src, 'link.png'));
      const r = await cli(path.join(src, 'front.png'), path.join(src, 'nope.png'), src, path.join(src, 'link.png'), '--job', 'up-6', '--owner', 'acme');
      assert.equal(r.code, 3, r.stderr);
      assert.deepEqual(r.json.added.map((a: { path: string }) => path.basename(a.path)), ['front.png']);
      assert.deepEqual(
        r.json.failed.map((f: { source: string; reason: string }) => `${path.basename(f.source)}: ${f.reason}`),
        ['nope.png: no such file', `${path.basename(src)}: is a directory`, 'link.png: is a symlink (give the file it points to)'],
      );
      assert.equal((await c.filesOfJob('up-6')).length, 1);

      const data = randomBytes(5000).toString('hex');
      const s = await runCli([...store.args, '--json', 'put', '-', '--job', 'up-6', '--role', 'blob.txt'], { input: data });
      assert.equal(s.code, 0, s.stderr);
      const [row] = await c.filesByPaths([s.json.added[0].path]);
      assert.equal(row!.sha256, sha(Buffer.from(data)));
      assert.equal(row!.contentType, 'text/plain');
      const noRole = await cli('-', '--job', 'up-6');
      assert.equal(noRole.code, 2);
    });

    test('--from-list NDJSON, each line its own job and checksum', async () => {
      const list = path.join(src, 'list.ndjson');
      fs.writeFileSync(
        list,
        [
          JSON.stringify({ path: 'front.png', job: 'lst-1', owner: 'hooli', role: 'front.png', category: 'cards' }),
          JSON.stringify({ path: 'report.csv', job: 'lst-2', owner: 'hooli', sha256: '0'.repeat(64) }),
        ].join('\n') + '\n',
      );
      const r = await cli('--from-list', list);
      assert.equal(r.code, 4, r.stderr);
      assert.equal(r.json.added.length, 1);
      assert.match(r.json.added[0].path, /^cards\/\d{4}\/\d{2}\/\d{2}\/lst-1\/front\.png$/);
      assert.equal(r.json.checksumMismatch.length, 1);
      assert.deepEqual(await c.getJobs(['lst-2']), [], 'the refused file created no job');
    });
  });
}
