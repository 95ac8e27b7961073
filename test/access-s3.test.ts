// show, get, export and url on an S3 store, end to end through the real bin/storectl against
// the loopback s3rver (or STORECTL_TEST_S3_ENDPOINT), on both dialects: bytes compared with the
// objects in the bucket, outcomes and exit codes with the catalog's rows; delete removes objects
// (test/s3-delete.test.ts has the rest of delete and cleanup-expired on S3).
//
// What s3rver checks of a presigned URL (read in node_modules/@20minutes/s3rver/lib/
// middleware/authentication.js and lib/signature/v4.js): the SigV4 signature over the method,
// path, query (X-Amz-Expires and X-Amz-Date included) and signed headers, with the key pair's
// secret (SignatureDoesNotMatch, 403); the expiry, X-Amz-Date + X-Amz-Expires against its own
// clock (AccessDenied "Request has expired", 403); X-Amz-Expires over 604800 (400). It keeps no
// sessions, so it never refuses an expired session token: that case is checked on our side only.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import type { Catalog } from '../src/db/catalog.ts';
import { openCatalog } from '../src/db/connect.ts';
import type { FileRecord } from '../src/db/types.ts';
import { parseDatabaseUrl } from '../src/db/url.ts';
import { redactText } from '../src/redact.ts';
import type { BlobStore } from '../src/storage/blob.ts';
import { openBlobStore } from '../src/storage/open.ts';
import { BIN, DIALECTS, REPO, runCli, tmpDir } from './helpers/env.ts';
import { sqlExec } from './helpers/cleanup-fixture.ts';
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

/** Runs the bin with the S3 environment and keeps stdout as bytes. */
function runBytes(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, env: { ...process.env, NO_COLOR: '1', STORECTL_ROOT: '', STORECTL_DATABASE_URL: '', DATABASE_URL: '', ...env } });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr }));
    child.stdin.end();
  });
}

