// An S3 store end to end through the real bin/storectl: s3:// roots, --database required, the
// root URL the catalog records, config with secrets redacted, the SDK's Node 20 warning kept
// off stderr. Against the loopback s3rver (or STORECTL_TEST_S3_ENDPOINT), on both dialects.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { DIALECTS, runCli, tmpDir } from './helpers/env.ts';
import { startS3, type S3Fixture } from './helpers/s3.ts';
import { storeLocation } from '../src/db/store-location.ts';
import { openCatalog } from '../src/db/connect.ts';
import { parseDatabaseUrl } from '../src/db/url.ts';
import { openBlobStore } from '../src/storage/open.ts';
import { resolveConfig } from '../src/config.ts';
import { openContext } from '../src/context.ts';
import { UsageError } from '../src/errors.ts';
import { silentLogger } from '../src/log.ts';
import { noProgress } from '../src/progress.ts';

let s3: S3Fixture;
before(async () => {
  s3 = await startS3();
});
after(async () => {
  await s3?.dispose();
});

const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { env: { ...s3.env, ...env } });

test('an S3 root without --database: exit 2 saying so, nothing written to the bucket', async () => {
  const root = await s3.newRoot();
  const r = await cli(['--root', root, 'stats']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /an S3 store has no local \.storectl\/ for the embedded catalog: s3:\/\/.* needs --database/);
  assert.equal(r.stderr.trim().split('\n').length <= 2, true, r.stderr);
  const store = await openBlobStore(root, () => s3.settings());
  const keys: string[] = [];
  for await (const page of store.list()) keys.push(...page.map((e) => e.key));
  assert.deepEqual(keys, []);
  assert.ok(!fs.existsSync(path.join(process.cwd(), 's3:')), 'no local directory named after the URL');
  await store.close();
});

test('a command not yet wired to the BlobStore refuses an S3 store (exit 2), it never writes a local dir', async () => {
  // Every command is wired now (verify, put, backup, restore and migrate-images-to-db joined the
  // others): the guard in openContext is what a new command meets until it says s3: true.
  const dir = tmpDir();
  const root = await s3.newRoot();
  const config = resolveConfig({ root, database: `sqlite:${path.join(dir, 'c.db')}` }, { ...process.env, ...s3.env, STORECTL_ROOT: '', STORECTL_DATABASE_URL: '', DATABASE_URL: '' }, dir);
  await assert.rejects(
    openContext(config, { createRoot: true, createCatalog: true, command: 'newcmd' }, { log: silentLogger, progress: noProgress }),
    (err: unknown) => err instanceof UsageError && err.exitCode === 2 && /newcmd does not work on an S3 store yet/.test(err.message),
  );
  assert.deepEqual(fs.readdirSync(dir), [], 'nothing written locally: no catalog, no directory named after the URL');
  // verify, wired now, runs against the S3 root and still never makes a local directory of it.
  const r = await runCli(['--root', root, '--database', `sqlite:${path.join(dir, 'c.db')}`, 'verify'], { cwd: dir, env: s3.env });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /no catalog at/);
  assert.deepEqual(fs.readdirSync(dir).filter((n) => n.startsWith('s3')), []);
  fs.rmSync(dir, { recursive: true, force: true });
});

