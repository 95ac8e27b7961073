// Secrets never print: one helper (src/redact.ts) hides database passwords in every form
// (URL userinfo with unencoded @ and :, ?password=, libpq key=value) and S3 credentials, in
// errors, --json errors, `storectl config`, --log-file and the runs table.
import { test, describe } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { pgQuery } from './helpers/pg.ts';
import { redactText, redactValue, registerSecret, registerUrlSecrets } from '../src/redact.ts';
import { DIALECTS, runCli, tmpDir } from './helpers/env.ts';

const FORMS: { name: string; url: string; secret: string }[] = [
  { name: 'unencoded @ in the password', url: 'postgres://alice:p@ss@127.0.0.1:1/db', secret: 'p@ss' },
  { name: 'unencoded : in the password', url: 'postgres://alice:pa:ss:wd@127.0.0.1:1/db', secret: 'pa:ss:wd' },
  { name: 'unencoded @, : and / together', url: 'postgresql://alice:x@y:z/w@127.0.0.1:1/db', secret: 'x@y:z/w' },
  { name: 'encoded password', url: 'postgres://alice:s%40cr%3At@127.0.0.1:1/db', secret: 's%40cr%3At' },
  { name: '?password= in the query', url: 'postgres://alice@127.0.0.1:1/db?sslmode=disable&password=qu3rySecret', secret: 'qu3rySecret' },
  { name: 'libpq key=value', url: 'host=127.0.0.1 port=1 user=alice password=kv-s3cret dbname=db', secret: 'kv-s3cret' },
  { name: "libpq key=value, quoted", url: "host=127.0.0.1 port=1 password='two words' dbname=db", secret: 'two words' },
];

describe('redactText hides every form', () => {
  for (const f of FORMS) {
    test(f.name, () => {
      const out = redactText(`cannot connect to ${f.url}: ECONNREFUSED`);
      assert.ok(!out.includes(f.secret), out);
      assert.match(out, /\*\*\*/);
      assert.match(out, /ECONNREFUSED$/);
    });
  }
  test('the host and user stay readable', () => {
    assert.equal(redactText('at postgres://alice:p@ss@db.example:5432/cards.'), 'at postgres://alice:***@db.example:5432/cards.');
    assert.equal(redactText('postgres://alice@db/x'), 'postgres://alice@db/x');
  });
  test('S3 secrets: env-style keys, JSON keys, presigned URL signatures and tokens', () => {
    for (const [text, secret] of [
      ['AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG next', 'wJalrXUtnFEMI'],
      ['aws_session_token = FwoGZXIvYXdzEJr', 'FwoGZXIvYXdzEJr'],
      ['{"secretAccessKey":"abc/def+ghi","region":"x"}', 'abc/def+ghi'],
      ['https://bucket.s3/k?X-Amz-Credential=AK%2F1&X-Amz-Signature=deadbeefcafe&X-Amz-Security-Token=tok123', 'deadbeefcafe'],
      ['https://bucket.s3/k?X-Amz-Security-Token=tok12345&a=1', 'tok12345'],
      ['url.secret=nginxSecret9', 'nginxSecret9'],
    ] as const) {
      const out = redactText(text);
      assert.ok(!out.includes(secret), out);
    }
  });
  test('a registered secret is hidden wherever it appears, also decoded', () => {
    registerSecret('Reg1stered%2Fpw');
    assert.equal(redactText('driver said: Reg1stered/pw rejected'), 'driver said: *** rejected');
    registerUrlSecrets('postgres://u:Url-Secret-7@h/db');
    assert.equal(redactText('password "Url-Secret-7" refused'), 'password "***" refused');
  });
  test('redactValue hides secret keys deeply and redacts strings', () => {
    const out = redactValue({ s3: { secretAccessKey: 'k1', sessionToken: 't1', accessKeyId: 'AKIA' }, url: { secret: 'n1' }, database: 'postgres://a:b@c/d', n: 3, list: ['password=x'] });
    assert.deepEqual(out, { s3: { secretAccessKey: '***', sessionToken: '***', accessKeyId: 'AKIA' }, url: { secret: '***' }, database: 'postgres://a:***@c/d', n: 3, list: ['password=***'] });
  });
});

describe('no command prints a password', () => {
  for (const f of FORMS) {
    test(`${f.name}: error text, --json error, config, --log-file`, async () => {
      const dir = tmpDir();
      const log = path.join(dir, 'log.jsonl');
      const text = await runCli(['--root', dir, '--database', f.url, '--log-file', log, 'stats']);
      assert.notEqual(text.code, 0);
      assert.match(text.stderr, /storectl: error: /);
      assert.ok(!(text.stdout + text.stderr).includes(f.secret), text.stderr);
      const json = await runCli(['--root', dir, '--database', f.url, '--json', 'stats']);
      assert.ok(json.json?.error, json.stdout);
      assert.ok(!(json.stdout + json.stderr).includes(f.secret), json.stdout);
      const c = await runCli(['--root', dir, '--json', 'config'], { env: { DATABASE_URL: f.url } });
      assert.ok(!(c.stdout + c.stderr).includes(f.secret), c.stdout + c.stderr);
      const logged = fs.readFileSync(log, 'utf8');
      assert.match(logged, /"level":"error"/);
      assert.ok(!logged.includes(f.secret), logged);
      fs.rmSync(dir, { recursive: true, force: true });
    });
  }

  test('config file sections: secret keys are shown as ***', async () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'storectl.config.json'), JSON.stringify({ database: 'postgres://u:FileSecret1@db/x' }));
    const c = await runCli(['config', '--json'], { cwd: dir });
    assert.equal(c.code, 0, c.stderr);
    assert.equal(c.json.database.value, 'postgres://u:***@db/x');
    assert.ok(!c.stdout.includes('FileSecret1'));
    const t = await runCli(['config'], { cwd: dir });
    assert.match(t.stdout, /postgres:\/\/u:\*\*\*@db\/x/);
    assert.ok(!t.stdout.includes('FileSecret1'));
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

const PG = DIALECTS.find((d) => d.name === 'postgres')!;
describe('a real PostgreSQL URL with a password: output, log file and runs table', { skip: PG.skip }, () => {
  test('generate and stats with a password in the URL leave it nowhere', async () => {
    const store = await PG.makeStore();
    try {
      // The test cluster trusts local connections: the password is sent and ignored.
      const secret = 'Pw@with:c0lon';
      const u = new URL(store.databaseUrl);
      const withPw = `postgres://${u.username}:${secret}@${u.host}${u.pathname}`;
      const log = path.join(store.root, '..', `${path.basename(store.root)}.log`);
      const gen = await runCli(['--root', store.root, '--database', withPw, '--log-file', log, '--json', 'generate', '--sample', '1', '--seed', '2', '--workers', '1']);
      assert.equal(gen.code, 0, gen.stderr);
      const stats = await runCli(['--root', store.root, '--database', withPw, '--json', 'stats']);
      assert.equal(stats.code, 0, stats.stderr);
      for (const out of [gen.stdout, gen.stderr, stats.stdout, stats.stderr, fs.readFileSync(log, 'utf8')]) assert.ok(!out.includes(secret) && !out.includes('with:c0lon'), out);
      const rows = await pgQuery(store.databaseUrl, 'select * from runs');
      assert.ok(rows.length >= 1);
      assert.ok(!JSON.stringify(rows).includes('with:c0lon'));
      fs.rmSync(log, { force: true });
    } finally {
      await store.dispose();
    }
  });
});
