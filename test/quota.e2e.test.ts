// Quotas end to end, the real bin on both dialects: set/list/check exit codes, a job over
// quota fails alone with nothing written, two racing writers, and usage equal to a recount
// after generate, cleanup, restore and a kill -9.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { BIN, DIALECTS, REPO, runCli, tmpDir, type Store } from './helpers/env.ts';
import { cardJob, ndjson } from './helpers/jobs.ts';
import { execSql, query } from './helpers/images.ts';

const card = cardJob;

/** Every file on disk under cards/ (relative paths). */
function cardFiles(root: string): string[] {
  const dir = path.join(root, 'cards');
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
    .sort();
}

/**
 * Rewrites a backup archive as one from before backups carried quotas: no catalog/quotas.ndjson,
 * no `quotas` in the manifest's tables or summary, the entries in their order (real tar).
 */
function archiveWithoutQuotas(archive: string, out: string, work: string): void {
  const x = fs.mkdtempSync(path.join(work, 'x-'));
  const names = execFileSync('tar', ['tzf', archive], { encoding: 'utf8' }).split('\n').filter(Boolean);
  execFileSync('tar', ['xzf', archive, '-C', x]);
  fs.rmSync(path.join(x, 'catalog', 'quotas.ndjson'));
  const head = JSON.parse(fs.readFileSync(path.join(x, 'manifest.json'), 'utf8'));
  head.tables = head.tables.filter((t: string) => t !== 'quotas');
  fs.writeFileSync(path.join(x, 'manifest.json'), JSON.stringify(head, null, 2) + '\n');
  const summary = JSON.parse(fs.readFileSync(path.join(x, 'manifest-summary.json'), 'utf8'));
  delete summary.tables.quotas;
  fs.writeFileSync(path.join(x, 'manifest-summary.json'), JSON.stringify(summary, null, 2) + '\n');
  const list = path.join(work, 'entries.txt');
  fs.writeFileSync(list, names.filter((n) => n !== 'catalog/quotas.ndjson').join('\n') + '\n');
  execFileSync('tar', ['czf', out, '-C', x, '--no-recursion', '-T', list]);
  fs.rmSync(x, { recursive: true, force: true });
}

