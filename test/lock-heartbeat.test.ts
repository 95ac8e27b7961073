// Locks that cannot wedge a store (issue 22): the holder's heartbeat, takeover of a stale lock
// (another host on SQLite; a live but silent session on PostgreSQL), the holder that finds its
// lock broken, `storectl unlock`, and what a waiting run says on stderr. Both dialects.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import os from 'node:os';
import { STORE_LOCK, type Catalog } from '../src/db/catalog.ts';
import type { DumpRow } from '../src/db/dump.ts';
import type { LockInfo } from '../src/db/types.ts';
import { LockedError } from '../src/errors.ts';
import { DIALECTS, runCli, type Store } from './helpers/env.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const NEVER = 3_600_000;

async function eventRows(c: Catalog): Promise<DumpRow[]> {
  const snap = await c.openSnapshot();
  const rows: DumpRow[] = [];
  try {
    for await (const page of snap.tableRows('events')) rows.push(...page);
  } finally {
    await snap.close();
  }
  return rows;
}

for (const d of DIALECTS) {
  describe(`lock heartbeat and unlock: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let c: Catalog;
    let c2: Catalog;
    before(async () => {
      store = await d.makeStore();
      const m = await runCli([...store.args, '--json', 'generate', '--sample', '1', '--seed', '5', '--workers', '1']);
      assert.equal(m.code, 0, m.stderr);
      c = await store.open();
      c2 = await store.open();
    });
    after(async () => {
      await c?.close();
      await c2?.close();
      await store?.dispose();
    });

    test('the holder refreshes heartbeat_at while it holds the lock; released, the lock is free', async () => {
      const release = await c.acquireLock(STORE_LOCK, { holder: { pid: process.pid, host: os.hostname(), command: 'beating', runId: 'beat-1' }, heartbeatMs: 100 });
      try {
        const first = await c2.lockStatus(STORE_LOCK);
        assert.ok(first?.live);
        assert.equal(first.info.command, 'beating');
        assert.ok(first.info.heartbeatAt, 'a heartbeat is written at acquisition');
        await sleep(450);
        const later = await c2.lockStatus(STORE_LOCK);
        assert.ok(later!.info.heartbeatAt!.getTime() > first.info.heartbeatAt!.getTime(), 'the heartbeat moved on');
        assert.ok(later!.heartbeatAgeMs < 400, String(later!.heartbeatAgeMs));
      } finally {
        await release();
      }
      assert.equal(await c2.lockStatus(STORE_LOCK), null);
    });

    test('a holder from another host whose heartbeat stopped is taken over after the stale interval, with a warning', async () => {
      // heartbeatMs NEVER: the holder is alive to the catalog (on PostgreSQL its session is open) but silent.
      const releaseFar = await c.acquireLock(STORE_LOCK, { holder: { pid: 999_999, host: 'pod-old-name', command: 'wedged', runId: 'far-1' }, heartbeatMs: NEVER });
      try {
        // Fresh heartbeat: live, refused.
        await assert.rejects(c2.acquireLock(STORE_LOCK, { holder: { pid: process.pid, host: os.hostname(), command: 'next', runId: 'next-1' }, staleMs: 60_000 }), LockedError);
        await sleep(700);
        const st = await c2.lockStatus(STORE_LOCK, { staleMs: 300 });
        assert.equal(st?.live, false, st?.why);
        let stale: { info: LockInfo; why: string } | undefined;
        const release = await c2.acquireLock(STORE_LOCK, {
          holder: { pid: process.pid, host: os.hostname(), command: 'next', runId: 'next-2' },
          staleMs: 300,
          onStaleLock: (info, why) => (stale = { info, why }),
        });
        assert.equal(stale?.info.command, 'wedged');
        assert.match(stale!.why, /heartbeat \d+ s ago/);
        const now = await c.lockStatus(STORE_LOCK);
        assert.equal(now?.info.runId, 'next-2');
        assert.ok(now?.live);
        await release();
      } finally {
        await releaseFar().catch(() => {}); // on PostgreSQL its session was ended
      }
      assert.equal(await c.lockStatus(STORE_LOCK), null);
    });

    test('a holder whose lock is broken finds out at its next heartbeat (onLost)', async () => {
      let lost: string | undefined;
      const release = await c.acquireLock(STORE_LOCK, {
        holder: { pid: process.pid, host: os.hostname(), command: 'victim', runId: 'victim-1' },
        heartbeatMs: 100,
        onLost: (why) => (lost = why),
      });
      try {
        assert.equal(await c2.breakLock(STORE_LOCK, 'victim-1'), true);
        for (let i = 0; i < 40 && !lost; i++) await sleep(50);
        assert.ok(lost, 'onLost was called');
        // The lock can be taken by another run now.
        const next = await c2.acquireLock(STORE_LOCK, { holder: { pid: process.pid, host: os.hostname(), command: 'after', runId: 'after-1' } });
        await next();
      } finally {
        await release().catch(() => {});
      }
    });

    test('storectl unlock: free lock exit 0; a live holder is refused (75) unless --force; the break is an event', async () => {
      const free = await runCli([...store.args, '--json', 'unlock']);
      assert.equal(free.code, 0, free.stdout + free.stderr);
      assert.equal(free.json.held, false);

      const release = await c.acquireLock(STORE_LOCK, { holder: { pid: process.pid, host: os.hostname(), command: 'long-run', runId: 'live-1' }, heartbeatMs: 100 });
      try {
        const dry = await runCli([...store.args, '--json', 'unlock', '--dry-run']);
        assert.equal(dry.code, 0, dry.stdout + dry.stderr);
        assert.equal(dry.json.held, true);
        assert.equal(dry.json.live, true);
        assert.equal(dry.json.holder.command, 'long-run');
        assert.equal(dry.json.holder.runId, 'live-1');
        assert.equal(dry.json.broken, false);

        const refused = await runCli([...store.args, '--json', 'unlock']);
        assert.equal(refused.code, 75, refused.stdout + refused.stderr);
        assert.equal(refused.json.error.code, 'locked');
        assert.match(refused.json.error.message, /long-run \(pid \d+ on /);
        assert.match(refused.json.error.hint, /--force/);
        assert.equal((await c2.lockStatus(STORE_LOCK))?.info.runId, 'live-1', 'still held');

        const text = await runCli([...store.args, 'unlock', '--dry-run']);
        assert.match(text.stdout, /long-run/);
        assert.match(text.stdout, /live/);

        const forced = await runCli([...store.args, '--json', 'unlock', '--force']);
        assert.equal(forced.code, 0, forced.stdout + forced.stderr);
        assert.equal(forced.json.broken, true);
        assert.equal(forced.json.forced, true);
        assert.equal(await c2.lockStatus(STORE_LOCK), null, 'the lock is gone from the catalog');
      } finally {
        await release().catch(() => {});
      }
      const ev = (await eventRows(c2)).filter((e) => e.action === 'unlock');
      assert.equal(ev.length, 1);
      assert.match(String(ev[0]!.reason), /forced: broke a live store lock held by long-run .*run live-1.*; by \S+@\S+ pid \d+/);
    });

    test('storectl unlock breaks a stale lock without --force', async () => {
      const releaseFar = await c.acquireLock(STORE_LOCK, { holder: { pid: 999_998, host: 'gone-host', command: 'gone', runId: 'gone-1' }, heartbeatMs: NEVER });
      try {
        await sleep(1200);
        const r = await runCli([...store.args, '--json', 'unlock'], { env: { STORECTL_LOCK_STALE_SECONDS: '1' } });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.equal(r.json.live, false);
        assert.equal(r.json.broken, true);
        assert.equal(r.json.forced, false);
        assert.equal(await c2.lockStatus(STORE_LOCK), null);
      } finally {
        await releaseFar().catch(() => {});
      }
      const ev = (await eventRows(c2)).filter((e) => e.action === 'unlock' && String(e.reason).includes('gone-1'));
      assert.equal(ev.length, 1);
      assert.match(String(ev[0]!.reason), /^broke a stale store lock held by gone/);
    });

    test('a run waiting for the lock says so on stderr, whom it waits for and for how long', async () => {
      const release = await c.acquireLock(STORE_LOCK, { holder: { pid: process.pid, host: os.hostname(), command: 'slow-backup', runId: 'hold-w' }, heartbeatMs: 100 });
      try {
        const r = await runCli([...store.args, '--yes', 'cleanup-expired', '--wait', '1']);
        assert.equal(r.code, 75, r.stdout + r.stderr);
        assert.match(r.stderr, /waiting for the store lock held by slow-backup \(pid \d+ on .*\): up to 1 s/);
      } finally {
        await release();
      }
      const held = await c.acquireLock(STORE_LOCK, { holder: { pid: process.pid, host: os.hostname(), command: 'slow-backup', runId: 'hold-w2' } });
      setTimeout(() => void held(), 6000); // well after the child started (tsx startup is slow on a loaded machine)
      const r = await runCli([...store.args, '--yes', 'cleanup-expired', '--wait']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stderr, /waiting for the store lock held by slow-backup .*: as long as it takes/);
      assert.match(r.stderr, /got the store lock after waiting \d+ s/);
    });
  });
}
