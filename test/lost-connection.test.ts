// A run whose work can no longer finish (a call on a connection lost without an error) must not
// end as a silent success: exit 1, one line. And on PostgreSQL a call left pending by a lost
// server ends as that loss's error.
import { describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { DIALECTS, runCli, tmpDir } from './helpers/env.ts';
import { ConnectionLossWatch, LOSS_GRACE_MS, newPgPool } from '../src/db/pg-pool.ts';
import { describeError } from '../src/errors.ts';

// On SQLite only: on PostgreSQL the store lock's own session stays open while the server is up,
// so a stalled run there waits (a hang a timeout sees, never a silent exit 0); the PostgreSQL way
// into a stall, a checkout the pool forgets when the server dies, is the pool test below and
// test/pg-fault-midrun.test.ts.
for (const d of DIALECTS.filter((x) => x.name === 'sqlite')) {
  describe(`a stalled run: ${d.name}`, { skip: d.skip }, () => {
    test('backup stalled after its first file: exit 1, one line saying so, nothing claimed done', async () => {
      const store = await d.makeStore();
      const input = tmpDir();
      try {
        await (await store.open()).close();
        fs.writeFileSync(path.join(input, 'a.bin'), 'payload');
        const put = await runCli([...store.args, 'put', path.join(input, 'a.bin'), '--job', 'job-stall']);
        assert.equal(put.code, 0, put.stdout + put.stderr);
        const archive = path.join(input, 'b.tar.gz');
        const r = await runCli([...store.args, 'backup', '--output', archive], { env: { STORECTL_TEST_PAUSE_AT: 'backup-files:stall' } });
        assert.equal(r.code, 1, r.stdout + r.stderr);
        const lines = r.stderr.trim().split('\n');
        assert.equal(lines.length, 1, r.stderr);
        assert.match(lines[0]!, /^storectl: error: the run stopped waiting on work that can no longer finish/);
        assert.ok(!fs.existsSync(archive), 'no archive claimed written');
        const j = await runCli(['--json', ...store.args, 'backup', '--output', archive], { env: { STORECTL_TEST_PAUSE_AT: 'backup-files:stall' } });
        assert.equal(j.code, 1);
        assert.equal((j.json as { error: { code: string } }).error.code, 'stalled');
      } finally {
        fs.rmSync(input, { recursive: true, force: true });
        await store.dispose();
      }
    });
  });
}

const PG_URL = process.env.STORECTL_TEST_DATABASE_URL;
describe('the PostgreSQL loss watch', { skip: PG_URL ? false : 'STORECTL_TEST_DATABASE_URL is not set' }, () => {
  test('a call still pending after a pooled client lost its server rejects with the loss; calls that settle are untouched', async () => {
    const pool = newPgPool({ connectionString: PG_URL, max: 4, connectionTimeoutMillis: 10_000 });
    const watch = new ConnectionLossWatch(pool);
    try {
      assert.equal((await watch.bound(pool.query('select 1 as x'))).rows[0].x, 1);
      const client = (pool as unknown as { _clients: import('pg').PoolClient[] })._clients[0]!;
      const never = watch.bound(new Promise<never>(() => {}));
      const quick = watch.bound(new Promise<string>((r) => setTimeout(() => r('settled'), 200)));
      const started = Date.now();
      client.emit('error', new Error('read ECONNRESET'));
      assert.equal(await quick, 'settled');
      await assert.rejects(never, (err: Error) => {
        assert.match(describeError(err).message, /^the connection to the PostgreSQL catalog was lost \(Connection terminated unexpectedly \(read ECONNRESET/);
        return true;
      });
      const waited = Date.now() - started;
      assert.ok(waited >= LOSS_GRACE_MS - 50 && waited < LOSS_GRACE_MS + 2000, `rejected after ${waited} ms`);
      // A call made after the loss, before any client connected again, is bound from its start.
      await assert.rejects(watch.bound(new Promise<never>(() => {})), /Connection terminated unexpectedly/);
      // A client connecting again clears the loss: a slow call is left alone.
      const again = await pool.connect();
      again.release();
      const slow = watch.bound(new Promise<string>((r) => setTimeout(() => r('slow'), LOSS_GRACE_MS + 300)));
      assert.equal(await slow, 'slow');
    } finally {
      await pool.end();
    }
  });
});

describe('the server going away, in its own words', () => {
  test('a PostgreSQL server shutting down (57P03, met by a new connection mid-run) is a lost catalog connection, in one line', () => {
    const err = Object.assign(new Error('the database system is shutting down'), { code: '57P03', severity: 'FATAL' });
    const d = describeError(err);
    assert.equal(d.message, 'the connection to the PostgreSQL catalog was lost (the database system is shutting down)');
    assert.doesNotMatch(d.message, /\n/);
  });
});
