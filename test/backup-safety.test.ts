// Backups that cannot be lost: retention prunes only after a backup that exited 0 and verified,
// never the newest good one; calendar rules as restic's forget; an empty catalog beside a store
// with files is refused; --output refuses what is not a regular file; a dead backup's temp
// files are removed by the next one. Both dialects where a catalog is involved.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isoWeekKey, planRetention } from '../src/ops/backup/retention.ts';
import { DIALECTS, tmpDir, type Store } from './helpers/env.ts';
import { runMain as run } from './helpers/run-main.ts';

const touch = (dir: string, names: string[]) => {
  fs.mkdirSync(dir, { recursive: true });
  for (const n of names) fs.writeFileSync(path.join(dir, n), 'x');
};
const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid!;

describe('calendar retention (restic forget rules, UTC)', () => {
  test('ISO weeks', () => {
    assert.equal(isoWeekKey(new Date('2026-01-01T00:00:00Z')), '2026-W01');
    assert.equal(isoWeekKey(new Date('2027-01-01T00:00:00Z')), '2026-W53');
    assert.equal(isoWeekKey(new Date('2026-12-28T23:59:59Z')), '2026-W53');
    assert.equal(isoWeekKey(new Date('2026-11-30T00:00:00Z')), '2026-W49');
  });

  test('daily/weekly/monthly keep the newest of each period; a backup kept by any rule is kept, with every reason', () => {
    const dir = tmpDir();
    touch(dir, [
      'storectl-backup-20261202T030000Z.tar.gz',
      'storectl-backup-20261202T010000Z.tar.gz',
      'storectl-backup-20261201T030000Z.zip',
      'storectl-backup-20261130T030000Z.tar.gz',
      'storectl-backup-20261129T030000Z.tar.gz',
      'storectl-backup-20261115T030000Z.tar.gz',
      'storectl-backup-20261031T030000Z.tar.gz',
      'storectl-backup-20261001T030000Z.tar.gz',
      'storectl-backup-20261203T030000Z.partial.tar.gz',
      'unrelated.tar.gz',
    ]);
    const plan = planRetention(dir, { keepDaily: 2, keepWeekly: 2, keepMonthly: 3 }, new Date('2026-12-03T12:00:00Z'));
    const byName = Object.fromEntries(plan.map((d) => [d.name, d]));
    assert.equal(plan.length, 8, 'partial backups and other files are not counted');
    assert.deepEqual(byName['storectl-backup-20261202T030000Z.tar.gz']!.reasons, ['newest good backup', 'daily 2026-12-02', 'weekly 2026-W49', 'monthly 2026-12']);
    assert.equal(byName['storectl-backup-20261202T010000Z.tar.gz']!.action, 'remove');
    assert.deepEqual(byName['storectl-backup-20261201T030000Z.zip']!.reasons, ['daily 2026-12-01']);
    assert.deepEqual(byName['storectl-backup-20261130T030000Z.tar.gz']!.reasons, ['monthly 2026-11']);
    assert.deepEqual(byName['storectl-backup-20261129T030000Z.tar.gz']!.reasons, ['weekly 2026-W48']);
    assert.equal(byName['storectl-backup-20261115T030000Z.tar.gz']!.action, 'remove');
    assert.deepEqual(byName['storectl-backup-20261031T030000Z.tar.gz']!.reasons, ['monthly 2026-10']);
    assert.equal(byName['storectl-backup-20261001T030000Z.tar.gz']!.action, 'remove');
    fs.rmSync(dir, { recursive: true });
  });

  test('backup --prune --dry-run shows the reasons and deletes nothing; --prune deletes exactly the plan; the newest good backup always stays', async () => {
    const dir = tmpDir();
    touch(dir, ['storectl-backup-20250101T000000Z.tar.gz', 'storectl-backup-20250102T000000Z.tar.gz', 'storectl-backup-20250103T000000Z.partial.tar.gz']);
    const dry = await run(['--json', 'backup', '--dir', dir, '--prune', '--dry-run', '--prune-older-than', '1d']);
    assert.equal(dry.code, 0, dry.stdout + dry.stderr);
    assert.deepEqual(dry.json.decisions.map((d: any) => [d.name, d.action, d.reasons]), [
      ['storectl-backup-20250102T000000Z.tar.gz', 'keep', ['newest good backup']],
      ['storectl-backup-20250101T000000Z.tar.gz', 'remove', ['older than --prune-older-than']],
    ]);
    assert.equal(fs.readdirSync(dir).length, 3);
    const text = await run(['backup', '--dir', dir, '--prune', '--dry-run', '--keep', '1']);
    assert.match(text.stdout, /storectl-backup-20250101T000000Z\.tar\.gz\s+would remove\s+kept by no --keep rule/);
    assert.match(text.stdout, /1 partial backup/);
    const real = await run(['--json', 'backup', '--dir', dir, '--prune', '--prune-older-than', '1d']);
    assert.equal(real.code, 0);
    assert.deepEqual(real.json.pruned, [path.join(dir, 'storectl-backup-20250101T000000Z.tar.gz')]);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['storectl-backup-20250102T000000Z.tar.gz', 'storectl-backup-20250103T000000Z.partial.tar.gz']);
    assert.equal((await run(['backup', '--dir', dir, '--dry-run', '--keep', '1'])).code, 2, '--dry-run needs --prune');
    assert.equal((await run(['backup', '--dir', dir, '--prune'])).code, 2, '--prune needs a rule');
    fs.rmSync(dir, { recursive: true });
  });
});

