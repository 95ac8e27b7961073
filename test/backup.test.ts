// backup and restore end to end: the real bin/storectl, both dialects and across them.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import { STORE_LOCK } from '../src/db/catalog.ts';
import path from 'node:path';
import zlib from 'node:zlib';
import tarStream from 'tar-stream';
import type { Catalog } from '../src/db/catalog.ts';
import { openCatalog } from '../src/db/connect.ts';
import { schemaVersion } from '../src/db/migrations.ts';
import { parseDatabaseUrl } from '../src/db/url.ts';
import { LocalBlobStore } from '../src/storage/blobstore.ts';
import { cardFilePath, contentTypeOf } from '../src/storage/layout.ts';
import { readArchive } from '../src/ops/backup/archive-reader.ts';
import { DIALECTS, REPO, runCli as runBin, tmpDir, type CliResult, type DialectFixture, type Store } from './helpers/env.ts';
import { runMain } from './helpers/run-main.ts';
import { CATALOG_SCHEMA, pgQuery } from './helpers/pg.ts';

/** In process (the round trip and the crash tests spawn the bin). */
const runCli = runMain;

const T0 = new Date('2026-10-01T08:00:00.000Z');
const sqlite = DIALECTS.find((d) => d.name === 'sqlite')!;
const postgres = DIALECTS.find((d) => d.name === 'postgres')!;
const stores: Store[] = [];

async function newStore(d: DialectFixture, migrate = true): Promise<Store> {
  const s = await d.makeStore({ migrate });
  stores.push(s);
  return s;
}

after(async () => {
  for (const s of stores) await s.dispose().catch(() => {});
});

/** A small store with every kind of row and file the archive must carry. */
async function fillStore(store: Store): Promise<void> {
  const c = await store.open();
  try {
    const blobs = new LocalBlobStore(store.root);
    await c.importTables(
      [{ table: 'images', batches: [[{ id: 1, source: 'legacy', sourceKey: 'k', sourceIndex: 0, owner: 'acme', originalPath: 'uploads/a.png', originalBytes: 300, originalFormat: 'png', format: 'webp', width: 2, height: 2, bytes: 256, quality: 80, sha256: 'cd'.repeat(32), data: Buffer.from(Array.from({ length: 256 }, (_, i) => i)), createdAt: T0 }]] }],
      { replace: false },
    );
    const longJob = `job-${'x'.repeat(110)}`;
    const jobIds = ['job-001', 'job-002', 'job-003', longJob];
    await c.insertJobs(jobIds.map((id, i) => ({ id, owner: i % 2 ? 'globex' : 'acme', status: 'completed', data: { holderName: `Zoë ${i}` }, createdAt: new Date(T0.getTime() + i * 86_400_000), filesState: 'on_disk' })));
    for (const [i, id] of jobIds.entries()) {
      const createdAt = new Date(T0.getTime() + i * 86_400_000);
      const roles = id === 'job-003' ? ['front.png'] : ['front.png', 'back.png', 'combined.pdf'];
      const files = roles.map((role) => {
        const rel = cardFilePath(id, createdAt, role);
        const data = randomBytes(500 + i * 300);
        blobs.put(rel, data);
        return { jobId: id, role, category: 'cards', owner: 'acme', path: rel, contentType: contentTypeOf(rel), size: data.length, sha256: sha(data), createdAt };
      });
      await c.recordGeneration(id, files, { generatorVersion: 't' }, createdAt);
    }
    const text = Buffer.from('{"rows":[1,2,3]}\n'.repeat(200));
    blobs.put('exports/report_job-001_20261001_080000.json', text);
    blobs.put('temp/Zoë notes.txt', Buffer.from('hello\n'));
    await c.insertFiles([
      { jobId: 'job-001', role: 'export', category: 'exports', path: 'exports/report_job-001_20261001_080000.json', contentType: 'application/json', size: text.length, sha256: sha(text), createdAt: T0 },
      { jobId: null, role: 'note', category: 'temp', path: 'temp/Zoë notes.txt', contentType: 'text/plain', size: 6, sha256: sha(Buffer.from('hello\n')), createdAt: T0 },
      { jobId: 'job-002', role: 'old.png', category: 'cards', path: 'cards/2026/10/02/job-002/old.png', contentType: 'image/png', size: 9, sha256: 'ab'.repeat(32), createdAt: T0, state: 'deleted', deletedAt: T0, deleteReason: 'expired' },
    ]);
    await c.startRun({ id: 'run-1', command: 'cleanup', args: { dryRun: false }, dryRun: false, status: 'ok', exitCode: 0, user: 'u', host: 'h', pid: 1, startedAt: T0, finishedAt: T0, totals: { deleted: 1, bytes: 9 } });
    await c.addEvents([{ runId: 'run-1', at: T0, action: 'delete', path: 'cards/2026/10/02/job-002/old.png', jobId: 'job-002', bytes: 9, reason: 'expired' }]);
  } finally {
    await c.close();
  }
}

