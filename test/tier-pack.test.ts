// Packing on an S3 tier (`pack: true`), end to end through the real bin/storectl against the
// loopback s3rver, on both dialects: a transition puts each job's small files into one pack
// object (and a job's single or large file into an object of its own); get reads every member
// byte-identical with a ranged GET; verify covers packed files; stats per tier and --check-disk
// count packs right; compression composes (a compressed member holds its stored bytes); back to
// hot empties and removes the pack; deleting members only marks them until the last one goes,
// which removes the pack; kill -9 at each step of a packing move, then a rerun: every file
// readable from the tier its row names, no loss, no stray pack.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { execFileSync, spawn } from 'node:child_process';
import type { Catalog } from '../src/db/catalog.ts';
import { iterateFiles } from '../src/db/catalog.ts';
import type { FileRecord } from '../src/db/types.ts';
import type { BlobStore } from '../src/storage/blob.ts';
import { openBlobStore } from '../src/storage/open.ts';
import { readPackIndex } from '../src/storage/pack-format.ts';
import { tierCatalog } from '../src/db/tiers.ts';
import { DeleteGate } from '../src/ops/lifecycle/gate.ts';
import { S3Target } from '../src/ops/lifecycle/s3-target.ts';
import { TieredTarget } from '../src/ops/lifecycle/tiered-target.ts';
import { Limiter } from '../src/ops/pool.ts';
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

async function readObject(store: BlobStore, key: string, range?: { start: number; end: number }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await store.get(key, range)) chunks.push(c as Buffer);
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

interface PackStore {
  store: Store;
  c: Catalog;
  cold: BlobStore;
  config: string;
  original: Map<string, Buffer>;
  cli(args: string[], env?: Record<string, string>): ReturnType<typeof runCli>;
  dispose(): Promise<void>;
}

const ALL_TO_COLD = [{ id: 'all-to-cold', action: 'transition', to: 'cold', statuses: ['completed', 'printed'], ageFrom: 'created_at', age: '0' }];