for (const dialect of DIALECTS) {
  describe(`S3 store on ${dialect.name}`, { skip: dialect.skip }, () => {
    test('stats --check-disk on an S3 store: exit 0, the root recorded, stderr free of the SDK warning', async () => {
      const store = await dialect.makeStore();
      const dir = tmpDir();
      const db = store.databaseUrl || `sqlite:${path.join(dir, 'catalog.db')}`;
      try {
        const root = await s3.newRoot();
        if (!store.databaseUrl) assert.equal((await cli(['--root', root, '--database', db, 'migrate', '--create'])).code, 0, 'sqlite:PATH catalog created');
        const r = await cli(['--root', root, '--database', db, '--json', 'stats', '--check-disk']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.json.root, root);
        assert.doesNotMatch(r.stderr, /NodeVersionSupportWarning|AWS SDK for JavaScript|\(node:\d+\)/);
        assert.equal(r.stderr, '', 'stderr carries only storectl lines, and a quiet --json run has none');
        const cat = await openCatalog(parseDatabaseUrl(db, dir), { create: false, migrate: 'never' });
        assert.equal(await storeLocation(cat).rootUrl(), root);
        await cat.close();

        // The oracle can fail: with the SDK's own switch turned off, the warning is there.
        const loud = await cli(['--root', root, '--database', db, '--json', 'stats'], { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'false' });
        assert.equal(loud.code, 0, loud.stderr);
        assert.match(loud.stderr, /NodeVersionSupportWarning/);

        // Another bucket than the catalog's: refused, nothing recorded; --allow-root-change records it.
        const other = await s3.newRoot();
        const wrong = await cli(['--root', other, '--database', db, 'stats']);
        assert.equal(wrong.code, 2, wrong.stderr);
        assert.match(wrong.stderr, new RegExp(`the catalog belongs to the store at ${root.replace(/[/.]/g, '\\$&')}, not ${other.replace(/[/.]/g, '\\$&')}`));
        const cat2 = await openCatalog(parseDatabaseUrl(db, dir), { create: false, migrate: 'never' });
        assert.equal(await storeLocation(cat2).rootUrl(), root);
        const moved = await cli(['--root', other, '--database', db, '--allow-root-change', '--json', 'stats']);
        assert.equal(moved.code, 0, moved.stderr);
        assert.equal(await storeLocation(cat2).rootUrl(), other);
        await cat2.close();
        // generate writes objects (with the catalog's SHA-256) and rows; --check-disk finds no drift.
        const gen = await cli(['--root', other, '--database', db, '--json', 'generate', '--sample', '30', '--seed', '7', '--workers', '2']);
        assert.equal(gen.code, 0, gen.stderr);
        const check = await cli(['--root', other, '--database', db, '--json', 'stats', '--check-disk']);
        assert.equal(check.code, 0, check.stderr);
        assert.equal(check.json.drift.orphanFiles, 0);
        assert.equal(check.json.drift.missingFiles, 0);
        const cat3 = await openCatalog(parseDatabaseUrl(db, dir), { create: false, migrate: 'never' });
        const bucketStore = await openBlobStore(other, () => s3.settings());
        let objects = 0;
        for await (const page of bucketStore.list()) objects += page.length;
        assert.equal(objects, check.json.drift.walkedFiles);
        assert.equal(objects, check.json.usage.files, 'one object per present file row');
        // An object the catalog does not know is drift: exit 4.
        await bucketStore.put('cards/stray.png', Buffer.from('stray'));
        const drift = await cli(['--root', other, '--database', db, '--json', 'stats', '--check-disk']);
        assert.equal(drift.code, 4, drift.stderr);
        assert.equal(drift.json.drift.orphanFiles, 1);
        assert.equal(drift.json.drift.orphanBytes, 5);
        await bucketStore.close();
        await cat3.close();
        // A local directory against the S3 store's catalog: refused too.
        const local = await cli(['--root', dir, '--database', db, 'stats']);
        assert.equal(local.code, 2, local.stderr);
        assert.match(local.stderr, /the catalog belongs to the store at s3:\/\//);
      } finally {
        await store.dispose();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

test('a bucket that does not exist, and bad credentials: one line, exit 2', async () => {
  const dir = tmpDir();
  const db = `sqlite:${path.join(dir, 'c.db')}`;
  const root = await s3.newRoot();
  const bucket = /^s3:\/\/([^/]+)/.exec(root)![1]!;
  const missing = await cli(['--root', `s3://${bucket}-nope/x`, '--database', db, 'stats']);
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, new RegExp(`no such bucket: ${bucket}-nope`));
  const denied = await cli(['--root', root, '--database', db, 'stats'], { AWS_SECRET_ACCESS_KEY: 'not-the-secret', STORECTL_S3_MAX_ATTEMPTS: '1' });
  assert.equal(denied.code, 2, denied.stderr);
  assert.match(denied.stderr, /access denied to s3:\/\/|S3 credentials refused/);
  assert.doesNotMatch(denied.stderr, /not-the-secret/);
  const down = await cli(['--root', root, '--database', db, 'stats'], { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9', STORECTL_S3_MAX_ATTEMPTS: '1' });
  assert.equal(down.code, 2, down.stderr);
  assert.match(down.stderr, /cannot reach the S3 endpoint for s3:\/\/.*: ECONNREFUSED/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('config shows the S3 settings and their sources; secrets never printed', async () => {
  const dir = tmpDir();
  fs.writeFileSync(
    path.join(dir, 'storectl.config.json'),
    JSON.stringify({ root: 's3://my-bucket/some/prefix', s3: { endpoint: 'http://minio:9000', secretAccessKey: 'topsecret-value', accessKeyId: 'AKIAEXAMPLEKEY1', forcePathStyle: true } }),
  );
  const r = await runCli(['--json', 'config'], { cwd: dir, env: { STORECTL_S3_FORCE_PATH_STYLE: 'false' } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.root.value, 's3://my-bucket/some/prefix/');
  assert.equal(r.json.root.source, 'file');
  assert.deepEqual(r.json.s3.endpoint, { value: 'http://minio:9000', source: 'file' });
  assert.deepEqual(r.json.s3.forcePathStyle, { value: false, source: 'env' });
  assert.equal(r.json.s3.secretAccessKey.value, '***');
  assert.equal(r.json.s3.checksumMode.value, 'WHEN_REQUIRED', 'a custom endpoint gets WHEN_REQUIRED');
  assert.doesNotMatch(r.stdout, /topsecret-value|AKIAEXAMPLEKEY1/);
  const text = await runCli(['config'], { cwd: dir });
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /s3\.endpoint/);
  assert.doesNotMatch(text.stdout + text.stderr, /topsecret-value|AKIAEXAMPLEKEY1/);
  const bad = await runCli(['config'], { cwd: dir, env: { STORECTL_S3_CHECKSUM_MODE: 'sometimes' } });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /s3\.checksumMode must be WHEN_REQUIRED or WHEN_SUPPORTED/);
  fs.rmSync(dir, { recursive: true, force: true });
});
