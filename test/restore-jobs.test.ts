// restore ARCHIVE --job ID...: chosen jobs come back from a backup into an existing store (rows
// and files together, checked like a full restore), replacing nothing: a job whose files are in
// the store already, or whose place holds an unknown file, is refused whole; a killed run is
// finished by a rerun. Both dialects; the S3 store too.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, DIALECTS, tmpDir, type Store } from './helpers/env.ts';
import { runMain as run } from './helpers/run-main.ts';
import { startS3, type S3Fixture } from './helpers/s3.ts';
import { makeS3Store, sha, type S3Store } from './helpers/s3-store.ts';

const fileSha = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');

for (const d of DIALECTS) {
  describe(`restore --job into an existing store: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let work: string;
    let archive: string;
    let jobs: { id: string; status: string; files: number }[];
    before(async () => {
      store = await d.makeStore();
      work = tmpDir();
      const g = await run([...store.args, '--json', 'generate', '--sample', '6', '--seed', '11', '--workers', '1']);
      assert.equal(g.code, 0, g.stderr);
      archive = path.join(work, 'full.tar.gz');
      const b = await run([...store.args, '--json', 'backup', '--output', archive]);
      assert.equal(b.code, 0, b.stderr);
      const j = await run([...store.args, '--json', 'jobs', '--limit', '100']);
      jobs = j.json.jobs.filter((x: any) => x.files > 0);
      assert.ok(jobs.length >= 3, 'enough jobs with files');
    });
    after(async () => {
      await store?.dispose();
      fs.rmSync(work, { recursive: true, force: true });
    });

    const filesOf = async (s: Store, jobId: string) => {
      const c = await s.open();
      try {
        return await c.filesOfJob(jobId);
      } finally {
        await c.close();
      }
    };

    test('a deleted job comes back: dry run changes nothing, the real run brings its rows and byte-identical files, with events; no drift', async () => {
      const job = jobs[0]!.id;
      const wanted = Object.fromEntries((await filesOf(store, job)).map((f) => [f.path, f.sha256]));
      const del = await run([...store.args, '--json', '--yes', 'delete', '--force', job]);
      assert.equal(del.code, 0, del.stdout + del.stderr);
      for (const p of Object.keys(wanted)) assert.ok(!fs.existsSync(path.join(store.root, p)), `${p} deleted`);

      const dry = await run([...store.args, '--json', 'restore', archive, '--job', job, '--dry-run']);
      assert.equal(dry.code, 0, dry.stdout + dry.stderr);
      assert.deepEqual(dry.json.jobs.map((j: any) => [j.jobId, j.outcome, j.files]), [[job, 'would-restore', Object.keys(wanted).length]]);
      for (const p of Object.keys(wanted)) assert.ok(!fs.existsSync(path.join(store.root, p)), 'the dry run placed nothing');
      assert.ok((await filesOf(store, job)).every((f) => f.state === 'deleted'), 'the dry run wrote no row');

      const real = await run([...store.args, '--json', 'restore', archive, '--job', job]);
      assert.equal(real.code, 0, real.stdout + real.stderr);
      assert.equal(real.json.jobs[0].outcome, 'restored');
      assert.equal(real.json.jobs[0].jobInserted, false);
      const rows = await filesOf(store, job);
      assert.equal(rows.length, Object.keys(wanted).length, 'the tombstones came back, no new rows');
      for (const r of rows) {
        assert.equal(r.state, 'present');
        assert.equal(r.deletedAt, null);
        assert.equal(fileSha(path.join(store.root, r.path)), wanted[r.path], r.path);
        assert.equal(fs.statSync(path.join(store.root, r.path)).mode & 0o777, 0o600);
      }
      const shown = await run([...store.args, '--json', 'show', job]);
      assert.equal(shown.json.jobs[0].job.filesState, 'on_disk');
      const c = await store.open();
      const events = await c.eventsOfPaths(Object.keys(wanted));
      await c.close();
      assert.equal(events.filter((e: any) => e.action === 'restore').length, Object.keys(wanted).length, 'one restore event per file');
      const check = await run([...store.args, '--json', 'stats', '--check-disk']);
      assert.equal(check.code, 0, check.stdout);
      assert.equal(check.json.drift.orphanFiles + check.json.drift.missingFiles, 0);
      assert.deepEqual(check.json.usageDrift, []);
    });

    test('a job whose files are present, or whose place holds an unknown file, is refused whole (exit 3); the others in the same run come back', async () => {
      const [present, blocked, free] = [jobs[0]!.id, jobs[1]!.id, jobs[2]!.id];
      for (const j of [blocked, free]) assert.equal((await run([...store.args, '--yes', 'delete', '--force', j])).code, 0);
      const blockedRows = await filesOf(store, blocked);
      const squatter = path.join(store.root, blockedRows[0]!.path);
      fs.mkdirSync(path.dirname(squatter), { recursive: true });
      fs.writeFileSync(squatter, 'not the archived bytes', { mode: 0o600 });
      const r = await run([...store.args, '--json', 'restore', archive, '--job', present, blocked, free]);
      assert.equal(r.code, 3, r.stdout + r.stderr);
      const by = Object.fromEntries(r.json.jobs.map((j: any) => [j.jobId, j]));
      assert.equal(by[present].outcome, 'refused');
      assert.match(by[present].conflicts[0], /is present in this store already/);
      assert.equal(by[blocked].outcome, 'refused');
      assert.match(by[blocked].conflicts.join('\n'), /a file the catalog does not know is in its place/);
      assert.equal(by[free].outcome, 'restored');
      assert.equal(fs.readFileSync(squatter, 'utf8'), 'not the archived bytes', 'the unknown file is left as it was');
      assert.ok((await filesOf(store, blocked)).every((f) => f.state === 'deleted'), 'nothing of the refused job written');
      for (const p of blockedRows.slice(1)) assert.ok(!fs.existsSync(path.join(store.root, p.path)), 'no file of the refused job placed');
      assert.ok((await filesOf(store, free)).every((f) => f.state === 'present'));
      fs.rmSync(squatter);
    });

    test('into another store that never had the job: the job row comes from the archive with its files', async () => {
      const other = await d.makeStore();
      try {
        assert.equal((await run([...other.args, 'migrate', '--create'])).code, 0);
        const job = jobs[1]!.id;
        const r = await run([...other.args, '--json', 'restore', archive, '--job', job]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.equal(r.json.jobs[0].jobInserted, true);
        const shown = await run([...other.args, '--json', 'show', job]);
        assert.equal(shown.code, 0, shown.stderr);
        assert.equal(shown.json.jobs[0].job.id, job);
        assert.equal(shown.json.jobs[0].job.status, jobs[1]!.status);
        const rows = await filesOf(other, job);
        assert.equal(rows.length, jobs[1]!.files);
        const got = await run([...other.args, 'get', '--path', rows[0]!.path, '--output', path.join(work, 'got.bin')]);
        assert.equal(got.code, 0, got.stderr);
        assert.equal(fileSha(path.join(work, 'got.bin')), rows[0]!.sha256);
      } finally {
        await other.dispose();
      }
    });

    test('killed after placing a file, a rerun adopts what is in place and finishes; unknown ids exit 5; --force with --job exits 2', async () => {
      const job = jobs[2]!.id;
      assert.equal((await run([...store.args, '--yes', 'delete', '--force', job])).code, 0);
      const flag = path.join(work, 'paused');
      const child = spawn(process.execPath, [BIN, ...store.args, 'restore', archive, '--job', job], {
        env: { ...process.env, STORECTL_TEST_PAUSE_AT: `restore-job-placed:${flag}` },
        stdio: 'ignore',
      });
      const exited = new Promise<number | null>((res) => child.on('exit', (code, sig) => res(sig ? null : code)));
      for (let i = 0; i < 600 && !fs.existsSync(flag); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(fs.existsSync(flag), 'the run reached the pause after placing a file');
      process.kill(Number(fs.readFileSync(flag, 'utf8')), 'SIGKILL');
      assert.equal(await exited, null, 'killed');
      fs.rmSync(flag, { force: true });
      const rows = await filesOf(store, job);
      assert.ok(rows.every((f) => f.state === 'deleted'), 'no row written before the kill');
      const placed = rows.filter((f) => fs.existsSync(path.join(store.root, f.path)));
      assert.equal(placed.length, 1, 'one file was in place when killed');

      const rerun = await run([...store.args, '--json', 'restore', archive, '--job', job]);
      assert.equal(rerun.code, 0, rerun.stdout + rerun.stderr);
      assert.equal(rerun.json.jobs[0].adopted, 1);
      const after = await filesOf(store, job);
      assert.ok(after.every((f) => f.state === 'present' && fileSha(path.join(store.root, f.path)) === f.sha256));
      const check = await run([...store.args, '--json', 'stats', '--check-disk']);
      assert.equal(check.json.drift.orphanFiles, 0, 'no stray file left');
      assert.deepEqual(fs.readdirSync(path.join(store.root, '.storectl')).filter((n) => n.startsWith('restore-jobs-')), [], 'the killed run\'s staging is not where it would be read as data');

      const unknown = await run([...store.args, '--json', 'restore', archive, '--job', 'card-20000101-deadbeef']);
      assert.equal(unknown.code, 5, unknown.stdout);
      assert.equal(unknown.json.error.code, 'not_found');
      assert.equal((await run([...store.args, 'restore', archive, '--job', job, '--force'])).code, 2);
    });
  });
}

for (const d of DIALECTS) {
  describe(`restore --job into an S3 store: ${d.name}`, { skip: d.skip }, () => {
    let s3: S3Fixture;
    let s: S3Store;
    let work: string;
    before(async () => {
      s3 = await startS3();
      s = await makeS3Store(d, s3);
      work = tmpDir();
    });
    after(async () => {
      await s?.dispose();
      await s3?.dispose();
      fs.rmSync(work, { recursive: true, force: true });
    });

    test('a deleted job comes back as objects with their rows', async () => {
      const g = await s.cli('generate', '--sample', '3', '--seed', '4', '--workers', '1');
      assert.equal(g.code, 0, g.stderr);
      const archive = path.join(work, 's3.tar.gz');
      assert.equal((await s.cli('backup', '--output', archive)).code, 0);
      const job = (await s.cli('jobs')).json.jobs.find((x: any) => x.files > 0).id;
      const before = await s.c.filesOfJob(job);
      assert.equal((await s.cli('--yes', 'delete', '--force', job)).code, 0);
      for (const f of before) assert.equal(await s.bucket.stat(f.path), null, 'deleted from the bucket');
      const r = await s.cli('restore', archive, '--job', job);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      for (const f of await s.c.filesOfJob(job)) {
        assert.equal(f.state, 'present');
        const chunks: Buffer[] = [];
        for await (const c of await s.bucket.get(f.path)) chunks.push(c as Buffer);
        assert.equal(sha(Buffer.concat(chunks)), f.sha256, f.path);
      }
    });
  });
}