for (const d of DIALECTS) {
  describe(`quota: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    before(async () => {
      store = await d.makeStore();
    });
    after(async () => {
      await store?.dispose();
    });
    const cli = (args: string[], input?: string) => runCli([...store.args, '--json', ...args], { input });
    const noDrift = async () => {
      const r = await cli(['quota', 'recount']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.json.corrected, [], 'usage drifted from the files table');
    };

    test('bad input: unknown action, missing owner, bad size: exit 2', async () => {
      assert.equal((await cli(['quota', 'frobnicate'])).code, 2);
      assert.equal((await cli(['quota', 'set'])).code, 2);
      const bad = await cli(['quota', 'set', 'acme', '--bytes', '12 parsecs']);
      assert.equal(bad.code, 2);
      assert.equal((await cli(['quota', 'set', 'acme', '--bytes', '1GB', '--warn', '150'])).code, 2);
    });

    test('a job that would pass its owner\'s quota fails alone and writes nothing; others go on (exit 3)', async () => {
      const first = await cli(['generate', '--workers', '1', '--jobs', '-'], ndjson([card('acme-1', 'acme')]));
      assert.equal(first.code, 0, first.stderr);
      const one = first.json.bytes as number;
      // room for one more acme job, not two
      const set = await cli(['quota', 'set', 'acme', '--bytes', String(Math.floor(one * 2.5)), '--warn', '30']);
      assert.equal(set.code, 0, set.stderr);
      assert.equal(set.json.owner.state, 'warn');
      const before = cardFiles(store.root);
      const r = await cli(['generate', '--workers', '1', '--jobs', '-'], ndjson([card('acme-2', 'acme'), card('acme-3', 'acme'), card('beta-1', 'beta')]));
      assert.equal(r.code, 3, r.stderr);
      assert.equal(r.json.jobs.rendered, 2);
      assert.equal(r.json.failures.length, 1);
      assert.equal(r.json.failures[0].jobId, 'acme-3');
      assert.match(r.json.failures[0].reason, /^quota exceeded: owner acme uses [\d.]+ [KM]iB of [\d.]+ [KM]iB, this job needs [\d.]+ [KM]iB$/);
      const after = cardFiles(store.root);
      assert.equal(after.length, before.length + 10);
      assert.ok(!after.some((p) => p.includes('acme-3')), 'the refused job left files');
      const show = await cli(['quota', 'show', 'acme']);
      assert.equal(show.json.owner.files, 10);
      await noDrift();
    });

    test('quota list and check: exit 7 when over, --warn also past the warning level', async () => {
      const list = await cli(['quota', 'list']);
      assert.equal(list.code, 0);
      const acme = list.json.owners.find((o: { owner: string }) => o.owner === 'acme');
      assert.equal(acme.state, 'warn');
      assert.ok(list.json.owners.some((o: { owner: string; quota: unknown }) => o.owner === 'beta' && o.quota === null));
      assert.equal((await cli(['quota', 'check'])).code, 0);
      const strict = await cli(['quota', 'check', '--warn']);
      assert.equal(strict.code, 7);
      assert.deepEqual(strict.json.warn.map((w: { owner: string }) => w.owner), ['acme']);
      assert.equal((await cli(['quota', 'set', 'beta', '--bytes', '1kB'])).code, 0);
      const over = await cli(['quota', 'check']);
      assert.equal(over.code, 7);
      assert.deepEqual(over.json.over.map((w: { owner: string }) => w.owner), ['beta']);
      assert.equal((await cli(['quota', 'unset', 'beta'])).json.removed, true);
      assert.equal((await cli(['quota', 'check'])).code, 0);
    });

    test('two writers racing for the last bytes of a quota: at most one job is accepted', async () => {
      const show = await cli(['quota', 'show', 'acme']);
      const used = show.json.owner.bytes as number;
      const perJob = used / 2;
      // room for exactly one more job
      assert.equal((await cli(['quota', 'set', 'acme', '--bytes', String(Math.floor(used + perJob * 1.5))])).code, 0);
      // generate takes the store lock: with --wait the later writer runs after the first and is
      // refused by the quota (not by the lock).
      const [a, b] = await Promise.all([
        cli(['generate', '--workers', '1', '--wait', '--jobs', '-'], ndjson([card('race-a', 'acme')])),
        cli(['generate', '--workers', '1', '--wait', '--jobs', '-'], ndjson([card('race-b', 'acme')])),
      ]);
      assert.deepEqual([a.code, b.code].filter((c) => c === 75), [], `${a.stderr}\n${b.stderr}`);
      const rendered = [a, b].map((r) => r.json?.jobs?.rendered ?? 0);
      assert.equal(rendered[0] + rendered[1], 1, `${a.stderr}\n${b.stderr}`);
      const refused = [a, b].find((r) => (r.json?.jobs?.rendered ?? 0) === 0)!;
      assert.match(JSON.stringify(refused.json), /quota exceeded/);
      const files = cardFiles(store.root);
      assert.equal(files.filter((p) => p.includes('/race-')).length, 5);
      await noDrift();
    });

    test('put: a file that would pass the quota fails alone (exit 3), nothing left at its path; another owner\'s goes in', async () => {
      const dir = tmpDir();
      try {
        const big = path.join(dir, 'big.bin');
        fs.writeFileSync(big, Buffer.alloc(4 * 1024 * 1024, 7));
        const small = path.join(dir, 'small.bin');
        fs.writeFileSync(small, 'hello');
        const r = await cli(['put', big, '--job', 'upload-q', '--owner', 'acme', '--category', 'uploads']);
        assert.equal(r.code, 3, r.stderr + r.stdout);
        assert.match(r.json.failed[0].reason, /^quota exceeded: owner acme uses [\d.]+ [KM]iB of [\d.]+ [KM]iB, this job needs 4.00 MiB$/);
        assert.ok(!fs.existsSync(path.join(store.root, 'uploads')) || !(fs.readdirSync(path.join(store.root, 'uploads'), { recursive: true }) as string[]).some((p) => p.endsWith('big.bin')));
        const ok = await cli(['put', small, '--job', 'upload-b', '--owner', 'beta', '--category', 'uploads']);
        assert.equal(ok.code, 0, ok.stderr + ok.stdout);
        await noDrift();
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    test('usage equals the recount after delete; a deleted job frees its owner\'s bytes', async () => {
      const g = await cli(['generate', '--workers', '1', '--jobs', '-'], ndjson([card('del-1', 'gamma'), card('del-2', 'gamma')]));
      assert.equal(g.code, 0, g.stderr);
      const before = (await cli(['quota', 'show', 'gamma'])).json.owner;
      assert.equal(before.files, 10);
      const r = await cli(['delete', 'del-1', '--yes', '--max-delete', '100%']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const after = (await cli(['quota', 'show', 'gamma'])).json.owner;
      assert.equal(after.files, 5);
      assert.ok(after.bytes < before.bytes && after.bytes > 0, `${before.bytes} -> ${after.bytes}`);
      await noDrift();
    });

    test('usage equals the recount after cleanup-expired and after a restore', async () => {
      assert.equal((await cli(['quota', 'unset', 'acme'])).code, 0);
      const clean = await cli(['cleanup-expired', '--yes', '--max-delete', '100%']);
      assert.equal(clean.code, 0, clean.stderr + clean.stdout);
      assert.ok(clean.json.result.files > 0, JSON.stringify(clean.json.result));
      await noDrift();
      assert.equal((await cli(['quota', 'show', 'acme'])).json.owner.files, 0);
      const dir = tmpDir();
      try {
        const archive = path.join(dir, 'b.tar.gz');
        const b = await cli(['backup', '--output', archive]);
        assert.equal(b.code, 0, b.stderr);
        const listBefore = (await cli(['quota', 'list'])).json.owners;
        const r = await cli(['restore', archive, '--force', '--yes']);
        assert.equal(r.code, 0, r.stderr);
        await noDrift();
        assert.deepEqual((await cli(['quota', 'list'])).json.owners.map((o: { owner: string; bytes: number }) => [o.owner, o.bytes]), listBefore.map((o: { owner: string; bytes: number }) => [o.owner, o.bytes]));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    test("backups carry quotas; an archive without them meets the target's: one over refuses the restore whole (exit 7)", async () => {
      const g = await cli(['generate', '--workers', '1', '--jobs', '-'], ndjson([card('acme-r1', 'acme')]));
      assert.equal(g.code, 0, g.stderr);
      assert.equal((await cli(['quota', 'set', 'acme', '--bytes', '50MB', '--warn', '90'])).code, 0);
      const dir = tmpDir();
      try {
        const archive = path.join(dir, 'q.tar.gz');
        assert.equal((await cli(['backup', '--output', archive])).code, 0);
        // Carried: a quota removed after the backup comes back with the restore.
        assert.equal((await cli(['quota', 'unset', 'acme'])).code, 0);
        const r = await cli(['restore', archive, '--force', '--yes']);
        assert.equal(r.code, 0, r.stderr);
        const restored = (await cli(['quota', 'show', 'acme'])).json.owner;
        assert.equal(restored.quota.maxBytes, 50_000_000);
        assert.equal(restored.quota.warnPercent, 90);
        await noDrift();

        // An archive written before backups carried quotas: the target's quota applies.
        const old = path.join(dir, 'old.tar.gz');
        archiveWithoutQuotas(archive, old, dir);
        assert.equal((await cli(['quota', 'set', 'acme', '--bytes', '1kB'])).code, 0);
        assert.equal((await cli(['cleanup-expired', '--yes', '--max-delete', '100%'])).code, 0);
        const filesBefore = cardFiles(store.root);
        const jobsBefore = (await cli(['stats'])).json.jobs.total;
        const refused = await cli(['restore', old, '--force', '--yes']);
        assert.equal(refused.code, 7, refused.stderr + refused.stdout);
        assert.equal(refused.json.error.code, 'quota_exceeded');
        assert.deepEqual(refused.json.error.owners.map((o: { owner: string }) => o.owner), ['acme']);
        assert.match(refused.json.error.message, /^restore refused: old\.tar\.gz holds [\d.]+ [KM]iB for owner acme, over its quota of 1000 B; nothing was restored$/);
        assert.deepEqual(cardFiles(store.root), filesBefore, 'nothing moved');
        assert.equal((await cli(['stats'])).json.jobs.total, jobsBefore, 'the catalog is as it was');
        assert.deepEqual(fs.readdirSync(path.join(store.root, '.storectl')).filter((n) => n.startsWith('restore')), [], 'no staging left');
        assert.equal((await cli(['quota', 'show', 'acme'])).json.owner.quota.maxBytes, 1000, 'the target keeps its quota');
        await noDrift();

        // Raised: the same archive restores, and the target's quota stays (the archive has none).
        assert.equal((await cli(['quota', 'set', 'acme', '--bytes', '60MB'])).code, 0);
        const ok = await cli(['restore', old, '--force', '--yes']);
        assert.equal(ok.code, 0, ok.stderr);
        assert.ok(cardFiles(store.root).some((p) => p.includes('acme-r1')));
        assert.equal((await cli(['quota', 'show', 'acme'])).json.owner.quota.maxBytes, 60_000_000);
        await noDrift();
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    test('kill -9 during generate: usage still equals the recount', async () => {
      const files = async () => {
        const c = await store.open();
        try {
          return (await c.usage.totals()).files;
        } finally {
          await c.close();
        }
      };
      const base = await files();
      const child = spawn(process.execPath, [BIN, ...store.args, 'generate', '--sample', '40', '--workers', '1'], {
        cwd: REPO,
        env: { ...process.env, NO_COLOR: '1', STORECTL_ROOT: '', STORECTL_DATABASE_URL: '', DATABASE_URL: '' },
        stdio: 'ignore',
      });
      let exited = false;
      const closed = new Promise((r) => child.on('close', () => r((exited = true))));
      // Killed once the catalog holds some of its jobs, not after a fixed time: at any load the
      // kill lands midway, with jobs recorded and others in flight.
      const c = await store.open();
      try {
        const deadline = Date.now() + 300_000;
        while (!exited && (await c.usage.totals()).files < base + 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      } finally {
        await c.close();
      }
      assert.ok(!exited, 'generate finished before it could be killed midway');
      child.kill('SIGKILL');
      await closed;
      const left = await files();
      assert.ok(left >= base + 10 && left < base + 200, `the killed run had recorded some of its jobs, not all (${left - base} files)`);
      await noDrift();
    });
  });
}

for (const d of DIALECTS) {
  describe(`quota fails closed: ${d.name}`, { skip: d.skip }, () => {
    test('when the usage ledger cannot be read or updated, generate and put write nothing and fail (never counted as zero usage)', async () => {
      const store = await d.makeStore();
      const dir = tmpDir();
      try {
        const cli = (args: string[], input?: string) => runCli([...store.args, '--json', ...args], { input });
        const ok = await cli(['generate', '--workers', '1', '--jobs', '-'], ndjson([card('fc-1', 'acme')]));
        assert.equal(ok.code, 0, ok.stderr);
        const before = cardFiles(store.root);
        const rowsBefore = await query<{ path: string }>(store, `select path from files order by path`);
        // The ledger is gone (a broken or half-migrated catalog): no quota can be judged.
        await execSql(store, `drop table usage`);
        const g = await cli(['generate', '--workers', '1', '--jobs', '-'], ndjson([card('fc-2', 'acme'), card('fc-3', 'beta')]));
        assert.notEqual(g.code, 0, 'a write went ahead without its usage');
        assert.notEqual(g.code, 3, 'jobs were written beside the refused ones');
        assert.match(g.json.error.message, /usage/, g.stdout);
        assert.deepEqual(cardFiles(store.root), before, 'files were written without usage');
        const f = path.join(dir, 'f.bin');
        fs.writeFileSync(f, 'hello');
        const p = await cli(['put', f, '--job', 'fc-up', '--owner', 'acme', '--category', 'uploads']);
        assert.notEqual(p.code, 0, 'put went ahead without its usage');
        assert.ok(!fs.existsSync(path.join(store.root, 'uploads')) || (fs.readdirSync(path.join(store.root, 'uploads'), { recursive: true, withFileTypes: true }) as fs.Dirent[]).every((e) => !e.isFile()), 'put left a file');
        assert.deepEqual(await query<{ path: string }>(store, `select path from files order by path`), rowsBefore, 'file rows were recorded without usage');
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
        await store.dispose();
      }
    });

    test('a catalog without its usage ledger: put, generate and quota fail with code usage_ledger and one clear line, not internal', async () => {
      const store = await d.makeStore();
      const dir = tmpDir();
      try {
        const ok = await runCli([...store.args, '--json', 'generate', '--workers', '1', '--jobs', '-'], { input: ndjson([card('ul-1', 'acme')]) });
        assert.equal(ok.code, 0, ok.stderr);
        await execSql(store, `drop table usage`);
        const f = path.join(dir, 'f.bin');
        fs.writeFileSync(f, 'hello');
        for (const args of [['put', f, '--job', 'ul-up', '--owner', 'acme', '--category', 'uploads'], ['quota', 'list'], ['generate', '--workers', '1', '--jobs', '-']]) {
          const r = await runCli([...store.args, '--json', ...args], { input: ndjson([card('ul-2', 'acme')]) });
          assert.equal(r.code, 1, `${args[0]}: ${r.stdout}${r.stderr}`);
          assert.equal(r.json.error.code, 'usage_ledger', `${args[0]}: ${r.stdout}`);
          assert.match(r.json.error.message, /^the catalog has no usage ledger \(.*usage.*\): no quota can be judged, so nothing was written$/);
          assert.match(r.json.error.hint, /restore it from a backup/);
        }
        const text = await runCli([...store.args, 'put', f, '--job', 'ul-up2', '--owner', 'acme', '--category', 'uploads']);
        assert.equal(text.code, 1);
        assert.match(text.stderr, /^storectl: error: the catalog has no usage ledger [^\n]*\n$/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
        await store.dispose();
      }
    });
  });
}

for (const d of DIALECTS) {
  describe(`usage follows verify and cleanup-orphaned marks: ${d.name}`, { skip: d.skip }, () => {
    test("a missing file stops counting (verify, cleanup-orphaned), a corrupt one still holds its bytes; the ledger equals a recount", async () => {
      const store = await d.makeStore();
      try {
        const cli = (args: string[], input?: string) => runCli([...store.args, '--json', ...args], { input });
        const usage = async () => {
          const o = (await cli(['quota', 'show', 'vm'])).json.owner;
          return { bytes: o.bytes as number, files: o.files as number };
        };
        const noDrift = async () => assert.deepEqual((await cli(['quota', 'recount'])).json.corrected, []);
        const g = await cli(['generate', '--workers', '1', '--jobs', '-'], ndjson([card('vm-1', 'vm'), card('vm-2', 'vm')]));
        assert.equal(g.code, 0, g.stderr);
        const rows = await query<{ job_id: string; path: string; size: number }>(store, `select job_id, path, size from files where owner = 'vm' order by path`);
        assert.equal(rows.length, 10);
        const start = await usage();
        assert.deepEqual(start, { bytes: rows.reduce((a, r) => a + Number(r.size), 0), files: 10 });
        const [gone, bad] = rows.filter((r) => r.job_id === 'vm-1');
        fs.rmSync(path.join(store.root, gone!.path));
        const abs = path.join(store.root, bad!.path);
        const bytes = fs.readFileSync(abs);
        bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
        fs.writeFileSync(abs, bytes);
        const v = await cli(['verify', '--job', 'vm-1']);
        assert.equal(v.code, 4, v.stdout + v.stderr);
        const states = await query<{ path: string; state: string }>(store, `select path, state from files where path in ($1, $2) order by path`, [gone!.path, bad!.path]);
        assert.deepEqual(Object.fromEntries(states.map((s) => [s.path, s.state])), { [gone!.path]: 'missing', [bad!.path]: 'corrupt' });
        assert.deepEqual(await usage(), { bytes: start.bytes - Number(gone!.size), files: 9 }, 'missing released, corrupt kept');
        await noDrift();
        const other = rows.find((r) => r.job_id === 'vm-2')!;
        fs.rmSync(path.join(store.root, other.path));
        const o = await cli(['--yes', 'cleanup-orphaned']);
        assert.equal(o.code, 0, o.stdout + o.stderr);
        assert.equal((await query<{ state: string }>(store, `select state from files where path = $1`, [other.path]))[0]!.state, 'missing');
        assert.deepEqual(await usage(), { bytes: start.bytes - Number(gone!.size) - Number(other.size), files: 8 });
        await noDrift();
      } finally {
        await store.dispose();
      }
    });
  });
}
