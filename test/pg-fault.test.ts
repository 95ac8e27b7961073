// PostgreSQL dying mid-run: one line, exit 1, no unhandled 'error' event, temp files removed,
// and a rerun converges. On a cluster of the test's own (never the shared one on 5432).
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { openCatalog } from '../src/db/connect.ts';
import { parseDatabaseUrl } from '../src/db/url.ts';
import { runCli, tmpDir } from './helpers/env.ts';
import { startCluster, unavailable, type ScratchCluster } from './helpers/pg-cluster.ts';

const skip = unavailable();
if (skip && process.env.CI) throw new Error(`CI: the PostgreSQL fault tests cannot run: ${skip}`);

describe('PostgreSQL dying mid-run', { skip }, () => {
  let cluster: ScratchCluster;
  let root: string;
  let out: string;
  before(async () => {
    cluster = startCluster();
    root = tmpDir();
    out = tmpDir();
    const c = await openCatalog(parseDatabaseUrl(cluster.url, root), { create: false, migrate: 'never' });
    await c.migrate();
    const at = new Date('2026-11-01T00:00:00Z');
    await c.insertJobs([{ id: 'job-1', owner: 'acme', status: 'completed', data: {}, createdAt: at, filesState: 'on_disk' }]);
    const files = [];
    for (let i = 0; i < 3000; i++) {
      const rel = `temp/f/${String(i).padStart(5, '0')}.bin`;
      const data = randomBytes(64);
      fs.mkdirSync(path.join(root, 'temp/f'), { recursive: true });
      fs.writeFileSync(path.join(root, rel), data, { mode: 0o600 });
      files.push({ jobId: null, role: 'blob', category: 'temp', path: rel, contentType: 'application/octet-stream', size: 64, sha256: createHash('sha256').update(data).digest('hex'), createdAt: at });
    }
    await c.insertFiles(files);
    await c.close();
  });
  after(() => {
    cluster?.dispose();
    for (const d of [root, out]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  test('backup: the server killed between pages ends as one line, exit 1, no temp file left; a rerun converges', async () => {
    const flag = path.join(out, 'paused');
    const args = ['--root', root, '--database', cluster.url, 'backup', '--dir', path.join(out, 'b')];
    const running = runCli(args, { env: { STORECTL_TEST_PAUSE_AT: `backup-files:${flag}` } });
    while (!fs.existsSync(flag)) await new Promise((r) => setTimeout(r, 20));
    const leftWhilePaused = fs.readdirSync(path.join(out, 'b'));
    assert.ok(leftWhilePaused.some((n) => n.includes('.tmp-')), 'the backup was writing its temp file');
    cluster.kill();
    await new Promise((r) => setTimeout(r, 300));
    fs.rmSync(flag);
    const r = await running;
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^storectl: error: .*(PostgreSQL|connection)/i);
    assert.doesNotMatch(r.stderr, /Unhandled|at .*\.js:\d+|node:events/);
    assert.deepEqual(fs.readdirSync(path.join(out, 'b')), [], 'no temp file or work directory left');
    cluster.start();
    const again = await runCli([...args.slice(0, 4), '--json', ...args.slice(4)]);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.equal(again.json.files, 3000);
    assert.deepEqual(fs.readdirSync(path.join(out, 'b')), [path.basename(again.json.path)]);
  });

  test('a server that is down: stats and cleanup-expired end as one line, exit 1', async () => {
    cluster.kill();
    try {
      for (const cmd of [['stats'], ['cleanup-expired', '--dry-run']]) {
        const r = await runCli(['--root', root, '--database', cluster.url, ...cmd]);
        assert.equal(r.code, 1, r.stderr);
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
        assert.match(r.stderr, /cannot connect to PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:\d+\/storectl/);
      }
    } finally {
      cluster.start();
    }
  });
});
