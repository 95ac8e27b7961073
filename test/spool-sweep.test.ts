// A killed cleanup run leaves its storectl-plan-* spool in the temp directory; the next cleanup
// run removes the spools of processes that are gone, and never a live one's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tmpDir } from './helpers/env.ts';
import { runMain } from './helpers/run-main.ts';

test('the next cleanup run removes dead runs\' plan spools and keeps live ones', async () => {
  const tmp = tmpDir('storectl-tmpdir-');
  const root = tmpDir();
  const made = await runMain(['--root', root, '--json', 'migrate', '--create']);
  assert.equal(made.code, 0, made.stdout);
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  const names = { dead: `storectl-plan-${dead}-AbC123`, live: `storectl-plan-${process.pid}-XyZ789`, oldStyle: 'storectl-plan-Qq1234', freshOldStyle: 'storectl-plan-Rr5678', other: 'unrelated-dir' };
  for (const n of Object.values(names)) {
    fs.mkdirSync(path.join(tmp, n));
    fs.writeFileSync(path.join(tmp, n, 'plan.ndjson'), '{"path":"x"}\n');
  }
  const dayAgo = new Date(Date.now() - 2 * 86_400_000);
  fs.utimesSync(path.join(tmp, names.oldStyle), dayAgo, dayAgo);
  // In this process (a fresh TMPDIR would make tsx recompile the sources in a child): the
  // first spool of a process sweeps.
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  try {
    const r = await runMain(['--root', root, '--json', 'cleanup-orphaned', '--dry-run']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
  assert.deepEqual(fs.readdirSync(tmp).sort(), [names.freshOldStyle, names.live, names.other].sort());
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(root, { recursive: true, force: true });
});