async function makePackStore(d: (typeof DIALECTS)[number], opts: { rules?: object[]; packThreshold?: number } = {}): Promise<PackStore> {
  const store = await d.makeStore();
  const dir = tmpDir('storectl-pack-');
  const coldUrl = await s3.newRoot();
  const config = path.join(dir, 'storectl.config.json');
  const cold = { url: coldUrl, pack: true, ...(opts.packThreshold ? { packThreshold: opts.packThreshold } : {}) };
  fs.writeFileSync(config, JSON.stringify({ tiers: { cold }, cleanup: { replaceDefaults: true, rules: opts.rules ?? ALL_TO_COLD } }));
  const cli = (args: string[], env: Record<string, string> = {}) => runCli([...store.args, '--config', config, '--json', ...args], { env: { ...s3.env, ...env } });
  const g = await cli(['generate', '--sample', '24', '--seed', '11']);
  assert.equal(g.code, 0, g.stdout + g.stderr);
  const original = new Map<string, Buffer>();
  for (const p of treeFiles(store.root)) original.set(p, fs.readFileSync(path.join(store.root, p)));
  const c = await store.open();
  const coldStore = await openBlobStore(coldUrl, () => s3.settings());
  return {
    store,
    c,
    cold: coldStore,
    config,
    original,
    cli,
    async dispose() {
      await coldStore.close();
      await c.close();
      await store.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function rows(c: Catalog): Promise<FileRecord[]> {
  const out: FileRecord[] = [];
  for await (const f of iterateFiles(c)) out.push(f);
  return out;
}

/**
 * The invariant after any run, crashed or not: every present row's file reads back from the
 * tier (and pack) its row names with its original bytes. `finished`: nothing in flight, no
 * stray copy or pack, each pack named by a live row, a packed file has no object of its own.
 */
async function checkPacks(t: PackStore, opts: { finished: boolean }): Promise<FileRecord[]> {
  const all = await rows(t.c);
  const present = all.filter((f) => f.state === 'present');
  const hot = new Set(treeFiles(t.store.root));
  const cold = new Set(await listKeys(t.cold));
  for (const f of present) {
    const want = t.original.get(f.path);
    assert.ok(want, `a generated file: ${f.path}`);
    let got: Buffer;
    if (f.tier === 'hot') got = fs.readFileSync(path.join(t.store.root, f.path));
    else if (f.pack) {
      assert.ok(cold.has(f.pack), `${f.path}: its pack ${f.pack} is in the bucket`);
      const stored = f.storedSize ?? f.size;
      got = await readObject(t.cold, f.pack, { start: f.packOffset!, end: f.packOffset! + stored - 1 });
      assert.equal(f.encoding, null, 'these members are stored as they are');
    } else got = await readObject(t.cold, f.path);
    assert.equal(sha(got), sha(want), `${f.path} reads back from tier ${f.tier}${f.pack ? ` (pack ${f.pack})` : ''} byte-identical`);
    if (opts.finished) {
      assert.equal(f.tierTarget, null, `nothing in flight: ${f.path}`);
      assert.equal(hot.has(f.path), f.tier === 'hot', `${f.path} in the hot tree iff its row says hot`);
      assert.equal(cold.has(f.path), f.tier === 'cold' && !f.pack, `${f.path} an object of its own in the bucket iff its row says cold, not packed`);
    }
  }
  if (opts.finished) {
    const byPath = new Map(present.map((f) => [f.path, f]));
    const named = new Set(all.filter((f) => ['present', 'deleting', 'corrupt'].includes(f.state) && f.pack).map((f) => f.pack!));
    for (const p of hot) assert.equal(byPath.get(p)?.tier, 'hot', `no stray in hot: ${p}`);
    for (const k of cold) {
      if (k.startsWith('.packs/')) assert.ok(named.has(k), `no stray pack: ${k}`);
      else assert.equal(byPath.get(k)?.tier, 'cold', `no stray in cold: ${k}`);
    }
  }
  return present;
}

for (const d of DIALECTS) {
  describe(`tier packs: ${d.name}`, { skip: d.skip }, () => {
    const cleanups: (() => Promise<void>)[] = [];
    after(async () => {
      for (const f of cleanups) await f();
    });

    test('a transition to a pack tier packs each job’s small files into one object; get, verify, stats, check-disk; back to hot removes the pack', async () => {
      const t = await makePackStore(d);
      cleanups.push(() => t.dispose());
      const dry = await t.cli(['tier', '--dry-run', '--list']);
      assert.equal(dry.code, 0, dry.stdout + dry.stderr);
      const planned = (dry.json.list as { path: string; jobId: string }[]).map((x) => x.path).sort();
      assert.ok(dry.json.packs.planned > 0, `some jobs are packed: ${JSON.stringify(dry.json.packs)}`);

      const real = await t.cli(['--yes', 'tier', '--list']);
      assert.equal(real.code, 0, real.stdout + real.stderr);
      assert.deepEqual((real.json.list as { path: string }[]).map((x) => x.path).sort(), planned, 'dry run == real run');
      assert.deepEqual(real.json.result.packed, { packs: dry.json.packs.planned, files: dry.json.packs.files, bytes: dry.json.packs.bytes }, 'the packs the dry run announced');

      const present = await checkPacks(t, { finished: true });
      const packed = present.filter((f) => f.pack);
      const packs = new Set(packed.map((f) => f.pack!));
      assert.equal(packs.size, real.json.result.packed.packs);
      assert.equal(packed.length, real.json.result.packed.files);
      // One pack per job, and every job with two or more files moved has one.
      const jobsOf = new Map<string, Set<string>>();
      for (const f of packed) jobsOf.set(f.pack!, (jobsOf.get(f.pack!) ?? new Set()).add(f.jobId!));
      for (const [k, jobs] of jobsOf) assert.equal(jobs.size, 1, `${k} holds one job's files`);
      const byJob = new Map<string, FileRecord[]>();
      for (const f of present.filter((x) => x.tier === 'cold')) byJob.set(f.jobId!, [...(byJob.get(f.jobId!) ?? []), f]);
      for (const [job, files] of byJob) {
        if (files.length >= 2) assert.ok(files.every((f) => f.pack), `every file of ${job} is packed`);
        else assert.equal(files[0]!.pack, null, `a job with one file keeps it as an object: ${job}`);
      }
      // The pack's own index names its members where the rows say.
      for (const k of packs) {
        const idx = readPackIndex(await readObject(t.cold, k));
        const members = packed.filter((f) => f.pack === k);
        assert.deepEqual(idx.members.map((m) => [m.path, m.offset, m.sha256]).sort(), members.map((f) => [f.path, f.packOffset, f.sha256]).sort());
      }
      // Fewer objects: one per pack instead of one per file.
      const keys = await listKeys(t.cold);
      assert.equal(keys.length, present.filter((f) => f.tier === 'cold').length - packed.length + packs.size);

      // get reads packed files byte-identical: every member of one pack, one of each of two others.
      const out = tmpDir('storectl-pack-get-');
      const firstPack = packed[0]!.pack!;
      const others = [...packs].filter((k) => k !== firstPack).slice(0, 2);
      const toGet = [...packed.filter((f) => f.pack === firstPack), ...others.map((k) => packed.find((f) => f.pack === k)!)];
      assert.ok(toGet.length >= 4, `members to read: ${toGet.length}`);
      for (const f of toGet) {
        const file = path.join(out, 'x.bin');
        const g = await t.cli(['get', '--path', f.path, '-o', file]);
        assert.equal(g.code, 0, g.stdout + g.stderr);
        assert.ok(fs.readFileSync(file).equals(t.original.get(f.path)!), `get of ${f.path} (packed) is byte-identical`);
        fs.rmSync(file);
      }
      fs.rmSync(out, { recursive: true, force: true });

      // verify reads packed files and finds them good.
      const v = await t.cli(['verify']);
      assert.equal(v.code, 0, v.stdout + v.stderr);
      assert.equal(v.json.ok, present.length);

      // stats per tier and check-disk: packed rows are on cold, packs are not strays.
      const st = await t.cli(['stats', '--check-disk']);
      assert.equal(st.code, 0, st.stdout + st.stderr);
      const byTier = new Map((st.json.tiers as { tier: string; files: number; bytes: number }[]).map((x) => [x.tier, x]));
      const onCold = present.filter((f) => f.tier === 'cold');
      assert.equal(byTier.get('cold')!.files, onCold.length);
      assert.equal(byTier.get('cold')!.bytes, onCold.reduce((a, f) => a + f.size, 0));
      assert.equal(byTier.get('hot')?.files ?? 0, present.length - onCold.length);
      const drift = (st.json.tierDrift as { tier: string; listed: number; missingFiles: number; strayFiles: number; packs: number; packedFiles: number }[])[0]!;
      assert.deepEqual([drift.tier, drift.listed, drift.missingFiles, drift.strayFiles, drift.packs, drift.packedFiles], ['cold', keys.length, 0, 0, packs.size, packed.length]);

      // export of packed jobs: every member archived with its original bytes.
      const exDir = tmpDir('storectl-pack-export-');
      const exJobs = [...new Set(packed.slice(0, 12).map((f) => f.jobId!))].slice(0, 2);
      const ex = await t.cli(['export', ...exJobs, '-o', path.join(exDir, 'e.tar.gz')]);
      assert.equal(ex.code, 0, ex.stdout + ex.stderr);
      execFileSync('tar', ['-xzf', path.join(exDir, 'e.tar.gz'), '-C', exDir]);
      for (const f of packed.filter((x) => exJobs.includes(x.jobId!))) assert.ok(fs.readFileSync(path.join(exDir, 'files', f.path)).equals(t.original.get(f.path)!), `export of ${f.path}`);
      fs.rmSync(exDir, { recursive: true, force: true });

      // backup archives the original bytes of packed files; restore puts them back on hot.
      const archive = path.join(tmpDir('storectl-pack-backup-'), 'b.tar.gz');
      const b = await t.cli(['backup', '--output', archive]);
      assert.equal(b.code, 0, b.stdout + b.stderr);
      assert.equal(b.json.files, present.length, 'every present file archived, packed or not');
      const target = await d.makeStore({ migrate: false });
      try {
        const r = await runCli([...target.args, '--json', 'restore', archive], { env: s3.env });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        for (const f of packed) assert.ok(fs.readFileSync(path.join(target.root, f.path)).equals(t.original.get(f.path)!), `restored ${f.path}`);
        const tc = await target.open();
        try {
          for await (const f of iterateFiles(tc)) if (f.state === 'present') assert.deepEqual([f.tier, f.pack, f.packOffset], ['hot', null, null], `${f.path} restored on hot, in no pack`);
        } finally {
          await tc.close();
        }
      } finally {
        await target.dispose();
        fs.rmSync(path.dirname(archive), { recursive: true, force: true });
      }

      // A damaged pack is found by verify (exit 4) and by nothing else being wrong.
      const victim = packed[0]!;
      const body = await readObject(t.cold, victim.pack!);
      const bad = Buffer.from(body);
      bad[victim.packOffset!] = bad[victim.packOffset!]! ^ 0xff;
      await t.cold.put(victim.pack!, bad);
      const v2 = await t.cli(['verify', '--job', victim.jobId!]);
      assert.equal(v2.code, 4, v2.stdout + v2.stderr);
      assert.deepEqual((v2.json.problems as { path: string; kind: string }[]).map((p) => [p.path, p.kind]), [[victim.path, 'corrupt']], 'only the damaged member');
      await t.cold.put(victim.pack!, body);
      const v3 = await t.cli(['verify', '--job', victim.jobId!]);
      assert.equal(v3.code, 0, `the pack put back reads good again: ${v3.stdout}`);
      // A missing pack: check-disk names it, with all its members missing.
      await t.cold.remove(victim.pack!);
      const st2 = await t.cli(['stats', '--check-disk']);
      assert.equal(st2.code, 4, st2.stdout);
      const d2 = (st2.json.tierDrift as { missingFiles: number; sample: { missing: string[] } }[])[0]!;
      assert.equal(d2.missingFiles, packed.filter((f) => f.pack === victim.pack).length);
      assert.deepEqual(d2.sample.missing, [victim.pack]);
      await t.cold.put(victim.pack!, body);

      // url of a packed file: refused with one line.
      const link = await t.cli(['url', '--path', victim.path, '--expires', '10m'], { STORECTL_URL_SECRET: 'a-secret-of-thirty-two-characters', STORECTL_URL_BASE: 'https://files.example.com/store' });
      assert.equal(link.code, 1, link.stdout + link.stderr);
      assert.match(link.json.error.message, /packed/);

      // Back to hot: the job's files come out of the pack, and the emptied pack is removed.
      const back = await t.cli(['--yes', 'tier', victim.jobId!, '--to', 'hot']);
      assert.equal(back.code, 0, back.stdout + back.stderr);
      assert.equal(back.json.result.packsRemoved, 1);
      assert.ok(!(await listKeys(t.cold)).includes(victim.pack!), 'the emptied pack is gone');
      const after = await checkPacks(t, { finished: true });
      for (const f of after.filter((x) => x.jobId === victim.jobId)) assert.equal(f.tier, 'hot');
      // And to cold again: a new pack.
      const again = await t.cli(['--yes', 'tier', victim.jobId!, '--to', 'cold']);
      assert.equal(again.code, 0, again.stdout + again.stderr);
      assert.equal(again.json.result.packed.packs, 1);
      await checkPacks(t, { finished: true });
    });

    test('deleting packed files: a member only gives up its claim while others remain; the last one removes the pack (delete, cleanup-expired); kill -9 before the pack goes, then a rerun', async () => {
      const t = await makePackStore(d);
      cleanups.push(() => t.dispose());
      const moved = await t.cli(['--yes', 'tier']);
      assert.equal(moved.code, 0, moved.stdout + moved.stderr);
      const packedJobs = () =>
        rows(t.c).then((all) => {
          const m = new Map<string, FileRecord[]>();
          for (const f of all) if (f.state === 'present' && f.pack) m.set(f.jobId!, [...(m.get(f.jobId!) ?? []), f]);
          return m;
        });
      let jobs = await packedJobs();
      assert.ok(jobs.size >= 3, `packed jobs: ${jobs.size}`);

      // The acting side alone: removing one member while the others are live leaves the pack.
      const [jobA, membersA] = [...jobs].find(([, fs]) => fs.length >= 3)!;
      const packA = membersA[0]!.pack!;
      const target = new TieredTarget(t.c, new Map<string, DeleteGate | S3Target>([['hot', new DeleteGate(t.store.root, false)], ['cold', new S3Target(t.cold, false)]]), new DeleteGate(t.store.root, false), tierCatalog(t.c));
      try {
        const [seen] = await target.look([membersA[0]!.path]);
        assert.equal(seen!.kind, 'file', 'a packed file is looked at through its pack');
        const held = target.batch();
        const one = await held.removePlanned([{ path: membersA[0]!.path, expect: seen!.kind === 'file' ? seen! : null }], new Limiter(4));
        held.close();
        assert.deepEqual(one.results, [{ outcome: 'deleted' }]);
        assert.ok((await listKeys(t.cold)).includes(packA), 'the pack stays while other members are live');
      } finally {
        target.close();
      }

      // delete of the whole job: its rows tombstoned, its pack removed, the others kept.
      const del = await t.cli(['--yes', 'delete', jobA]);
      assert.equal(del.code, 0, del.stdout + del.stderr);
      assert.equal(del.json.result.alreadyGone, 0, 'deleted where they are, not found already gone');
      const keys = await listKeys(t.cold);
      assert.ok(!keys.includes(packA), 'the last member gone: the pack is removed');
      for (const [job, fs] of jobs) if (job !== jobA) assert.ok(keys.includes(fs[0]!.pack!), `the pack of ${job} is kept`);
      const gone = await t.cli(['get', '--path', membersA[1]!.path, '-o', path.join(tmpDir('storectl-pack-gone-'), 'x')]);
      assert.equal(gone.code, 6, gone.stdout + gone.stderr);
      for (const f of (await rows(t.c)).filter((x) => x.jobId === jobA)) assert.equal(f.state, 'deleted');
      await checkPacks(t, { finished: true });

      // kill -9 after the rows' intent, before the pack's removal; the rerun removes it.
      jobs = await packedJobs();
      const [jobB, membersB] = [...jobs][0]!;
      const pause = path.join(tmpDir('storectl-pack-pause-'), 'pause');
      const child = spawn(process.execPath, [BIN, ...t.store.args, '--config', t.config, '--yes', 'delete', jobB], {
        cwd: REPO,
        env: { ...process.env, ...s3.env, NO_COLOR: '1', STORECTL_ROOT: '', STORECTL_DATABASE_URL: '', DATABASE_URL: '', STORECTL_TEST_PAUSE_AT: `deletion.pack:${pause}` },
        stdio: 'ignore',
      });
      let exited = false;
      const closed = new Promise((r) => child.on('close', () => r((exited = true))));
      const deadline = Date.now() + 60_000;
      while (!exited && !fs.existsSync(pause) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.ok(fs.existsSync(pause), 'the delete reached the pack removal');
      child.kill('SIGKILL');
      await closed;
      assert.ok((await listKeys(t.cold)).includes(membersB[0]!.pack!), 'killed before the pack was removed');
      const mid = (await rows(t.c)).filter((x) => x.jobId === jobB);
      assert.ok(mid.every((f) => f.state === 'deleting'), `rows left deleting: ${mid.map((f) => f.state)}`);
      const rerun = await t.cli(['--yes', 'delete', jobB]);
      assert.ok(rerun.code === 0 || rerun.code === 6, rerun.stdout + rerun.stderr);
      assert.ok(!(await listKeys(t.cold)).includes(membersB[0]!.pack!), 'the rerun removed the emptied pack');
      for (const f of (await rows(t.c)).filter((x) => x.jobId === jobB)) assert.equal(f.state, 'deleted');
      await checkPacks(t, { finished: true });

      // cleanup-expired: a delete rule over the cold jobs removes their packs with their rows.
      const cfg = JSON.parse(fs.readFileSync(t.config, 'utf8'));
      cfg.cleanup.rules = [{ id: 'cards-gone', action: 'delete', kind: 'card', statuses: ['completed', 'printed'], ageFrom: 'created_at', age: '0' }];
      fs.writeFileSync(t.config, JSON.stringify(cfg));
      const ce = await t.cli(['--yes', 'cleanup-expired']);
      assert.equal(ce.code, 0, ce.stdout + ce.stderr);
      const left = await rows(t.c);
      const livePacks = new Set(left.filter((f) => f.state === 'present' && f.pack).map((f) => f.pack!));
      assert.ok(left.some((f) => f.state === 'deleted' && f.pack && !livePacks.has(f.pack)), 'some packed jobs were deleted by the rule');
      for (const k of await listKeys(t.cold)) if (k.startsWith('.packs/')) assert.ok(livePacks.has(k), `only packs with live members are left: ${k}`);
      await checkPacks(t, { finished: true });
      const st = await t.cli(['stats', '--check-disk']);
      assert.equal(st.code, 0, st.stdout);
    });

    test('compression composes: tier --to a pack tier --compress compresses first, each member holds its compressed bytes; get and verify read the originals', async () => {
      const t = await makePackStore(d, { rules: [] });
      cleanups.push(() => t.dispose());
      const src = tmpDir('storectl-pack-src-');
      const csv = Buffer.from(Array.from({ length: 3000 }, (_, i) => `${i},card-${i % 97},printed,2026-11-${String((i % 28) + 1).padStart(2, '0')}`).join('\n'));
      const json = Buffer.from(JSON.stringify(Array.from({ length: 800 }, (_, i) => ({ id: i, owner: `owner-${i % 7}`, status: 'completed' }))));
      const noise = randomBytes(4096);
      fs.writeFileSync(path.join(src, 'report.csv'), csv);
      fs.writeFileSync(path.join(src, 'report.json'), json);
      fs.writeFileSync(path.join(src, 'noise.bin'), noise);
      const put = await t.cli(['--yes', 'put', '--job', 'upl-pack-1', path.join(src, 'report.csv'), path.join(src, 'report.json'), path.join(src, 'noise.bin')]);
      assert.equal(put.code, 0, put.stdout + put.stderr);
      const mv = await t.cli(['--yes', 'tier', 'upl-pack-1', '--to', 'cold', '--compress']);
      assert.equal(mv.code, 0, mv.stdout + mv.stderr);
      assert.equal(mv.json.compression.result.compressed, 2, 'the CSV and the JSON were compressed before the move');
      assert.equal(mv.json.result.packed.files, 3);
      const members = (await rows(t.c)).filter((f) => f.jobId === 'upl-pack-1');
      assert.equal(new Set(members.map((f) => f.pack)).size, 1, 'one pack for the job');
      const body = await readObject(t.cold, members[0]!.pack!);
      const want = new Map([['report.csv', csv], ['report.json', json], ['noise.bin', noise]]);
      for (const f of members) {
        const orig = want.get(path.posix.basename(f.path))!;
        assert.equal(f.tier, 'cold');
        const slice = body.subarray(f.packOffset!, f.packOffset! + (f.storedSize ?? f.size));
        if (f.path.endsWith('.bin')) {
          assert.equal(f.encoding, null);
          assert.ok(slice.equals(orig), 'the noise is stored as it is');
        } else {
          assert.equal(f.encoding, 'gzip');
          assert.ok(f.storedSize! < f.size, `${f.path} is stored smaller`);
          assert.ok(zlib.gunzipSync(slice).equals(orig), `${f.path}: its slice of the pack is its gzip bytes`);
        }
        const out = path.join(src, 'out.bin');
        const g = await t.cli(['get', '--path', f.path, '-o', out]);
        assert.equal(g.code, 0, g.stdout + g.stderr);
        assert.ok(fs.readFileSync(out).equals(orig), `get of ${f.path} gives the original bytes`);
        fs.rmSync(out);
      }
      const v = await t.cli(['verify', '--job', 'upl-pack-1']);
      assert.equal(v.code, 0, v.stdout + v.stderr);
      assert.equal(v.json.ok, 3);
      // compress of packed files leaves them (counted), never rewrites the pack.
      const again = await t.cli(['--yes', 'tier', 'upl-pack-1', '--compress']);
      assert.equal(again.code, 0, again.stdout + again.stderr);
      assert.equal(again.json.packed, 1, 'the packed noise file is left as it is');
      // back to hot: the compressed files keep their encoding, read back the same.
      const back = await t.cli(['--yes', 'tier', 'upl-pack-1', '--to', 'hot']);
      assert.equal(back.code, 0, back.stdout + back.stderr);
      assert.equal(back.json.result.packsRemoved, 1);
      for (const f of (await rows(t.c)).filter((x) => x.jobId === 'upl-pack-1')) {
        assert.equal(f.tier, 'hot');
        assert.equal(f.pack, null);
        const out = path.join(src, 'out.bin');
        assert.equal((await t.cli(['get', '--path', f.path, '-o', out])).code, 0);
        assert.ok(fs.readFileSync(out).equals(want.get(path.posix.basename(f.path))!));
        fs.rmSync(out);
      }
      fs.rmSync(src, { recursive: true, force: true });
    });

    /** Runs `args` until it reaches `point`, then kill -9. */
    async function killAt(t: PackStore, point: string, args: string[]): Promise<void> {
      const pause = path.join(tmpDir('storectl-pack-pause-'), 'pause');
      const child = spawn(process.execPath, [BIN, ...t.store.args, '--config', t.config, '--yes', ...args], {
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
    }

    for (const point of ['tier.intent', 'tier.packed', 'tier.copied', 'tier.flipped']) {
      test(`kill -9 at ${point} while packing, then a rerun: every file readable where its row says, no loss, no stray pack`, async () => {
        const t = await makePackStore(d);
        cleanups.push(() => t.dispose());
        const dry = await t.cli(['tier', '--dry-run', '--list']);
        const planned = (dry.json.list as { path: string }[]).map((x) => x.path).sort();
        assert.ok(dry.json.packs.planned > 0);
        await killAt(t, point, ['tier']);

        // Mid-way: every file readable from the tier (and pack) its row names; moves in flight.
        await checkPacks(t, { finished: false });
        const inFlight = (await rows(t.c)).filter((f) => f.tierTarget !== null);
        assert.ok(inFlight.length > 0, 'the kill left moves in flight');
        const v = await t.cli(['verify']);
        assert.equal(v.code, 0, `every file reads back mid-way: ${v.stdout}`);
        const dry2 = await t.cli(['tier', '--dry-run']);
        assert.equal(dry2.json.interrupted, inFlight.length, 'the dry run names what is in flight');
        const uploaded = (await listKeys(t.cold)).filter((k) => k.startsWith('.packs/'));
        const named = new Set((await rows(t.c)).filter((f) => f.pack).map((f) => f.pack!));
        assert.equal(dry2.json.packs.strays, uploaded.filter((k) => !named.has(k)).length, 'the dry run counts the packs no row names');
        if (point === 'tier.packed' || point === 'tier.copied') assert.ok(dry2.json.packs.strays > 0, 'a pack uploaded, its rows not switched: a stray until the rerun');

        const rerun = await t.cli(['--yes', 'tier', '--list']);
        assert.equal(rerun.code, 0, rerun.stdout + rerun.stderr);
        const present = await checkPacks(t, { finished: true });
        const tierOf = new Map(present.map((f) => [f.path, f.tier]));
        for (const p of planned) assert.equal(tierOf.get(p), 'cold', `${p} ended on cold`);
        assert.ok(present.some((f) => f.pack), 'the rerun packed');
        const st = await t.cli(['stats', '--check-disk']);
        assert.equal(st.code, 0, st.stdout);
        const again = await t.cli(['tier', '--dry-run']);
        assert.equal(again.json.plan.files, 0, 'nothing left to move');
        assert.equal(again.json.packs.strays, 0);
      });
    }

    test('kill -9 after a packed job is switched back to hot, before its emptied pack is removed: the rerun removes it', async () => {
      const t = await makePackStore(d);
      cleanups.push(() => t.dispose());
      assert.equal((await t.cli(['--yes', 'tier'])).code, 0);
      const victim = (await rows(t.c)).find((f) => f.state === 'present' && f.pack)!;
      await killAt(t, 'tier.flipped', ['tier', victim.jobId!, '--to', 'hot']);
      await checkPacks(t, { finished: false });
      assert.ok((await listKeys(t.cold)).includes(victim.pack!), 'the emptied pack is still there');
      const rerun = await t.cli(['--yes', 'tier', victim.jobId!, '--to', 'hot']);
      assert.equal(rerun.code, 0, rerun.stdout + rerun.stderr);
      assert.ok(!(await listKeys(t.cold)).includes(victim.pack!), 'the rerun removed the emptied pack');
      const present = await checkPacks(t, { finished: true });
      for (const f of present.filter((x) => x.jobId === victim.jobId)) assert.equal(f.tier, 'hot');
    });
  });
}

test('pack and packThreshold are checked before any command runs: S3 tiers only, a size, one line naming the key, exit 2; config shows them', async () => {
  const { runMain } = await import('./helpers/run-main.ts');
  const cases: [object, RegExp][] = [
    [{ tiers: { warm: { url: 'warm', pack: true } } }, /"tiers\.warm\.pack" applies to an s3:\/\/ tier only/],
    [{ tiers: { cold: { url: 's3://bucket/p', pack: 'yes' } } }, /"tiers\.cold\.pack" must be true or false/],
    [{ tiers: { cold: { url: 's3://bucket/p', pack: true, packThreshold: '1 parsec' } } }, /"tiers\.cold\.packThreshold" must be a size/],
    [{ tiers: { cold: { url: 's3://bucket/p', pack: true, packThreshold: '1GiB' } } }, /"tiers\.cold\.packThreshold" must be a size from 1 byte to 64MiB/],
    [{ tiers: { cold: { url: 's3://bucket/p', packThreshold: 1000 } } }, /"tiers\.cold\.packThreshold" needs "pack": true/],
    [{ tiers: { cold: { url: 's3://bucket/p', pack: true, packSize: 1 } } }, /"tiers\.cold\.packSize" is an unknown key/],
  ];
  for (const [config, why] of cases) {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'storectl.config.json'), JSON.stringify({ root: 'store', ...config }));
    const r = await runMain(['--json', 'config'], { cwd: dir });
    assert.equal(r.code, 2, `${JSON.stringify(config)}: ${r.stdout}`);
    assert.equal(r.json.error.code, 'config');
    assert.match(r.json.error.message, why);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'storectl.config.json'), JSON.stringify({ root: 'store', tiers: { cold: { url: 's3://archive/cards', pack: true }, ice: { url: 's3://archive/ice', pack: true, packThreshold: '256KiB' } } }));
  const r = await runMain(['--json', 'config'], { cwd: dir });
  assert.equal(r.code, 0, r.stdout);
  assert.deepEqual(
    (r.json.tiers as { name: string; pack?: boolean; packThreshold?: number }[]).map((t) => [t.name, t.pack ?? false, t.packThreshold ?? null]),
    [
      ['hot', false, null],
      ['cold', true, 1 << 20],
      ['ice', true, 256 << 10],
    ],
  );
  fs.rmSync(dir, { recursive: true, force: true });
});
