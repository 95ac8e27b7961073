// S3 secrets never print: the secret access key and session token (config file s3 section,
// AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN) and a password in an endpoint or root URL go into
// the redaction registry, so failing runs against the real s3rver (no such bucket, an endpoint
// that does not answer) leave them out of stderr, the --json error, the log file, `config` and
// the runs table. On both dialects.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { DIALECTS, runCli, tmpDir } from './helpers/env.ts';
import { startS3, type S3Fixture } from './helpers/s3.ts';
import { openCatalog } from '../src/db/connect.ts';
import { parseDatabaseUrl } from '../src/db/url.ts';

let s3: S3Fixture;
before(async () => {
  s3 = await startS3();
});
after(async () => {
  await s3?.dispose();
});

const tag = () => randomBytes(6).toString('hex');

/** A port nothing listens on (bound, then closed). */
async function deadPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

function assertHidden(what: string, text: string, secrets: string[]): void {
  for (const s of secrets) assert.ok(!text.includes(s), `${what} prints the secret ${s}:\n${text}`);
}

/** Every row of the runs table, as one string. */
async function runsText(databaseUrl: string, root: string): Promise<{ rows: Record<string, unknown>[]; text: string }> {
  const c = await openCatalog(parseDatabaseUrl(databaseUrl || undefined, root), { create: false, migrate: 'never' });
  try {
    const snap = await c.openSnapshot();
    const rows: Record<string, unknown>[] = [];
    for await (const page of snap.tableRows('runs')) rows.push(...(page as Record<string, unknown>[]));
    await snap.close();
    return { rows, text: JSON.stringify(rows) };
  } finally {
    await c.close();
  }
}

