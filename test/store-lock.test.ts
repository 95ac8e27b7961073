// Every command that changes the store takes the one store lock: backup and a real
// migrate-images-to-db run exit 75 while another run holds it; dry runs do not wait for it.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { STORE_LOCK } from '../src/db/catalog.ts';
import { DIALECTS, runCli, tmpDir, type Store } from './helpers/env.ts';

for (const d of DIALECTS) {
  describe(`store lock across commands: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let photos: string;
    before(async () => {
      store = await d.makeStore();
      const gen = await runCli([...store.args, '--json', 'generate', '--sample', '2', '--seed', '3', '--workers', '1']);
      assert.equal(gen.code, 0, gen.stderr);
      photos = tmpDir();
      await sharp({ create: { width: 64, height: 48, channels: 3, background: '#336699' } }).jpeg().toFile(path.join(photos, 'a.jpg'));
    });
    after(async () => {
      await store?.dispose();
      fs.rmSync(photos, { recursive: true, force: true });
    });

    test('backup and migrate-images-to-db exit 75 while the lock is held, and run once it is free', async () => {
      const c = await store.open();
      const release = await c.acquireLock(STORE_LOCK, { holder: { pid: process.pid, host: os.hostname(), command: 'cleanup-expired', runId: 'held' } });
      const out = path.join(photos, 'b.tar.gz');
      try {
        const b = await runCli([...store.args, '--json', 'backup', '--output', out]);
        assert.equal(b.code, 75, b.stdout);
        assert.equal(b.json.error.code, 'locked');
        assert.match(b.json.error.message, /cleanup-expired/);
        assert.ok(!fs.existsSync(out));
        const m = await runCli([...store.args, '--json', 'migrate-images-to-db', '--from-dir', photos]);
        assert.equal(m.code, 75, m.stdout);
        const dry = await runCli([...store.args, '--json', 'migrate-images-to-db', '--from-dir', photos, '--dry-run']);
        assert.equal(dry.code, 0, dry.stdout + dry.stderr);
      } finally {
        await release();
        await c.close();
      }
      const b = await runCli([...store.args, '--json', 'backup', '--output', out]);
      assert.equal(b.code, 0, b.stdout + b.stderr);
      assert.ok(fs.existsSync(out));
      const m = await runCli([...store.args, '--json', 'migrate-images-to-db', '--from-dir', photos]);
      assert.equal(m.code, 0, m.stdout + m.stderr);
      assert.equal(m.json.migrated, 1);
    });
  });
}
