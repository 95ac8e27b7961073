// PostgreSQL killed in the middle of cleanup-expired, cleanup-orphaned and restore: one line,
// exit 1 (failed), nothing deleted without its row marked 'deleting' (or, for an orphan, without
// its intent event), and a rerun once the server is back converges: stats --check-disk exit 0,
// no file lost that was not due, a restore finished. On a cluster of the test's own (never the
// shared one on 5432).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { openCatalog } from '../src/db/connect.ts';
import type { Catalog } from '../src/db/catalog.ts';
import { parseDatabaseUrl } from '../src/db/url.ts';
import { cardFilePath } from '../src/storage/layout.ts';
import pg from 'pg';
import { runCli, tmpDir } from './helpers/env.ts';
import { startCluster, unavailable, type ScratchCluster } from './helpers/pg-cluster.ts';

const skip = unavailable();
if (skip && process.env.CI) throw new Error(`CI: the PostgreSQL fault tests cannot run: ${skip}`);

const D = 86_400_000;
/** Completed card jobs (due: completed-cards), 3 files each: about 6 batches of the engine, more than it keeps in hand. */
const DUE_JOBS = 4000;
/** Printed card jobs and fresh temp files: never due. */
const KEPT_JOBS = 20;
const KEPT_TEMP = 30;
const ORPHANS = 4500;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function put(root: string, rel: string, data: Buffer, mtime?: Date): void {
  const abs = path.join(root, rel);
  fs.mkdirSync(path.dirname(abs), { recursive: true, mode: 0o750 });
  fs.writeFileSync(abs, data, { mode: 0o600 });
  if (mtime) fs.utimesSync(abs, mtime, mtime);
}

const onDisk = (root: string, rel: string) => fs.existsSync(path.join(root, rel));

async function tableRows(c: Catalog, table: 'files' | 'events'): Promise<Record<string, any>[]> {
  const snap = await c.openSnapshot();
  const out: Record<string, any>[] = [];
  for await (const page of snap.tableRows(table)) out.push(...(page as Record<string, any>[]));
  await snap.close();
  return out;
}

/** Runs storectl paused at `point`, kills the server there, lets the run go on: its result. */
async function killAt(cluster: ScratchCluster, point: string, flagDir: string, args: string[]) {
  const flag = path.join(flagDir, `paused-${point}`);
  let ended: Awaited<ReturnType<typeof runCli>> | undefined;
  const running = runCli(args, { env: { STORECTL_TEST_PAUSE_AT: `${point}:${flag}` } }).then((r) => (ended = r));
  const started = Date.now();
  while (!fs.existsSync(flag)) {
    if (ended) throw new Error(`${point} was never reached: exit ${ended.code}: ${ended.stdout}${ended.stderr}`);
    if (Date.now() - started > 120_000) throw new Error(`${point} was never reached`);
    await new Promise((r) => setTimeout(r, 20));
  }
  cluster.kill();
  await new Promise((r) => setTimeout(r, 300));
  fs.rmSync(flag);
  try {
    return await running;
  } catch (err) {
    cluster.start();
    throw err;
  }
}