for (const d of DIALECTS) {
  describe(`S3 secrets on ${d.name}`, { skip: d.skip }, () => {
    test('secrets from the config file, the environment and an endpoint URL: hidden in a failing run, its log file, config and the runs table', async () => {
      const store = await d.makeStore();
      const dir = tmpDir();
      try {
        const fileKey = `cfgSecretKey-${tag()}`;
        const fileToken = `cfgSessionTok-${tag()}`;
        const envKey = `envSecretKey-${tag()}`;
        const envToken = `envSessionTok-${tag()}`;
        const urlPass = `urlPass-${tag()}`;
        const secrets = [fileKey, fileToken, envKey, envToken, urlPass];
        const logFile = path.join(dir, 'run.log');
        const db = store.databaseUrl || `sqlite:${path.join(dir, 'catalog.db')}`;
        const port = await deadPort();
        const config = path.join(dir, 'storectl.config.json');
        fs.writeFileSync(
          config,
          JSON.stringify({ s3: { endpoint: `http://S3RVER:${urlPass}@127.0.0.1:${port}`, accessKeyId: 'S3RVER', secretAccessKey: fileKey, sessionToken: fileToken, maxAttempts: 1 } }),
        );
        const env = { ...s3.env, AWS_ENDPOINT_URL_S3: '', STORECTL_S3_MAX_ATTEMPTS: '1', AWS_SECRET_ACCESS_KEY: envKey, AWS_SESSION_TOKEN: envToken };
        const root = await s3.newRoot();
        const base = ['--config', config, '--root', root, '--database', db, '--log-file', logFile];

        // The endpoint does not answer: one line, exit 2 (s3_endpoint), in text and in JSON.
        const text = await runCli([...base, 'stats'], { cwd: dir, env });
        assert.equal(text.code, 2, text.stderr);
        assert.match(text.stderr, /cannot reach the S3 endpoint/);
        assert.equal(text.stderr.trim().split('\n').length, 1, text.stderr);
        assertHidden('stats (text)', text.stdout + text.stderr, secrets);
        const json = await runCli([...base, '--json', '--verbose', 'stats'], { cwd: dir, env });
        assert.equal(json.code, 2, json.stdout);
        assert.equal(json.json.error.code, 's3_endpoint');
        assertHidden('stats --json --verbose', json.stdout + json.stderr, secrets);

        // config: the endpoint's password and both secrets hidden, in the table and in JSON.
        const shown = await runCli([...base, 'config'], { cwd: dir, env });
        assert.equal(shown.code, 0, shown.stderr);
        assert.match(shown.stdout, /s3\.endpoint.*http:\/\/S3RVER:\*\*\*@127\.0\.0\.1/);
        assertHidden('config', shown.stdout + shown.stderr, secrets);
        const shownJson = await runCli([...base, '--json', 'config'], { cwd: dir, env });
        assert.equal(shownJson.json.s3.secretAccessKey.value, '***');
        assert.equal(shownJson.json.s3.sessionToken.value, '***');
        assert.equal(shownJson.json.s3.endpoint.value, `http://S3RVER:***@127.0.0.1:${port}`);
        assertHidden('config --json', shownJson.stdout + shownJson.stderr, secrets);

        // A bucket that does not exist, on the real server, secrets from the environment.
        fs.writeFileSync(config, JSON.stringify({ s3: { maxAttempts: 1 } }));
        const envOnly = { ...s3.env, AWS_SECRET_ACCESS_KEY: envKey, AWS_SESSION_TOKEN: envToken, STORECTL_S3_MAX_ATTEMPTS: '1' };
        const missing = `s3://no-such-bucket-${tag()}/store/`;
        const nb = await runCli(['--config', config, '--root', missing, '--database', db, '--log-file', logFile, '--json', 'stats'], { cwd: dir, env: envOnly });
        assert.notEqual(nb.code, 0, nb.stdout);
        assert.equal(nb.code, 2, nb.stdout);
        assert.match(nb.json.error.code, /^s3_/);
        assertHidden('no such bucket', nb.stdout + nb.stderr, secrets);

        // A run that is recorded, then fails on S3: migrate-store from a local store to a missing bucket.
        assert.equal((await runCli([...store.args, 'migrate', '--create'], { cwd: dir })).code, 0);
        const local = await runCli([...store.args, '--config', config, '--log-file', logFile, '--json', 'migrate-store', '--to', missing], { cwd: dir, env: envOnly });
        assert.notEqual(local.code, 0, local.stdout);
        assertHidden('migrate-store to a missing bucket', local.stdout + local.stderr, secrets);
        const runs = await runsText(store.databaseUrl, store.root);
        assert.ok(runs.rows.some((r) => r.command === 'migrate-store' && r.status === 'failed'), runs.text);
        assertHidden('runs table', runs.text, secrets);

        const logged = fs.readFileSync(logFile, 'utf8');
        assert.ok(logged.split('\n').filter(Boolean).length >= 5, logged);
        assert.match(logged, /"exitCode":2/);
        assertHidden('log file', logged, secrets);
      } finally {
        await store.dispose();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    test('credentials in an s3:// root are refused, never printed; a wrong secret key is refused as credentials', async () => {
      const store = await d.makeStore();
      const dir = tmpDir();
      try {
        const pass = `rootPass-${tag()}`;
        const db = store.databaseUrl || `sqlite:${path.join(dir, 'catalog.db')}`;
        const logFile = path.join(dir, 'run.log');
        for (const json of [[], ['--json']]) {
          const r = await runCli(['--root', `s3://AKIAEXAMPLE:${pass}@bucket-x/p/`, '--database', db, '--log-file', logFile, ...json, 'stats'], { cwd: dir, env: s3.env });
          assert.equal(r.code, 2, r.stdout + r.stderr);
          assert.match(r.stdout + r.stderr, /holds credentials: an s3:\/\/ root names only the bucket and prefix/);
          assertHidden('a root with credentials', r.stdout + r.stderr, [pass]);
        }
        const cfg = await runCli(['--root', `s3://AKIAEXAMPLE:${pass}@bucket-x/p/`, 'config'], { cwd: dir, env: s3.env });
        assertHidden('config with such a root', cfg.stdout + cfg.stderr, [pass]);

        // The real server refuses a wrong secret key: one line naming the cause, the key hidden.
        const wrong = `wrongKey-${tag()}`;
        const root = await s3.newRoot();
        if (!store.databaseUrl) assert.equal((await runCli(['--root', root, '--database', db, 'migrate', '--create'], { cwd: dir, env: s3.env })).code, 0);
        const denied = await runCli(['--root', root, '--database', db, '--log-file', logFile, '--json', 'stats'], { cwd: dir, env: { ...s3.env, AWS_SECRET_ACCESS_KEY: wrong, STORECTL_S3_MAX_ATTEMPTS: '1' } });
        assert.equal(denied.code, 2, denied.stdout);
        assert.match(denied.json.error.code, /^s3_(credentials|access_denied)$/);
        assertHidden('a wrong secret key', denied.stdout + denied.stderr, [wrong]);
        assertHidden('log file', fs.readFileSync(logFile, 'utf8'), [pass, wrong]);
      } finally {
        await store.dispose();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
