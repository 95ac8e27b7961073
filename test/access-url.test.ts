// url end to end against a real nginx: the printed location block, the links it checks, on
// both dialects. The nginx tests never skip in CI (.ci/run installs nginx).
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Catalog } from '../src/db/catalog.ts';
import { DIALECTS, runCli, tmpDir, type Store } from './helpers/env.ts';
import { buildCleanupStore } from './helpers/cleanup-fixture.ts';
import { query } from './helpers/images.ts';
import { freePort, nginxSkip, startNginx, type Nginx } from './helpers/nginx.ts';

const SECRET = 'test-secret-0123456789abcdef';

async function fetchStatus(url: string): Promise<{ status: number; body: Buffer }> {
  const r = await fetch(url);
  return { status: r.status, body: Buffer.from(await r.arrayBuffer()) };
}

for (const d of DIALECTS) {
  describe(`url with nginx secure_link: ${d.name}`, { skip: d.skip || nginxSkip }, () => {
    let store: Store;
    let c: Catalog;
    let paths: Map<string, string[]>;
    let dir: string;
    let nginx: Nginx;
    let base: string;
    before(async () => {
      store = await d.makeStore();
      c = await store.open();
      paths = await buildCleanupStore(store.root, c);
      dir = tmpDir('storectl-url-');
      const port = await freePort();
      base = `http://127.0.0.1:${port}/files`;
      fs.writeFileSync(path.join(dir, 'secret.txt'), SECRET + '\n', { mode: 0o600 });
      fs.writeFileSync(path.join(dir, 'storectl.config.json'), JSON.stringify({ url: { base, secretFile: 'secret.txt' } }));
      const printed = await cli('url', '--nginx-config');
      assert.equal(printed.code, 0, printed.stdout + printed.stderr);
      nginx = await startNginx(printed.json.nginx, port);
    });
    after(async () => {
      await nginx?.stop();
      await c?.close();
      await store?.dispose();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });
    function cli(...args: string[]) {
      return runCli([...store.args, '--config', path.join(dir, 'storectl.config.json'), '--json', ...args]);
    }
    const onDisk = (p: string) => fs.readFileSync(path.join(store.root, p));

    test('a fresh link returns exactly the bytes; one character changed, or a forged expiry, is refused', async () => {
      const p = paths.get('c-printed')![0]!;
      const r = await cli('url', 'c-printed', 'front.png', '--expires', '10m');
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.ok(r.json.url.startsWith(`${base}/${p}?md5=`), r.json.url);
      assert.equal(r.json.cutToDeletion, null);
      const expires = Number(new URL(r.json.url).searchParams.get('expires'));
      assert.ok(Math.abs(expires - (Date.now() / 1000 + 600)) < 5);
      const got = await fetchStatus(r.json.url);
      assert.equal(got.status, 200);
      assert.deepEqual(got.body, onDisk(p));

      const u = new URL(r.json.url);
      const md5 = u.searchParams.get('md5')!;
      const flipped = new URL(u);
      flipped.searchParams.set('md5', (md5[0] === 'A' ? 'B' : 'A') + md5.slice(1));
      assert.equal((await fetchStatus(flipped.toString())).status, 403);
      const later = new URL(u);
      later.searchParams.set('expires', String(expires + 3600));
      assert.equal((await fetchStatus(later.toString())).status, 403);
      const otherFile = r.json.url.replace('front.png', 'back.png');
      assert.equal((await fetchStatus(otherFile)).status, 403);
      // the catalog and hidden files are never served, even with a valid link for them
      assert.equal((await fetchStatus(`${base}/.storectl/catalog.db`)).status, 404);
    });

    test('an expired link is refused (410)', async () => {
      const r = await cli('url', 'c-printed', 'back.png', '--expires', '1s');
      assert.equal(r.code, 0, r.stderr);
      await new Promise((res) => setTimeout(res, 2100));
      assert.equal((await fetchStatus(r.json.url)).status, 410);
    });

    test('the expiry is cut to the lifecycle deletion; deleted by cleanup-expired afterwards: not served, and url says gone', async () => {
      const p = paths.get('e-done-new')![0]!;
      const r = await cli('url', '--path', p, '--expires', '7d');
      assert.equal(r.code, 0, r.stderr);
      const [job] = await c.getJobs(['e-done-new']);
      const due = new Date(job!.completedAt!.getTime() + 24 * 3_600_000);
      assert.equal(r.json.cutToDeletion.rule, 'completed-exports');
      assert.equal(r.json.cutToDeletion.dueAt, due.toISOString());
      assert.equal(Number(new URL(r.json.url).searchParams.get('expires')), Math.floor(due.getTime() / 1000));
      assert.match(r.stderr, /expiry cut from .* rule completed-exports/);
      assert.deepEqual((await fetchStatus(r.json.url)).body, onDisk(p));

      // a file already due gets no link at all
      const due2 = await cli('url', 'c-done', 'front.png');
      assert.equal(due2.code, 1);
      assert.equal(due2.json.error.code, 'due_for_deletion');
      // time passes: the export becomes due, and cleanup-expired deletes it
      const past = new Date(Date.now() - 30 * 3_600_000);
      await query(store, `update jobs set completed_at = $1 where id = 'e-done-new'`, [d.name === 'sqlite' ? past.getTime() : past]);
      const del = await cli('cleanup-expired', '--yes');
      assert.equal(del.code, 0, del.stdout + del.stderr);
      assert.equal(fs.existsSync(path.join(store.root, p)), false);
      assert.equal((await fetchStatus(r.json.url)).status, 404);
      const again = await cli('url', '--path', p);
      assert.equal(again.code, 6);
      assert.equal(again.json.error.code, 'gone');
      assert.equal(again.json.error.tombstone.rule, 'completed-exports');
    });

    test('not_found, bad --expires, and the secret is never printed (config, url, errors, the --verbose log file)', async () => {
      assert.equal((await cli('url', 'c-qa', 'combined.pdf')).code, 5);
      assert.equal((await cli('url', 'c-printed', 'front.png', '--expires', 'soon')).code, 2);
      const env = { STORECTL_URL_SECRET: 'short' };
      const weak = await runCli([...store.args, '--config', path.join(dir, 'storectl.config.json'), '--json', 'url', 'c-printed', 'front.png'], { env });
      assert.equal(weak.code, 2);
      assert.doesNotMatch(weak.stdout + weak.stderr, /short/);
      fs.writeFileSync(path.join(dir, 'inline.json'), JSON.stringify({ url: { base, secret: SECRET } }));
      const shown = await runCli([...store.args, '--config', path.join(dir, 'inline.json'), '--json', 'config']);
      assert.equal(shown.code, 0, shown.stderr);
      const url = await runCli([...store.args, '--config', path.join(dir, 'inline.json'), 'url', 'c-printed', 'front.png']);
      assert.equal(url.code, 0, url.stderr);
      assert.equal((await fetchStatus(url.stdout.trim())).status, 200, 'url.secret inline and url.secretFile make the same links');
      for (const out of [shown, url, weak]) assert.doesNotMatch(out.stdout + out.stderr, new RegExp(SECRET));
      const viaEnv = await runCli([...store.args, '--json', 'url', 'c-printed', 'front.png'], { env: { STORECTL_URL_BASE: base, STORECTL_URL_SECRET: SECRET } });
      assert.equal(viaEnv.code, 0, viaEnv.stderr);
      assert.equal((await fetchStatus(viaEnv.json.url)).status, 200);
      // Nor in the log file, with --verbose, for a link made, a refusal and a weak secret.
      const log = path.join(dir, 'url.log.jsonl');
      const logged = [
        await runCli([...store.args, '--verbose', '--log-file', log, '--json', 'url', 'c-printed', 'front.png'], { env: { STORECTL_URL_BASE: base, STORECTL_URL_SECRET: SECRET } }),
        await runCli([...store.args, '--verbose', '--log-file', log, '--json', 'url', 'c-qa', 'combined.pdf'], { env: { STORECTL_URL_BASE: base, STORECTL_URL_SECRET: SECRET } }),
        await runCli([...store.args, '--verbose', '--log-file', log, '--config', path.join(dir, 'inline.json'), '--json', 'url', '--nginx-config']),
        await runCli([...store.args, '--verbose', '--log-file', log, '--json', 'url', 'c-printed', 'front.png'], { env: { STORECTL_URL_BASE: base, STORECTL_URL_SECRET: 'short' } }),
      ];
      assert.deepEqual(logged.map((r) => r.code), [0, 5, 0, 2], logged.map((r) => r.stderr).join('\n'));
      const text = fs.readFileSync(log, 'utf8');
      assert.ok(text.trim().split('\n').length >= 4, 'each run wrote its log lines');
      assert.doesNotMatch(text, new RegExp(SECRET), 'the secret reached the log file');
      assert.doesNotMatch(text, /"short"|\bshort\b/, 'the weak secret reached the log file');
      for (const r of logged.slice(0, 2).concat(logged.slice(3))) assert.doesNotMatch(r.stdout + r.stderr, new RegExp(SECRET));
    });
  });
}