function sha(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Every data file under root (not .storectl/), path -> SHA-256. */
function treeHashes(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const d of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${d.name}` : d.name;
      if (!rel && d.name === '.storectl') continue;
      if (d.isDirectory()) walk(p);
      else out[p] = sha(fs.readFileSync(path.join(root, p)));
    }
  };
  if (fs.existsSync(root)) walk('');
  return out;
}

const ROW_TABLES = ['jobs', 'files', 'runs', 'images'] as const;

async function stats(store: Store): Promise<object> {
  const r = await runCli([...store.args, 'stats', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const { catalog, root, generatedAt, ...rest } = r.json;
  void catalog, void root, void generatedAt;
  return rest;
}

async function rowsOf(store: Store, table: 'jobs' | 'files' | 'runs' | 'images'): Promise<unknown[]> {
  const c: Catalog = await store.open();
  try {
    const snap = await c.openSnapshot();
    const out: unknown[] = [];
    for await (const page of snap.tableRows(table)) out.push(...page);
    await snap.close();
    return out;
  } finally {
    await c.close();
  }
}

/** The target is as it was: no data files, nothing staged, an empty catalog. */
async function assertUntouched(store: Store): Promise<void> {
  assert.deepEqual(treeHashes(store.root), {});
  const reserved = path.join(store.root, '.storectl');
  const left = fs.existsSync(reserved) ? fs.readdirSync(reserved).filter((n) => n.startsWith('restore')) : [];
  assert.deepEqual(left, [], 'no staging or marker left behind');
  const c = await openCatalog(parseDatabaseUrl(store.databaseUrl || undefined, store.root), { create: true, migrate: 'never' });
  try {
    // A catalog without tables yet is as empty as one with empty tables.
    const counts = await c.tableCounts().catch(() => ({ jobs: 0, files: 0, runs: 0, events: 0, images: 0, quotas: 0 }));
    assert.deepEqual(counts, { jobs: 0, files: 0, runs: 0, events: 0, images: 0, quotas: 0 });
  } finally {
    await c.close();
  }
}

async function backup(store: Store, out: string, ...extra: string[]) {
  return runCli([...store.args, '--json', 'backup', '--output', out, ...extra]);
}

async function restore(store: Store, archive: string, ...extra: string[]) {
  return runCli([...store.args, '--json', 'restore', archive, ...extra]);
}

interface RawEntry {
  name: string;
  data: Buffer;
  type?: 'file' | 'symlink' | 'link';
  linkname?: string;
}

async function readEntries(archive: string): Promise<RawEntry[]> {
  const out: RawEntry[] = [];
  for await (const e of readArchive(archive)) {
    const parts: Buffer[] = [];
    for await (const c of e.chunks()) parts.push(c);
    out.push({ name: e.name, data: Buffer.concat(parts) });
  }
  return out;
}

/** Writes entries as a tar.gz with tar-stream (an independent writer, able to write links). */
async function writeTarGz(file: string, entries: RawEntry[]): Promise<void> {
  const pack = tarStream.pack();
  const out = fs.createWriteStream(file);
  const done = new Promise<void>((resolve, reject) => out.on('finish', () => resolve()).on('error', reject));
  pack.pipe(zlib.createGzip()).pipe(out);
  for (const e of entries) {
    if (e.type && e.type !== 'file') pack.entry({ name: e.name, type: e.type, linkname: e.linkname });
    else pack.entry({ name: e.name, size: e.data.length, mode: 0o600 }, e.data);
  }
  pack.finalize();
  await done;
}

/** Rewrites the manifest summary so its recorded list hash matches an edited file list. */
function resealList(entries: RawEntry[]): void {
  const list = entries.find((e) => e.name === 'manifest-files.ndjson')!;
  const summary = entries.find((e) => e.name === 'manifest-summary.json')!;
  const s = JSON.parse(summary.data.toString());
  s.filesListSha256 = sha(list.data);
  summary.data = Buffer.from(JSON.stringify(s));
}

for (const d of DIALECTS) {
  describe(`backup and restore: ${d.name}`, { skip: d.skip }, () => {
    let source: Store;
    let work: string;
    let archive: string;
    // The source as the round trip's backup snapshot saw it.
    let archivedStats: object | undefined;
    before(async () => {
      source = await newStore(d);
      await fillStore(source);
      work = tmpDir('storectl-backup-test-');
      archive = path.join(work, 'store.tar.gz');
    });
    after(() => fs.rmSync(work, { recursive: true, force: true }));

    test('round trip: restore gives identical stats, rows and file hashes', async () => {
      // The store as the backup's snapshot sees it: the backup's own runs row is written after it.
      archivedStats = await stats(source);
      const archivedRows = Object.fromEntries(await Promise.all(ROW_TABLES.map(async (t) => [t, await rowsOf(source, t)] as const)));
      const b = await runBin([...source.args, '--json', 'backup', '--output', archive]);
      assert.equal(b.code, 0, b.stderr);
      assert.equal(b.json.files, 12);
      assert.deepEqual(b.json.tables, { jobs: 4, files: 13, runs: 1, events: 1, images: 1, quotas: 0 });
      assert.equal(fs.statSync(archive).mode & 0o777, 0o600);
      assert.deepEqual(fs.readdirSync(work), ['store.tar.gz'], 'no temporary files left beside the archive');

      const v = await runCli(['--json', 'restore', archive, '--verify-only']);
      assert.equal(v.code, 0, v.stdout);
      assert.equal(v.json.ok, true);

      const target = await newStore(d, false);
      const r = await runBin([...target.args, '--json', 'restore', archive]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(r.json.files, 12);
      assert.deepEqual(treeHashes(target.root), treeHashes(source.root));
      assert.deepEqual(await stats(target), archivedStats);
      for (const t of ROW_TABLES) assert.deepEqual(await rowsOf(target, t), archivedRows[t], t);
      for (const t of ROW_TABLES.filter((x) => x !== 'runs')) assert.deepEqual(await rowsOf(source, t), archivedRows[t], `${t}: the source is unchanged by its backup`);
      // The source gained exactly its backup's record, after the snapshot.
      const sourceRuns = (await rowsOf(source, 'runs')) as Record<string, unknown>[];
      assert.equal(sourceRuns.length, archivedRows.runs!.length + 1);
      const recorded = sourceRuns.find((r) => r.command === 'backup')!;
      const totals = typeof recorded.totals === 'string' ? JSON.parse(recorded.totals) : recorded.totals;
      assert.equal(totals.path, archive);
      const someFile = Object.keys(treeHashes(target.root))[0]!;
      assert.equal(fs.statSync(path.join(target.root, someFile)).mode & 0o777, 0o600);
      assert.equal(fs.statSync(path.join(target.root, 'cards')).mode & 0o777, 0o750);
      assert.deepEqual(fs.readdirSync(path.join(target.root, '.storectl')).filter((n) => n.startsWith('restore')), []);
    });

    test('a non-empty target is refused without --force; --force needs --yes without a TTY, then replaces', async () => {
      const refused = await restore(source, archive);
      assert.equal(refused.code, 2);
      assert.equal(refused.json.error.code, 'target_not_empty');
      const noYes = await restore(source, archive, '--force');
      assert.equal(noYes.code, 2);
      assert.equal(noYes.json.error.code, 'confirmation_required');
      const before = treeHashes(source.root);
      const forced = await runCli([...source.args, '--json', '--yes', 'restore', archive, '--force']);
      assert.equal(forced.code, 0, forced.stdout);
      assert.equal(forced.json.replaced, true);
      assert.deepEqual(treeHashes(source.root), before);
      assert.equal(((await rowsOf(source, 'files')) as unknown[]).length, 13);
    });

    test('corrupt archives are refused with exit 4 and the target untouched', async () => {
      const entries = await readEntries(archive);
      const fileIdx = entries.findIndex((e) => e.name.endsWith('front.png'));
      const cases: [string, (es: RawEntry[]) => void][] = [
        ['flipped byte in a file', (es) => void (es[fileIdx]!.data[10] = es[fileIdx]!.data[10]! ^ 0xff)],
        [
          'manifest that disagrees',
          (es) => {
            const list = es.find((e) => e.name === 'manifest-files.ndjson')!;
            const lines = list.data.toString().split('\n');
            const f = JSON.parse(lines[1]!);
            f.sha256 = '0'.repeat(64);
            lines[1] = JSON.stringify(f);
            list.data = Buffer.from(lines.join('\n'));
            resealList(es);
          },
        ],
        ['entry ../../etc/x', (es) => void es.splice(fileIdx, 0, { name: 'files/../../etc/x', data: Buffer.from('x') })],
        ['absolute entry', (es) => void es.splice(fileIdx, 0, { name: '/tmp/storectl-evil', data: Buffer.from('x') })],
        ['symlink entry', (es) => void es.splice(fileIdx, 0, { name: 'files/cards/evil', data: Buffer.alloc(0), type: 'symlink', linkname: '/etc/passwd' })],
        ['hard link entry', (es) => void es.splice(fileIdx, 0, { name: 'files/cards/evil', data: Buffer.alloc(0), type: 'link', linkname: 'files/cards/x' })],
        ['an entry the manifest does not list', (es) => void es.splice(es.length - 2, 0, { name: 'files/zzz/extra.png', data: Buffer.from('x') })],
      ];
      const target = await newStore(d, false);
      const bads: string[] = [];
      for (const [i, [what, mutate]] of cases.entries()) {
        const copy = entries.map((e) => ({ ...e, data: Buffer.from(e.data) }));
        mutate(copy);
        const bad = path.join(work, `bad-${i}.tar.gz`);
        bads.push(bad);
        await writeTarGz(bad, copy);
        const r = await restore(target, bad);
        assert.equal(r.code, 4, `${what}: ${r.stdout}`);
        assert.equal(r.json.error.code, 'integrity', what);
        assert.ok(!r.json.error.message.includes('\n'), 'one line');
        await assertUntouched(target);
      }
      if (d.name === 'sqlite') {
        // --verify-only opens no store: the same verdicts, whatever the dialect.
        const verdicts = await Promise.all(bads.map((bad) => runCli(['restore', bad, '--verify-only'])));
        for (const [i, v] of verdicts.entries()) {
          assert.equal(v.code, 4, `${cases[i]![0]} (verify-only)`);
          assert.match(v.stderr, /^storectl: error: archive .* is corrupt: /);
        }
      }
      assert.ok(!fs.existsSync(path.resolve(target.root, '../../etc/x')));

      const raw = fs.readFileSync(archive);
      const truncated = path.join(work, 'truncated.tar.gz');
      fs.writeFileSync(truncated, raw.subarray(0, raw.length - 300));
      const flipped = path.join(work, 'flipped.tar.gz');
      const f = Buffer.from(raw);
      const mid = Math.floor(f.length / 2);
      f[mid] = f[mid]! ^ 0x01;
      fs.writeFileSync(flipped, f);
      for (const bad of [truncated, flipped]) {
        const r = await restore(target, bad);
        assert.equal(r.code, 4, `${path.basename(bad)}: ${r.stdout}`);
        await assertUntouched(target);
      }
    });

    test('a file changed or gone on disk after its row was written is reported, not archived as good', async () => {
      const s = await newStore(d);
      await fillStore(s);
      const rels = Object.keys(treeHashes(s.root)).filter((p) => p.endsWith('.png'));
      fs.writeFileSync(path.join(s.root, rels[0]!), randomBytes(fs.statSync(path.join(s.root, rels[0]!)).size));
      const out = path.join(work, 'changed.tar.gz');
      const r = await backup(s, out);
      assert.equal(r.code, 4, r.stdout);
      assert.equal(r.json.skipped.mismatched, 1);
      assert.equal(r.json.skipped.sample[0].path, rels[0]);
      assert.equal(r.json.files, 11);
      const names = (await readEntries(out)).map((e) => e.name);
      assert.ok(!names.includes(`files/${rels[0]}`), 'the changed file is not in the archive');

      fs.rmSync(path.join(s.root, rels[0]!));
      const gone = await backup(s, out);
      assert.equal(gone.code, 3, gone.stdout);
      assert.equal(gone.json.skipped.vanished, 1);
      // The archive is still good: it restores, and says what it lacks.
      const target = await newStore(d, false);
      const rr = await restore(target, out);
      assert.equal(rr.code, 0, rr.stdout);
      assert.equal(rr.json.skippedAtBackup[0].path, rels[0]);
    });

    test('killed while committing, a rerun finishes the restore', async () => {
      const want = archivedStats;
      assert.ok(want, 'the round trip test took the archived stats');
      const points = d.name === 'sqlite' ? ['staged', 'moved-one', 'moved', 'imported'] : ['staged', 'moved'];
      for (const point of points) {
        const target = await newStore(d, false);
        const killed = await runCli([...target.args, 'restore', archive], { env: { STORECTL_TEST_CRASH_AT: point } });
        assert.notEqual(killed.code, 0, point);
        if (point === 'staged') assert.deepEqual(treeHashes(target.root), {}, 'nothing moved before the commit began');
        else assert.ok(fs.existsSync(path.join(target.root, '.storectl', 'restore.json')), `${point}: marked incomplete`);
        const rerun = await restore(target, archive);
        assert.equal(rerun.code, 0, `${point}: ${rerun.stdout}`);
        assert.equal(rerun.json.resumed, point !== 'staged');
        assert.deepEqual(treeHashes(target.root), treeHashes(source.root), point);
        assert.deepEqual(await stats(target), want, point);
        assert.ok(!fs.existsSync(path.join(target.root, '.storectl', 'restore.json')));
      }
    });

    test('restore trusts nothing: each file against its own row, paths safe, the path set exact, constraints checked', async () => {
      const entries = await readEntries(archive);
      const fileIdx = entries.findIndex((e) => e.name.endsWith('front.png'));
      const rel = entries[fileIdx]!.name.slice('files/'.length);
      const editTable = (es: RawEntry[], table: string, edit: (lines: string[]) => string[]) => {
        const e = es.find((x) => x.name === `catalog/${table}.ndjson`)!;
        const lines = edit(e.data.toString().split('\n').filter(Boolean));
        e.data = Buffer.from(lines.map((l) => l + '\n').join(''));
        const summary = es.find((x) => x.name === 'manifest-summary.json')!;
        const sum = JSON.parse(summary.data.toString());
        sum.tables[table] = { rows: lines.length, bytes: e.data.length, sha256: sha(e.data) };
        summary.data = Buffer.from(JSON.stringify(sum));
      };
      const cases: [string, (es: RawEntry[]) => void, RegExp][] = [
        [
          'a file edited and the manifest rewritten to match it',
          (es) => {
            const f = es[fileIdx]!;
            f.data = Buffer.from(f.data);
            f.data[20] = f.data[20]! ^ 0xff;
            const list = es.find((e) => e.name === 'manifest-files.ndjson')!;
            list.data = Buffer.from(
              list.data
                .toString()
                .split('\n')
                .map((l) => (l && JSON.parse(l).path === rel ? JSON.stringify({ path: rel, size: f.data.length, sha256: sha(f.data) }) : l))
                .join('\n'),
            );
            resealList(es);
          },
          /is not the file its catalog row describes/,
        ],
        ['a present row with ..', (es) => editTable(es, 'files', (ls) => ls.map((l) => (JSON.parse(l).path === rel ? l.replace(JSON.stringify(rel), JSON.stringify(`../${rel}`)) : l))), /unsafe path "\.\.\//],
        [
          'a deleted row with an absolute path',
          (es) => editTable(es, 'files', (ls) => ls.map((l) => (JSON.parse(l).state === 'deleted' ? l.replace(/"path":"[^"]*"/, '"path":"/etc/passwd"') : l))),
          /unsafe path "\/etc\/passwd"/,
        ],
        ['two jobs rows with the same id', (es) => editTable(es, 'jobs', (ls) => [...ls, ls[0]!]), /cannot be imported/],
        [
          'a present row whose file is neither archived nor listed as not archived',
          (es) => editTable(es, 'files', (ls) => [...ls, JSON.stringify({ ...JSON.parse(ls[0]!), id: 999, path: 'cards/2026/10/01/ghost/front.png' })]),
          /present files, the archive holds|have no file in the archive/,
        ],
      ];
      const target = await newStore(d, false);
      for (const [i, [what, mutate, why]] of cases.entries()) {
        const copy = entries.map((e) => ({ ...e, data: Buffer.from(e.data) }));
        mutate(copy);
        const bad = path.join(work, `trust-${i}.tar.gz`);
        await writeTarGz(bad, copy);
        for (const args of [['--verify-only'], []]) {
          const r = await restore(target, bad, ...args);
          assert.equal(r.code, 4, `${what} ${args}: ${r.stdout}`);
          assert.equal(r.json.error.code, 'integrity', what);
          assert.match(r.json.error.message, why, what);
          assert.match(r.json.error.message, new RegExp(`archive ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
          await assertUntouched(target);
        }
      }
    });

    test('every corruption of the gzip or tar stream exits 4 naming the archive; nothing restored', async () => {
      const raw = fs.readFileSync(archive);
      const target = await newStore(d, false);
      const bad = path.join(work, 'fuzz.tar.gz');
      const variants: [string, Buffer][] = [];
      for (let k = 1; k < 12; k++) variants.push([`truncated at ${k}/12`, raw.subarray(0, Math.floor((raw.length * k) / 12))]);
      for (let k = 0; k < 12; k++) {
        const f = Buffer.from(raw);
        const at = 10 + Math.floor(((raw.length - 30) * k) / 12);
        f[at] = f[at]! ^ 0x5a;
        variants.push([`byte ${at} flipped`, f]);
      }
      // A tar header declaring an 8 GiB file (checksum fixed), gzipped again.
      const tar = zlib.gunzipSync(raw);
      let off = 0;
      while (!tar.toString('utf8', off, off + 100).startsWith('files/')) off += 512 + Math.ceil(parseInt(tar.toString('ascii', off + 124, off + 136).trim(), 8) / 512) * 512;
      tar.write('100000000000\0', off + 124, 'ascii');
      tar.fill(' ', off + 148, off + 156);
      let sum = 0;
      for (let b = off; b < off + 512; b++) sum += tar[b]!;
      tar.write(sum.toString(8).padStart(6, '0') + '\0 ', off + 148, 'ascii');
      variants.push(['a header declaring 8 GiB', zlib.gzipSync(tar)]);
      for (const [what, data] of variants) {
        fs.writeFileSync(bad, data);
        const r = await restore(target, bad);
        if (r.code === 0) {
          // A flipped byte in gzip's header fields (mtime, OS) changes nothing that matters.
          assert.match(what, /flipped/);
          assert.ok(!(r.stdout + r.stderr).includes('error'));
          fs.rmSync(target.root, { recursive: true, force: true });
          fs.mkdirSync(target.root);
          continue;
        }
        assert.equal(r.code, 4, `${what}: ${r.stdout}`);
        assert.equal(r.json.error.code, 'integrity', what);
        assert.match(r.json.error.message, /^archive .*fuzz\.tar\.gz is corrupt: /, what);
        assert.match(r.json.error.hint, /nothing was restored/);
        await assertUntouched(target);
      }
    });

    test("a target database holding another application's tables is refused before anything moves", async () => {
      const target = await newStore(d, false);
      const c = await openCatalog(parseDatabaseUrl(target.databaseUrl || undefined, target.root), { create: true, migrate: 'never' });
      await c.migrate().catch(() => {});
      await c.close();
      if (d.name === 'sqlite') {
        const { default: Database } = await import('better-sqlite3');
        const db = new Database(path.join(target.root, '.storectl', 'catalog.db'));
        db.exec('create table app_users (id integer primary key, name text)');
        db.close();
      } else {
        // PostgreSQL: storectl's catalog is its schema; a table there that is not storectl's.
        await pgQuery(target.databaseUrl, `create table ${CATALOG_SCHEMA}.app_users (id integer primary key, name text)`);
      }
      const r = await restore(target, archive);
      assert.equal(r.code, 2, r.stdout);
      assert.equal(r.json.error.code, 'target_foreign_tables');
      assert.match(r.json.error.message, /not storectl's \(app_users\)/);
      assert.deepEqual(treeHashes(target.root), {});
      const reserved = path.join(target.root, '.storectl');
      assert.deepEqual(fs.existsSync(reserved) ? fs.readdirSync(reserved).filter((n) => n.startsWith('restore')) : [], []);
    });

    if (d.name === 'postgres') {
      test("the application's own tables beside storectl's schema (its events, jobs, images in public) neither block a restore nor are touched by it", async () => {
        const target = await newStore(d, false);
        await pgQuery(
          target.databaseUrl,
          `create table events (id serial primary key, what text); insert into events (what) values ('signup'), ('login');
           create table jobs (id text primary key, title text); insert into jobs values ('j1', 'hire');
           create table images (id integer primary key, photo text); insert into images values (1, 'a.png');`,
        );
        const before = await pgQuery(target.databaseUrl, `select (select json_agg(e order by id) from public.events e) as events, (select json_agg(j) from public.jobs j) as jobs, (select json_agg(i) from public.images i) as images`);
        const r = await restore(target, archive);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const after = await pgQuery(target.databaseUrl, `select (select json_agg(e order by id) from public.events e) as events, (select json_agg(j) from public.jobs j) as jobs, (select json_agg(i) from public.images i) as images`);
        assert.deepEqual(after, before);
        const restored = await pgQuery<{ n: number }>(target.databaseUrl, `select count(*)::int as n from ${CATALOG_SCHEMA}.files`);
        assert.ok(restored[0]!.n > 0);
        const stats = await runCli([...target.args, '--json', 'stats', '--check-disk']);
        assert.equal(stats.code, 0, stats.stdout + stats.stderr);
        assert.ok(stats.json.usage.files > 0, 'the restored store is consistent and holds files');
        await target.dispose();
      });
    }

    test('restore takes the store lock (exit 75 while it is held); a pipe is refused as not seekable', async () => {
      const target = await newStore(d, true);
      const c = await target.open();
      const release = await c.acquireLock(STORE_LOCK, { holder: { pid: process.pid, host: os.hostname(), command: 'cleanup-expired', runId: 'held' } });
      try {
        const r = await restore(target, archive);
        assert.equal(r.code, 75, r.stdout);
        assert.equal(r.json.error.code, 'locked');
        assert.deepEqual(treeHashes(target.root), {});
      } finally {
        await release();
        await c.close();
      }
      const fifo = path.join(work, 'pipe.tar.gz');
      spawnSync('mkfifo', [fifo]);
      const p = await restore(target, fifo);
      assert.equal(p.code, 2, p.stdout);
      assert.equal(p.json.error.code, 'archive_not_seekable');
      assert.match(p.json.error.message, /is a pipe: restore needs a regular, seekable file/);
      const ok = await restore(target, archive);
      assert.equal(ok.code, 0, ok.stdout);
    });
  });
}