describe('backup --output refuses a path that is not a regular file', () => {
  test('/dev/full, a directory, a symlink and a FIFO: exit 2, untouched', async () => {
    const dir = tmpDir();
    fs.mkdirSync(path.join(dir, 'adir'));
    fs.symlinkSync('/etc/hostname', path.join(dir, 'link'));
    spawnSync('mkfifo', [path.join(dir, 'fifo')]);
    for (const [target, kind] of [['/dev/full', 'a device'], [path.join(dir, 'adir'), 'a directory'], [path.join(dir, 'link'), 'a symlink'], [path.join(dir, 'fifo'), 'a FIFO']] as const) {
      const r = await run(['--root', dir, '--json', 'backup', '--output', target]);
      assert.equal(r.code, 2, r.stdout);
      assert.equal(r.json.error.code, 'bad_output');
      assert.match(r.json.error.message, new RegExp(`exists and is ${kind}`));
    }
    assert.ok(fs.statSync('/dev/full').isCharacterDevice());
    assert.ok(fs.lstatSync(path.join(dir, 'link')).isSymbolicLink());
    assert.deepEqual(fs.readdirSync(path.join(dir, 'adir')), []);
    fs.rmSync(dir, { recursive: true });
  });
});

for (const d of DIALECTS) {
  describe(`backups that cannot be lost: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let work: string;
    before(async () => {
      store = await d.makeStore();
      work = tmpDir();
      const g = await run([...store.args, '--json', 'generate', '--sample', '2', '--seed', '5', '--workers', '1']);
      assert.equal(g.code, 0, g.stderr);
    });
    after(async () => {
      await store?.dispose();
      fs.rmSync(work, { recursive: true, force: true });
    });

    test('a backup that left files out (exit 3) is named .partial and prunes nothing; the next good one prunes, keeping the partial', async () => {
      const dir = path.join(work, 'retention');
      const good1 = await run([...store.args, '--json', 'backup', '--dir', dir]);
      assert.equal(good1.code, 0, good1.stdout);
      assert.equal(good1.json.verified, false, 'no rules: nothing to verify for');
      const c = await store.open();
      const [row] = await c.filePage({ states: ['present'], limit: 1 });
      await c.close();
      const file = path.join(store.root, row!.path);
      const keep = fs.readFileSync(file);
      fs.rmSync(file);
      const partial = await run([...store.args, '--json', 'backup', '--dir', dir, '--keep', '1']);
      fs.writeFileSync(file, keep, { mode: 0o600 });
      assert.equal(partial.code, 3, partial.stdout);
      assert.match(path.basename(partial.json.path), /^storectl-backup-\d{8}T\d{6}Z(-\d+)?\.partial\.tar\.gz$/);
      assert.equal(partial.json.skipped.vanished, 1);
      assert.deepEqual(partial.json.skipped.sample.map((s: any) => s.path), [row!.path]);
      assert.deepEqual(partial.json.pruned, []);
      assert.match(partial.json.retentionSkipped, /1 file\(s\) were not archived: nothing was pruned/);
      assert.ok(fs.existsSync(good1.json.path), 'the good backup is still there');
      const good2 = await run([...store.args, '--json', 'backup', '--dir', dir, '--keep', '1']);
      assert.equal(good2.code, 0, good2.stdout);
      assert.equal(good2.json.verified, true);
      assert.deepEqual(good2.json.pruned, [good1.json.path]);
      assert.deepEqual(fs.readdirSync(dir).sort(), [path.basename(good2.json.path), path.basename(partial.json.path)].sort());
    });

    test("a dead backup's temp file and work directory are removed by the next backup there; a live one's are not", async () => {
      const dir = path.join(work, 'leftovers');
      fs.mkdirSync(dir, { recursive: true });
      const host = os.hostname().replace(/[^A-Za-z0-9_]/g, '_');
      const dead = deadPid();
      const names = {
        deadTmp: `.storectl-backup-20250101T000000Z.tar.gz.tmp-${host}-${dead}-0a1b2c3d`,
        deadWork: `.storectl-backup-20250101T000000Z.tar.gz.work-${host}-${dead}-0a1b2c3d`,
        oldStyle: `.x.tar.gz.tmp-${dead}-deadbeef`,
        live: `.x.tar.gz.tmp-${host}-${process.pid}-0a1b2c3d`,
        otherHost: `.x.tar.gz.tmp-elsewhere-${dead}-0a1b2c3d`,
      };
      fs.writeFileSync(path.join(dir, names.deadTmp), Buffer.alloc(4096));
      fs.mkdirSync(path.join(dir, names.deadWork));
      fs.writeFileSync(path.join(dir, names.deadWork, 'files.ndjson'), 'x');
      fs.writeFileSync(path.join(dir, names.oldStyle), 'x');
      fs.writeFileSync(path.join(dir, names.live), 'x');
      fs.writeFileSync(path.join(dir, names.otherHost), 'x');
      const r = await run([...store.args, '--json', 'backup', '--dir', dir]);
      assert.equal(r.code, 0, r.stdout);
      assert.deepEqual(r.json.leftoversRemoved.sort(), [names.deadTmp, names.deadWork, names.oldStyle].sort());
      assert.deepEqual(fs.readdirSync(dir).sort(), [path.basename(r.json.path), names.live, names.otherHost].sort());
    });

    test('a catalog without file rows beside a store with files is refused (exit 2); good backups stay', async () => {
      const dir = path.join(work, 'empty-catalog');
      const good = await run([...store.args, '--json', 'backup', '--dir', dir]);
      assert.equal(good.code, 0);
      const empty = await d.makeStore();
      try {
        await (await empty.open()).close();
        fs.cpSync(path.join(store.root, 'cards'), path.join(empty.root, 'cards'), { recursive: true });
        const r = await run(['--root', empty.root, ...(empty.databaseUrl ? ['--database', empty.databaseUrl] : []), '--json', 'backup', '--dir', dir, '--keep', '1']);
        assert.equal(r.code, 2, r.stdout);
        assert.equal(r.json.error.code, 'empty_catalog');
        assert.match(r.json.error.message, /is empty|has no file rows/);
        assert.match(r.json.error.message, /holds 10 files/);
        assert.deepEqual(fs.readdirSync(dir), [path.basename(good.json.path)]);
      } finally {
        await empty.dispose();
      }
    });
  });
}

describe('the embedded catalog is created only when the store is new', () => {
  test('a 0-byte catalog.db beside files: backup, stats and generate exit 2 and leave it 0 bytes; a missing one is not created', async () => {
    const root = tmpDir();
    const g = await run(['--root', root, '--json', 'generate', '--sample', '1', '--seed', '1', '--workers', '1']);
    assert.equal(g.code, 0);
    const backups = path.join(root, '..', `${path.basename(root)}-b`);
    assert.equal((await run(['--root', root, 'backup', '--dir', backups])).code, 0);
    const db = path.join(root, '.storectl', 'catalog.db');
    for (const f of fs.readdirSync(path.dirname(db))) if (f.startsWith('catalog.db')) fs.rmSync(path.join(path.dirname(db), f));
    fs.writeFileSync(db, '');
    for (const args of [['backup', '--dir', backups, '--keep', '1'], ['stats'], ['generate', '--sample', '1', '--workers', '1']]) {
      const r = await run(['--root', root, '--json', ...args]);
      assert.equal(r.code, 2, `${args[0]}: ${r.stdout}`);
      assert.equal(r.json.error.code, 'empty_catalog');
      assert.match(r.json.error.message, /catalog .* is empty \(0 bytes\) but the store .* holds 5 files/);
      assert.equal(fs.statSync(db).size, 0);
    }
    assert.equal(fs.readdirSync(backups).length, 1);
    fs.rmSync(db);
    const r = await run(['--root', root, '--json', 'generate', '--sample', '1', '--workers', '1']);
    assert.equal(r.code, 2);
    assert.match(r.json.error.message, /does not exist but the store .* holds 5 files/);
    assert.ok(!fs.existsSync(db));
    const fresh = tmpDir();
    assert.equal((await run(['--root', path.join(fresh, 'new'), '--json', 'generate', '--sample', '1', '--workers', '1'])).code, 0, 'a new store is created');
    for (const p of [root, backups, fresh]) fs.rmSync(p, { recursive: true, force: true });
  });
});
