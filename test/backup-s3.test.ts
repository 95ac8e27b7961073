// backup of an S3 store and restore into one, end to end through the real bin against the
// loopback s3rver (or STORECTL_TEST_S3_ENDPOINT), on both dialects. The archive format is the
// one of a local backup: S3 -> archive -> local -> archive -> S3 round trip, byte-identical
// files, equal catalogs; verify --repair-from on S3; restore's safety on S3 (an empty target
// only, a kill mid-upload finished by the rerun, nothing imported before every object is in).
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Catalog } from '../src/db/catalog.ts';
import { DIALECTS, runCli, tmpDir, type Store } from './helpers/env.ts';
import { sqlRows } from './helpers/cleanup-fixture.ts';
import { startS3, type S3Fixture } from './helpers/s3.ts';
import { buildS3Store, makeS3Store, readObject, sha, type S3Store } from './helpers/s3-store.ts';
import { randomBytes } from 'node:crypto';
import type { S3BlobStore } from '../src/storage/s3/s3-blob-store.ts';

let s3: S3Fixture;
before(async () => {
  s3 = await startS3();
});
after(async () => {
  await s3?.dispose();
});

async function bucketKeys(st: S3Store): Promise<string[]> {
  const out: string[] = [];
  for await (const page of st.bucket.list()) for (const e of page) out.push(e.key);
  return out;
}

/** path -> sha256 of the present rows, and the row counts, of a catalog. */
async function catalogView(c: Catalog): Promise<{ files: Map<string, string>; jobs: number }> {
  const rows = await sqlRows<{ path: string; sha256: string }>(c, `select path, sha256 from files where state = 'present' order by path`);
  const jobs = Number((await sqlRows<{ n: number }>(c, `select count(*) as n from jobs`))[0]!.n);
  return { files: new Map(rows.map((r) => [r.path, r.sha256])), jobs };
}

