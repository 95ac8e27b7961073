// delete and cleanup-expired on an S3 store, through the one deletion engine (S3Target: HEAD
// re-checks, DeleteObjects batches, per-key results), end to end through the real bin/storectl
// against the loopback s3rver (or STORECTL_TEST_S3_ENDPOINT), on both dialects. Effects are read
// from the bucket (listed) and the catalog; a per-key DeleteObjects failure, which s3rver cannot
// produce, is shown in process with a store that fails chosen keys.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import type { Catalog } from '../src/db/catalog.ts';
import { openCatalog } from '../src/db/connect.ts';
import { parseDatabaseUrl } from '../src/db/url.ts';
import type { BlobStore, RemoveResult } from '../src/storage/blob.ts';
import { openBlobStore } from '../src/storage/open.ts';
import { resolveConfig } from '../src/config.ts';
import type { Context } from '../src/context.ts';
import { noProgress } from '../src/ui/progress.ts';
import { runDelete } from '../src/ops/access/delete.ts';
import { confineKey } from '../src/ops/lifecycle/s3-target.ts';
import { BIN, DIALECTS, REPO, runCli, tmpDir } from './helpers/env.ts';
import { sqlExec, sqlRows } from './helpers/cleanup-fixture.ts';
import { startS3, type S3Fixture } from './helpers/s3.ts';

