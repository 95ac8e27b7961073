// Every command that changes the store takes the one store lock. The commands are enumerated
// from the command tree (each that records a run, offers --dry-run, or says it changes the
// store: migrate, quota), and every other command is named read-only here: a new command that
// is in neither list, or a changing one without a case or without the lock, fails this file. Each exits 75 while another run
// holds the lock; dry runs do not wait for it.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { Command } from 'commander';
import { STORE_LOCK } from '../src/db/catalog.ts';
import { COMMANDS } from '../src/commands/index.ts';
import { DIALECTS, runCli, tmpDir, type Store } from './helpers/env.ts';

/** The commands that change the store, read from their definitions. */
const CHANGING = COMMANDS.filter((c) => c.recordRun || c.changesStore || c.options(new Command(c.name)).options.some((o) => o.long === '--dry-run'))
  .map((c) => c.name)
  .sort();

/** The commands that only read the store (or do not open one): they take no lock. */
const READ_ONLY = ['completion', 'config', 'export', 'get', 'jobs', 's3-lifecycle', 'show', 'stats', 'url'];

interface Setup {
  work: string;
  photos: string;
  archive: string;
  jobId: string;
  appDb: string;
}

/** For each changing command, the arguments of a real (changing) run (several for a command whose actions change it). */
const CHANGING_RUNS: Record<string, (s: Setup) => string[] | string[][]> = {
  generate: () => ['generate', '--sample', '1', '--seed', '9', '--workers', '1'],
  delete: (s) => ['--yes', 'delete', s.jobId],
  'cleanup-expired': () => ['--yes', 'cleanup-expired'],
  'cleanup-orphaned': () => ['--yes', 'cleanup-orphaned'],
  backup: (s) => ['backup', '--output', path.join(s.work, 'locked.tar.gz')],
  restore: (s) => ['--yes', 'restore', s.archive, '--force'],
  verify: (s) => ['verify', '--repair-from', s.archive],
  put: (s) => ['put', path.join(s.photos, 'a.jpg'), '--job', 'upload-1'],
  dedup: () => ['--yes', 'dedup'],
  'migrate-images-to-db': (s) => ['migrate-images-to-db', '--from-dir', s.photos],
  'migrate-store': (s) => ['--yes', 'migrate-store', '--to', path.join(s.work, 'moved')],
  // unlock does not take the lock: it refuses to break a live one (75) without --force.
  unlock: () => ['unlock'],
  tier: (s) => ['--yes', 'tier', s.jobId, '--compress'],
  migrate: () => ['migrate'],
  quota: () => [
    ['quota', 'set', 'acme', '--bytes', '1GB'],
    ['quota', 'unset', 'acme'],
    ['quota', 'recount'],
  ],
  'import-from-db': (s) => ['--yes', 'import-from-db', '--source-database', `sqlite:${s.appDb}`, '--table', 'scans', '--data-column', 'pages', '--role-map', '["scan.pdf"]', '--category', 'uploads'],
};

test('the store-lock cases cover every command that changes the store (from the command tree)', () => {
  assert.ok(CHANGING.length >= 10, CHANGING.join(' '));
  assert.deepEqual(Object.keys(CHANGING_RUNS).sort(), CHANGING, 'a command that changes the store needs a case in CHANGING_RUNS (and must take the store lock)');
  assert.deepEqual(
    COMMANDS.map((c) => c.name).filter((n) => !CHANGING.includes(n)).sort(),
    READ_ONLY,
    'a new command is either changing (recordRun, --dry-run or changesStore, and a case here) or named read-only here',
  );
});

