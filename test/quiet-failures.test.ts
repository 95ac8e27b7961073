// --quiet means errors only, and the failed items of a run that ends with exit 3 or 4 are errors:
// they are printed on stderr, one line each, while the rest of the report is not.
import { test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { DIALECTS, tmpDir } from './helpers/env.ts';
import { runMain as run } from './helpers/run-main.ts';

test('--quiet prints the failed items of an exit-3 run on stderr and nothing else', async () => {
  const store = await DIALECTS[0]!.makeStore();
  const work = tmpDir();
  try {
    assert.equal((await run([...store.args, 'generate', '--sample', '3', '--seed', '2', '--workers', '1'])).code, 0);
    const c = await store.open();
    const [row] = await c.filePage({ states: ['present'], limit: 1 });
    await c.close();
    const file = path.join(store.root, row!.path);
    fs.rmSync(file);
    const backup = await run([...store.args, '--quiet', 'backup', '--output', path.join(work, 'b.tar.gz')]);
    assert.equal(backup.code, 3, backup.stderr);
    assert.equal(backup.stdout, '', 'quiet: no report');
    assert.match(backup.stderr, new RegExp(`^storectl: failed: not archived: ${row!.path.replace(/[.]/g, '\\.')}: `, 'm'));

    const loud = await run([...store.args, 'backup', '--output', path.join(work, 'c.tar.gz')]);
    assert.equal(loud.code, 3);
    assert.doesNotMatch(loud.stderr, /storectl: failed:/, 'without --quiet the report lists them, once');
    assert.match(loud.stdout, /not archived/);

    // restore --job of a job whose files are present: refused (exit 3), the reasons on stderr.
    const archive = path.join(work, 'b.tar.gz');
    const r = await run([...store.args, '--quiet', 'restore', archive, '--job', row!.jobId!]);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^storectl: failed: refused .*is present in this store already$/m);
  } finally {
    await store.dispose();
    fs.rmSync(work, { recursive: true, force: true });
  }
});
