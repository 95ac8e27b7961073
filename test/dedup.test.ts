// dedup end to end: the real bin on both dialects; effects checked on disk (inodes, bytes), in
// the catalog (content_group) and, for the S3 refusal, in the bucket.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import type { Catalog } from '../src/db/catalog.ts';
import { openCatalog } from '../src/db/connect.ts';
import { parseDatabaseUrl } from '../src/db/url.ts';
import { openBlobStore } from '../src/storage/open.ts';
import type { BlobStore } from '../src/storage/blob.ts';
import { BIN, DIALECTS, REPO, runCli, tmpDir, type Store } from './helpers/env.ts';
import { sqlExec } from './helpers/cleanup-fixture.ts';
import { startS3, type S3Fixture } from './helpers/s3.ts';
import { makeS3Store, readObject, sha } from './helpers/s3-store.ts';
import { readArchive } from '../src/ops/backup/archive-reader.ts';

const A = randomBytes(40_000);
const B = randomBytes(3_000);
const C = randomBytes(500);

interface Placed {
  job: string;
  owner: string;
  content: Buffer;
  path: string;
}

/** Puts each content as its own copy (put --on-duplicate copy) under its own job, in one run. */
async function putCopies(store: Store, src: string, items: { job: string; owner: string; content: Buffer }[]): Promise<Placed[]> {
  const lines: string[] = [];
  items.forEach((it, i) => {
    const f = path.join(src, `f${i}-${it.job}.bin`);
    fs.writeFileSync(f, it.content);
    lines.push(JSON.stringify({ path: f, job: it.job, owner: it.owner, role: 'data.bin' }));
  });
  const list = path.join(src, `list-${Date.now()}.ndjson`);
  fs.writeFileSync(list, lines.join('\n') + '\n');
  const r = await runCli([...store.args, '--json', 'put', '--from-list', list, '--on-duplicate', 'copy']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return items.map((it) => ({ ...it, path: r.json.added.find((a: { jobId: string }) => a.jobId === it.job).path }));
}

for (const d of DIALECTS) {
  describe(`dedup: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let c: Catalog;
    let src: string;
    const cli = (...args: string[]) => runCli([...store.args, '--json', ...args]);
    const abs = (rel: string) => path.join(store.root, rel);
    const ino = (rel: string) => fs.statSync(abs(rel)).ino;

    before(async () => {
      store = await d.makeStore();
      assert.equal((await runCli([...store.args, 'migrate', '--create'])).code, 0);
      c = await store.open();
      src = tmpDir('storectl-dedup-src-');
    });
    after(async () => {
      await c?.close();
      await store?.dispose();
      fs.rmSync(src, { recursive: true, force: true });
    });

    test('dry run == real run (groups, copies, bytes); every path reads back its bytes and shares one inode; the catalog records it; stats counts disk bytes once', async () => {
      const placed = await putCopies(store, src, [
        { job: 'a-1', owner: 'acme', content: A },
        { job: 'a-2', owner: 'acme', content: A },
        { job: 'a-3', owner: 'acme', content: A },
        { job: 'b-1', owner: 'acme', content: B },
        { job: 'b-2', owner: 'acme', content: B },
        { job: 'g-1', owner: 'globex', content: A },
        { job: 'u-1', owner: 'acme', content: C },
      ]);
      const inodesBefore = new Set(placed.map((p) => ino(p.path)));
      assert.equal(inodesBefore.size, placed.length, 'every file its own copy before');

      const dry = await cli('dedup', '--dry-run');
      assert.equal(dry.code, 0, dry.stdout + dry.stderr);
      assert.deepEqual(dry.json.plan, { groups: 2, files: 5, copies: 5, freeableBytes: 2 * A.length + B.length });
      assert.deepEqual(
        dry.json.groups.map((g: { owner: string; size: number; copies: number; freeable: number }) => [g.owner, g.size, g.copies, g.freeable]),
        [
          ['acme', A.length, 3, 2 * A.length],
          ['acme', B.length, 2, B.length],
        ],
        'largest first, one owner at a time',
      );
      for (const p of placed) assert.equal(ino(p.path), [...inodesBefore][placed.indexOf(p)], 'the dry run changed nothing');
      const across = await cli('dedup', '--dry-run', '--across-owners');
      assert.equal(across.json.plan.freeableBytes, 3 * A.length + B.length, '--across-owners lets globex share acme’s copy');
      const onlyGlobex = await cli('dedup', '--dry-run', '--owner', 'globex');
      assert.deepEqual(onlyGlobex.json.plan, { groups: 0, files: 0, copies: 0, freeableBytes: 0 });

      const noYes = await cli('dedup');
      assert.equal(noYes.code, 2, 'no TTY and no --yes: refused');

      const real = await cli('--yes', 'dedup');
      assert.equal(real.code, 0, real.stdout + real.stderr);
      assert.deepEqual(real.json.plan, dry.json.plan, 'the real run planned what the dry run showed');
      assert.deepEqual(
        real.json.groups.map((g: { sha256: string; size: number; copies: number }) => [g.sha256, g.size, g.copies]),
        dry.json.groups.map((g: { sha256: string; size: number; copies: number }) => [g.sha256, g.size, g.copies]),
      );
      assert.equal(real.json.result.filesLinked, 3);
      assert.equal(real.json.result.groupsLinked, 2);
      assert.equal(real.json.result.bytesFreed, dry.json.plan.freeableBytes, 'freed what the dry run said');
      assert.deepEqual(real.json.result.skipped, []);

      for (const p of placed) assert.ok(fs.readFileSync(abs(p.path)).equals(p.content), `${p.path} reads back its bytes`);
      const byJob = (j: string) => placed.find((p) => p.job === j)!.path;
      assert.equal(ino(byJob('a-1')), ino(byJob('a-2')));
      assert.equal(ino(byJob('a-1')), ino(byJob('a-3')));
      assert.equal(ino(byJob('b-1')), ino(byJob('b-2')));
      assert.notEqual(ino(byJob('g-1')), ino(byJob('a-1')), 'another owner is not linked without --across-owners');
      assert.equal(fs.statSync(abs(byJob('a-2'))).mode & 0o777, 0o600);
      const rows = await c.filesByPaths(placed.map((p) => p.path));
      const group = (j: string) => rows.find((r) => r.path === byJob(j))!.contentGroup;
      assert.ok(group('a-1') !== null && group('a-1') === group('a-2') && group('a-2') === group('a-3'), 'the catalog records the sharing');
      assert.ok(group('b-1') !== null && group('b-1') === group('b-2') && group('b-1') !== group('a-1'));
      assert.equal(group('g-1'), null);
      assert.equal(group('u-1'), null);

      const st = await cli('stats', '--check-disk');
      assert.equal(st.code, 0, st.stdout + st.stderr);
      const logical = 4 * A.length + 2 * B.length + C.length;
      assert.equal(st.json.usage.totalBytes, logical, 'logical bytes as before');
      assert.equal(st.json.disk.bytes, 2 * A.length + B.length + C.length, 'bytes on disk counted once per copy');
      const acme = st.json.groups.filter((g: { owner: string; state: string }) => g.owner === 'acme' && g.state === 'present').reduce((a: number, g: { bytes: number }) => a + g.bytes, 0);
      assert.equal(acme, 3 * A.length + 2 * B.length + C.length, 'per-owner logical bytes unchanged');

      const again = await cli('dedup', '--dry-run');
      assert.deepEqual(again.json.plan, { groups: 0, files: 0, copies: 0, freeableBytes: 0 }, 'nothing left to link');
      const events = await c.openSnapshot();
      let n = 0;
      try {
        for await (const page of events.tableRows('events')) for (const e of page) if (e.action === 'dedup-link') n++;
      } finally {
        await events.close();
      }
      assert.equal(n, 3, 'one event per name linked');

      // --across-owners then links globex's copy too.
      const x = await cli('--yes', 'dedup', '--across-owners');
      assert.equal(x.code, 0, x.stdout + x.stderr);
      assert.equal(x.json.result.filesLinked, 1);
      assert.equal(ino(byJob('g-1')), ino(byJob('a-1')));
      assert.ok(fs.readFileSync(abs(byJob('g-1'))).equals(A));
    });

    test('deleting one job of a linked pair removes that name only; the other keeps its content; check-disk 0', async () => {
      const placed = await putCopies(store, src, [
        { job: 'p-1', owner: 'pair', content: C },
        { job: 'p-2', owner: 'pair', content: C },
        { job: 'p-3', owner: 'pair', content: C },
      ]);
      const r = await cli('--yes', 'dedup', '--owner', 'pair');
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(r.json.result.filesLinked, 2);
      assert.equal(fs.statSync(abs(placed[0]!.path)).nlink, 3);
      const del = await cli('--yes', 'delete', 'p-1');
      assert.equal(del.code, 0, del.stdout + del.stderr);
      assert.ok(!fs.existsSync(abs(placed[0]!.path)), 'the deleted name is gone');
      for (const p of placed.slice(1)) {
        assert.ok(fs.readFileSync(abs(p.path)).equals(C), `${p.path} keeps its content`);
        assert.equal(fs.statSync(abs(p.path)).nlink, 2);
      }
      const [gone] = await c.filesByPaths([placed[0]!.path]);
      assert.equal(gone!.state, 'deleted');
      // cleanup-expired of a second one (its job failed: the failed-jobs rule, a week on): again only that name goes.
      const weekAgo = new Date(Date.now() - 8 * 86_400_000);
      await sqlExec(c, `update jobs set status = 'failed', updated_at = ${store.dialect === 'postgres' ? `'${weekAgo.toISOString()}'` : weekAgo.getTime()} where id = 'p-2'`);
      const exp = await cli('--yes', 'cleanup-expired', '--max-delete', '100%');
      assert.equal(exp.code, 0, exp.stdout + exp.stderr);
      const [row1] = await c.filesByPaths([placed[1]!.path]);
      assert.equal(row1!.state, 'deleted', 'cleanup-expired deleted the expired file');
      assert.ok(!fs.existsSync(abs(placed[1]!.path)));
      assert.ok(fs.readFileSync(abs(placed[2]!.path)).equals(C), 'the last name keeps its content');
      const st = await cli('stats', '--check-disk');
      assert.equal(st.code, 0, st.stdout + st.stderr);
      const again = await cli('dedup', '--dry-run', '--owner', 'pair');
      assert.equal(again.json.plan.groups, 0);
    });

    test('a copy that no longer reads back as catalogued is left alone (exit 3); the others are linked', async () => {
      const placed = await putCopies(store, src, [
        { job: 'c-1', owner: 'bad', content: B },
        { job: 'c-2', owner: 'bad', content: B },
        { job: 'c-3', owner: 'bad', content: B },
      ]);
      const flipped = Buffer.from(B);
      flipped[10] = flipped[10]! ^ 0xff;
      fs.writeFileSync(abs(placed[2]!.path), flipped);
      const r = await cli('--yes', 'dedup', '--owner', 'bad');
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.equal(r.json.result.filesLinked, 1);
      assert.equal(r.json.result.skipped.length, 1);
      assert.equal(r.json.result.skipped[0].path, placed[2]!.path);
      assert.match(r.json.result.skipped[0].reason, /SHA-256/);
      assert.ok(fs.readFileSync(abs(placed[2]!.path)).equals(flipped), 'the bad copy is left as it is');
      assert.equal(ino(placed[0]!.path), ino(placed[1]!.path));
      assert.notEqual(ino(placed[2]!.path), ino(placed[0]!.path));
      fs.writeFileSync(abs(placed[2]!.path), B); // the store is whole again for the tests after
    });

    test('--mode reflink where the file system has none: exit 2, nothing changed; --mode auto falls back to hard links', async () => {
      const placed = await putCopies(store, src, [
        { job: 'r-1', owner: 'ref', content: B },
        { job: 'r-2', owner: 'ref', content: B },
      ]);
      const probe = path.join(src, 'probe');
      fs.writeFileSync(path.join(src, 'probe-src'), 'x');
      let reflinks = true;
      try {
        fs.copyFileSync(path.join(src, 'probe-src'), probe, fs.constants.COPYFILE_FICLONE_FORCE);
      } catch {
        reflinks = false;
      }
      const r = await cli('--yes', 'dedup', '--owner', 'ref', '--mode', 'reflink');
      if (reflinks) {
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.equal(r.json.modeUsed, 'reflink');
        for (const p of placed) assert.ok(fs.readFileSync(abs(p.path)).equals(B));
        return;
      }
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.equal(r.json.error.code, 'no_reflink');
      assert.match(r.json.error.message, /does not support reflinks/);
      assert.notEqual(ino(placed[0]!.path), ino(placed[1]!.path), 'nothing changed');
      const auto = await cli('--yes', 'dedup', '--owner', 'ref', '--mode', 'auto');
      assert.equal(auto.code, 0, auto.stdout + auto.stderr);
      assert.equal(auto.json.modeUsed, 'hardlink');
      assert.equal(ino(placed[0]!.path), ino(placed[1]!.path));
    });

    test('killed with SIGKILL while linking, then rerun: every path has its full content, the catalog agrees (stats --check-disk 0)', async () => {
      const items = [];
      for (let g = 0; g < 4; g++) {
        const content = randomBytes(2000 + g);
        for (let k = 0; k < 3; k++) items.push({ job: `k-${g}-${k}`, owner: 'kill', content });
      }
      const placed = await putCopies(store, src, items);
      const pause = path.join(src, `pause-${Date.now()}`);
      const child = spawn(process.execPath, [BIN, ...store.args, '--yes', 'dedup', '--owner', 'kill', '--threads', '1'], {
        cwd: REPO,
        env: { ...process.env, NO_COLOR: '1', STORECTL_ROOT: '', STORECTL_DATABASE_URL: '', DATABASE_URL: '', STORECTL_TEST_PAUSE_AT: `dedup.linking:${pause}` },
        stdio: 'ignore',
      });
      let exited = false;
      const closed = new Promise((r) => child.on('close', () => r((exited = true))));
      const deadline = Date.now() + 60_000;
      while (!exited && !fs.existsSync(pause) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.ok(fs.existsSync(pause), 'dedup reached the linking pause point');
      child.kill('SIGKILL');
      await closed;
      fs.rmSync(pause, { force: true });

      const inodes = new Set(placed.map((p) => ino(p.path)));
      assert.ok(inodes.size < placed.length, 'the kill landed after a link');
      for (const p of placed) assert.ok(fs.readFileSync(abs(p.path)).equals(p.content), `${p.path} has its full content after the kill`);
      const mid = await cli('stats', '--check-disk');
      assert.equal(mid.code, 0, mid.stdout + mid.stderr);

      const again = await cli('--yes', 'dedup', '--owner', 'kill');
      assert.equal(again.code, 0, again.stdout + again.stderr);
      assert.ok(again.json.result.alreadyShared >= 1, 'the rerun records the link the killed run made');
      for (const p of placed) assert.ok(fs.readFileSync(abs(p.path)).equals(p.content), p.path);
      for (let g = 0; g < 4; g++) {
        const names = placed.filter((p) => p.job.startsWith(`k-${g}-`));
        assert.equal(new Set(names.map((p) => ino(p.path))).size, 1, `group ${g} shares one inode`);
        const rows = await c.filesByPaths(names.map((p) => p.path));
        assert.equal(new Set(rows.map((r) => r.contentGroup)).size, 1);
        assert.notEqual(rows[0]!.contentGroup, null);
      }
      const staging = path.join(store.root, '.storectl', 'staging');
      assert.deepEqual(fs.existsSync(staging) ? fs.readdirSync(staging) : [], [], 'no temp names left');
      const st = await cli('stats', '--check-disk');
      assert.equal(st.code, 0, st.stdout + st.stderr);
      const dry = await cli('dedup', '--dry-run', '--owner', 'kill');
      assert.equal(dry.json.plan.groups, 0);
    });
    test('verify --repair-from mends a linked pair damaged together and links it again: one inode, the catalog still right, check-disk 0', async () => {
      const placed = await putCopies(store, src, [
        { job: 'rp-1', owner: 'rp', content: A },
        { job: 'rp-2', owner: 'rp', content: A },
      ]);
      assert.equal((await cli('--yes', 'dedup', '--owner', 'rp')).code, 0);
      assert.equal(ino(placed[0]!.path), ino(placed[1]!.path));
      const archive = path.join(src, `rp-${Date.now()}.tar.gz`);
      assert.equal((await cli('backup', '--output', archive)).code, 0);
      const disk = (await cli('stats')).json.disk;
      // One write through one name damages both: they are one file.
      fs.writeFileSync(abs(placed[0]!.path), randomBytes(A.length));
      const found = await cli('verify', '--owner', 'rp');
      assert.equal(found.code, 4, found.stdout);
      assert.equal(found.json.corrupt, 2);
      const r = await cli('verify', '--owner', 'rp', '--repair-from', archive);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(r.json.repair.repaired.length, 2);
      assert.equal(r.json.repair.relinked, 1);
      for (const p of placed) assert.ok(fs.readFileSync(abs(p.path)).equals(A), p.path);
      assert.equal(ino(placed[0]!.path), ino(placed[1]!.path), 'the repaired pair shares one inode again');
      const groups = (await c.filesByPaths(placed.map((p) => p.path))).map((x) => x.contentGroup);
      assert.ok(groups[0] !== null && groups[0] === groups[1], 'the catalog still records the pair as one copy');
      const after = await cli('stats', '--check-disk');
      assert.equal(after.code, 0, after.stdout);
      assert.deepEqual(after.json.disk, disk, 'bytes on disk as before the damage');
    });

    test('backup then restore into an empty store: the names the catalog records as sharing share one inode again; stats agrees', async () => {
      const placed = await putCopies(store, src, [
        { job: 'bk-1', owner: 'bk', content: A },
        { job: 'bk-2', owner: 'bk', content: A },
      ]);
      const r = await cli('--yes', 'dedup', '--owner', 'bk');
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const archive = path.join(src, `bk-${Date.now()}.tar.gz`);
      const b = await cli('backup', '--output', archive);
      assert.equal(b.code, 0, b.stdout + b.stderr);
      const before = await cli('stats');
      const target = await d.makeStore();
      try {
        const res = await runCli([...target.args, '--json', '--yes', 'restore', archive]);
        assert.equal(res.code, 0, res.stdout + res.stderr);
        const at = (rel: string) => path.join(target.root, rel);
        for (const p of placed) assert.ok(fs.readFileSync(at(p.path)).equals(A), p.path);
        assert.equal(fs.statSync(at(placed[0]!.path)).ino, fs.statSync(at(placed[1]!.path)).ino, 'the restored pair shares one inode');
        const after = await runCli([...target.args, '--json', 'stats', '--check-disk']);
        assert.equal(after.code, 0, after.stdout + after.stderr);
        assert.deepEqual(after.json.disk, before.json.disk, 'bytes on disk as before the backup');
        const staging = path.join(target.root, '.storectl', 'staging');
        assert.deepEqual(fs.existsSync(staging) ? fs.readdirSync(staging) : [], []);
      } finally {
        await target.dispose();
      }
    });
  });

  describe(`backup of shared content: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let src: string;
    let placed: Placed[];
    const archives: Record<string, string> = {};
    const cli = (...args: string[]) => runCli([...store.args, '--json', ...args]);

    before(async () => {
      store = await d.makeStore();
      assert.equal((await runCli([...store.args, 'migrate', '--create'])).code, 0);
      src = tmpDir('storectl-dedup-backup-');
      placed = await putCopies(store, src, [
        { job: 'sh-1', owner: 'sh', content: A },
        { job: 'sh-2', owner: 'sh', content: A },
        { job: 'sh-3', owner: 'sh', content: B },
      ]);
      const r = await cli('--yes', 'dedup');
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(fs.statSync(path.join(store.root, placed[0]!.path)).ino, fs.statSync(path.join(store.root, placed[1]!.path)).ino);
      for (const format of ['tar.gz', 'zip']) {
        archives[format] = path.join(src, `shared.${format}`);
        const b = await cli('backup', '--output', archives[format]!);
        assert.equal(b.code, 0, b.stdout + b.stderr);
        assert.equal(b.json.files, 3, 'three names archived');
        assert.deepEqual(b.json.linked, { files: 1, bytes: A.length }, 'one of them shares the archived copy');
        assert.equal(b.json.fileBytes, 2 * A.length + B.length, 'logical bytes as before');
      }
    });
    after(async () => {
      await store?.dispose();
      fs.rmSync(src, { recursive: true, force: true });
    });

    test('the archive holds the shared content once (tar.gz and zip): one entry, a manifest line naming it, and it verifies', async () => {
      const pair = [placed[0]!.path, placed[1]!.path].sort();
      for (const [format, archive] of Object.entries(archives)) {
        const entries: { name: string; size: number; data: Buffer }[] = [];
        for await (const e of readArchive(archive)) {
          const parts: Buffer[] = [];
          for await (const c of e.chunks()) parts.push(c);
          entries.push({ name: e.name, size: e.size, data: Buffer.concat(parts) });
        }
        const fileEntries = entries.filter((e) => e.name.startsWith('files/'));
        assert.deepEqual(fileEntries.map((e) => e.name), [`files/${pair[0]}`, `files/${placed[2]!.path}`].sort(), `${format}: only the first name of the pair has an entry`);
        assert.equal(fileEntries.reduce((n, e) => n + e.size, 0), A.length + B.length, `${format}: the content of A is stored once`);
        assert.ok(fileEntries.find((e) => e.name === `files/${pair[0]}`)!.data.equals(A));
        const list = entries.find((e) => e.name === 'manifest-files.ndjson')!.data.toString().trim().split('\n').map((l) => JSON.parse(l));
        assert.deepEqual(list.find((l) => l.path === pair[1]), { path: pair[1], size: A.length, sha256: sha(A), link: pair[0] });
        const summary = JSON.parse(entries.find((e) => e.name === 'manifest-summary.json')!.data.toString());
        assert.deepEqual(summary.files, { count: 2, bytes: A.length + B.length });
        assert.deepEqual(summary.linked, { count: 1, bytes: A.length });
        assert.equal(JSON.parse(entries[0]!.data.toString()).format, 2);
        const v = await runCli(['--json', 'restore', archive, '--verify-only']);
        assert.equal(v.code, 0, v.stdout + v.stderr);
        assert.equal(v.json.files, 3);
      }
    });

    test('an archive that says format 1 but stores a name as a link is refused as corrupt (exit 4)', async () => {
      const x = tmpDir();
      try {
        const names = execFileSync('tar', ['-tzf', archives['tar.gz']!], { encoding: 'utf8' }).split('\n').filter(Boolean);
        execFileSync('tar', ['-xzf', archives['tar.gz']!, '-C', x]);
        for (const m of ['manifest.json', 'manifest-summary.json']) {
          const j = JSON.parse(fs.readFileSync(path.join(x, m), 'utf8'));
          assert.equal(j.format, 2);
          j.format = 1;
          fs.writeFileSync(path.join(x, m), JSON.stringify(j, null, 2) + '\n');
        }
        const relabelled = path.join(x, 'relabelled.tar.gz');
        execFileSync('tar', ['-czf', relabelled, '-C', x, '--no-recursion', ...names]);
        const v = await runCli(['--json', 'restore', relabelled, '--verify-only']);
        assert.equal(v.code, 4, v.stdout + v.stderr);
        assert.match(v.json.error.message, /a format-1 archive has no links/);
      } finally {
        fs.rmSync(x, { recursive: true, force: true });
      }
    });

    test('restore into a fresh local store (tar.gz and zip) recreates the link: one inode, original bytes, check-disk and verify exit 0', async () => {
      for (const archive of Object.values(archives)) {
        const target = await d.makeStore();
        try {
          const res = await runCli([...target.args, '--json', '--yes', 'restore', archive]);
          assert.equal(res.code, 0, res.stdout + res.stderr);
          assert.equal(res.json.files, 3);
          const at = (rel: string) => path.join(target.root, rel);
          for (const p of placed) assert.ok(fs.readFileSync(at(p.path)).equals(p.content), p.path);
          assert.equal(fs.statSync(at(placed[0]!.path)).ino, fs.statSync(at(placed[1]!.path)).ino, 'the pair shares one inode');
          assert.equal(fs.statSync(at(placed[0]!.path)).nlink, 2);
          assert.notEqual(fs.statSync(at(placed[2]!.path)).ino, fs.statSync(at(placed[0]!.path)).ino);
          const cd = await runCli([...target.args, '--json', 'stats', '--check-disk']);
          assert.equal(cd.code, 0, cd.stdout + cd.stderr);
          assert.deepEqual(cd.json.disk, { bytes: A.length + B.length, sharedGroups: 1, sharedFiles: 2, savedBytes: A.length }, 'the catalog counts the shared copy once');
          const v = await runCli([...target.args, '--json', 'verify']);
          assert.equal(v.code, 0, v.stdout + v.stderr);
        } finally {
          await target.dispose();
        }
      }
    });

    test('a restore killed midway and run again converges: the link is there, check-disk and verify exit 0', async () => {
      const points = d.name === 'sqlite' ? ['staged', 'moved-one', 'moved', 'imported'] : ['staged', 'moved'];
      for (const point of points) {
        const target = await d.makeStore();
        try {
          const killed = await runCli([...target.args, '--json', '--yes', 'restore', archives['tar.gz']!], { env: { STORECTL_TEST_CRASH_AT: point } });
          assert.notEqual(killed.code, 0, point);
          const rerun = await runCli([...target.args, '--json', '--yes', 'restore', archives['tar.gz']!]);
          assert.equal(rerun.code, 0, `${point}: ${rerun.stdout}${rerun.stderr}`);
          const at = (rel: string) => path.join(target.root, rel);
          for (const p of placed) assert.ok(fs.readFileSync(at(p.path)).equals(p.content), `${point}: ${p.path}`);
          assert.equal(fs.statSync(at(placed[0]!.path)).ino, fs.statSync(at(placed[1]!.path)).ino, `${point}: one inode`);
          assert.equal((await runCli([...target.args, '--json', 'stats', '--check-disk'])).code, 0, point);
          assert.equal((await runCli([...target.args, '--json', 'verify'])).code, 0, point);
        } finally {
          await target.dispose();
        }
      }
    });

    test('restore into an S3 store writes each name as its own object with the original bytes; verify exits 0', async () => {
      const s3 = await startS3();
      try {
        const dst = await makeS3Store(d, s3);
        try {
          const r = await dst.cli('restore', archives['tar.gz']!);
          assert.equal(r.code, 0, r.stdout + r.stderr);
          for (const p of placed) assert.ok((await readObject(dst.bucket, p.path)).equals(p.content), p.path);
          const v = await dst.cli('verify');
          assert.equal(v.code, 0, v.stdout + v.stderr);
        } finally {
          await dst.dispose();
        }
      } finally {
        await s3.dispose();
      }
    });
  });

  describe(`dedup on an S3 store: ${d.name}`, { skip: d.skip }, () => {
    let s3: S3Fixture;
    let store: Store;
    let dir: string;
    let db: string;
    let root: string;
    let bucket: BlobStore;
    const cli = (args: string[]) => runCli(['--root', root, '--database', db, '--json', ...args], { env: s3.env });
    before(async () => {
      s3 = await startS3();
      store = await d.makeStore();
      dir = tmpDir('storectl-dedup-s3-');
      db = store.databaseUrl || `sqlite:${path.join(dir, 'catalog.db')}`;
      root = await s3.newRoot();
      if (!store.databaseUrl) assert.equal((await cli(['migrate', '--create'])).code, 0);
      const gen = await cli(['generate', '--sample', '3', '--seed', '4', '--workers', '1']);
      assert.equal(gen.code, 0, gen.stdout + gen.stderr);
      bucket = await openBlobStore(root, () => s3.settings());
    });
    after(async () => {
      await bucket?.close();
      await store?.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
      await s3?.dispose();
    });

    test('dry run reports from the catalog; a real run is refused with one line (exit 2); the bucket is unchanged', async () => {
      // Two rows the catalog says hold the same content (the report reads the catalog only).
      const c = await openCatalog(parseDatabaseUrl(db, dir), { create: false, migrate: 'never' });
      try {
        const snap = await c.openSnapshot();
        const paths: string[] = [];
        try {
          for await (const page of snap.tableRows('files')) for (const f of page) if (f.state === 'present' && paths.length < 2) paths.push(String(f.path));
        } finally {
          await snap.close();
        }
        assert.equal(paths.length, 2);
        await sqlExec(c, `update files set sha256 = '${'ab'.repeat(32)}', size = 1234, owner = 's3o' where path in ('${paths[0]}', '${paths[1]}')`);
      } finally {
        await c.close();
      }
      const keys = async () => {
        const out: string[] = [];
        for await (const page of bucket.list()) for (const e of page) out.push(`${e.key}:${e.size}:${e.identity ?? ''}`);
        return out.sort();
      };
      const before = await keys();
      const dry = await cli(['dedup', '--dry-run']);
      assert.equal(dry.code, 0, dry.stdout + dry.stderr);
      assert.equal(dry.json.backend, 's3');
      assert.match(dry.json.reportOnly, /cannot share content by link/);
      assert.deepEqual(dry.json.plan, { groups: 1, files: 2, copies: 2, freeableBytes: 1234 });
      const real = await cli(['--yes', 'dedup']);
      assert.equal(real.code, 2, real.stdout + real.stderr);
      assert.equal(real.json.error.code, 'unsupported_backend');
      assert.match(real.json.error.message, /^dedup cannot link on an S3 store \(s3:\/\/.*\): objects in an S3 store cannot share content by link; nothing was changed$/);
      assert.deepEqual(await keys(), before, 'the bucket is unchanged');
    });
  });
}