async function fetchStatus(url: string): Promise<{ status: number; body: Buffer }> {
  const r = await fetch(url);
  return { status: r.status, body: Buffer.from(await r.arrayBuffer()) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const d of DIALECTS) {
  describe(`access on an S3 store: ${d.name}`, { skip: d.skip }, () => {
    let dispose: () => Promise<void>;
    let dir: string;
    let db: string;
    let root: string;
    let c: Catalog;
    let bucket: BlobStore;
    /** Jobs with present files (not in production), in id order, and their rows. */
    let jobs: { id: string; files: FileRecord[] }[];
    let next = 0;
    /** A job no other test has used yet. */
    const takeJob = () => {
      const j = jobs[next++];
      assert.ok(j, 'the sample has enough jobs');
      return j;
    };
    const cli = (args: string[], env: Record<string, string> = {}) => runCli(['--root', root, '--database', db, '--json', ...args], { env: { ...s3.env, ...env } });
    const bytes = (args: string[]) => runBytes(['--root', root, '--database', db, ...args], s3.env);

    /** Makes a job one no lifecycle rule deletes (printed, awaiting QA), so links to it are not cut. */
    const keep = (id: string) => sqlExec(c, `update jobs set status = 'printed' where id = '${id}'`);

    /** Tombstones a row as a deletion would (intent, object removed, tombstone and event). */
    async function tombstone(row: FileRecord, reason: string): Promise<Date> {
      await c.markDeleting([row.id], reason);
      const removed = await bucket.remove(row.path);
      assert.ok(removed.ok, removed.error);
      const at = new Date();
      await c.finishDeletions({ deleted: [{ id: row.id, at, reason }], restored: [], events: [{ runId: null, at, action: 'delete', path: row.path, jobId: row.jobId, bytes: row.size, reason }], jobs: [] });
      return at;
    }

    before(async () => {
      const store = await d.makeStore();
      dir = tmpDir('storectl-s3-access-');
      dispose = async () => {
        await store.dispose();
        fs.rmSync(dir, { recursive: true, force: true });
      };
      db = store.databaseUrl || `sqlite:${path.join(dir, 'catalog.db')}`;
      root = await s3.newRoot();
      if (!store.databaseUrl) assert.equal((await cli(['migrate', '--create'])).code, 0);
      const gen = await cli(['generate', '--sample', '24', '--seed', '11', '--workers', '2']);
      assert.equal(gen.code, 0, gen.stdout + gen.stderr);
      c = await openCatalog(parseDatabaseUrl(db, dir), { create: false, migrate: 'never' });
      bucket = await openBlobStore(root, () => s3.settings());
      const all = await c.jobPage({ limit: 1000 });
      jobs = [];
      for (const j of all) {
        if (['queued', 'assigned', 'printing', 'processing', 'quality_check'].includes(j.status)) continue;
        const files = (await c.filesOfJob(j.id)).filter((f) => f.state === 'present');
        if (files.length >= 2) jobs.push({ id: j.id, files });
      }
      assert.ok(jobs.length >= 8, `enough finished jobs with files in the sample: ${jobs.length}`);
    });
    after(async () => {
      await bucket?.close();
      await c?.close();
      await dispose?.();
    });

    test('get: exactly the object\'s bytes, to -o FILE (no temp left) and to stdout; --path too', async () => {
      const { id, files } = takeJob();
      const row = files[0]!;
      const object = await readObject(bucket, row.path);
      assert.equal(sha(object), row.sha256, 'the fixture object is the row\'s');
      const out = path.join(dir, 'get-out');
      fs.mkdirSync(out);
      const target = path.join(out, 'file.bin');
      const r = await cli(['get', id, row.role, '-o', target]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual(fs.readFileSync(target), object);
      assert.equal(r.json.sha256, row.sha256);
      assert.equal(r.json.verified, true);
      assert.deepEqual(fs.readdirSync(out), ['file.bin'], 'no temp file left beside the target');
      const s = await bytes(['get', id, row.role]);
      assert.equal(s.code, 0, s.stderr);
      assert.deepEqual(s.stdout, object);
      const byPath = await bytes(['get', '--path', files[1]!.path, '-o', '-']);
      assert.equal(byPath.code, 0, byPath.stderr);
      assert.deepEqual(byPath.stdout, await readObject(bucket, files[1]!.path));
    });

    test('get: never had that file or no such job: not_found (exit 5); a tombstone: gone (exit 6) with when and why; show lists it', async () => {
      const { id, files } = takeJob();
      const nf = await cli(['get', id, 'nope.png', '-o', path.join(dir, 'nf.bin')]);
      assert.equal(nf.code, 5, nf.stdout + nf.stderr);
      assert.equal(nf.json.error.code, 'not_found');
      assert.equal(fs.existsSync(path.join(dir, 'nf.bin')), false);
      assert.equal((await cli(['get', 'no-such-job', 'front.png'])).json.error.exitCode, 5);
      assert.equal((await cli(['get', '--path', 'cards/none.png'])).code, 5);

      const row = files[0]!;
      const at = await tombstone(row, 'manual');
      const gone = await cli(['get', id, row.role, '-o', path.join(dir, 'gone.bin')]);
      assert.equal(gone.code, 6, gone.stdout + gone.stderr);
      assert.equal(gone.json.error.code, 'gone');
      assert.equal(gone.json.error.tombstone.deletedAt, at.toISOString());
      assert.equal(gone.json.error.tombstone.reason, 'manual');
      assert.match(gone.json.error.message, new RegExp(`was deleted at ${at.toISOString().replace(/\./g, '\\.')}: manual`));
      assert.equal(fs.existsSync(path.join(dir, 'gone.bin')), false);

      const show = await cli(['show', id]);
      assert.equal(show.code, 0, show.stderr);
      const [j] = show.json.jobs;
      assert.equal(j.job.id, id);
      assert.deepEqual(j.tombstones.map((t: { path: string }) => t.path), [row.path]);
      const shown = new Map(j.files.map((f: { path: string; state: string; sha256: string }) => [f.path, f]));
      for (const f of files.slice(1)) assert.equal((shown.get(f.path) as { sha256: string }).sha256, f.sha256);
      assert.equal((shown.get(row.path) as { state: string }).state, 'deleted');
    });

    test('get: a corrupted object: with -o nothing at the target (exit 4); to stdout exit 4 and a line; a missing object: exit 4', async () => {
      const { id, files } = takeJob();
      const row = files[0]!;
      const good = await readObject(bucket, row.path);
      const bad = Buffer.from(good);
      bad[7] = bad[7]! ^ 0xff;
      await bucket.put(row.path, bad);
      const out = path.join(dir, 'corrupt-out');
      fs.mkdirSync(out);
      const target = path.join(out, 'corrupt.bin');
      const r = await cli(['get', id, row.role, '-o', target]);
      assert.equal(r.code, 4, r.stdout + r.stderr);
      assert.equal(r.json.error.code, 'integrity');
      assert.match(r.json.error.message, /SHA-256 [0-9a-f]{64} does not match the catalog's/);
      assert.deepEqual(fs.readdirSync(out), [], 'nothing at the target, no temp file left');
      const s = await bytes(['get', id, row.role]);
      assert.equal(s.code, 4);
      assert.deepEqual(s.stdout, bad, 'the bytes are out');
      assert.match(s.stderr, /integrity: .*does not match/);
      await bucket.put(row.path, good);

      const other = files[1]!;
      const kept = await readObject(bucket, other.path);
      await bucket.remove(other.path);
      const missing = await cli(['get', '--path', other.path, '-o', path.join(out, 'missing.bin')]);
      assert.equal(missing.code, 4, missing.stdout + missing.stderr);
      assert.match(missing.json.error.message, /is recorded as present but is not in the store \(s3:\/\//);
      assert.deepEqual(fs.readdirSync(out), []);
      await bucket.put(other.path, kept);
    });

    test('export: tar.gz and zip hold exactly the present objects, byte-identical; a tombstone is listed; a corrupted object is not archived (exit 4)', async () => {
      const a = takeJob();
      const b = takeJob();
      const cj = takeJob();
      const dead = a.files[0]!;
      await tombstone(dead, 'manual');
      const present = [...a.files.slice(1), ...b.files];
      const out = path.join(dir, 'export');
      fs.mkdirSync(out);
      for (const [name, extract] of [
        ['x.tar.gz', (file: string, to: string) => spawnSync('tar', ['xzf', file, '-C', to])],
        ['x.zip', (file: string, to: string) => spawnSync('unzip', ['-q', file, '-d', to])],
      ] as const) {
        const file = path.join(out, name);
        const r = await cli(['export', a.id, b.id, '--output', file]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.equal(r.json.archived.files, present.length);
        assert.equal(r.json.deleted, 1);
        const to = path.join(out, `${name}.d`);
        fs.mkdirSync(to);
        const x = extract(file, to);
        assert.equal(x.status, 0, String(x.stderr));
        const listed: string[] = [];
        const walk = (rel: string) => {
          for (const e of fs.readdirSync(path.join(to, 'files', rel), { withFileTypes: true })) {
            const p = rel ? `${rel}/${e.name}` : e.name;
            if (e.isDirectory()) walk(p);
            else listed.push(p);
          }
        };
        walk('');
        assert.deepEqual(listed.sort(), present.map((f) => f.path).sort());
        for (const f of present) assert.deepEqual(fs.readFileSync(path.join(to, 'files', f.path)), await readObject(bucket, f.path), f.path);
        const manifest = fs.readFileSync(path.join(to, 'manifest.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
        assert.equal(manifest.length, a.files.length + b.files.length);
        const m = manifest.find((e: { path: string }) => e.path === dead.path);
        assert.equal(m.state, 'deleted');
        assert.equal(m.reason, 'manual');
        assert.ok(manifest.filter((e: { state: string }) => e.state === 'archived').every((e: { sha256: string; path: string }) => e.sha256 === present.find((f) => f.path === e.path)!.sha256));
      }
      // To stdout, and with a corrupted object: listed, not archived, exit 4.
      const row = cj.files[0]!;
      const good = await readObject(bucket, row.path);
      await bucket.put(row.path, Buffer.concat([good, Buffer.from('x')]));
      const file = path.join(out, 'bad.tar.gz');
      const r = await cli(['export', cj.id, '--output', file]);
      assert.equal(r.code, 4, r.stdout + r.stderr);
      assert.deepEqual(r.json.problems.map((p: { path: string; state: string }) => [p.path, p.state]), [[row.path, 'mismatch']]);
      const t = spawnSync('tar', ['tzf', file], { encoding: 'utf8' });
      assert.equal(t.status, 0);
      assert.deepEqual(t.stdout.trim().split('\n').sort(), ['manifest.ndjson', ...cj.files.slice(1).map((f) => `files/${f.path}`)].sort());
      await bucket.put(row.path, good);
      const piped = await bytes(['export', cj.id, '--output', '-']);
      assert.equal(piped.code, 0, piped.stderr);
      const list = spawnSync('tar', ['tzf', '-'], { input: piped.stdout, encoding: 'utf8' });
      assert.deepEqual(list.stdout.trim().split('\n').sort(), ['manifest.ndjson', ...cj.files.map((f) => `files/${f.path}`)].sort());
    });

    test('url: a presigned GET URL serves exactly the bytes; a tampered signature, expiry or key is refused; after expiry refused', async () => {
      const { id, files } = takeJob();
      await keep(id);
      const row = files[0]!;
      const object = await readObject(bucket, row.path);
      const logFile = path.join(dir, 'url.log');
      const r = await cli(['--verbose', '--log-file', logFile, 'url', id, row.role, '--expires', '10m']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(r.json.backend, 's3');
      assert.equal(r.json.cutToDeletion, null);
      const u = new URL(r.json.url);
      assert.equal(u.searchParams.get('X-Amz-Algorithm'), 'AWS4-HMAC-SHA256');
      assert.equal(u.searchParams.get('X-Amz-SignedHeaders'), 'host');
      const signedAt = Date.parse(u.searchParams.get('X-Amz-Date')!.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));
      assert.equal(signedAt + Number(u.searchParams.get('X-Amz-Expires')) * 1000, Date.parse(r.json.expiresAt), 'the URL expires when the report says');
      assert.ok(Math.abs(Date.parse(r.json.expiresAt) - (Date.now() + 600_000)) < 10_000);
      const got = await fetchStatus(r.json.url);
      assert.equal(got.status, 200);
      assert.deepEqual(got.body, object);
      // The signature is a secret: never on stderr or in the log file.
      const signature = u.searchParams.get('X-Amz-Signature')!;
      assert.match(signature, /^[0-9a-f]{64}$/);
      assert.doesNotMatch(r.stderr + fs.readFileSync(logFile, 'utf8'), new RegExp(signature));
      assert.doesNotMatch(redactText(`failed to fetch ${r.json.url}`), new RegExp(signature), 'redaction hides a presigned signature');

      const flipped = new URL(u);
      flipped.searchParams.set('X-Amz-Signature', (signature[0] === 'a' ? 'b' : 'a') + signature.slice(1));
      assert.equal((await fetchStatus(flipped.toString())).status, 403);
      const longer = new URL(u);
      longer.searchParams.set('X-Amz-Expires', '3600');
      assert.equal((await fetchStatus(longer.toString())).status, 403);
      const otherKey = new URL(u);
      otherKey.pathname = otherKey.pathname.replace(/[^/]+$/, encodeURIComponent(files[1]!.path.split('/').pop()!));
      assert.notEqual(otherKey.pathname, u.pathname);
      assert.equal((await fetchStatus(otherKey.toString())).status, 403);

      const short = await cli(['url', '--path', files[1]!.path, '--expires', '3s']);
      assert.equal(short.code, 0, short.stderr);
      const fresh = await fetchStatus(short.json.url);
      assert.equal(fresh.status, 200);
      assert.deepEqual(fresh.body, await readObject(bucket, files[1]!.path));
      await sleep(Math.max(0, Date.parse(short.json.expiresAt) - Date.now()) + 1500);
      const expired = await fetchStatus(short.json.url);
      assert.equal(expired.status, 403);
      assert.match(expired.body.toString(), /Request has expired/);
    });

    test('url: cut to the lifecycle deletion; nothing for a file due or gone; over 7d and --nginx-config are exit 2; the SDK checksum mode signs no extra header', async () => {
      const { id, files } = takeJob();
      // A completed export is deleted by the default rule a day after completion: due in 3h.
      const completed = new Date(Date.now() - 21 * 3_600_000);
      await sqlExec(c, `update jobs set kind = 'export', status = 'completed', completed_at = ${d.name === 'sqlite' ? completed.getTime() : `'${completed.toISOString()}'`} where id = '${id}'`);
      const r = await cli(['url', id, files[0]!.role, '--expires', '7d']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(r.json.cutToDeletion?.rule, 'completed-exports', JSON.stringify(r.json));
      const due = new Date(completed.getTime() + 24 * 3_600_000);
      assert.equal(r.json.cutToDeletion.dueAt, due.toISOString());
      assert.equal(r.json.expiresAt, new Date(Math.floor(due.getTime() / 1000) * 1000).toISOString());
      assert.match(r.stderr, /expiry cut from .* rule completed-exports/);
      const u = new URL(r.json.url);
      assert.ok(Number(u.searchParams.get('X-Amz-Expires')) <= 3 * 3600 + 5);
      assert.equal((await fetchStatus(r.json.url)).status, 200);

      const past = new Date(Date.now() - 30 * 3_600_000);
      await sqlExec(c, `update jobs set completed_at = ${d.name === 'sqlite' ? past.getTime() : `'${past.toISOString()}'`} where id = '${id}'`);
      const dueNow = await cli(['url', id, files[0]!.role]);
      assert.equal(dueNow.code, 1);
      assert.equal(dueNow.json.error.code, 'due_for_deletion');

      const { id: id2, files: files2 } = takeJob();
      await keep(id2);
      await tombstone(files2[0]!, 'manual');
      const gone = await cli(['url', id2, files2[0]!.role]);
      assert.equal(gone.code, 6);
      assert.equal(gone.json.error.code, 'gone');
      assert.equal((await cli(['url', id2, 'nope.png'])).code, 5);
      const long = await cli(['url', id2, files2[1]!.role, '--expires', '8d']);
      assert.equal(long.code, 2);
      assert.match(long.json.error.message, /longer than S3 allows for a presigned URL \(7d\)/);
      const week = await cli(['url', id2, files2[1]!.role, '--expires', '7d']);
      assert.equal(week.code, 0, week.stderr);
      assert.equal(new URL(week.json.url).searchParams.get('X-Amz-Expires'), '604800');
      assert.equal((await fetchStatus(week.json.url)).status, 200, 'S3\'s limit itself is accepted');
      const nginx = await cli(['url', '--nginx-config']);
      assert.equal(nginx.code, 2);
      assert.match(nginx.json.error.message, /--nginx-config is for a local store/);
      // AWS's default checksum mode: GetObject may ask for x-amz-checksum-mode; a link must not need it.
      const supported = await cli(['url', id2, files2[1]!.role], { STORECTL_S3_CHECKSUM_MODE: 'WHEN_SUPPORTED' });
      assert.equal(supported.code, 0, supported.stderr);
      assert.equal(new URL(supported.json.url).searchParams.get('X-Amz-SignedHeaders'), 'host');
      assert.equal((await fetchStatus(supported.json.url)).status, 200);
    });

    test('url: session credentials that expire before the link: said on stderr and in the JSON; the token never on stderr', async () => {
      const { id, files } = takeJob();
      await keep(id);
      const credsExpire = new Date(Date.now() + 20 * 60_000);
      const script = path.join(dir, 'creds.mjs');
      const token = 'session-token-0123456789abcdef';
      fs.writeFileSync(script, `process.stdout.write(JSON.stringify({ Version: 1, AccessKeyId: ${JSON.stringify(s3.env.AWS_ACCESS_KEY_ID)}, SecretAccessKey: ${JSON.stringify(s3.env.AWS_SECRET_ACCESS_KEY)}, SessionToken: '${token}', Expiration: '${credsExpire.toISOString()}' }));\n`);
      const config = path.join(dir, 'aws-config');
      fs.writeFileSync(config, `[profile storectl-session]\ncredential_process = ${process.execPath} ${script}\n`);
      const env = { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: 'storectl-session', AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'no-credentials') };
      const r = await cli(['url', id, files[0]!.role, '--expires', '2h'], env);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(r.json.credentialsExpireAt, credsExpire.toISOString());
      assert.match(r.stderr, /the credentials that signed this link expire at .*, before the link .*: it stops working then/);
      assert.equal(new URL(r.json.url).searchParams.get('X-Amz-Security-Token'), token);
      assert.doesNotMatch(r.stderr, new RegExp(token));
      assert.equal((await fetchStatus(r.json.url)).status, 200);
      const within = await cli(['url', id, files[0]!.role, '--expires', '5m'], env);
      assert.equal(within.code, 0, within.stderr);
      assert.equal(within.json.credentialsExpireAt, null, 'credentials outliving the link: nothing to say');
      assert.doesNotMatch(within.stderr, /credentials/);
    });

    test('delete on an S3 store: the job\'s objects removed, its rows tombstones (manual); get says gone (exit 6)', async () => {
      const { id, files } = takeJob();
      const r = await cli(['delete', id, '--yes']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(r.json.result.files, files.length);
      for (const f of files) assert.equal(await bucket.stat(f.path), null, f.path);
      assert.ok((await c.filesOfJob(id)).every((f) => f.state === 'deleted' && f.deleteReason === 'manual'));
      const gone = await cli(['get', id, files[0]!.role, '-o', path.join(dir, 'deleted.bin')]);
      assert.equal(gone.code, 6, gone.stdout + gone.stderr);
    });
  });
}
