// cleanup-orphaned killed with SIGKILL at whatever moment its deletions have reached: every
// orphan gone from the disk has its intent event in the catalog (recorded before the unlink),
// nothing with a row is touched, and a rerun finishes the rest. Both dialects.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { BIN, DIALECTS, REPO, runCli, type Store } from './helpers/env.ts';

const ORPHANS = 6000;
const D = 86_400_000;

function put(root: string, rel: string, data: Buffer, mtime: Date): void {
  const abs = path.join(root, rel);
  fs.mkdirSync(path.dirname(abs), { recursive: true, mode: 0o750 });
  fs.writeFileSync(abs, data, { mode: 0o600 });
  fs.utimesSync(abs, mtime, mtime);
}

for (const d of DIALECTS) {
  describe(`cleanup-orphaned killed mid-run: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    const orphans: string[] = [];
    let kept: string[] = [];

    before(async () => {
      store = await d.makeStore();
      const g = await runCli([...store.args, '--json', 'generate', '--sample', '4', '--seed', '5', '--workers', '1']);
      assert.equal(g.code, 0, g.stderr);
      kept = (fs.readdirSync(path.join(store.root, 'cards'), { recursive: true, withFileTypes: true }) as fs.Dirent[])
        .filter((e) => e.isFile())
        .map((e) => path.relative(store.root, path.join(e.parentPath, e.name)));
      assert.ok(kept.length > 0);
      const old = new Date(Date.now() - 2 * D);
      for (let i = 0; i < ORPHANS; i++) {
        const rel = `uploads/stray/${i % 16}/o-${String(i).padStart(5, '0')}.bin`;
        put(store.root, rel, randomBytes(16), old);
        orphans.push(rel);
      }
    });
    after(async () => {
      await store?.dispose();
    });

    const onDisk = (rel: string) => fs.existsSync(path.join(store.root, rel));
    const intents = async (): Promise<Set<string>> => {
      const c = await store.open();
      try {
        const snap = await c.openSnapshot();
        const out = new Set<string>();
        try {
          for await (const page of snap.tableRows('events')) for (const e of page) if (e.action === 'delete_orphan_intent') out.add(String(e.path));
        } finally {
          await snap.close();
        }
        return out;
      } finally {
        await c.close();
      }
    };

    test('every orphan the killed run removed has its intent event; the rerun removes the rest; rows untouched', async () => {
      const child = spawn(process.execPath, [BIN, ...store.args, '--yes', 'cleanup-orphaned', '--max-delete', '100%'], {
        cwd: REPO,
        env: { ...process.env, NO_COLOR: '1', STORECTL_ROOT: '', STORECTL_DATABASE_URL: '', DATABASE_URL: '' },
        stdio: 'ignore',
      });
      let exited = false;
      const closed = new Promise((r) => child.on('close', () => r((exited = true))));
      // Killed as soon as the first orphans are gone: at any load the kill lands mid-run.
      const probe = orphans.filter((_, i) => i % 50 === 0);
      const deadline = Date.now() + 300_000;
      while (!exited && probe.every(onDisk) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      assert.ok(!exited, 'cleanup-orphaned finished before it could be killed midway');
      child.kill('SIGKILL');
      await closed;

      const gone = orphans.filter((rel) => !onDisk(rel));
      assert.ok(gone.length >= 1 && gone.length < ORPHANS, `the kill landed mid-run (${gone.length} of ${ORPHANS} gone)`);
      const recorded = await intents();
      const unrecorded = gone.filter((rel) => !recorded.has(rel));
      assert.deepEqual(unrecorded.slice(0, 5), [], `${unrecorded.length} orphans were deleted without an intent event`);
      for (const rel of kept) assert.ok(onDisk(rel), `${rel} has a row: never an orphan`);

      const again = await runCli([...store.args, '--json', '--yes', 'cleanup-orphaned', '--max-delete', '100%']);
      assert.equal(again.code, 0, again.stdout + again.stderr);
      for (const rel of orphans) assert.ok(!onDisk(rel), `${rel} left after the rerun`);
      for (const rel of kept) assert.ok(onDisk(rel), rel);
      const all = await intents();
      assert.deepEqual(orphans.filter((rel) => !all.has(rel)).slice(0, 5), [], 'every orphan has its intent event');
      const check = await runCli([...store.args, '--json', 'stats', '--check-disk']);
      assert.equal(check.code, 0, check.stdout + check.stderr);
    });
  });
}