for (const d of DIALECTS) {
  describe(`store lock across commands: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let photos: string;
    let jobIds: string[];
    before(async () => {
      store = await d.makeStore();
      const gen = await runCli([...store.args, '--json', 'generate', '--sample', '2', '--seed', '3', '--workers', '1']);
      assert.equal(gen.code, 0, gen.stderr);
      jobIds = (gen.json.rendered as { jobId: string }[]).map((j) => j.jobId);
      assert.ok(jobIds.length > 0);
      photos = tmpDir();
      await sharp({ create: { width: 64, height: 48, channels: 3, background: '#336699' } }).jpeg().toFile(path.join(photos, 'a.jpg'));
    });
    after(async () => {
      await store?.dispose();
      fs.rmSync(photos, { recursive: true, force: true });
    });

    test('every changing command exits 75 while the lock is held', async () => {
      const work = tmpDir();
      const archive = path.join(work, 'before.tar.gz');
      const b = await runCli([...store.args, '--json', 'backup', '--output', archive]);
      assert.equal(b.code, 0, b.stdout + b.stderr);
            const appDb = path.join(work, 'app.db');
      const app = new Database(appDb);
      app.exec(`create table scans (id integer primary key, pages BLOB)`);
      app.prepare(`insert into scans values (?, ?)`).run(1, Buffer.from('%PDF-1.4\n%%EOF\n'));
      app.close();
      const c = await store.open();
      const before = await c.tableCounts();
      const setup: Setup = { work, photos, archive, jobId: jobIds[0]!, appDb };
      const release = await c.acquireLock(STORE_LOCK, { holder: { pid: process.pid, host: os.hostname(), command: 'held-by-test', runId: 'held' } });
      try {
        for (const name of CHANGING) {
          const runs = CHANGING_RUNS[name]!(setup);
          for (const args of Array.isArray(runs[0]) ? (runs as string[][]) : [runs as string[]]) {
            const r = await runCli([...store.args, '--json', ...args]);
            assert.equal(r.code, 75, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
            assert.equal(r.json.error.code, 'locked', name);
            assert.match(r.json.error.message, /held-by-test/, name);
          }
        }
        // Nothing changed in the catalog while the lock was held (runs record the refusals only).
        const afterCounts = await c.tableCounts();
        for (const t of ['jobs', 'files', 'images', 'quotas'] as const) assert.equal(afterCounts[t], before[t], `rows of ${t}`);
        assert.ok(!fs.existsSync(path.join(work, 'locked.tar.gz')));
        assert.ok(!fs.existsSync(path.join(work, 'moved')) || fs.readdirSync(path.join(work, 'moved')).length === 0);
      } finally {
        await release();
        await c.close();
        fs.rmSync(work, { recursive: true, force: true });
      }
    });

    test('migrate and quota set/recount wait for the lock (--wait) and run once it is free', async () => {
      const c = await store.open();
      const release = await c.acquireLock(STORE_LOCK, { holder: { pid: process.pid, host: os.hostname(), command: 'cleanup-expired', runId: 'held' } });
      let released = false;
      const quotasBefore = (await c.tableCounts()).quotas;
      try {
        const m = await runCli([...store.args, '--json', 'migrate']);
        assert.equal(m.code, 75, m.stdout + m.stderr);
        assert.match(m.json.error.message, /cleanup-expired/);
        // status only reads: no lock
        const st = await runCli([...store.args, '--json', 'migrate', '--status']);
        assert.equal(st.code, 0, st.stdout + st.stderr);
        const show = await runCli([...store.args, '--json', 'quota', 'list']);
        assert.equal(show.code, 0, show.stdout + show.stderr);
        // --wait: the quota is set once the holder lets go
        const waiting = runCli([...store.args, '--json', 'quota', 'set', 'acme', '--bytes', '1GB', '--wait', '30']);
        await new Promise((r) => setTimeout(r, 1500));
        assert.equal((await c.tableCounts()).quotas, quotasBefore, 'nothing set while the lock is held');
        await release();
        released = true;
        const set = await waiting;
        assert.equal(set.code, 0, set.stdout + set.stderr);
      } finally {
        if (!released) await release();
      }
      try {
        assert.equal((await c.tableCounts()).quotas, quotasBefore + 1, 'the quota is set once the lock is free');
        const r = await runCli([...store.args, '--json', 'quota', 'recount']);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const m = await runCli([...store.args, '--json', 'migrate']);
        assert.equal(m.code, 0, m.stdout + m.stderr);
        assert.deepEqual(m.json.applied, []);
      } finally {
        await c.close();
      }
    });

    test('backup and migrate-images-to-db exit 75 while the lock is held, and run once it is free', async () => {
      const c = await store.open();
      const release = await c.acquireLock(STORE_LOCK, { holder: { pid: process.pid, host: os.hostname(), command: 'cleanup-expired', runId: 'held' } });
      const out = path.join(photos, 'b.tar.gz');
      try {
        const b = await runCli([...store.args, '--json', 'backup', '--output', out]);
        assert.equal(b.code, 75, b.stdout);
        assert.equal(b.json.error.code, 'locked');
        assert.match(b.json.error.message, /cleanup-expired/);
        assert.ok(!fs.existsSync(out));
        const m = await runCli([...store.args, '--json', 'migrate-images-to-db', '--from-dir', photos]);
        assert.equal(m.code, 75, m.stdout);
        const dry = await runCli([...store.args, '--json', 'migrate-images-to-db', '--from-dir', photos, '--dry-run']);
        assert.equal(dry.code, 0, dry.stdout + dry.stderr);
      } finally {
        await release();
        await c.close();
      }
      const b = await runCli([...store.args, '--json', 'backup', '--output', out]);
      assert.equal(b.code, 0, b.stdout + b.stderr);
      assert.ok(fs.existsSync(out));
      const m = await runCli([...store.args, '--json', 'migrate-images-to-db', '--from-dir', photos]);
      assert.equal(m.code, 0, m.stdout + m.stderr);
      assert.equal(m.json.migrated, 1);
    });
  });
}
