// stats --prometheus / --format prometheus checked by Prometheus's own parser (promtool), its
// values against stats --json; stats --history from a known series of snapshots.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { BIN, DIALECTS, REPO, runCli, tmpDir, type Store } from './helpers/env.ts';
import { query } from './helpers/images.ts';
import { cardJob, ndjson } from './helpers/jobs.ts';

const promtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
if (process.env.CI && !promtool) throw new Error('CI is set but promtool (Debian package prometheus) is not installed');
const DAY = 86_400_000;

/** Samples of one metric family: labels (as a canonical string) -> value. */
function samples(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{.*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) out.set(m[2] ?? '', Number(m[3]));
  }
  return out;
}

for (const d of DIALECTS) {
  describe(`usage metrics: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    before(async () => {
      store = await d.makeStore();
      const g = await runCli([...store.args, 'generate', '--sample', '12', '--seed', '7', '--workers', '1']);
      assert.equal(g.code, 0, g.stderr);
      // an owner whose name needs escaping in the exposition format
      const c = await store.open();
      await c.insertFiles([{ jobId: null, role: 'x', category: 'temp', owner: 'we"ird\\owner\nx', path: 'temp/odd', contentType: 'text/plain', size: 3, sha256: 'ab'.repeat(32), createdAt: new Date() }]);
      await c.close();
      fs.writeFileSync(path.join(store.root, 'temp', 'odd'), 'abc');
      assert.equal((await runCli([...store.args, 'quota', 'set', 'acme', '--bytes', '1GiB', '--files', '500'])).code, 0);
    });
    after(async () => {
      await store?.dispose();
    });

    test('the exposition parses with promtool, names the documented metrics, and equals stats --json', { skip: promtool ? false : 'promtool is not installed (apt-get install prometheus)' }, async () => {
      const dir = tmpDir();
      try {
        const file = path.join(dir, 'storectl.prom');
        const json = await runCli([...store.args, '--json', 'stats', '--check-disk', '--prometheus', file]);
        assert.equal(json.code, 0, json.stderr);
        const text = fs.readFileSync(file, 'utf8');
        assert.equal(fs.statSync(file).mode & 0o777, 0o644);
        assert.deepEqual(fs.readdirSync(dir), ['storectl.prom'], 'a temp file was left beside the metrics');
        execFileSync('promtool', ['check', 'metrics'], { input: text });
        // every family the README's Metrics paragraph documents, and no family it does not
        const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
        const para = /^\*\*Metrics\.\*\*[\s\S]*?\n\n/m.exec(readme)?.[0] ?? '';
        const documented = [...new Set([...para.matchAll(/`(storectl_[a-z_]+)/g)].map((m) => m[1]!))].sort();
        assert.ok(documented.length >= 20, `README documents ${documented.length} metric families`);
        const exposed = [...text.matchAll(/^# TYPE (\S+) gauge$/gm)].map((m) => m[1]!).sort();
        assert.deepEqual(exposed, documented, 'the exposition and the README name the same families');
        const r = json.json;
        const present = [...samples(text, 'storectl_file_bytes').entries()].filter(([k]) => k.includes('state="present"'));
        assert.equal(present.reduce((a, [, v]) => a + v, 0), r.usage.totalBytes);
        const jobs = samples(text, 'storectl_jobs');
        for (const s of r.jobs.byStatus) assert.equal(jobs.get(`{status="${s.status}"}`), s.jobs);
        assert.equal(samples(text, 'storectl_quota_bytes').get('{owner="acme"}'), 1024 ** 3);
        assert.equal(samples(text, 'storectl_quota_files').get('{owner="acme"}'), 500);
        const acme = r.quotas.find((q: { owner: string }) => q.owner === 'acme');
        assert.equal(samples(text, 'storectl_usage_bytes').get('{owner="acme"}'), acme.bytes);
        assert.ok(text.includes('owner="we\\"ird\\\\owner\\nx"'), 'label value not escaped');
        assert.equal(samples(text, 'storectl_drift_files').get('{kind="orphan"}'), r.drift.orphanFiles);
        assert.equal(samples(text, 'storectl_last_run_exit_code').get('{command="generate"}'), 0);
        // the same figures on stdout
        const out = await runCli([...store.args, 'stats', '--format', 'prometheus']);
        assert.equal(out.code, 0, out.stderr);
        execFileSync('promtool', ['check', 'metrics'], { input: out.stdout });
        assert.deepEqual(samples(out.stdout, 'storectl_files'), samples(text, 'storectl_files'));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    test('bad combinations exit 2; an unwritable metrics path exits 1 naming it', async () => {
      assert.equal((await runCli([...store.args, '--json', 'stats', '--format', 'prometheus'])).code, 2);
      assert.equal((await runCli([...store.args, 'stats', '--format', 'xml'])).code, 2);
      const bad = await runCli([...store.args, 'stats', '--prometheus', '/nonexistent-dir/x.prom']);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /nonexistent-dir/);
    });

    test('usage drift: a ledger edited behind its back is drift for --check-disk (exit 4) until recount (--owner: that owner alone)', async () => {
      const c = await store.open();
      const raw = c as unknown as { raw?: { prepare(s: string): { run(): void } }; pool?: { query(s: string): Promise<unknown> } };
      if (raw.raw) raw.raw.prepare(`update usage set files = files + 1 where owner = 'acme'`).run();
      else await raw.pool!.query(`update usage set files = files + 1 where owner = 'acme'`);
      await c.close();
      const r = await runCli([...store.args, '--json', 'stats', '--check-disk']);
      assert.equal(r.code, 4);
      assert.deepEqual(r.json.usageDrift.map((u: { owner: string }) => u.owner), ['acme']);
      // --owner (or OWNER) recounts that owner alone: another owner's recount leaves acme's drift
      const elsewhere = await runCli([...store.args, '--json', 'quota', 'recount', '--owner', 'nobody-here']);
      assert.equal(elsewhere.code, 0, elsewhere.stderr);
      assert.deepEqual(elsewhere.json.corrected, []);
      assert.equal((await runCli([...store.args, 'stats', '--check-disk'])).code, 4, 'a recount of another owner corrected acme');
      assert.equal((await runCli([...store.args, 'quota', 'recount', 'x', '--owner', 'y'])).code, 2, 'OWNER and --owner at once');
      const fixed = await runCli([...store.args, '--json', 'quota', 'recount', '--owner', 'acme']);
      assert.deepEqual(fixed.json.corrected.map((u: { owner: string }) => u.owner), ['acme']);
      assert.equal((await runCli([...store.args, 'stats', '--check-disk'])).code, 0);
    });

    test('history: each real run that changes the store records a snapshot of the ledger with its run; a dry run records none', async () => {
      const fresh = await d.makeStore();
      try {
        type Snap = { command: string; run_id: string | null; bytes: number; files: number };
        const snaps = () => query<Snap>(fresh, `select command, run_id, bytes, files from usage_snapshots order by id`);
        const runId = async (command: string) => (await query<{ id: string }>(fresh, `select id from runs where command = $1 order by started_at desc limit 1`, [command]))[0]!.id;
        const totals = async () => {
          const c = await fresh.open();
          try {
            return await c.usage.totals();
          } finally {
            await c.close();
          }
        };
        const g = await runCli([...fresh.args, '--json', 'generate', '--workers', '1', '--jobs', '-'], { input: ndjson([cardJob('snap-1', 'acme'), cardJob('snap-2', 'acme')]) });
        assert.equal(g.code, 0, g.stderr);
        let s = await snaps();
        assert.equal(s.length, 1, JSON.stringify(s));
        const afterGenerate = await totals();
        assert.deepEqual([s[0]!.command, s[0]!.run_id, Number(s[0]!.bytes), Number(s[0]!.files)], ['generate', await runId('generate'), afterGenerate.bytes, afterGenerate.files]);
        assert.equal(afterGenerate.files, 10);
        const dry = await runCli([...fresh.args, '--json', 'delete', 'snap-1', '--dry-run']);
        assert.equal(dry.code, 0, dry.stderr);
        assert.equal((await snaps()).length, 1, 'a dry run recorded a snapshot');
        const del = await runCli([...fresh.args, '--json', '--yes', 'delete', 'snap-1', '--max-delete', '100%']);
        assert.equal(del.code, 0, del.stdout + del.stderr);
        s = await snaps();
        assert.equal(s.length, 2);
        const afterDelete = await totals();
        assert.deepEqual([s[1]!.command, s[1]!.run_id, Number(s[1]!.bytes), Number(s[1]!.files)], ['delete', await runId('delete'), afterDelete.bytes, 5]);
        assert.ok(afterDelete.bytes < afterGenerate.bytes);
        const h = await runCli([...fresh.args, '--json', 'stats', '--history']);
        assert.equal(h.code, 0, h.stderr);
        assert.equal(h.json.history.snapshots, 2, 'the history holds the generate and delete snapshots');
      } finally {
        await fresh.dispose();
      }
    });

    test('history: snapshots accumulate; growth and days until full follow from a known series', async () => {
      const fresh = await d.makeStore();
      try {
        const c = await fresh.open();
        const now = Date.now();
        // 1 MB a day for ten days, one snapshot a day (two on the last day)
        for (let i = 0; i <= 9; i++) {
          await c.usage.addSnapshot({ takenAt: new Date(now - (10 - i) * DAY), runId: null, command: 'stats', bytes: 5_000_000 + i * 1_000_000, files: 100 + i * 10, orphanFiles: null, missingFiles: null, anomalies: null, usageDrift: null });
        }
        await c.usage.addSnapshot({ takenAt: new Date(now - 20 * DAY), runId: null, command: 'stats', bytes: 1, files: 1, orphanFiles: null, missingFiles: null, anomalies: null, usageDrift: null });
        await c.close();
        const h = await runCli([...fresh.args, '--json', 'stats', '--history', '--since', '15d']);
        assert.equal(h.code, 0, h.stderr);
        const r = h.json.history;
        assert.equal(r.snapshots, 10, 'the snapshot outside --since was counted');
        assert.equal(r.days.length, 10);
        assert.equal(r.days[9].bytes, 14_000_000);
        assert.equal(r.growthBytesPerDay, 1_000_000);
        assert.equal(r.growthFilesPerDay, 10);
        assert.ok(r.freeBytes > 0);
        assert.equal(r.daysUntilFull, Math.round((r.freeBytes / 1_000_000) * 10) / 10);
        // each stats run records one more snapshot
        assert.equal((await runCli([...fresh.args, 'stats'])).code, 0);
        const h2 = await runCli([...fresh.args, '--json', 'stats', '--history', '--since', '15d']);
        assert.equal(h2.json.history.snapshots, 11);
        const text = await runCli([...fresh.args, 'stats', '--history']);
        assert.match(text.stdout, /growth\s+[+-]/);
        assert.ok(!text.stdout.includes('█'), 'bars drawn off a terminal');
        // On a terminal each day is drawn as a bar, 40 cells for the largest day, in proportion.
        const pty = spawnSync('python3', [path.join(REPO, 'test/helpers/pty-run.py'), 'n', process.execPath, BIN, ...fresh.args, 'stats', '--history', '--since', '15d'], {
          encoding: 'utf8',
          env: { ...process.env, NO_COLOR: '1', STORECTL_ROOT: '', STORECTL_DATABASE_URL: '', DATABASE_URL: '' },
          timeout: 120_000,
        });
        assert.equal(pty.status, 0, pty.stdout + pty.stderr);
        const bars = new Map<string, number>();
        for (const line of pty.stdout.split(/\r?\n/)) {
          const m = /(\d{4}-\d{2}-\d{2})\D.*?(█+)/.exec(line);
          if (m) bars.set(m[1]!, m[2]!.length);
        }
        const want = r.days.map((x: { date: string; bytes: number }) => [x.date, Math.max(1, Math.round((x.bytes / 14_000_000) * 40))]);
        assert.deepEqual([...bars.entries()].slice(0, 10), want, pty.stdout);
      } finally {
        await fresh.dispose();
      }
    });
  });
}