let s3: S3Fixture;
before(async () => {
  s3 = await startS3();
});
after(async () => {
  await s3?.dispose();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PRODUCTION = ['queued', 'assigned', 'printing', 'processing', 'quality_check'];

async function keysOf(store: BlobStore): Promise<Set<string>> {
  const keys = new Set<string>();
  for await (const page of store.list()) for (const e of page) keys.add(e.key);
  return keys;
}

test('object keys are confined to the prefix: .., absolute, empty segments and .storectl/ refused', () => {
  assert.equal(confineKey('store/', 'cards/2026/01/01/j/front.png'), 'cards/2026/01/01/j/front.png');
  for (const bad of ['../x', 'cards/../../x', '/etc/passwd', 'cards//x', './x', '.storectl/catalog.db', 'a\\b', '']) {
    assert.throws(() => confineKey('store/', bad), /unsafe|absolute|'\.\.'|segment|reserved|backslash|empty/i, bad);
  }
  assert.throws(() => confineKey('store', 'x'), /not under the store's prefix/);
});

for (const d of DIALECTS) {
  describe(`delete and cleanup-expired on an S3 store: ${d.name}`, { skip: d.skip }, () => {
    let dispose: () => Promise<void>;
    let dir: string;
    let db: string;
    let root: string;
    let c: Catalog;
    let bucket: BlobStore;

    const cli = (args: string[], env: Record<string, string> = {}) => runCli(['--root', root, '--database', db, '--json', ...args], { env: { ...s3.env, ...env } });

    /** A fresh S3 store with a generated sample; sets root, db, c, bucket. */
    async function freshStore(sample: number, seed: number) {
      await bucket?.close();
      await c?.close();
      await dispose?.();
      const store = await d.makeStore();
      dir = tmpDir('storectl-s3-delete-');
      const localDir = dir;
      dispose = async () => {
        await store.dispose();
        fs.rmSync(localDir, { recursive: true, force: true });
      };
      db = store.databaseUrl || `sqlite:${path.join(dir, 'catalog.db')}`;
      root = await s3.newRoot();
      if (!store.databaseUrl) assert.equal((await cli(['migrate', '--create'])).code, 0);
      const gen = await cli(['generate', '--sample', String(sample), '--seed', String(seed), '--workers', '2']);
      assert.equal(gen.code, 0, gen.stdout + gen.stderr);
      c = await openCatalog(parseDatabaseUrl(db, dir), { create: false, migrate: 'never' });
      bucket = await openBlobStore(root, () => s3.settings());
    }

    /** Finished jobs with at least `min` present files. */
    async function finishedJobs(min = 1): Promise<string[]> {
      const out: string[] = [];
      for (const j of await c.jobPage({ limit: 1000 })) {
        if (PRODUCTION.includes(j.status)) continue;
        if ((await c.filesOfJob(j.id)).filter((f) => f.state === 'present').length >= min) out.push(j.id);
      }
      return out;
    }

    async function consistent() {
      const check = await cli(['stats', '--check-disk']);
      assert.equal(check.code, 0, check.stdout + check.stderr);
      const recount = await cli(['quota', 'recount']);
      assert.equal(recount.code, 0, recount.stdout + recount.stderr);
      assert.deepEqual(recount.json.corrected, [], 'no usage drift');
    }

    before(async () => {
      await freshStore(30, 21);
    });
    after(async () => {
      await bucket?.close();
      await c?.close();
      await dispose?.();
    });

    test('delete: dry run == real run; objects gone from the bucket, tombstones manual, show/get gone (exit 6), check-disk 0, no quota drift', async () => {
      const ids = (await finishedJobs(2)).slice(0, 4);
      assert.equal(ids.length, 4);
      const before = await keysOf(bucket);
      const dry = await cli(['delete', ...ids, '--dry-run', '--list']);
      assert.equal(dry.code, 0, dry.stdout + dry.stderr);
      const planned = new Set<string>(dry.json.list.map((x: { path: string }) => x.path));
      assert.ok(planned.size >= 8);
      for (const p of planned) assert.ok(before.has(p), `planned ${p} is in the bucket`);
      assert.deepEqual(await keysOf(bucket), before, 'the dry run changed nothing');
      const real = await cli(['delete', ...ids, '--yes', '--list']);
      assert.equal(real.code, 0, real.stdout + real.stderr);
      assert.deepEqual(new Set(real.json.list.map((x: { path: string }) => x.path)), planned, 'the real run deleted exactly the plan');
      assert.ok(real.json.list.every((x: { outcome: string }) => x.outcome === 'deleted'));
      const afterKeys = await keysOf(bucket);
      for (const k of before) assert.equal(afterKeys.has(k), !planned.has(k), k);
      for (const id of ids) {
        for (const f of await c.filesOfJob(id)) {
          assert.equal(f.state, 'deleted', f.path);
          assert.equal(f.deleteReason, 'manual');
          assert.ok(f.deletedAt);
        }
        const got = await cli(['get', id, (await c.filesOfJob(id))[0]!.role, '-o', path.join(dir, 'x.bin')]);
        assert.equal(got.code, 6, got.stdout + got.stderr);
        assert.equal(got.json.error.code, 'gone');
        const show = await cli(['show', id]);
        assert.equal(show.code, 0, show.stderr);
        assert.ok(show.json.jobs[0].files.every((f: { state: string }) => f.state === 'deleted'));
      }
      const events = await sqlRows<{ n: number }>(c, `select count(*) as n from events where action = 'delete' and reason = 'manual'`);
      assert.equal(Number(events[0]!.n), planned.size, 'one event per object');
      await consistent();
    });

    test('delete: an object altered in the bucket between plan and delete is kept and reported, its job kept whole', async () => {
      const [id] = await finishedJobs(2);
      const files = (await c.filesOfJob(id!)).filter((f) => f.state === 'present');
      const row = files[0]!;
      const pause = path.join(dir, 'pause-alter');
      const running = cli(['delete', id!, '--yes'], { STORECTL_TEST_PAUSE_AT: `deletion.apply:${pause}` });
      for (let i = 0; i < 1500 && !fs.existsSync(pause); i++) await sleep(20);
      assert.ok(fs.existsSync(pause), 'the run reached the point after its plan');
      // Same size, other bytes: only the ETag tells.
      const chunks: Buffer[] = [];
      for await (const ch of await bucket.get(row.path)) chunks.push(ch as Buffer);
      const altered = Buffer.concat(chunks);
      altered[altered.length - 1] = altered[altered.length - 1]! ^ 0xff;
      await bucket.put(row.path, altered);
      fs.rmSync(pause);
      const r = await running;
      assert.ok(r.json, r.stdout + r.stderr);
      assert.ok(r.json.changed.some((x: { path: string; reason: string }) => x.path === row.path), JSON.stringify(r.json.changed));
      const keys = await keysOf(bucket);
      for (const f of files) assert.ok(keys.has(f.path), `${f.path} kept (whole job)`);
      assert.ok((await c.filesOfJob(id!)).every((f) => f.state === 'present'), 'rows back to present');
      // Put the bytes back as the catalog has them, so the store stays consistent.
      const orig = Buffer.from(altered);
      orig[orig.length - 1] = orig[orig.length - 1]! ^ 0xff;
      await bucket.put(row.path, orig);
      await consistent();
    });

    test('delete: kill -9 after the intent and after the removal, then a rerun converges', async () => {
      for (const point of ['deletion.intent', 'deletion.removed']) {
        const ids = (await finishedJobs(1)).slice(0, 2);
        assert.equal(ids.length, 2);
        const paths = (await Promise.all(ids.map((id) => c.filesOfJob(id)))).flat().filter((f) => f.state === 'present').map((f) => f.path);
        const pause = path.join(dir, `pause-${point}`);
        const child = spawn(process.execPath, [BIN, '--root', root, '--database', db, '--yes', 'delete', ...ids], {
          cwd: REPO,
          stdio: 'ignore',
          env: { ...process.env, STORECTL_ROOT: '', STORECTL_DATABASE_URL: '', DATABASE_URL: '', ...s3.env, STORECTL_TEST_PAUSE_AT: `${point}:${pause}` },
        });
        const exited = new Promise((r) => child.on('exit', r));
        for (let i = 0; i < 1500 && !fs.existsSync(pause); i++) await sleep(20);
        assert.ok(fs.existsSync(pause), `reached ${point}`);
        child.kill('SIGKILL');
        await exited;
        fs.rmSync(pause, { force: true });
        const left = await sqlRows<{ n: number }>(c, `select count(*) as n from files where state = 'deleting'`);
        assert.equal(Number(left[0]!.n), paths.length, `${point}: rows left 'deleting'`);
        const keys = await keysOf(bucket);
        for (const p of paths) assert.equal(keys.has(p), point === 'deletion.intent', `${point}: ${p}`);
        const rerun = await cli(['--yes', 'delete', ...ids]);
        assert.equal(rerun.code, 0, rerun.stdout + rerun.stderr);
        const after = await keysOf(bucket);
        for (const p of paths) assert.ok(!after.has(p), p);
        for (const id of ids) for (const f of await c.filesOfJob(id)) {
          assert.equal(f.state, 'deleted');
          assert.match(f.deleteReason ?? '', /^manual/);
        }
        await consistent();
      }
    });

    test('delete: --max-delete caps, a second run waits on the lock (exit 75)', async () => {
      const ids = (await finishedJobs(2)).slice(0, 2);
      const before = await keysOf(bucket);
      const capped = await cli(['delete', ...ids, '--yes', '--max-delete', '1']);
      assert.equal(capped.code, 2, capped.stdout + capped.stderr);
      assert.equal(capped.json.error.code, 'guard_max_delete');
      const pause = path.join(dir, 'pause-lock');
      const holder = cli(['delete', ids[0]!, '--yes'], { STORECTL_TEST_PAUSE_AT: `deletion.apply:${pause}` });
      for (let i = 0; i < 1500 && !fs.existsSync(pause); i++) await sleep(20);
      const second = await cli(['delete', ids[1]!, '--yes']);
      assert.equal(second.code, 75, second.stdout + second.stderr);
      fs.rmSync(pause);
      assert.equal((await holder).code, 0);
      const after = await keysOf(bucket);
      const files1 = await c.filesOfJob(ids[1]!);
      for (const f of files1) assert.ok(after.has(f.path), 'the refused run removed nothing');
      assert.ok(after.size < before.size);
      await consistent();
    });

    test('a DeleteObjects per-key failure: that row back to present with a delete_failed event, exit 3, the rest deleted', async () => {
      const [id] = await finishedJobs(2);
      const files = (await c.filesOfJob(id!)).filter((f) => f.state === 'present');
      const failKey = files[0]!.path;
      const cfg = resolveConfig({ root, database: db }, { ...process.env, ...s3.env, STORECTL_ROOT: '', STORECTL_DATABASE_URL: '' }, dir);
      const real = await openBlobStore(root, () => s3.settings());
      const failing: BlobStore = Object.assign(Object.create(real) as BlobStore, {
        async removeMany(keys: readonly string[]): Promise<RemoveResult[]> {
          const ok = await real.removeMany(keys.filter((k) => k !== failKey));
          const byKey = new Map(ok.map((r) => [r.key, r]));
          return keys.map((k) => (k === failKey ? { key: k, ok: false, error: 'AccessDenied: Access Denied' } : byKey.get(k)!));
        },
      });
      const catalog = await openCatalog(parseDatabaseUrl(db, dir), { create: false, migrate: 'never' });
      const log = { debug() {}, info() {}, warn() {}, error() {}, bind() {} };
      const ctx: Context = { catalog, store: failing, blobs: undefined as never, config: cfg, clock: () => new Date(), log, progress: noProgress, runId: null as never };
      try {
        const report = await runDelete(ctx, { ids: [id!] }, { dryRun: false, list: true, force: false, waitMs: 0, allowEmptyRoot: false, confirm: async () => true });
        assert.deepEqual(report.failed.map((f) => [f.path, f.reason]), [[failKey, 'AccessDenied: Access Denied']]);
      } finally {
        await catalog.close();
        await real.close();
      }
      const keys = await keysOf(bucket);
      for (const f of await c.filesOfJob(id!)) {
        if (f.path === failKey) {
          assert.equal(f.state, 'present');
          assert.ok(keys.has(f.path));
        } else {
          assert.equal(f.state, 'deleted');
          assert.ok(!keys.has(f.path));
        }
      }
      const ev = await sqlRows<{ reason: string }>(c, `select reason from events where action = 'delete_failed' and path = '${failKey}'`);
      assert.equal(ev.length, 1);
      assert.match(ev[0]!.reason, /^manual: AccessDenied/);
      await consistent();
    });

    test('cleanup-expired: dry run == real run on S3; objects gone, tombstones with the rule, check-disk 0, no drift', async () => {
      await freshStore(40, 33);
      // Make every finished job old enough for its rule.
      const old = d.name === 'sqlite' ? String(Date.parse('2020-01-01T00:00:00Z')) : `'2020-01-01T00:00:00.000Z'`;
      await sqlExec(c, `update jobs set updated_at = ${old}, completed_at = ${old} where status in ('completed', 'failed')`);
      const before = await keysOf(bucket);
      const dry = await cli(['cleanup-expired', '--dry-run', '--list']);
      assert.equal(dry.code, 0, dry.stdout + dry.stderr);
      const planned = new Map<string, string>(dry.json.list.map((x: { path: string; rule: string }) => [x.path, x.rule]));
      assert.ok(planned.size > 0, 'something is due');
      assert.deepEqual(await keysOf(bucket), before);
      const real = await cli(['cleanup-expired', '--yes', '--list']);
      assert.equal(real.code, 0, real.stdout + real.stderr);
      assert.deepEqual(new Map(real.json.list.map((x: { path: string; rule: string }) => [x.path, x.rule])), planned);
      const after = await keysOf(bucket);
      for (const k of before) assert.equal(after.has(k), !planned.has(k), k);
      const rows = await sqlRows<{ path: string; state: string; delete_reason: string | null }>(c, `select path, state, delete_reason from files`);
      for (const r of rows) {
        if (planned.has(r.path)) assert.deepEqual([r.state, r.delete_reason], ['deleted', `expired: rule ${planned.get(r.path)}`]);
        else assert.equal(r.state, 'present', r.path);
      }
      await consistent();
      const again = await cli(['cleanup-expired', '--dry-run']);
      assert.equal(again.json.plan.files, 0, 'nothing left to do');
    });

    test('cleanup-orphaned on S3: an orphan older than the grace age removed, a young one kept, dry run == real run; with --quarantine DIR written into DIR first', async () => {
      const old = 'cards/2020/01/01/no-such-job/old-orphan.png';
      const young = 'temp/young-orphan.bin';
      await bucket.put(old, Buffer.from('old orphan bytes'));
      await sleep(31_000);
      await bucket.put(young, Buffer.from('young orphan'));
      const dry = await cli(['cleanup-orphaned', '--dry-run', '--min-age', '30s']);
      assert.equal(dry.code, 0, dry.stdout + dry.stderr);
      assert.deepEqual(dry.json.orphans.paths, [old]);
      assert.equal(dry.json.young, 1);
      const real = await cli(['cleanup-orphaned', '--yes', '--min-age', '30s', '--list']);
      assert.equal(real.code, 0, real.stdout + real.stderr);
      assert.deepEqual(real.json.orphans.paths, [old]);
      assert.equal(real.json.result.deleted, 1);
      const keys = await keysOf(bucket);
      assert.ok(!keys.has(old), 'the old orphan is gone');
      assert.ok(keys.has(young), 'the young one is kept');
      const ev = await sqlRows<{ n: number }>(c, `select count(*) as n from events where action = 'delete_orphan' and path = '${old}'`);
      assert.equal(Number(ev[0]!.n), 1);

      // --quarantine DIR: each orphan is written into DIR byte for byte (never over an earlier
      // quarantined file: the newcomer is NAME.1), then removed from the bucket.
      const aside = 'cards/2020/01/02/no-such-job/aside-orphan.bin';
      const asideBytes = randomBytes(70_000);
      await bucket.put(aside, asideBytes);
      await sleep(2_000);
      const qdir = path.join(dir, 'q');
      fs.mkdirSync(path.join(qdir, 'cards/2020/01/02/no-such-job'), { recursive: true });
      fs.writeFileSync(path.join(qdir, aside), 'an earlier quarantined file of that name');
      const q = await cli(['cleanup-orphaned', '--yes', '--min-age', '1s', '--quarantine', qdir]);
      assert.equal(q.code, 0, q.stdout + q.stderr);
      assert.equal(q.json.result.moved, 2, 'the aside orphan and the (now old) young one');
      assert.ok(fs.readFileSync(path.join(qdir, `${aside}.1`)).equals(asideBytes));
      assert.equal(fs.readFileSync(path.join(qdir, aside), 'utf8'), 'an earlier quarantined file of that name');
      assert.ok(fs.readFileSync(path.join(qdir, young)).equals(Buffer.from('young orphan')));
      assert.equal(fs.statSync(path.join(qdir, young)).mode & 0o777, 0o600);
      assert.deepEqual(fs.readdirSync(path.join(qdir, 'cards/2020/01/02/no-such-job')).sort(), ['aside-orphan.bin', 'aside-orphan.bin.1'], 'no partial file left');
      const after = await keysOf(bucket);
      assert.ok(!after.has(aside) && !after.has(young), 'moved out of the bucket');
      const qev = await sqlRows<{ n: number }>(c, `select count(*) as n from events where action = 'quarantine_orphan' and path in ('${aside}', '${young}')`);
      assert.equal(Number(qev[0]!.n), 2);
      await consistent();
    });

    test('cleanup-orphaned on S3 plans from the listing: an orphan replaced (same size, other bytes) after the plan is kept and reported, the other removed', async () => {
      const a = 'cards/2020/02/01/no-such-job/a.png';
      const b = 'cards/2020/02/01/no-such-job/b.png';
      await bucket.put(a, Buffer.from('orphan a bytes'));
      await bucket.put(b, Buffer.from('orphan b bytes'));
      await sleep(1_100);
      const pause = path.join(dir, 'pause-orphan');
      const running = cli(['cleanup-orphaned', '--yes', '--min-age', '1s', '--list'], { STORECTL_TEST_PAUSE_AT: `orphans.planned:${pause}` });
      for (let i = 0; i < 1500 && !fs.existsSync(pause); i++) await sleep(20);
      assert.ok(fs.existsSync(pause), 'the run reached the point after its plan');
      await bucket.put(a, Buffer.from('orphan A BYTES'));
      fs.rmSync(pause);
      const r = await running;
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual(r.json.orphans.paths, [a, b]);
      assert.deepEqual(r.json.changed.map((x: { path: string }) => x.path), [a], JSON.stringify(r.json.changed));
      assert.match(r.json.changed[0].reason, /replaced since planning/);
      assert.equal(r.json.result.deleted, 1);
      const keys = await keysOf(bucket);
      assert.ok(keys.has(a) && !keys.has(b), 'the replaced orphan kept, the other gone');
      const chunks: Buffer[] = [];
      for await (const ch of await bucket.get(a)) chunks.push(ch as Buffer);
      assert.equal(Buffer.concat(chunks).toString(), 'orphan A BYTES', 'the new object untouched');
      await bucket.remove(a);
      await consistent();
    });

    test('an empty bucket listing beside a catalog with present rows: delete and cleanup-expired refuse (exit 2), nothing changed', async () => {
      const present = await sqlRows<{ n: number }>(c, `select count(*) as n from files where state = 'present'`);
      assert.ok(Number(present[0]!.n) > 0);
      const keys = await keysOf(bucket);
      for (const k of keys) assert.ok((await bucket.remove(k)).ok);
      const ids = await finishedJobs(1);
      for (const args of [['cleanup-expired', '--yes'], ['cleanup-expired', '--dry-run'], ['delete', ids[0]!, '--yes']]) {
        const r = await cli(args);
        assert.equal(r.code, 2, r.stdout + r.stderr);
        assert.equal(r.json.error.code, 'guard_empty_root');
        assert.match(r.json.error.message, /bucket listing under s3:\/\/.* is empty/);
      }
      const after = await sqlRows<{ n: number }>(c, `select count(*) as n from files where state = 'present'`);
      assert.equal(Number(after[0]!.n), Number(present[0]!.n));
    });
  });
}