for (const d of DIALECTS) {
  describe(`backup and restore with S3 stores: ${d.name}`, { skip: d.skip }, () => {
    let src: S3Store;
    let files: Map<string, Buffer>;
    let work: string;
    let local: Store | undefined;
    const extra: S3Store[] = [];
    before(async () => {
      src = await makeS3Store(d, s3);
      files = await buildS3Store(src.bucket, src.c, 12, 4, 3000);
      // One object above a multipart part (8 MiB): read back streamed, uploaded multipart on restore.
      const big = randomBytes(9 * 1024 * 1024 + 7);
      const bigRel = 'cards/2026/11/20/j-00000/big.bin';
      await src.bucket.put(bigRel, big);
      await src.c.insertFiles([{ jobId: 'j-00000', role: 'big.bin', category: 'cards', owner: 'globex', path: bigRel, contentType: 'application/octet-stream', size: big.length, sha256: sha(big), createdAt: new Date('2026-11-20T10:00:00Z') }]);
      files.set(bigRel, big);
      work = tmpDir('storectl-backup-s3-');
    });
    after(async () => {
      await src?.dispose();
      for (const x of extra) await x.dispose();
      await local?.dispose();
      fs.rmSync(work, { recursive: true, force: true });
    });

    test('S3 -> archive -> local -> archive -> S3: byte-identical objects and files, the same catalog, verify and check-disk clean', async () => {
      const a1 = path.join(work, 's3.tar.gz');
      const b = await src.cli('backup', '--output', a1);
      assert.equal(b.code, 0, b.stdout + b.stderr);
      assert.equal(b.stderr, '', 'nothing on stderr (no SDK warning)');
      assert.equal(b.json.files, files.size);
      assert.equal(b.json.fileBytes, [...files.values()].reduce((n, x) => n + x.length, 0));
      assert.equal(b.json.skipped.count, 0);
      assert.equal((await runCli(['--json', 'restore', a1, '--verify-only'])).code, 0, 'the S3 backup verifies as any archive');

      // into a local store
      local = await d.makeStore();
      const r1 = await runCli([...local.args, '--json', 'restore', a1]);
      assert.equal(r1.code, 0, r1.stdout + r1.stderr);
      assert.equal(r1.json.files, files.size);
      for (const [rel, data] of files) assert.deepEqual(fs.readFileSync(path.join(local.root, rel)), data, `${rel} byte-identical on disk`);
      const lc = await local.open();
      const want = await catalogView(src.c);
      try {
        assert.deepEqual(await catalogView(lc), want);
      } finally {
        await lc.close();
      }
      const cd = await runCli([...local.args, '--json', 'stats', '--check-disk']);
      assert.equal(cd.code, 0, cd.stdout + cd.stderr);

      // and from the local store back into a second bucket
      const a2 = path.join(work, 'local.tar.gz');
      const b2 = await runCli([...local.args, '--json', 'backup', '--output', a2]);
      assert.equal(b2.code, 0, b2.stdout + b2.stderr);
      const dst = await makeS3Store(d, s3);
      extra.push(dst);
      const r2 = await dst.cli('restore', a2);
      assert.equal(r2.code, 0, r2.stdout + r2.stderr);
      assert.equal(r2.stderr, '');
      assert.equal(r2.json.files, files.size);
      assert.deepEqual((await bucketKeys(dst)).sort(), [...files.keys()].sort(), 'exactly the archived objects');
      for (const [rel, data] of files) assert.ok((await readObject(dst.bucket, rel)).equals(data), `${rel} byte-identical in the bucket`);
      assert.deepEqual(await catalogView(dst.c), want);
      // The local restore's event travels in the second archive; this restore adds its own.
      const ev = await sqlRows<{ reason: string }>(dst.c, `select reason from events where action = 'restore' order by id`);
      assert.equal(ev.length, 2);
      assert.match(ev[1]!.reason, new RegExp(`from local\\.tar\\.gz .* into ${dst.root.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`));
      assert.deepEqual(fs.readdirSync(path.join(dst.stateDir, 'restore')).flatMap((h) => fs.readdirSync(path.join(dst.stateDir, 'restore', h))), [], 'no staging or marker left');
      const v = await dst.cli('verify');
      assert.equal(v.code, 0, v.stdout + v.stderr);
      assert.equal(v.json.ok, files.size);
      const cd2 = await dst.cli('stats', '--check-disk');
      assert.equal(cd2.code, 0, cd2.stdout + cd2.stderr);
      // The restored S3 store's own backup lists the same files with the same hashes.
      const a3 = path.join(work, 's3-again.tar.gz');
      const b3 = await dst.cli('backup', '--output', a3);
      assert.equal(b3.code, 0, b3.stdout + b3.stderr);
      const l1 = await runCli(['--json', 'restore', a1, '--verify-only']);
      const l3 = await runCli(['--json', 'restore', a3, '--verify-only']);
      assert.equal(l3.json.files, l1.json.files);
      assert.equal(l3.json.bytes, l1.json.bytes);
    });

    test('verify --repair-from an S3 backup puts corrupt and missing objects back, byte-identical', async () => {
      const archive = path.join(work, 'repair.tar.gz');
      assert.equal((await src.cli('backup', '--output', archive)).code, 0);
      const [flipped, deleted] = [...files.keys()].slice(2, 4) as [string, string];
      const bad = Buffer.from(files.get(flipped)!);
      bad[5] = bad[5]! ^ 0xff;
      await src.bucket.put(flipped, bad);
      await src.bucket.remove(deleted);
      assert.equal((await src.cli('verify')).code, 4);
      const r = await src.cli('verify', '--repair-from', archive);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual(r.json.repair.repaired.map((x: { path: string }) => x.path).sort(), [flipped, deleted].sort());
      for (const p of [flipped, deleted]) assert.deepEqual(await readObject(src.bucket, p), files.get(p));
      const rows = await src.c.filesByPaths([flipped, deleted]);
      for (const row of rows) assert.equal(row.state, 'present');
      assert.equal((await src.cli('verify')).code, 0);
    });

    test('an object missing at backup is not archived: reported vanished, exit 3; its row still travels', async () => {
      const gone = [...files.keys()][6]!;
      await src.bucket.remove(gone);
      const archive = path.join(work, 'partial.tar.gz');
      const b = await src.cli('backup', '--output', archive);
      assert.equal(b.code, 3, b.stdout + b.stderr);
      assert.equal(b.json.skipped.vanished, 1);
      assert.equal(b.json.skipped.sample[0].path, gone);
      assert.equal(b.json.files, files.size - 1);
      await src.bucket.put(gone, files.get(gone)!);
    });

    test('restore into an S3 store that is not empty is refused (exit 2) without --force; nothing changed', async () => {
      const archive = path.join(work, 'full.tar.gz');
      assert.equal((await src.cli('backup', '--output', archive)).code, 0);
      const dst = await makeS3Store(d, s3);
      extra.push(dst);
      await dst.bucket.put('cards/stray.bin', Buffer.from('x'));
      const r = await dst.cli('restore', archive);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.equal(r.json.error.code, 'target_not_empty');
      assert.match(r.json.error.hint ?? r.json.error.message + '', /--force|not empty/);
      assert.deepEqual(await bucketKeys(dst), ['cards/stray.bin']);
      assert.equal((await dst.c.counts()).files, 0);
    });

    /** A non-empty S3 store holding the archive restored once and then changed: one object of the same size but other content, one gone, two strays. */
    async function changedTarget(archive: string) {
      const dst = await makeS3Store(d, s3);
      extra.push(dst);
      const first = await dst.cli('restore', archive);
      assert.equal(first.code, 0, first.stdout + first.stderr);
      const [same, gone] = [...files.keys()].slice(0, 2) as [string, string];
      const other = Buffer.from(files.get(same)!);
      other[3] = other[3]! ^ 0xff;
      await dst.bucket.put(same, other);
      await dst.bucket.remove(gone);
      await dst.bucket.put('cards/2026/01/01/stray/front.png', Buffer.from('stray object'));
      await dst.bucket.put('exports/stray.csv', Buffer.from('a,b\n'));
      return dst;
    }

    async function assertReplaced(dst: S3Store) {
      assert.deepEqual((await bucketKeys(dst)).sort(), [...files.keys()].sort(), 'exactly the archived objects');
      for (const [rel, data] of files) assert.ok((await readObject(dst.bucket, rel)).equals(data), `${rel} byte-identical`);
      assert.deepEqual(await catalogView(dst.c), await catalogView(src.c));
      assert.equal((await dst.cli('verify')).code, 0);
      const left = fs.readdirSync(path.join(dst.stateDir, 'restore')).flatMap((h) => fs.readdirSync(path.join(dst.stateDir, 'restore', h)));
      assert.deepEqual(left, [], 'no staging or marker left');
    }

    test('restore --force into a non-empty S3 store replaces it: same-named objects overwritten, unarchived objects removed through the gate, catalog replaced', async () => {
      const archive = path.join(work, 'force.tar.gz');
      assert.equal((await src.cli('backup', '--output', archive)).code, 0);
      // The target holds a store of its own: the archive restored once, then changed (one object
      // of the same size but other content: must not be kept as "already uploaded").
      const dst = await changedTarget(archive);
      const f = await dst.cli('--yes', 'restore', archive, '--force');
      assert.equal(f.code, 0, f.stdout + f.stderr);
      assert.equal(f.json.replaced, true);
      assert.deepEqual(f.json.uploads, { uploaded: files.size, kept: 0 });
      await assertReplaced(dst);
      const cd = await dst.cli('stats', '--check-disk');
      assert.equal(cd.code, 0, cd.stdout + cd.stderr);
    });

    test('restore --force into S3 killed after its first upload resumes where it stopped: what the killed run uploaded is kept, not uploaded again', async () => {
      const archive = path.join(work, 'force-kill.tar.gz');
      assert.equal((await src.cli('backup', '--output', archive)).code, 0);
      const dst = await changedTarget(archive);
      const killed = await dst.cliEnv({ STORECTL_TEST_CRASH_AT: 'moved-one' }, '--yes', 'restore', archive, '--force');
      assert.equal(killed.code, -1, `killed by SIGKILL: ${killed.stdout}${killed.stderr}`);
      const before = new Map<string, number>();
      for await (const page of dst.bucket.list()) for (const e of page) before.set(e.key, e.mtime.getTime());
      await new Promise((r) => setTimeout(r, 1100)); // LastModified has a resolution of a second
      const again = await dst.cli('--yes', 'restore', archive, '--force');
      assert.equal(again.code, 0, again.stdout + again.stderr);
      assert.equal(again.json.resumed, true);
      assert.equal(again.json.replaced, true);
      const { uploaded, kept } = again.json.uploads as { uploaded: number; kept: number };
      assert.ok(kept >= 1, `the object the killed run uploaded is kept: ${kept}`);
      assert.equal(uploaded + kept, files.size);
      let unchanged = 0;
      for await (const page of dst.bucket.list()) for (const e of page) if (before.get(e.key) === e.mtime.getTime()) unchanged++;
      assert.equal(unchanged, kept, 'exactly the kept objects were not written again');
      await assertReplaced(dst);
    });

    test('restore --force into S3 killed after the import, before the unarchived objects are removed: the rerun removes them and finishes', async () => {
      const archive = path.join(work, 'force-prune.tar.gz');
      assert.equal((await src.cli('backup', '--output', archive)).code, 0);
      const dst = await changedTarget(archive);
      const killed = await dst.cliEnv({ STORECTL_TEST_CRASH_AT: 'imported' }, '--yes', 'restore', archive, '--force');
      assert.equal(killed.code, -1, `killed by SIGKILL: ${killed.stdout}${killed.stderr}`);
      assert.deepEqual(await catalogView(dst.c), await catalogView(src.c), 'the catalog was imported before the kill');
      assert.ok((await bucketKeys(dst)).includes('exports/stray.csv'), 'the strays were still there');
      const again = await dst.cli('--yes', 'restore', archive, '--force');
      assert.equal(again.code, 0, again.stdout + again.stderr);
      assert.equal(again.json.resumed, true);
      assert.deepEqual(again.json.uploads, { uploaded: 0, kept: 0 }, 'nothing uploaded again: the uploads were done');
      await assertReplaced(dst);
    });

    test('restore into S3: --dry-run and a corrupt archive change nothing (no object, no row, no staging left)', async () => {
      const archive = path.join(work, 'dry.tar.gz');
      assert.equal((await src.cli('backup', '--output', archive)).code, 0);
      const dst = await makeS3Store(d, s3);
      extra.push(dst);
      const dry = await dst.cli('restore', archive, '--dry-run');
      assert.equal(dry.code, 0, dry.stdout + dry.stderr);
      assert.equal(dry.json.dryRun, true);
      assert.equal(dry.json.files, files.size);
      assert.deepEqual(await bucketKeys(dst), []);
      assert.equal((await dst.c.counts()).files, 0);
      // A byte flipped in the middle of the archive: refused while verifying (exit 4), before any upload.
      const bad = path.join(work, 'corrupt.tar.gz');
      const bytes = fs.readFileSync(archive);
      const mid = Math.floor(bytes.length / 2);
      bytes[mid] = bytes[mid]! ^ 0x55;
      fs.writeFileSync(bad, bytes);
      const r = await dst.cli('restore', bad);
      assert.equal(r.code, 4, r.stdout + r.stderr);
      assert.deepEqual(await bucketKeys(dst), []);
      assert.equal((await dst.c.counts()).files, 0);
      const restoreDir = path.join(dst.stateDir, 'restore');
      const left = fs.existsSync(restoreDir) ? fs.readdirSync(restoreDir).flatMap((h) => fs.readdirSync(path.join(restoreDir, h))) : [];
      assert.deepEqual(left, [], 'no staging or marker left');
    });

    test('restore into S3 killed after its first upload: some objects in, nothing imported yet; the rerun finishes (resumed), objects and rows complete', async () => {
      const archive = path.join(work, 'crash.tar.gz');
      assert.equal((await src.cli('backup', '--output', archive)).code, 0);
      const dst = await makeS3Store(d, s3);
      extra.push(dst);
      const killed = await dst.cliEnv({ STORECTL_TEST_CRASH_AT: 'moved-one' }, 'restore', archive);
      assert.equal(killed.code, -1, `killed by SIGKILL: ${killed.stdout}${killed.stderr}`);
      assert.equal((await dst.c.counts()).files, 0, 'no rows before every object is in');
      const uploaded = (await bucketKeys(dst)).length;
      assert.ok(uploaded > 0 && uploaded < files.size, `killed midway: ${uploaded} of ${files.size} objects uploaded`);
      const other = path.join(work, 'repair.tar.gz');
      const wrong = await dst.cli('restore', other);
      assert.equal(wrong.code, 2, wrong.stdout + wrong.stderr);
      assert.equal(wrong.json.error.code, 'restore_pending');
      const again = await dst.cli('restore', archive);
      assert.equal(again.code, 0, again.stdout + again.stderr);
      assert.equal(again.json.resumed, true);
      assert.deepEqual((await bucketKeys(dst)).sort(), [...files.keys()].sort());
      for (const [rel, data] of files) assert.ok((await readObject(dst.bucket, rel)).equals(data), rel);
      assert.deepEqual(await catalogView(dst.c), await catalogView(src.c));
      assert.equal((await dst.cli('verify')).code, 0);
    });

    test('restore into S3 killed (kill -9) on one machine is refused for another archive and finished from another machine: the marker lives in the bucket', async () => {
      const archive = path.join(work, 'crash2.tar.gz');
      assert.equal((await src.cli('backup', '--output', archive)).code, 0);
      const dst = await makeS3Store(d, s3);
      extra.push(dst);
      const killed = await dst.cliEnv({ STORECTL_TEST_CRASH_AT: 'moved-one' }, 'restore', archive);
      assert.equal(killed.code, -1, `killed by SIGKILL: ${killed.stdout}${killed.stderr}`);
      const marker = await (dst.bucket as unknown as S3BlobStore).readReserved('restore.json');
      assert.ok(marker, 'the marker is in the bucket, under the store prefix');
      assert.equal(JSON.parse(marker.toString()).archive, archive);
      const localDirs = fs.readdirSync(path.join(dst.stateDir, 'restore'));
      assert.ok(!localDirs.some((h) => fs.existsSync(path.join(dst.stateDir, 'restore', h, 'restore.json'))), 'no local marker');
      assert.ok(!(await bucketKeys(dst)).some((k) => k.startsWith('.storectl')), 'the marker is never listed as data');
      // Another machine: its own, empty state directory (no staging, no local marker).
      const elsewhere = tmpDir('storectl-other-host-');
      try {
        const wrong = await dst.cliEnv({ STORECTL_STATE_DIR: elsewhere }, 'restore', path.join(work, 'repair.tar.gz'));
        assert.equal(wrong.code, 2, wrong.stdout + wrong.stderr);
        assert.equal(wrong.json.error.code, 'restore_pending');
        const again = await dst.cliEnv({ STORECTL_STATE_DIR: elsewhere }, 'restore', archive);
        assert.equal(again.code, 0, again.stdout + again.stderr);
        assert.equal(again.json.resumed, true);
      } finally {
        fs.rmSync(elsewhere, { recursive: true, force: true });
      }
      assert.deepEqual((await bucketKeys(dst)).sort(), [...files.keys()].sort());
      for (const [rel, data] of files) assert.ok((await readObject(dst.bucket, rel)).equals(data), rel);
      assert.deepEqual(await catalogView(dst.c), await catalogView(src.c));
      // The marker is gone: a new restore of the same archive is refused as into a full store, not resumed.
      const after = await dst.cli('restore', archive);
      assert.equal(after.code, 2, after.stdout + after.stderr);
      assert.equal(after.json.error.code, 'target_not_empty');
    });
  });
}
