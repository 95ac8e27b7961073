// Output that cannot be forged: owners, job ids and file names with newlines or ANSI/OSC escape
// sequences are shown escaped in text output (tables, lists, errors, logs on stderr); JSON
// stays exact. Both dialects.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { visible } from '../src/visible.ts';
import { DIALECTS, type Store } from './helpers/env.ts';
import { runMain as run } from './helpers/run-main.ts';

const EVIL_OWNER = 'acme\nforged-line\u001b]0;pwned\u0007\u001b[2J';
const EVIL_JOB = 'job-\u001b[31mred\u202e';
const EVIL_NAME = 'x\nstorectl: error: forged\u001b[1m.png';
const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/;

test('visible() escapes newlines, ANSI, OSC, C1 and bidi overrides, and nothing else', () => {
  assert.equal(visible('a\nb\r\tc'), 'a\\nb\\r\\tc');
  assert.equal(visible('\u001b[2J\u001b]0;t\u0007'), '\\e[2J\\e]0;t\\x07');
  assert.equal(visible('\u009b31m \u202e \u2028'), '\\x9b31m \\u202e \\u2028');
  assert.equal(visible('Zoë 🃏 ü/ä_-.png'), 'Zoë 🃏 ü/ä_-.png');
});

for (const d of DIALECTS) {
  describe(`text output escapes control characters, JSON is exact: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let orphan: string;
    before(async () => {
      store = await d.makeStore();
      const c = await store.open();
      const at = new Date('2026-01-02T03:04:05Z');
      await c.insertJobs([{ id: EVIL_JOB, owner: EVIL_OWNER, status: 'completed', data: {}, createdAt: at, filesState: 'on_disk' }]);
      const rel = `cards/2026/01/02/x/front.png`;
      const data = Buffer.from('png bytes');
      fs.mkdirSync(path.join(store.root, path.dirname(rel)), { recursive: true });
      fs.writeFileSync(path.join(store.root, rel), data, { mode: 0o600 });
      await c.recordGeneration(EVIL_JOB, [{ jobId: EVIL_JOB, role: 'front.png', category: 'cards', owner: EVIL_OWNER, path: rel, contentType: 'image/png', size: data.length, sha256: createHash('sha256').update(data).digest('hex'), createdAt: at }], {}, at);
      await c.close();
      orphan = `cards/2026/01/02/x/${EVIL_NAME}`;
      fs.writeFileSync(path.join(store.root, orphan), 'orphan');
      const old = new Date('2025-01-01T00:00:00Z');
      fs.utimesSync(path.join(store.root, orphan), old, old);
    });
    after(async () => store?.dispose());

    test('stats: the owner is escaped in the table, exact in JSON', async () => {
      const text = await run([...store.args, 'stats']);
      assert.equal(text.code, 0, text.stderr);
      assert.ok(!RAW.test(text.stdout), JSON.stringify(text.stdout));
      assert.ok(!text.stdout.split('\n').some((l) => l.startsWith('forged-line')), 'no forged line');
      assert.ok(text.stdout.includes(visible(EVIL_OWNER)), text.stdout);
      const json = await run([...store.args, '--json', 'stats']);
      assert.ok(json.json.byOwner.some((o: any) => o.key === EVIL_OWNER), JSON.stringify(json.json.byOwner));
    });

    test('cleanup-orphaned and stats --check-disk: a file name with a newline and escapes is one visible line', async () => {
      for (const args of [['cleanup-orphaned', '--dry-run', '--min-age', '1h', '--max-delete', '100%'], ['stats', '--check-disk']]) {
        const r = await run([...store.args, ...args]);
        assert.ok(r.code === 0 || r.code === 4, r.stdout + r.stderr);
        assert.ok(!RAW.test(r.stdout + r.stderr), JSON.stringify(r.stdout));
        assert.ok(!r.stdout.split('\n').some((l) => l.startsWith('storectl: error: forged')), 'no forged line');
        assert.ok(r.stdout.includes(visible(orphan)), r.stdout);
      }
      const json = await run([...store.args, '--json', 'cleanup-orphaned', '--dry-run', '--min-age', '1h', '--max-delete', '100%']);
      assert.deepEqual(json.json.orphans.paths, [orphan]);
    });

    test('an error naming hostile input is one visible line on stderr', async () => {
      const r = await run([...store.args, 'restore', path.join(store.root, 'no\nsuch\u001b[2J.tar.gz'), '--verify-only']);
      assert.equal(r.code, 2);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(!RAW.test(r.stderr));
      assert.match(r.stderr, /no\\nsuch\\e\[2J\.tar\.gz/);
    });
  });
}
