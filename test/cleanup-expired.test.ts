// cleanup-expired end to end: the real bin on both dialects, effects checked on disk and in the catalog.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { iterateFiles, type Catalog } from '../src/db/catalog.ts';
import { DIALECTS, runCli, tmpDir, type Store } from './helpers/env.ts';
import { FIXTURE_JOBS, FIXTURE_TEMP, buildCleanupStore, exists, sqlRows, writeFile } from './helpers/cleanup-fixture.ts';

for (const d of DIALECTS) {
  describe(`cleanup-expired: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let c: Catalog;
    let paths: Map<string, string[]>;
    before(async () => {
      store = await d.makeStore();
      c = await store.open();
      paths = await buildCleanupStore(store.root, c);
    });
    after(async () => {
      await c?.close();
      await store?.dispose();
    });
    const cli = (...args: string[]) => runCli([...store.args, '--json', 'cleanup-expired', ...args]);

    test('refuses without --yes and without a TTY (exit 2), changing nothing', async () => {
      const r = await cli();
      assert.equal(r.code, 2);
      assert.equal(r.json.error.code, 'confirmation_required');
      for (const ps of paths.values()) for (const p of ps) assert.ok(exists(store.root, p));
    });

    test('--as-of moves exactly the expected jobs into the plan', async () => {
      const jobsIn = async (asOf?: string) => {
        const r = await cli('--dry-run', '--list', ...(asOf ? ['--as-of', asOf] : []));
        assert.equal(r.code, 0, r.stderr);
        return new Set(r.json.list.map((x: { jobId: string | null; path: string }) => x.jobId ?? x.path));
      };
      const now = await jobsIn();
      const due = FIXTURE_JOBS.filter((j) => j.expect === 'delete').map((j) => j.id);
      assert.deepEqual([...now].sort(), [...due, ...FIXTURE_TEMP.filter((t) => t.expect === 'delete').map((t) => t.path)].sort());
      const day = await jobsIn('+25h');
      assert.deepEqual([...day].filter((x) => !now.has(x)).sort(), ['e-done-new', 'temp/up-new/b.tmp']);
      const week = await jobsIn('+145h');
      assert.deepEqual([...week].filter((x) => !day.has(x)).sort(), ['c-failed-new']);
      // a future --as-of never deletes
      const real = await cli('--yes', '--as-of', '+7d');
      assert.equal(real.code, 2);
    });

    test('--explain names the rule and when the job is due', async () => {
      const r = await cli('--explain', 'c-failed-new');
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.json.deleteRule.id, 'failed-jobs');
      assert.equal(r.json.deleteRule.due, false);
      const kept = await cli('--explain', 'c-qa');
      assert.equal(kept.json.deleteRule, null);
      assert.match(kept.json.verdict, /kept/);
      assert.equal((await cli('--explain', 'nope')).code, 5);
    });

    test('a dry run lists exactly what the real run then deletes; tombstones, events, job metadata', async () => {
      const dry = await cli('--dry-run', '--list');
      assert.equal(dry.code, 0, dry.stderr);
      const planned = dry.json.list.map((x: { path: string }) => x.path).sort();
      assert.equal(dry.json.plan.markFailed, 1);
      for (const p of planned) assert.ok(exists(store.root, p), 'a dry run deletes nothing');

      // A file nobody planned keeps its directory; top-level directories always stay.
      const doneDir = path.dirname(paths.get('c-done')![0]!);
      const otherDir = planned.map((p: string) => path.posix.dirname(p)).find((d: string) => d.includes('/') && d !== doneDir)!;
      assert.ok(otherDir, 'a second planned directory');
      fs.writeFileSync(path.join(store.root, otherDir, 'unplanned.txt'), 'keep me');

      const real = await cli('--yes', '--list');
      assert.equal(real.code, 0, real.stderr);
      assert.ok(exists(store.root, `${otherDir}/unplanned.txt`), 'an unplanned file is never deleted');
      for (const top of new Set(planned.map((p: string) => p.split('/')[0]))) assert.ok(fs.statSync(path.join(store.root, top as string)).isDirectory(), `${top}/ stays`);
      fs.rmSync(path.join(store.root, otherDir, 'unplanned.txt'));
      const deleted = real.json.list.map((x: { path: string }) => x.path).sort();
      assert.deepEqual(deleted, planned);
      assert.equal(real.json.result.files, planned.length);
      assert.equal(real.json.result.markedFailed, 1);

      // disk: planned files gone, everything else still there
      const all = [...paths.values()].flat().concat(FIXTURE_TEMP.map((t) => t.path));
      for (const p of all) assert.equal(exists(store.root, p), !planned.includes(p), p);
      // catalog: tombstones with reason and time, one event per file
      const rows = new Map<string, { state: string; deletedAt: Date | null; deleteReason: string | null }>();
      for await (const f of iterateFiles(c)) rows.set(f.path, f);
      for (const p of all) {
        const row = rows.get(p)!;
        if (planned.includes(p)) {
          assert.equal(row.state, 'deleted');
          assert.ok(row.deletedAt);
          assert.match(row.deleteReason!, /^expired: rule /);
        } else assert.equal(row.state, 'present', p);
      }
      const events = await sqlRows<{ path: string; action: string }>(c, `select path, action from events where action = 'delete'`);
      assert.deepEqual(events.map((e) => e.path).sort(), planned);
      const [done] = await c.getJobs(['c-done']);
      assert.equal(done!.filesState, 'deleted');
      const cleanup = (done!.generation as { cleanup: Record<string, unknown> }).cleanup;
      assert.equal(cleanup.filesDeleted, 3);
      assert.equal(cleanup.rule, 'completed-cards');
      assert.ok(Number(cleanup.bytesFreed) > 0);
      const [stuck] = await c.getJobs(['c-stuck']);
      assert.equal(stuck!.status, 'failed');
      assert.match(stuck!.failureReason!, /stuck in processing/);
      assert.ok(!exists(store.root, path.dirname(paths.get('c-done')![0]!)), 'the emptied job directory is removed');

      // a second run has nothing left to do
      const again = await cli('--yes');
      assert.equal(again.json.result.files, 0);
      // stats shows the history
      const stats = await runCli([...store.args, '--json', 'stats']);
      const hist = stats.json.cleanupHistory;
      assert.ok(hist.length >= 2);
      assert.equal(hist[1].filesDeleted, planned.length);
      assert.equal(hist[0].filesDeleted, 0);
    });

    test('a file already gone is tombstoned, not an error; a row with .. is skipped and nothing outside the root is touched', async () => {
      const outside = tmpDir('storectl-outside-');
      const victim = path.join(outside, 'victim.png');
      fs.writeFileSync(victim, 'precious');
      const rel = path.relative(store.root, victim).split(path.sep).join('/');
      const now = Date.now();
      await c.insertJobs([
        { id: 'c-gone', status: 'completed', data: {}, createdAt: new Date(now - 7200_000), completedAt: new Date(now - 3600_000), filesState: 'on_disk' },
        { id: 'c-evil', status: 'completed', data: {}, createdAt: new Date(now - 7200_000), completedAt: new Date(now - 3600_000), filesState: 'on_disk' },
      ]);
      const base = { role: 'front.png', category: 'cards', contentType: 'image/png', sha256: '0'.repeat(64), createdAt: new Date(now - 7200_000) };
      await c.insertFiles([
        { ...base, jobId: 'c-gone', path: 'cards/2026/01/01/c-gone/front.png', size: 5 },
        { ...base, jobId: 'c-evil', path: rel, size: 8 },
      ]);
      const r = await cli('--yes', '--list');
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.json.list.map((x: { path: string; outcome: string }) => [x.path, x.outcome]), [['cards/2026/01/01/c-gone/front.png', 'already_gone']]);
      assert.equal(r.json.skipped.length, 1);
      assert.equal(r.json.skipped[0].jobId, 'c-evil');
      assert.match(r.json.skipped[0].reason, /unsafe path/);
      assert.equal(fs.readFileSync(victim, 'utf8'), 'precious');
      const [gone] = await c.filesOfJob('c-gone');
      assert.equal(gone!.state, 'deleted');
      const [evil] = await c.filesOfJob('c-evil');
      assert.equal(evil!.state, 'present');
      fs.rmSync(outside, { recursive: true, force: true });
    });

    test('a file that cannot be deleted: the rest go, its row stays present, exit 3 listing it', async (t) => {
      const now = Date.now();
      const createdAt = new Date(now - 7200_000);
      const files = ['cards/2026/02/02/c-stuckfile/front.png', 'cards/2026/02/02/c-okfile/front.png'];
      await c.insertJobs(['c-stuckfile', 'c-okfile'].map((id) => ({ id, status: 'completed', data: {}, createdAt, completedAt: createdAt, filesState: 'on_disk' })));
      await c.insertFiles(
        files.map((p) => {
          const st = writeFile(store.root, p, Buffer.from('card bytes'));
          return { jobId: p.split('/')[4]!, role: 'front.png', category: 'cards', path: p, contentType: 'image/png', size: st.size, sha256: '0'.repeat(64), createdAt };
        }),
      );
      const abs = path.join(store.root, files[0]!);
      try {
        execFileSync('chattr', ['+i', abs]);
      } catch {
        t.skip('chattr +i is not available here');
        return;
      }
      try {
        const r = await cli('--yes');
        assert.equal(r.code, 3, r.stderr);
        assert.deepEqual(r.json.failed.map((f: { path: string }) => f.path), [files[0]]);
        assert.ok(exists(store.root, files[0]!));
        assert.ok(!exists(store.root, files[1]!));
        const [stuckRow] = await c.filesOfJob('c-stuckfile');
        assert.equal(stuckRow!.state, 'present');
        const [job] = await c.getJobs(['c-stuckfile']);
        assert.equal(job!.filesState, 'on_disk');
        const [okRow] = await c.filesOfJob('c-okfile');
        assert.equal(okRow!.state, 'deleted');
      } finally {
        execFileSync('chattr', ['-i', abs]);
      }
    });

    test('guards: an empty root beside present rows refuses (exit 2); --max-delete caps a run', async () => {
      const empty = tmpDir('storectl-empty-');
      const args = store.dialect === 'sqlite' ? ['--root', empty, '--database', path.join(store.root, '.storectl', 'catalog.db')] : ['--root', empty, '--database', store.databaseUrl];
      const r = await runCli([...args, '--json', 'cleanup-expired', '--dry-run']);
      assert.equal(r.code, 2);
      // Another directory than the one the catalog records is refused before any planning.
      assert.equal(r.json.error.code, 'root_mismatch');
      // The store's own root, emptied as an unmounted volume is: the empty-root guard refuses.
      const aside = tmpDir('storectl-aside-');
      const data = fs.readdirSync(store.root).filter((n) => n !== '.storectl');
      for (const n of data) fs.renameSync(path.join(store.root, n), path.join(aside, n));
      try {
        const unmounted = await runCli([...store.args, '--json', 'cleanup-expired', '--dry-run']);
        assert.equal(unmounted.code, 2);
        assert.equal(unmounted.json.error.code, 'guard_empty_root');
      } finally {
        for (const n of data) fs.renameSync(path.join(aside, n), path.join(store.root, n));
        fs.rmSync(aside, { recursive: true, force: true });
      }
      fs.rmSync(empty, { recursive: true, force: true });
      // one more due job: two files; a cap of 1 refuses, naming the override
      const createdAt = new Date(Date.now() - 7200_000);
      await c.insertJobs([{ id: 'c-cap', status: 'completed', data: {}, createdAt, completedAt: createdAt, filesState: 'on_disk' }]);
      const ps = ['cards/2026/03/03/c-cap/front.png', 'cards/2026/03/03/c-cap/back.png'];
      await c.insertFiles(ps.map((p) => ({ jobId: 'c-cap', role: path.basename(p), category: 'cards', path: p, contentType: 'image/png', size: writeFile(store.root, p, Buffer.from('x')).size, sha256: '0'.repeat(64), createdAt })));
      const capped = await cli('--yes', '--max-delete', '1');
      assert.equal(capped.code, 2);
      assert.equal(capped.json.error.code, 'guard_max_delete');
      assert.match(capped.json.error.hint, /--max-delete/);
      for (const p of ps) assert.ok(exists(store.root, p));
    });

    test('config: an unknown field or a bad duration exits 2 naming it; overrides apply', async () => {
      const dir = tmpDir('storectl-cfg-');
      const cfg = path.join(dir, 'c.json');
      const withCfg = (cleanup: unknown) => {
        fs.writeFileSync(cfg, JSON.stringify({ cleanup }));
        return runCli([...store.args, '--config', cfg, '--json', 'cleanup-expired', '--dry-run']);
      };
      let r = await withCfg({ rules: [{ id: 'completed-exports', agee: '48h' }] });
      assert.equal(r.code, 2);
      assert.match(r.json.error.message, /cleanup\.rules\[0\]\.agee: unknown field/);
      r = await withCfg({ rules: [{ id: 'completed-exports', age: '48x' }] });
      assert.equal(r.code, 2);
      assert.match(r.json.error.message, /cleanup\.rules\[0\]\.age: bad duration "48x"/);
      r = await withCfg({ bogus: 1 });
      assert.match(r.json.error.message, /cleanup\.bogus: unknown field/);
      r = await withCfg({ rules: [{ id: 'keep-live', statuses: ['processing'], age: '1d' }] });
      assert.match(r.json.error.message, /never deleted/);
      r = await withCfg({ rules: [{ id: 'temp-files', enabled: false }, { id: 'qa', statuses: ['qa_failed'], age: '0' }] });
      assert.equal(r.code, 0, r.stderr);
      const ids = r.json.rules.map((x: { id: string }) => x.id);
      assert.ok(!ids.includes('temp-files'));
      assert.equal(ids[ids.length - 1], 'qa');
      assert.ok(r.json.plan.byRule.find((x: { rule: string }) => x.rule === 'qa').files >= 2);
      fs.rmSync(dir, { recursive: true, force: true });
    });
  });
}
