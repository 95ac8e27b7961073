// Tiers end to end through the real bin/storectl, on both dialects: transition rules move exactly
// the jobs they select (dry run == real run) from the hot root to a second local tree and to the
// loopback s3rver; every moved file reads back byte-identical (in its tier, and with get); stats
// per tier adds up; stats --check-disk and verify cover every tier; tier JOB --to hot brings a
// job back; delete removes a moved file from its tier; kill -9 at each step of a transition, then
// a rerun: nothing lost, each row's tier holds its file, no stray copy anywhere.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import type { Catalog } from '../src/db/catalog.ts';
import { iterateFiles } from '../src/db/catalog.ts';
import type { BlobStore } from '../src/storage/blob.ts';
import { openBlobStore } from '../src/storage/open.ts';
import { BIN, DIALECTS, REPO, runCli, tmpDir, type Store } from './helpers/env.ts';
import { startS3, type S3Fixture } from './helpers/s3.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let s3: S3Fixture;
before(async () => {
  s3 = await startS3();
});
after(async () => {
  await s3?.dispose();
});

async function readObject(store: BlobStore, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await store.get(key)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function listKeys(store: BlobStore): Promise<string[]> {
  const out: string[] = [];
  for await (const page of store.list()) out.push(...page.map((e) => e.key));
  return out.sort();
}

function treeFiles(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  return (fs.readdirSync(root, { recursive: true, encoding: 'utf8' }) as string[])
    .map((p) => p.split(path.sep).join('/'))
    .filter((p) => !p.startsWith('.storectl') && fs.lstatSync(path.join(root, p)).isFile())
    .sort();
}

interface TierStore {
  store: Store;
  c: Catalog;
  warm: string;
  coldUrl: string;
  cold: BlobStore;
  config: string;
  /** Every generated file's bytes by path, read from the hot tree before anything moved. */
  original: Map<string, Buffer>;
  cli(args: string[], env?: Record<string, string>): ReturnType<typeof runCli>;
  dispose(): Promise<void>;
}

const RULES = [
  { id: 'cards-to-warm', action: 'transition', to: 'warm', kind: 'card', statuses: ['completed'], ageFrom: 'created_at', age: '0' },
  { id: 'exports-to-cold', action: 'transition', to: 'cold', kind: 'export', statuses: ['completed'], ageFrom: 'created_at', age: '0' },
  { id: 'printed-to-cold', action: 'transition', to: 'cold', kind: 'card', statuses: ['printed'], ageFrom: 'created_at', age: '0' },
];

async function makeTierStore(d: (typeof DIALECTS)[number], rules: object[] = RULES): Promise<TierStore> {
  const store = await d.makeStore();
  const dir = tmpDir('storectl-tiers-');
  const warm = path.join(dir, 'warm');
  const coldUrl = await s3.newRoot();
  const config = path.join(dir, 'storectl.config.json');
  // Nothing else is due: the delete rules are off, so only the transition rules act.
  fs.writeFileSync(config, JSON.stringify({ tiers: { warm, cold: { url: coldUrl, storageClass: 'STANDARD_IA' } }, cleanup: { replaceDefaults: true, rules } }));
  const cli = (args: string[], env: Record<string, string> = {}) => runCli([...store.args, '--config', config, '--json', ...args], { env: { ...s3.env, ...env } });
  const g = await cli(['generate', '--sample', '24', '--seed', '11']);
  assert.equal(g.code, 0, g.stdout + g.stderr);
  const original = new Map<string, Buffer>();
  for (const p of treeFiles(store.root)) original.set(p, fs.readFileSync(path.join(store.root, p)));
  const c = await store.open();
  const cold = await openBlobStore(coldUrl, () => s3.settings());
  return {
    store,
    c,
    warm,
    coldUrl,
    cold,
    config,
    original,
    cli,
    async dispose() {
      await cold.close();
      await c.close();
      await store.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The invariant after any run, crashed or not: every present row's file is in the tier the row
 * names with its original bytes. `finished`: nothing is in flight and no copy is anywhere else.
 */
async function checkTiers(t: TierStore, opts: { finished: boolean }): Promise<Map<string, string>> {
  const tierOf = new Map<string, string>();
  const hot = new Set(treeFiles(t.store.root));
  const warm = new Set(treeFiles(t.warm));
  const cold = new Set(await listKeys(t.cold));
  for await (const f of iterateFiles(t.c)) {
    if (f.state !== 'present') continue;
    tierOf.set(f.path, f.tier);
    const want = t.original.get(f.path);
    assert.ok(want, `a generated file: ${f.path}`);
    const got = f.tier === 'hot' ? fs.readFileSync(path.join(t.store.root, f.path)) : f.tier === 'warm' ? fs.readFileSync(path.join(t.warm, f.path)) : await readObject(t.cold, f.path);
    assert.equal(sha(got), sha(want), `${f.path} reads back from tier ${f.tier} byte-identical`);
    assert.equal(f.sha256, sha(want));
    if (opts.finished) {
      assert.equal(f.tierTarget, null, `nothing in flight: ${f.path}`);
      assert.equal(hot.has(f.path), f.tier === 'hot', `${f.path} in the hot tree iff its row says hot`);
      assert.equal(warm.has(f.path), f.tier === 'warm', `${f.path} in the warm tree iff its row says warm`);
      assert.equal(cold.has(f.path), f.tier === 'cold', `${f.path} in the bucket iff its row says cold`);
    }
  }
  if (opts.finished) {
    // No stray copy: every file anywhere is a present row's file on that tier.
    for (const p of hot) assert.equal(tierOf.get(p), 'hot', `no stray in hot: ${p}`);
    for (const p of warm) assert.equal(tierOf.get(p), 'warm', `no stray in warm: ${p}`);
    for (const p of cold) assert.equal(tierOf.get(p), 'cold', `no stray in cold: ${p}`);
  }
  return tierOf;
}

for (const d of DIALECTS) {
  describe(`tiers: ${d.name}`, { skip: d.skip }, () => {
    const cleanups: (() => Promise<void>)[] = [];
    after(async () => {
      for (const f of cleanups) await f();
    });

    test('transition rules move exactly what the dry run lists, to a local tier and to S3; reads, stats, verify, check-disk, back to hot, delete', async () => {
      const t = await makeTierStore(d);
      cleanups.push(() => t.dispose());
      const jobs = (await t.cli(['jobs', '--limit', '1000'])).json.jobs as { id: string; kind: string; status: string }[];
      const expectTo = new Map<string, string>();
      for (const j of jobs) {
        if (j.kind === 'card' && j.status === 'completed') expectTo.set(j.id, 'warm');
        if (j.kind === 'export' && j.status === 'completed') expectTo.set(j.id, 'cold');
        if (j.kind === 'card' && j.status === 'printed') expectTo.set(j.id, 'cold');
      }
      assert.ok([...expectTo.values()].includes('warm') && [...expectTo.values()].includes('cold'), `the sample has jobs for both tiers: ${JSON.stringify([...expectTo])}`);

      const dry = await t.cli(['tier', '--dry-run', '--list']);
      assert.equal(dry.code, 0, dry.stdout + dry.stderr);
      const planned = (dry.json.list as { path: string; jobId: string; to: string }[]).map((x) => `${x.path} ${x.to}`).sort();
      const plannedJobs = new Set((dry.json.list as { jobId: string }[]).map((x) => x.jobId));
      assert.deepEqual([...plannedJobs].sort(), [...expectTo.keys()].sort(), 'the rules select exactly these jobs');
      for (const x of dry.json.list as { jobId: string; to: string }[]) assert.equal(x.to, expectTo.get(x.jobId));
      assert.deepEqual(treeFiles(t.warm), [], 'a dry run moves nothing');
      assert.deepEqual(await listKeys(t.cold), []);

      const real = await t.cli(['--yes', 'tier', '--list']);
      assert.equal(real.code, 0, real.stdout + real.stderr);
      const moved = (real.json.list as { path: string; to: string; outcome: string }[]).map((x) => `${x.path} ${x.to}`).sort();
      assert.deepEqual(moved, planned, 'dry run == real run');
      assert.equal(real.json.result.files, planned.length);
      assert.equal(real.json.result.leftoversRemoved, planned.length);

      const tierOf = await checkTiers(t, { finished: true });
      for (const [p, to] of moved.map((m) => m.split(' ') as [string, string])) assert.equal(tierOf.get(p), to, `${p} is on ${to}`);
      const [, runEvents] = [0, await t.c.eventsOfPaths(moved.map((m) => m.split(' ')[0]!))];
      assert.equal(runEvents.filter((e) => e.action === 'tier_move').length, moved.length, 'one event per moved file');

      // get reads from the tier: one file of each.
      const out = tmpDir('storectl-tiers-get-');
      for (const tier of ['warm', 'cold']) {
        const p = [...tierOf].find(([, x]) => x === tier)![0];
        const file = path.join(out, `${tier}.bin`);
        const g = await t.cli(['get', '--path', p, '-o', file]);
        assert.equal(g.code, 0, g.stdout + g.stderr);
        assert.ok(fs.readFileSync(file).equals(t.original.get(p)!), `get of a ${tier} file is byte-identical`);
      }
      fs.rmSync(out, { recursive: true, force: true });

      // stats per tier adds up.
      const st = await t.cli(['stats', '--check-disk']);
      assert.equal(st.code, 0, st.stdout + st.stderr);
      const byTier = new Map((st.json.tiers as { tier: string; files: number; bytes: number }[]).map((x) => [x.tier, x]));
      for (const tier of ['hot', 'warm', 'cold']) {
        const paths = [...tierOf].filter(([, x]) => x === tier).map(([p]) => p);
        assert.equal(byTier.get(tier)?.files ?? 0, paths.length, `stats files on ${tier}`);
        assert.equal(byTier.get(tier)?.bytes ?? 0, paths.reduce((a, p) => a + t.original.get(p)!.length, 0), `stats bytes on ${tier}`);
      }
      assert.equal([...byTier.values()].reduce((a, x) => a + x.files, 0), st.json.usage.files, 'the tiers add up to the present files');
      assert.equal(st.json.drift.missingFiles, 0, 'files on other tiers are not missing from the hot tree');
      assert.deepEqual(
        (st.json.tierDrift as { tier: string; listed: number; missingFiles: number; strayFiles: number }[]).map((x) => [x.tier, x.listed, x.missingFiles, x.strayFiles]),
        [
          ['warm', byTier.get('warm')!.files, 0, 0],
          ['cold', byTier.get('cold')!.files, 0, 0],
        ],
      );

      // verify reads every tier.
      const v = await t.cli(['verify']);
      assert.equal(v.code, 0, v.stdout + v.stderr);
      assert.equal(v.json.ok, tierOf.size);
      assert.equal(v.json.missing, 0);

      // check-disk sees a stray copy and a missing one on another tier (exit 4).
      const coldPath = [...tierOf].find(([, x]) => x === 'cold')![0];
      const warmPath = [...tierOf].find(([, x]) => x === 'warm')![0];
      const saved = fs.readFileSync(path.join(t.warm, warmPath));
      fs.rmSync(path.join(t.warm, warmPath));
      await t.cold.put('cards/stray/x.bin', Buffer.from('stray'));
      const bad = await t.cli(['stats', '--check-disk']);
      assert.equal(bad.code, 4, bad.stdout);
      const drift = new Map((bad.json.tierDrift as { tier: string; sample: { missing: string[]; strays: string[] } }[]).map((x) => [x.tier, x.sample]));
      assert.deepEqual(drift.get('warm')!.missing, [warmPath]);
      assert.deepEqual(drift.get('cold')!.strays, ['cards/stray/x.bin']);
      fs.writeFileSync(path.join(t.warm, warmPath), saved, { mode: 0o600 });
      await t.cold.remove('cards/stray/x.bin');

      // url: a cold file gets a presigned GET of its object in the cold bucket; a warm one is refused.
      const link = await t.cli(['url', '--path', coldPath, '--expires', '10m'], { STORECTL_URL_SECRET: 'a-secret-of-thirty-two-characters', STORECTL_URL_BASE: 'https://files.example.com/store' });
      if (link.code === 0) {
        assert.equal(link.json.backend, 's3');
        const res = await fetch(link.json.url);
        assert.equal(res.status, 200, link.json.url);
        assert.ok(Buffer.from(await res.arrayBuffer()).equals(t.original.get(coldPath)!), 'the presigned link serves the cold object');
      } else assert.match(link.stdout, /url\.(base|secret)/, `url refused only for the missing nginx settings: ${link.stdout}`);

      // backup archives the original bytes of every tier; restore puts them back on hot, byte-identical.
      const archive = path.join(tmpDir('storectl-tiers-backup-'), 'b.tar.gz');
      const b = await t.cli(['backup', '--output', archive]);
      assert.equal(b.code, 0, b.stdout + b.stderr);
      assert.equal(b.json.files, tierOf.size, 'every present file archived, on whatever tier');
      const target = await d.makeStore({ migrate: false });
      try {
        const r = await runCli([...target.args, '--json', 'restore', archive], { env: s3.env });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        for (const [p, buf] of t.original) if (tierOf.has(p)) assert.ok(fs.readFileSync(path.join(target.root, p)).equals(buf), `restored ${p}`);
        const tc = await target.open();
        try {
          for await (const f of iterateFiles(tc)) if (f.state === 'present') assert.deepEqual([f.tier, f.tierTarget, f.encoding, f.storedSize], ['hot', null, null, null], `${f.path} restored on hot`);
        } finally {
          await tc.close();
        }
      } finally {
        await target.dispose();
        fs.rmSync(path.dirname(archive), { recursive: true, force: true });
      }

      // By hand: a cold job back to hot.
      const coldJob = [...expectTo].find(([, x]) => x === 'cold')![0];
      const back = await t.cli(['--yes', 'tier', coldJob, '--to', 'hot']);
      assert.equal(back.code, 0, back.stdout + back.stderr);
      assert.ok(back.json.result.files > 0);
      const after1 = await checkTiers(t, { finished: true });
      for (const f of await t.c.filesOfJob(coldJob)) assert.equal(after1.get(f.path), 'hot', `${f.path} back on hot`);
      assert.equal(coldPath.includes(coldJob) ? fs.existsSync(path.join(t.store.root, coldPath)) : true, true);

      // delete removes a moved file from its tier (warm), leaving nothing behind.
      const warmJob = [...expectTo].find(([, x]) => x === 'warm')![0];
      const del = await t.cli(['--yes', 'delete', warmJob]);
      assert.equal(del.code, 0, del.stdout + del.stderr);
      assert.equal(del.json.result.alreadyGone, 0, 'deleted where it is, not found already gone');
      for (const f of await t.c.filesOfJob(warmJob)) {
        assert.equal(f.state, 'deleted');
        assert.ok(!fs.existsSync(path.join(t.warm, f.path)), `gone from warm: ${f.path}`);
      }
      assert.ok(!fs.existsSync(path.join(t.warm, path.dirname((await t.c.filesOfJob(warmJob))[0]!.path))), 'its directory pruned in warm');
      await checkTiers(t, { finished: true });
      const end = await t.cli(['stats', '--check-disk']);
      assert.equal(end.code, 0, end.stdout);
    });

    for (const [point, to] of [
      ['tier.intent', 'cold'],
      ['tier.copied', 'warm'],
      ['tier.copied', 'cold'],
      ['tier.flipped', 'cold'],
      ['tier.flipped', 'warm'],
    ] as const) {
      test(`kill -9 at ${point} moving to ${to}, then a rerun: nothing lost, no stray copy`, async () => {
        const t = await makeTierStore(d, [{ id: 'all-to', action: 'transition', to, statuses: ['completed', 'printed'], ageFrom: 'created_at', age: '0' }]);
        cleanups.push(() => t.dispose());
        const dry = await t.cli(['tier', '--dry-run', '--list']);
        const planned = (dry.json.list as { path: string }[]).map((x) => x.path).sort();
        assert.ok(planned.length > 5, `something to move: ${planned.length}`);
        const pause = path.join(tmpDir('storectl-tiers-pause-'), 'pause');
        const child = spawn(process.execPath, [BIN, ...t.store.args, '--config', t.config, '--yes', 'tier'], {
          cwd: REPO,
          env: { ...process.env, ...s3.env, NO_COLOR: '1', STORECTL_ROOT: '', STORECTL_DATABASE_URL: '', DATABASE_URL: '', STORECTL_TEST_PAUSE_AT: `${point}:${pause}` },
          stdio: 'ignore',
        });
        let exited = false;
        const closed = new Promise((r) => child.on('close', () => r((exited = true))));
        const deadline = Date.now() + 60_000;
        while (!exited && !fs.existsSync(pause) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        assert.ok(fs.existsSync(pause), `the run reached ${point}`);
        child.kill('SIGKILL');
        await closed;
        fs.rmSync(path.dirname(pause), { recursive: true, force: true });

        // Mid-way: every file readable from the tier its row names; some are in flight.
        await checkTiers(t, { finished: false });
        const inFlight = [];
        for await (const f of iterateFiles(t.c)) if (f.tierTarget !== null) inFlight.push(f);
        assert.ok(inFlight.length > 0, 'the kill left moves in flight');
        const v = await t.cli(['verify']);
        assert.equal(v.code, 0, `every file reads back mid-way: ${v.stdout}`);
        const dry2 = await t.cli(['tier', '--dry-run', '--list']);
        assert.equal(dry2.code, 0, dry2.stdout + dry2.stderr);
        assert.equal(dry2.json.interrupted, inFlight.length, 'the dry run names what is in flight');

        const rerun = await t.cli(['--yes', 'tier', '--list']);
        assert.equal(rerun.code, 0, rerun.stdout + rerun.stderr);
        assert.ok(rerun.json.result.recovered >= inFlight.length);
        const tierOf = await checkTiers(t, { finished: true });
        for (const p of planned) assert.equal(tierOf.get(p), to, `${p} ended on ${to}`);
        const st = await t.cli(['stats', '--check-disk']);
        assert.equal(st.code, 0, st.stdout);
        const again = await t.cli(['tier', '--dry-run']);
        assert.equal(again.json.plan.files, 0, 'nothing left to move');
      });
    }

    test('every configured tier is opened up front: a missing bucket or a warm path that is a file fails tier, verify, backup and export at start with one line, exit 2, nothing changed', async () => {
      const t = await makeTierStore(d);
      try {
        const rowsBefore = JSON.stringify((await t.c.filesByPaths([...t.original.keys()])).map((r) => [r.path, r.tier, r.tierTarget, r.encoding]));
        const missingBucket = path.join(path.dirname(t.config), 'bad-bucket.json');
        fs.writeFileSync(missingBucket, JSON.stringify({ tiers: { warm: t.warm, cold: 's3://no-such-bucket-here/cards' }, cleanup: { replaceDefaults: true, rules: RULES } }));
        const notADir = path.join(path.dirname(t.config), 'bad-warm.json');
        const file = path.join(path.dirname(t.config), 'a-file');
        fs.writeFileSync(file, 'x');
        fs.writeFileSync(notADir, JSON.stringify({ tiers: { warm: path.join(file, 'warm'), cold: t.coldUrl }, cleanup: { replaceDefaults: true, rules: RULES } }));
        const out = path.join(path.dirname(t.config), 'b.tar');
        for (const [cfg, tier] of [[missingBucket, 'cold'], [notADir, 'warm']] as const) {
          for (const args of [['tier', '--yes'], ['tier', '--dry-run'], ['tier', '--compress', '--yes', '--owner', 'nobody-at-all'], ['verify'], ['backup', '--output', out]]) {
            const r = await runCli([...t.store.args, '--config', cfg, '--json', ...args], { env: s3.env });
            assert.equal(r.code, 2, `${args.join(' ')} with a bad ${tier}: ${r.stdout}${r.stderr}`);
            assert.equal(r.json.error.code, 'tier_unavailable');
            assert.match(r.json.error.message, new RegExp(`^tier "${tier}" \\(.*\\) cannot be opened: .*; nothing was changed$`));
            assert.ok(!r.json.error.message.includes('\n'), 'one line');
          }
        }
        assert.equal(fs.existsSync(out), false, 'no archive written');
        const rowsAfter = JSON.stringify((await t.c.filesByPaths([...t.original.keys()])).map((r) => [r.path, r.tier, r.tierTarget, r.encoding]));
        assert.equal(rowsAfter, rowsBefore, 'no row changed');
        assert.deepEqual(treeFiles(t.store.root), [...t.original.keys()].sort(), 'every file still on the root');
        // The good config still works: a warm tier that does not exist yet (its parent does) is fine.
        const ok = await t.cli(['tier', '--dry-run']);
        assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      } finally {
        await t.dispose();
      }
    });

    test('every file moved off the root: the empty-root guard does not mistake it for an unmounted volume, and delete still works', async () => {
      // The loose temp files (no job: tier moves jobs) go first, by a delete rule.
      const t = await makeTierStore(d, [{ id: 'temp-now', scope: 'files', action: 'delete', category: 'temp', age: '0' }]);
      cleanups.push(() => t.dispose());
      const gone = await t.cli(['--yes', 'cleanup-expired']);
      assert.equal(gone.code, 0, gone.stdout + gone.stderr);
      const jobs = (await t.cli(['jobs', '--limit', '1000'])).json.jobs as { id: string }[];
      const ids = path.join(t.warm, '..', 'ids.txt');
      fs.writeFileSync(ids, jobs.map((j) => j.id).join('\n') + '\n');
      const mv = await t.cli(['--yes', 'tier', '--from', ids, '--to', 'warm']);
      assert.equal(mv.code, 0, mv.stdout + mv.stderr);
      assert.deepEqual(treeFiles(t.store.root), [], 'the root holds no file');
      const dry = await t.cli(['cleanup-expired', '--dry-run']);
      assert.equal(dry.code, 0, `not refused as an empty root: ${dry.stdout}`);
      const job = jobs[0]!.id;
      const del = await t.cli(['--yes', 'delete', job]);
      assert.equal(del.code, 0, del.stdout + del.stderr);
      for (const f of await t.c.filesOfJob(job)) if (f.state === 'deleted') assert.ok(!fs.existsSync(path.join(t.warm, f.path)));
      await checkTiers(t, { finished: true });
      // The guard still holds for files on hot: a row on hot with an empty root is refused.
      const back = await t.cli(['--yes', 'tier', jobs[1]!.id, '--to', 'hot']);
      assert.equal(back.code, 0, back.stdout + back.stderr);
      const moved = await t.c.filesOfJob(jobs[1]!.id);
      const aside = path.join(t.warm, '..', 'aside');
      fs.mkdirSync(aside);
      const top = fs.readdirSync(t.store.root).filter((n) => n !== '.storectl');
      for (const n of top) fs.renameSync(path.join(t.store.root, n), path.join(aside, n));
      const refused = await t.cli(['cleanup-expired', '--dry-run']);
      assert.equal(refused.code, 2, refused.stdout);
      assert.equal(refused.json.error.code, 'guard_empty_root');
      for (const n of top) fs.renameSync(path.join(aside, n), path.join(t.store.root, n));
      assert.ok(moved.length > 0);
    });

    test('a job deleted while its move is in flight: the rerun removes the copy it made, nothing stray', async () => {
      const t = await makeTierStore(d, [{ id: 'all-to', action: 'transition', to: 'cold', statuses: ['completed', 'printed'], ageFrom: 'created_at', age: '0' }]);
      cleanups.push(() => t.dispose());
      const pause = path.join(tmpDir('storectl-tiers-pause-'), 'pause');
      const child = spawn(process.execPath, [BIN, ...t.store.args, '--config', t.config, '--yes', 'tier'], {
        cwd: REPO,
        env: { ...process.env, ...s3.env, NO_COLOR: '1', STORECTL_ROOT: '', STORECTL_DATABASE_URL: '', DATABASE_URL: '', STORECTL_TEST_PAUSE_AT: `tier.copied:${pause}` },
        stdio: 'ignore',
      });
      let exited = false;
      const closed = new Promise((r) => child.on('close', () => r((exited = true))));
      const deadline = Date.now() + 60_000;
      while (!exited && !fs.existsSync(pause) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.ok(fs.existsSync(pause), 'the run reached tier.copied');
      child.kill('SIGKILL');
      await closed;
      fs.rmSync(path.dirname(pause), { recursive: true, force: true });
      let victim: string | undefined;
      for await (const f of iterateFiles(t.c)) if (f.tierTarget === 'cold' && f.jobId) victim ??= f.jobId;
      assert.ok(victim, 'a job in flight');
      const copied = (await t.c.filesOfJob(victim!)).map((f) => f.path);
      assert.ok((await listKeys(t.cold)).some((k) => copied.includes(k)), 'its copies are in the bucket');
      const del = await t.cli(['--yes', 'delete', victim!]);
      assert.equal(del.code, 0, del.stdout + del.stderr);
      const rerun = await t.cli(['--yes', 'tier']);
      assert.equal(rerun.code, 0, rerun.stdout + rerun.stderr);
      const keys = await listKeys(t.cold);
      for (const p of copied) assert.ok(!keys.includes(p), `no stray copy of the deleted job's ${p}`);
      await checkTiers(t, { finished: true });
      const st = await t.cli(['stats', '--check-disk']);
      assert.equal(st.code, 0, st.stdout);
    });
  });
}

test('the tiers section and transition rules are checked before any command runs: one line naming the key, exit 2', async () => {
  const { runMain } = await import('./helpers/run-main.ts');
  const cases: [object, RegExp][] = [
    [{ tiers: { warm: 'store/warm' } }, /"tiers\.warm" \(.*\) overlaps tier "hot"/],
    [{ tiers: { hot: '/somewhere/else' } }, /"tiers\.hot" is the store root/],
    [{ tiers: { cold: { url: 's3://b/p', storageClass: 'GLACIER' } } }, /"tiers\.cold\.storageClass" must be one of/],
    [{ tiers: { warm: { url: 'warm', storageClass: 'STANDARD_IA' } } }, /"tiers\.warm\.storageClass" applies to an s3:\/\/ tier only/],
    [{ tiers: { warm: { path: 'warm' } } }, /"tiers\.warm\.path" is an unknown key/],
    [{ tiers: { Warm: 'warm' } }, /"tiers\.Warm" is not a tier name/],
    [{ tiers: { warm: 'warm', also: 'warm/x' } }, /"tiers\.also" .* overlaps tier "warm"/],
    [{ cleanup: { rules: [{ id: 'x', action: 'transition', statuses: ['completed'], age: '1d' }] } }, /cleanup\.rules\[0\]\.to: a transition rule names the tier/],
    [{ cleanup: { rules: [{ id: 'x', action: 'transition', to: 'cold', statuses: ['completed'], age: '1d' }] } }, /no tier "cold" in the config/],
    [{ cleanup: { rules: [{ id: 'completed-to-cold', enabled: true }] } }, /no tier "cold" in the config/],
    [{ cleanup: { rules: [{ id: 'x', action: 'transition', to: 'hot', statuses: ['printing'], age: '1d' }] } }, /never moved/],
  ];
  for (const [config, why] of cases) {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'storectl.config.json'), JSON.stringify({ root: 'store', ...config }));
    for (const cmd of [['stats'], ['config'], ['tier', '--dry-run']]) {
      const r = await runMain(['--json', ...cmd], { cwd: dir });
      assert.equal(r.code, 2, `${JSON.stringify(config)} ${cmd[0]}: ${r.stdout}`);
      assert.equal(r.json.error.code, 'config');
      assert.match(r.json.error.message, why);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // A good section: storectl config shows every tier, hot as the root.
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'storectl.config.json'), JSON.stringify({ root: 'store', tiers: { warm: 'warm', cold: { url: 's3://archive/cards', storageClass: 'GLACIER_IR' } } }));
  const r = await runMain(['--json', 'config'], { cwd: dir });
  assert.equal(r.code, 0, r.stdout);
  assert.deepEqual(r.json.tiers, [
    { name: 'hot', url: path.join(dir, 'store') },
    { name: 'warm', url: path.join(dir, 'warm') },
    { name: 'cold', url: 's3://archive/cards/', storageClass: 'GLACIER_IR' },
  ]);
  fs.rmSync(dir, { recursive: true, force: true });
});