describe('backup and restore across dialects', { skip: postgres.skip }, () => {
  test('SQLite -> PostgreSQL -> SQLite keeps stats, rows and file hashes (zip on one leg)', async () => {
    const work = tmpDir('storectl-cross-');
    try {
      const a = await newStore(sqlite);
      await fillStore(a);
      const b = await newStore(postgres, false);
      const c = await newStore(sqlite, false);
      // As each backup's snapshot sees its store (a backup's own runs row is written after it).
      const sa = await stats(a);
      const rowsA = Object.fromEntries(await Promise.all(ROW_TABLES.map(async (t) => [t, await rowsOf(a, t)] as const)));
      assert.equal((await backup(a, path.join(work, 'a.tar.gz'))).code, 0);
      const r1 = await restore(b, path.join(work, 'a.tar.gz'));
      assert.equal(r1.code, 0, r1.stdout);
      assert.equal(r1.json.source.dialect, 'sqlite');
      assert.deepEqual(await stats(b), sa);
      for (const t of ROW_TABLES) assert.deepEqual(await rowsOf(b, t), rowsA[t], `${t} on PostgreSQL`);
      assert.equal((await backup(b, path.join(work, 'b.zip'))).code, 0);
      const r2 = await restore(c, path.join(work, 'b.zip'));
      assert.equal(r2.code, 0, r2.stdout);
      assert.equal(r2.json.format, 'zip');
      assert.equal(r2.json.source.dialect, 'postgres');
      assert.deepEqual(await stats(c), sa);
      assert.deepEqual(treeHashes(c.root), treeHashes(a.root));
      assert.deepEqual(treeHashes(b.root), treeHashes(a.root));
      for (const t of ROW_TABLES) assert.deepEqual(await rowsOf(c, t), rowsA[t], `${t} back on SQLite`);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});

describe('backup options and archive versions', () => {
  let source: Store;
  let work: string;
  before(async () => {
    source = await newStore(sqlite);
    await fillStore(source);
    work = tmpDir('storectl-backup-opts-');
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  test('--dir names backups by UTC time; --keep prunes the oldest', async () => {
    const dir = path.join(work, 'backups');
    for (let i = 0; i < 3; i++) {
      const r = await runCli([...source.args, '--json', 'backup', '--dir', dir, '--keep', '2', '--metadata-only']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(path.basename(r.json.path), /^storectl-backup-\d{8}T\d{6}Z(-\d+)?\.tar\.gz$/);
      if (i === 2) assert.equal(r.json.pruned.length, 1);
    }
    assert.equal(fs.readdirSync(dir).length, 2);
    const usage = await runCli([...source.args, 'backup', '--output', 'x.tar.gz', '--keep', '2']);
    assert.equal(usage.code, 2);
  });

  test('--metadata-only carries the catalog and no files', async () => {
    const out = path.join(work, 'meta.zip');
    const r = await runCli([...source.args, '--json', 'backup', '--output', out, '--metadata-only']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.format, 'zip');
    assert.equal(r.json.files, 0);
    const names = (await readEntries(out)).map((e) => e.name);
    assert.ok(!names.some((n) => n.startsWith('files/')));
    const target = await newStore(sqlite, false);
    const rr = await restore(target, out);
    assert.equal(rr.code, 0, rr.stdout);
    assert.deepEqual(treeHashes(target.root), {});
    assert.equal(((await rowsOf(target, 'files')) as unknown[]).length, 13);
  });

  test('--dry-run changes nothing', async () => {
    const out = path.join(work, 'full.tar.gz');
    assert.equal((await backup(source, out)).code, 0);
    const target = await newStore(sqlite, false);
    const r = await restore(target, out, '--dry-run');
    assert.equal(r.code, 0, r.stdout);
    assert.equal(r.json.dryRun, true);
    assert.equal(r.json.files, 12);
    await assertUntouched(target);
  });

  test('a newer archive format or schema is refused naming both versions; an older schema is restored and migrated', async () => {
    const out = path.join(work, 'v.tar.gz');
    assert.equal((await backup(source, out)).code, 0);
    const entries = await readEntries(out);
    const target = await newStore(sqlite, false);
    for (const [field, value, pattern] of [
      ['format', 99, /backup format 99 .* reads format 2 and older/],
      ['schemaVersion', 42, new RegExp(`schema version 42; this storectl .* knows schema version ${schemaVersion('sqlite')}`)],
    ] as const) {
      const copy = entries.map((e) => ({ ...e }));
      const head = JSON.parse(copy[0]!.data.toString());
      head[field] = value;
      copy[0]!.data = Buffer.from(JSON.stringify(head));
      const bad = path.join(work, 'newer.tar.gz');
      await writeTarGz(bad, copy);
      const r = await runCli([...target.args, 'restore', bad]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, pattern);
      await assertUntouched(target);
    }
    // An older schema: version 0 and a dump without a column added later (owner on files).
    const copy = entries.map((e) => ({ ...e }));
    const head = JSON.parse(copy[0]!.data.toString());
    head.schemaVersion = 0;
    copy[0]!.data = Buffer.from(JSON.stringify(head));
    const filesTable = copy.find((e) => e.name === 'catalog/files.ndjson')!;
    filesTable.data = Buffer.from(
      filesTable.data
        .toString()
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          const { owner, ...rest } = JSON.parse(l);
          void owner;
          return JSON.stringify(rest) + '\n';
        })
        .join(''),
    );
    const summary = copy.find((e) => e.name === 'manifest-summary.json')!;
    const s = JSON.parse(summary.data.toString());
    s.tables.files.sha256 = sha(filesTable.data);
    summary.data = Buffer.from(JSON.stringify(s));
    const older = path.join(work, 'older.tar.gz');
    await writeTarGz(older, copy);
    const r = await restore(target, older);
    assert.equal(r.code, 0, r.stdout);
    assert.equal(r.json.migratedFrom, 0);
    const files = (await rowsOf(target, 'files')) as { owner: string }[];
    assert.equal(files.length, 13);
    assert.ok(files.every((f) => f.owner === ''), 'the column the old schema lacked takes its default');
  });
});
