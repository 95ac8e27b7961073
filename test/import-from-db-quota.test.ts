// import-from-db and quotas, the real bin on both dialects: each row's job belongs to the owner
// its --owner-column (else --owner) names; a row whose files would pass that owner's quota fails
// alone with the reason and nothing written, the others go on (exit 3), the dry run says the
// same, usage equals a recount; and a row the catalog refuses after its files were written (a
// writer that took the last bytes meanwhile) removes those files again.
import { after, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { DIALECTS, runCli, tmpDir, type CliResult, type Store } from './helpers/env.ts';
import { execSql, query } from './helpers/images.ts';
import { cardJob } from './helpers/jobs.ts';

const CMD = 'import-from-db';

/** A PDF of exactly `size` bytes (random inside, so no two are alike). */
function pdfOf(size: number): Buffer {
  const head = Buffer.from('%PDF-1.4\n');
  const tail = Buffer.from('\n%%EOF\n');
  return Buffer.concat([head, randomBytes(size - head.length - tail.length), tail]);
}

const card = cardJob;

/** Every data file under the root (not .storectl/), relative, sorted. */
function treeFiles(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  return (fs.readdirSync(root, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
    .filter((p) => !p.startsWith('.storectl'))
    .sort();
}

for (const d of DIALECTS) {
  describe(`${CMD} with quotas: ${d.name}`, { skip: d.skip }, () => {
    const stores: Store[] = [];
    const pgsql = d.name === 'postgres';
    after(async () => {
      for (const s of stores) await s.dispose();
    });
    const newStore = async () => {
      const s = await d.makeStore();
      stores.push(s);
      await (await s.open()).close();
      return s;
    };
    const cli = (s: Store, args: string[], env?: Record<string, string>) => runCli([...s.args, '--json', ...args], { env });
    const noDrift = async (s: Store) => {
      const r = await cli(s, ['quota', 'recount']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.json.corrected, [], 'usage drifted from the files table');
    };
    const dataKeys = async (s: Store) => (await query<{ id: number }>(s, `select id from legacy_scans where data is not null order by id`)).map((r) => Number(r.id));

    test('a quota with room for some rows: the later rows of that owner fail alone with the reason, nothing of theirs is written or cleared; usage equals a recount', async () => {
      const s = await newStore();
      await execSql(s, `create table legacy_scans (id integer primary key, owner text, data ${pgsql ? 'bytea' : 'BLOB'})`);
      // acme: rows 1, 2, 4, 5, 7; beta: 3, 6; no owner (so --owner gamma): 8, 9. 10,000 bytes each.
      const owners: Record<number, string | null> = { 1: 'acme', 2: 'acme', 3: 'beta', 4: 'acme', 5: 'acme', 6: 'beta', 7: 'acme', 8: null, 9: '' };
      const data = new Map<number, Buffer>();
      for (const [id, owner] of Object.entries(owners)) {
        data.set(Number(id), pdfOf(10_000));
        await query(s, `insert into legacy_scans (id, owner, data) values ($1, $2, $3)`, [Number(id), owner, data.get(Number(id))]);
      }
      // acme: room for three rows and a half; gamma: one file.
      assert.equal((await cli(s, ['quota', 'set', 'acme', '--bytes', '35000'])).code, 0);
      assert.equal((await cli(s, ['quota', 'set', 'gamma', '--bytes', '1MB', '--files', '1'])).code, 0);
      const base = [CMD, '--table', 'legacy_scans', '--data-column', 'data', '--role-map', '["scan.pdf"]', '--category', 'uploads', '--kind', 'scan', '--batch-size', '2', '--workers', '4'];
      const args = [...base, '--owner-column', 'owner', '--owner', 'gamma'];
      const failures = (r: CliResult) => (r.json.failures as { key: string; reason: string }[]).map((f) => [f.key, f.reason]).sort((a, b) => Number(a[0]) - Number(b[0]));

      const dry = await cli(s, [...args, '--dry-run']);
      assert.equal(dry.code, 3, dry.stdout + dry.stderr);
      assert.deepEqual(treeFiles(s.root), []);
      assert.equal(Number((await query<{ n: number }>(s, `select count(*) as n from files`))[0]!.n), 0);

      const r = await cli(s, [...args, '--clear-source', '--yes']);
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.deepEqual([r.json.imported, r.json.failed, r.json.cleared], [6, 3, 6]);
      const got = failures(r);
      assert.deepEqual(got.map((f) => f[0]), ['5', '7', '9'], 'the later rows of each owner are refused, whichever worker got there first');
      for (const [, reason] of got.slice(0, 2)) assert.match(reason!, /^quota exceeded: owner acme uses 29\.3 KiB of 34\.2 KiB, this job needs 9\.77 KiB$/);
      assert.match(got[2]![1]!, /^quota exceeded: owner gamma uses [\d.]+ KiB of [\d.]+ [KM]i?B, 1 of 1 files, this job needs 9\.77 KiB$/);
      assert.deepEqual(failures(dry), got, 'the dry run refuses the same rows for the same reasons');
      assert.equal(dry.json.imported, 6);

      // On disk and in the catalog: exactly the admitted rows, byte-identical, each with its owner.
      const rows = await query<{ job_id: string; owner: string; path: string; sha256: string; size: number }>(s, `select job_id, owner, path, sha256, size from files order by job_id`);
      assert.deepEqual(rows.map((x) => [x.job_id, x.owner]), [['1', 'acme'], ['2', 'acme'], ['3', 'beta'], ['4', 'acme'], ['6', 'beta'], ['8', 'gamma']]);
      assert.deepEqual(treeFiles(s.root), rows.map((x) => x.path).sort());
      for (const x of rows) assert.ok(fs.readFileSync(path.join(s.root, x.path)).equals(data.get(Number(x.job_id))!), `${x.path} byte-identical`);
      const jobs = await query<{ id: string; owner: string }>(s, `select id, owner from jobs order by id`);
      assert.deepEqual(jobs.map((j) => [j.id, j.owner]), [['1', 'acme'], ['2', 'acme'], ['3', 'beta'], ['4', 'acme'], ['6', 'beta'], ['8', 'gamma']], 'no job made for a refused row');
      // Only the imported rows lost their source value.
      assert.deepEqual(await dataKeys(s), [5, 7, 9]);
      const acme = await cli(s, ['quota', 'show', 'acme']);
      assert.deepEqual([acme.json.owner.bytes, acme.json.owner.files], [30_000, 3]);
      await noDrift(s);
      const check = await cli(s, ['stats', '--check-disk']);
      assert.equal(check.code, 0, check.stdout + check.stderr);

      // More room for acme: a rerun imports its two rows; gamma's file cap still refuses row 9.
      assert.equal((await cli(s, ['quota', 'set', 'acme', '--bytes', '1MB'])).code, 0);
      const again = await cli(s, [...args, '--clear-source', '--yes']);
      assert.equal(again.code, 3, again.stdout + again.stderr);
      assert.deepEqual([again.json.imported, again.json.failed, again.json.cleared], [2, 1, 2]);
      assert.deepEqual(failures(again).map((f) => f[0]), ['9']);
      assert.deepEqual(await dataKeys(s), [9]);
      await noDrift(s);
      assert.equal((await cli(s, ['stats', '--check-disk'])).code, 0);

      // A job that exists with another owner than the row names: that row fails alone.
      await query(s, `update legacy_scans set data = $1 where id = 3`, [data.get(3)]);
      const owned = await cli(s, [...base, '--owner', 'zed']);
      assert.equal(owned.code, 3, owned.stdout + owned.stderr);
      assert.deepEqual(failures(owned), [['3', 'job 3 belongs to owner "beta", not "zed"']]);
      assert.equal(owned.json.imported, 1, 'row 9: a new job of owner zed (no quota)');
      assert.deepEqual((await query<{ owner: string }>(s, `select owner from files where job_id = '9'`)).map((x) => x.owner), ['zed']);
      await noDrift(s);
    });

    test('a row whose files were written but whose rows the catalog refuses (another writer took the quota meanwhile): its files are removed, the row fails with the reason', async () => {
      const s = await newStore();
      const first = await runCli([...s.args, '--json', 'generate', '--workers', '1', '--jobs', '-'], { input: JSON.stringify(card('acme-0', 'acme')) });
      assert.equal(first.code, 0, first.stderr);
      const perJob = first.json.bytes as number;
      // Room for one more job of that size, not two: the import's row and a generate both fit alone.
      assert.equal((await cli(s, ['quota', 'set', 'acme', '--bytes', String(perJob + Math.floor(perJob * 1.5))])).code, 0);
      await execSql(s, `create table legacy_scans (id text primary key, data ${pgsql ? 'bytea' : 'BLOB'})`);
      const bytes = pdfOf(perJob);
      await query(s, `insert into legacy_scans (id, data) values ($1, $2)`, ['r1', bytes]);
      const dir = tmpDir();
      const pause = path.join(dir, 'paused');
      try {
        // The import stops after writing r1's file, before recording it.
        let ended = false;
        const running = cli(s, [CMD, '--table', 'legacy_scans', '--data-column', 'data', '--owner', 'acme', '--role-map', '["scan.pdf"]', '--category', 'uploads'], {
          STORECTL_TEST_PAUSE_AT: `import-from-db.before-record:${pause}`,
        }).finally(() => (ended = true));
        while (!ended && !fs.existsSync(pause)) await new Promise((res) => setTimeout(res, 20));
        if (!fs.existsSync(pause)) assert.fail(`the import ended before its pause point: ${JSON.stringify(await running)}`);
        const written = treeFiles(s.root).filter((p) => p.includes('/r1/'));
        assert.equal(written.length, 1, 'the file is written before the rows');
        // Meanwhile another writer takes the room. Every storectl command that writes waits for the
        // store lock the import holds (generate too), so the writer here is one outside storectl:
        // a file placed in the tree and its row recorded straight in the catalog.
        const taken = pdfOf(perJob);
        const otherPath = 'uploads/2026/11/20/acme-1/scan.pdf';
        fs.mkdirSync(path.join(s.root, path.dirname(otherPath)), { recursive: true, mode: 0o750 });
        fs.writeFileSync(path.join(s.root, otherPath), taken, { mode: 0o600 });
        const c = await s.open();
        try {
          await c.insertJobs([{ id: 'acme-1', owner: 'acme', kind: 'upload', status: 'completed', data: {}, createdAt: new Date('2026-11-20T08:00:00Z') }]);
          await c.insertFiles([{ jobId: 'acme-1', role: 'scan.pdf', category: 'uploads', owner: 'acme', path: otherPath, contentType: 'application/pdf', size: taken.length, sha256: createHash('sha256').update(taken).digest('hex'), createdAt: new Date() }]);
        } finally {
          await c.close();
        }
        fs.rmSync(pause);
        const r = await running;
        assert.equal(r.code, 3, r.stdout + r.stderr);
        assert.deepEqual([r.json.imported, r.json.failed], [0, 1]);
        assert.equal(r.json.failures[0].key, 'r1');
        assert.match(r.json.failures[0].reason, /^quota exceeded: owner acme uses [\d.]+ [KM]iB of [\d.]+ [KM]iB, this job needs [\d.]+ [KM]iB$/);
        assert.deepEqual(treeFiles(s.root).filter((p) => p.includes('/r1/')), [], 'the refused row left its file');
        assert.deepEqual(await query(s, `select id from jobs where id = 'r1'`), [], 'and no job');
        assert.deepEqual(await query(s, `select path from files where job_id = 'r1'`), []);
        await noDrift(s);
        const check = await cli(s, ['stats', '--check-disk']);
        assert.equal(check.code, 0, check.stdout + check.stderr);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