function assertOneLine(r: { code: number; stdout: string; stderr: string }, line: RegExp): void {
  assert.equal(r.code, 1, `stdout: ${r.stdout.slice(0, 2000)}\nstderr: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, line);
  assert.doesNotMatch(r.stderr, /Unhandled|at .*\.[jt]s:\d+|node:events/);
}

describe('PostgreSQL killed mid-run during cleanup', { skip }, () => {
  let cluster: ScratchCluster;
  let root: string;
  let work: string;
  let db: string;
  const due: string[] = [];
  const kept: string[] = [];
  const orphans: string[] = [];

  before(async () => {
    cluster = startCluster();
    db = cluster.url;
    root = tmpDir();
    work = tmpDir();
    const c = await openCatalog(parseDatabaseUrl(db, root), { create: false, migrate: 'never', storeRoot: { root, countFiles: () => 0 } });
    await c.migrate();
    const now = Date.now();
    const old = new Date(now - 3 * D);
    const jobs = [];
    const files = [];
    for (let i = 0; i < DUE_JOBS + KEPT_JOBS; i++) {
      const id = `c-${String(i).padStart(5, '0')}`;
      const keep = i >= DUE_JOBS;
      jobs.push({ id, kind: 'card', owner: 'acme', status: keep ? 'printed' : 'completed', data: {}, createdAt: old, updatedAt: old, completedAt: keep ? null : old, filesState: 'on_disk' });
      for (const role of ['front.png', 'back.png', 'combined.pdf']) {
        const rel = cardFilePath(id, old, role);
        const data = randomBytes(48);
        put(root, rel, data);
        files.push({ jobId: id, role, category: 'cards', owner: 'acme', path: rel, contentType: 'application/octet-stream', size: data.length, sha256: sha(data), createdAt: old });
        (keep ? kept : due).push(rel);
      }
    }
    for (let i = 0; i < KEPT_TEMP; i++) {
      const rel = `temp/fresh/t-${i}.tmp`;
      const data = randomBytes(32);
      put(root, rel, data);
      files.push({ jobId: null, role: 'upload', category: 'temp', owner: 'acme', path: rel, contentType: 'application/octet-stream', size: data.length, sha256: sha(data), createdAt: new Date(now) });
      kept.push(rel);
    }
    await c.insertJobs(jobs);
    for (let i = 0; i < files.length; i += 1000) await c.insertFiles(files.slice(i, i + 1000));
    await c.close();
  });
  after(() => {
    cluster?.dispose();
    for (const d of [root, work]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  test('cleanup-expired: killed after its first batch, one line, exit 1; every file gone has its row marked; a rerun converges', async () => {
    const args = ['--root', root, '--database', db, '--yes', 'cleanup-expired'];
    const r = await killAt(cluster, 'delete-batch', work, args);
    cluster.start();
    assertOneLine(r, /^storectl: error: cleanup-expired stopped after deleting \d+ files \(\d+ bytes\), each recorded: .*PostgreSQL/);
    assert.match(r.stderr, /marked 'deleting' in the catalog: run cleanup-expired again/);

    const c = await openCatalog(parseDatabaseUrl(db, root), { create: false, migrate: 'never' });
    try {
      const rows = new Map((await tableRows(c, 'files')).map((f) => [f.path as string, f]));
      let gone = 0;
      let deleted = 0;
      for (const rel of due) {
        const row = rows.get(rel)!;
        if (!onDisk(root, rel)) {
          gone++;
          assert.ok(row.state === 'deleting' || row.state === 'deleted', `${rel} was deleted with its row ${row.state}`);
        }
        if (row.state === 'deleted') {
          deleted++;
          assert.ok(!onDisk(root, rel), `${rel} tombstoned but still on disk`);
        }
      }
      // The tombstones are committed without waiting for the WAL flush (pg.ts finishDeletions):
      // a server killed at once may lose the last ones, never the intent, so `deleted` may be 0.
      assert.ok(gone >= 1, 'the run had deleted files before the kill');
      assert.ok(gone < due.length, `the run was cut off mid-way (${gone} of ${due.length} gone, ${deleted} tombstoned)`);
      for (const rel of kept) {
        assert.ok(onDisk(root, rel), `${rel} was not due`);
        assert.equal(rows.get(rel)!.state, 'present');
      }
      const events = (await tableRows(c, 'events')).filter((e) => e.action === 'delete');
      assert.equal(events.length, deleted, 'one event per tombstone');
    } finally {
      await c.close();
    }

    const again = await runCli(['--json', ...args]);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    const c2 = await openCatalog(parseDatabaseUrl(db, root), { create: false, migrate: 'never' });
    try {
      const rows = new Map((await tableRows(c2, 'files')).map((f) => [f.path as string, f]));
      for (const rel of due) {
        assert.equal(rows.get(rel)!.state, 'deleted', rel);
        assert.ok(!onDisk(root, rel), rel);
      }
      for (const rel of kept) {
        assert.equal(rows.get(rel)!.state, 'present', rel);
        assert.ok(onDisk(root, rel), rel);
      }
      // A file the killed run unlinked is finished by the rerun as gone (delete_missing).
      const events = (await tableRows(c2, 'events')).filter((e) => e.action === 'delete' || e.action === 'delete_missing');
      assert.equal(new Set(events.map((e) => e.path)).size, due.length, 'every due file has its delete event');
      assert.equal(events.length, due.length, 'and only one');
    } finally {
      await c2.close();
    }
    const check = await runCli(['--root', root, '--database', db, '--json', 'stats', '--check-disk']);
    assert.equal(check.code, 0, check.stdout + check.stderr);
  });

  test('cleanup-orphaned: killed after its first batch, one line, exit 1; every orphan gone has its intent event; a rerun converges', async () => {
    const old = new Date(Date.now() - 2 * D);
    for (let i = 0; i < ORPHANS; i++) {
      const rel = `uploads/stray/${String(i % 9)}/o-${String(i).padStart(5, '0')}.bin`;
      put(root, rel, randomBytes(16), old);
      orphans.push(rel);
    }
    const args = ['--root', root, '--database', db, '--yes', 'cleanup-orphaned', '--max-delete', '100%'];
    const r = await killAt(cluster, 'orphans-batch', work, args);
    cluster.start();
    assertOneLine(r, /^storectl: error: cleanup-orphaned stopped after deleting \d+ orphans \(\d+ bytes\), each recorded: .*PostgreSQL/);
    assert.match(r.stderr, /intent event in the catalog: run cleanup-orphaned again/);

    const c = await openCatalog(parseDatabaseUrl(db, root), { create: false, migrate: 'never' });
    try {
      const events = await tableRows(c, 'events');
      const intents = new Set(events.filter((e) => e.action === 'delete_orphan_intent').map((e) => e.path));
      const recorded = new Set(events.filter((e) => e.action === 'delete_orphan').map((e) => e.path));
      const gone = orphans.filter((rel) => !onDisk(root, rel));
      assert.ok(gone.length >= 1 && gone.length < ORPHANS, `the run was cut off mid-way (${gone.length} of ${ORPHANS} gone)`);
      for (const rel of gone) assert.ok(intents.has(rel), `${rel} deleted without its intent event`);
      for (const rel of recorded) assert.ok(!onDisk(root, rel), `${rel} recorded deleted but on disk`);
      for (const rel of kept) assert.ok(onDisk(root, rel), `${rel} has a row: never an orphan`);
    } finally {
      await c.close();
    }

    const again = await runCli(['--json', ...args]);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    for (const rel of orphans) assert.ok(!onDisk(root, rel), rel);
    for (const rel of kept) assert.ok(onDisk(root, rel), rel);
    const c2 = await openCatalog(parseDatabaseUrl(db, root), { create: false, migrate: 'never' });
    try {
      const events = await tableRows(c2, 'events');
      const intents = new Set(events.filter((e) => e.action === 'delete_orphan_intent').map((e) => e.path));
      for (const rel of orphans) assert.ok(intents.has(rel), `${rel}: no intent event`);
    } finally {
      await c2.close();
    }
    const check = await runCli(['--root', root, '--database', db, '--json', 'stats', '--check-disk']);
    assert.equal(check.code, 0, check.stdout + check.stderr);
  });

  test('restore into PostgreSQL: killed after the files moved, one line, exit 1; the same restore again finishes it', async () => {
    const src = tmpDir();
    const target = tmpDir();
    try {
      assert.equal((await runCli(['--root', src, 'migrate', '--create'])).code, 0);
      const input = path.join(work, 'in');
      fs.mkdirSync(input, { recursive: true });
      for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(input, `f${i}.bin`), randomBytes(200 + i));
      const put = await runCli(['--root', src, '--json', 'put', ...fs.readdirSync(input).map((n) => path.join(input, n)), '--job', 'job-r']);
      assert.equal(put.code, 0, put.stdout + put.stderr);
      const archive = path.join(work, 'r.tar.gz');
      assert.equal((await runCli(['--root', src, 'backup', '--output', archive])).code, 0);
      const admin = new pg.Client({ connectionString: db });
      await admin.connect();
      await admin.query('create database restore_t');
      await admin.end();
      const tdb = db.replace(/\/storectl$/, '/restore_t');
      const args = ['--root', target, '--database', tdb, 'restore', archive];
      const r = await killAt(cluster, 'restore-moved', work, args);
      cluster.start();
      assertOneLine(r, /^storectl: error: restore stopped before importing the catalog: .*PostgreSQL.*; the files are in place in .* records the restore/);
      assert.match(r.stderr, /run the same restore again once the catalog is back/);
      const again = await runCli(['--json', ...args]);
      assert.equal(again.code, 0, again.stdout + again.stderr);
      assert.equal(again.json.resumed, true);
      assert.equal(again.json.files, 20);
      const check = await runCli(['--root', target, '--database', tdb, '--json', 'stats', '--check-disk']);
      assert.equal(check.code, 0, check.stdout + check.stderr);
      const listing = (root: string) =>
        Object.fromEntries(
          (fs.readdirSync(root, { recursive: true }) as string[])
            .filter((p) => !p.startsWith('.storectl') && fs.statSync(path.join(root, p)).isFile())
            .map((p) => [p, sha(fs.readFileSync(path.join(root, p)))]),
        );
      assert.deepEqual(listing(target), listing(src));
    } finally {
      for (const d of [src, target]) fs.rmSync(d, { recursive: true, force: true });
    }
  });
});
