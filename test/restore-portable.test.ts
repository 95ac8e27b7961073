// restore --verify-only predicts what PostgreSQL alone refuses. The schemas have no CHECK, foreign
// key or length-limited column, and uniqueness is byte-wise in both; what PostgreSQL refuses and
// SQLite takes is in its types and btree indexes (src/db/portable.ts). Each case is a row that a
// SQLite store holds, backed up by storectl itself: --verify-only (which opens no catalog) exits
// 4 naming the row, and a real restore into either dialect is refused the same way, the target
// untouched. On PostgreSQL the oracle is checked too: a PostgreSQL catalog does refuse the row.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { DIALECTS, tmpDir, type Store } from './helpers/env.ts';
import { runMain as run } from './helpers/run-main.ts';
import type { DumpTable } from '../src/db/dump.ts';
import { openCatalog } from '../src/db/connect.ts';
import { parseDatabaseUrl } from '../src/db/url.ts';
import { sqlExec } from './helpers/cleanup-fixture.ts';

const T0 = new Date('2026-10-01T08:00:00.000Z');
const sqlite = DIALECTS.find((d) => d.name === 'sqlite')!;
const stores: Store[] = [];
let work: string;

before(() => {
  work = tmpDir('storectl-portable-');
});
after(async () => {
  for (const s of stores) await s.dispose().catch(() => {});
  fs.rmSync(work, { recursive: true, force: true });
});

const rnd = (n: number) => randomBytes(n).toString('base64url').slice(0, n);
const job = (o: object) => ({ id: 'job-bad', kind: 'card', owner: 'acme', status: 'completed', data: { holder: 'x' }, createdAt: T0, updatedAt: T0, completedAt: null, filesState: 'none', generation: null, failureReason: null, ...o });
const deletedFile = (o: object) => ({ id: 900, jobId: null, role: 'r', category: 'temp', owner: 'acme', path: 'temp/gone.bin', contentType: 'application/octet-stream', size: 1, sha256: 'ab'.repeat(32), mtime: null, createdAt: T0, expiresAt: null, deletedAt: T0, deleteReason: 'expired', state: 'deleted', ...o });
const runRow = (o: object) => ({ id: 'run-bad', command: 'cleanup-expired', args: null, dryRun: false, status: 'ok', exitCode: 0, user: 'u', host: 'h', pid: 1, startedAt: T0, finishedAt: T0, totals: null, ...o });
const image = (o: object) => ({ id: 900, source: 'legacy', sourceKey: 'k', sourceIndex: 0, owner: 'acme', originalPath: 'uploads/a.png', originalBytes: 1, originalFormat: 'png', format: 'webp', width: 1, height: 1, bytes: 1, quality: 80, sha256: 'cd'.repeat(32), data: Buffer.from('x'), createdAt: T0, ...o });
const event = (o: object) => ({ id: 900, runId: null, at: T0, action: 'delete', path: 'temp/x', jobId: null, bytes: 1, reason: 'expired', ...o });

/** [what, table, row, the message's pattern] */
const CASES: [string, DumpTable, Record<string, unknown>, RegExp][] = [
  ['a NUL in a text column', 'jobs', job({ owner: 'ac\u0000me' }), /jobs\.owner of row "job-bad" holds a NUL character \(\\u0000\), which PostgreSQL cannot store in text/],
  ['a NUL inside a JSON value', 'jobs', job({ data: { holder: 'Zo\u0000ë' } }), /jobs\.data of row "job-bad" holds a NUL character \(\\u0000\), which PostgreSQL cannot store in jsonb/],
  ['a NUL in a JSON key', 'runs', runRow({ totals: { 'del\u0000eted': 1 } }), /runs\.totals of row "run-bad" holds a NUL character/],
  ['an integer column past 2^31-1', 'images', image({ width: 2 ** 31 }), /images\.width of row 900 is 2147483648, outside PostgreSQL's integer range/],
  ['an integer column below -2^31', 'runs', runRow({ pid: -(2 ** 31) - 1 }), /runs\.pid of row "run-bad" is -2147483649, outside PostgreSQL's integer range/],
  ['a bigint column at 2^63', 'files', deletedFile({ size: 2 ** 63 }), /files\.size of row 900 is 9223372036854776000, outside PostgreSQL's bigint range/],
  ['a timestamp after the year 9999', 'jobs', job({ createdAt: new Date('+020000-01-01T00:00:00.000Z') }), /jobs\.createdAt of row "job-bad" is \+020000-01-01T00:00:00\.000Z, outside the years 1 to 9999/],
  ['a timestamp in the year 0', 'events', event({ at: new Date('0000-06-01T00:00:00.000Z') }), /events\.at of row 900 is 0000-06-01T00:00:00\.000Z, outside the years 1 to 9999/],
  ['an indexed text too long for a btree entry', 'events', event({ path: `temp/${rnd(2800)}` }), /events row 900: its entry in PostgreSQL's index events_path_idx would be 2824 bytes, over the 2704/],
  ['a multi-column index entry too long', 'images', image({ source: rnd(1500), sourceKey: rnd(1500) }), /index images_source_uq would be \d+ bytes/],
];

/** A small SQLite store holding one good file and one row of the case, backed up by storectl. */
async function archiveWith(i: number, table: DumpTable, row: Record<string, unknown>): Promise<string> {
  const store = await sqlite.makeStore();
  stores.push(store);
  const src = path.join(work, `good-${i}.txt`);
  fs.writeFileSync(src, `good file ${i}\n`);
  const c = await store.open();
  try {
    await c.importTables([{ table, batches: [[row]] }], { replace: false });
  } finally {
    await c.close();
  }
  const put = await run([...store.args, '--json', 'put', src, '--job', 'job-good']);
  assert.equal(put.code, 0, put.stdout);
  const archive = path.join(work, `case-${i}.tar.gz`);
  const b = await run([...store.args, '--json', 'backup', '--output', archive]);
  assert.ok(fs.existsSync(archive), `backup wrote ${archive}: ${b.stdout}`);
  return archive;
}

const archives: string[] = [];
before(async () => {
  for (const [i, [, table, row]] of CASES.entries()) archives.push(await archiveWith(i, table, row));
});

test('--verify-only refuses each row PostgreSQL would refuse: exit 4, naming the row and why', async () => {
  for (const [i, [what, , , why]] of CASES.entries()) {
    const r = await run(['--json', 'restore', archives[i]!, '--verify-only']);
    assert.equal(r.code, 4, `${what}: ${r.stdout}`);
    assert.equal(r.json.error.code, 'integrity', what);
    assert.match(r.json.error.message, new RegExp(`^archive ${archives[i]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} cannot be restored: `), what);
    assert.match(r.json.error.message, why, what);
    assert.match(r.json.error.hint, /nothing was restored/);
    const text = await run(['restore', archives[i]!, '--verify-only']);
    assert.equal(text.code, 4);
    assert.equal(text.stderr.trim().split('\n').length, 1, text.stderr);
  }
});

test('a good SQLite-made archive still verifies', async () => {
  const store = await sqlite.makeStore();
  stores.push(store);
  const src = path.join(work, 'plain.txt');
  fs.writeFileSync(src, 'plain\n');
  // Long but legal values: a 2,000-byte user and a 32-bit maximum.
  const c = await store.open();
  await c.importTables([{ table: 'runs', batches: [[runRow({ pid: 2 ** 31 - 1, user: rnd(2000) })]] }], { replace: false });
  await c.close();
  assert.equal((await run([...store.args, 'put', src, '--job', 'job-ok'])).code, 0);
  const archive = path.join(work, 'plain.tar.gz');
  assert.equal((await run([...store.args, 'backup', '--output', archive])).code, 0);
  const v = await run(['--json', 'restore', archive, '--verify-only']);
  assert.equal(v.code, 0, v.stdout);
});

for (const d of DIALECTS) {
  describe(`a real restore into ${d.name} refuses what --verify-only refused`, { skip: d.skip }, () => {
    test('exit 4 with the same reason, nothing restored', async () => {
      for (const [i, [what, , , why]] of CASES.entries()) {
        const target = await d.makeStore({ migrate: false });
        stores.push(target);
        const r = await run([...target.args, '--json', 'restore', archives[i]!]);
        assert.equal(r.code, 4, `${what}: ${r.stdout}`);
        assert.match(r.json.error.message, why, what);
        const left = fs.existsSync(target.root) ? fs.readdirSync(target.root).filter((n) => n !== '.storectl') : [];
        assert.deepEqual(left, [], `${what}: no file restored`);
        const c = await openCatalog(parseDatabaseUrl(target.databaseUrl || undefined, target.root), { create: true, migrate: 'never' });
        const counts = await c.tableCounts().catch(() => ({ jobs: 0, files: 0, runs: 0, events: 0, images: 0 }));
        await c.close();
        assert.deepEqual(counts, { jobs: 0, files: 0, runs: 0, events: 0, images: 0 }, what);
        await target.dispose();
      }
    });

    test(`the oracle: ${d.name === 'postgres' ? 'a PostgreSQL catalog itself refuses each row' : 'SQLite takes each row (the check is needed)'}`, async () => {
      for (const [what, table, row] of CASES) {
        const target = await d.makeStore();
        stores.push(target);
        const c = await target.open();
        let refused: unknown;
        try {
          await c.importTables([{ table, batches: [[row]] }], { replace: false });
        } catch (err) {
          refused = err;
        } finally {
          await c.close();
        }
        if (d.name === 'postgres') assert.ok(refused, `PostgreSQL took ${what}: the check refuses a row it need not`);
        else assert.equal(refused, undefined, `SQLite refused ${what}: ${String(refused)}`);
        await target.dispose();
      }
    });
  });
}

test('a backup whose archive does not verify (exit 4) prunes nothing and is set aside where retention never counts it', async () => {
  const store = await sqlite.makeStore();
  stores.push(store);
  const dir = path.join(work, 'retention');
  const src = path.join(work, 'kept.txt');
  fs.writeFileSync(src, 'kept\n');
  const c0 = await store.open();
  await c0.close();
  assert.equal((await run([...store.args, 'put', src, '--job', 'job-kept'])).code, 0);
  const good1 = await run([...store.args, '--json', 'backup', '--dir', dir, '--keep', '1']);
  assert.equal(good1.code, 0, good1.stdout);
  await new Promise((r) => setTimeout(r, 1100));
  const c = await store.open();
  await c.importTables([{ table: 'jobs', batches: [[job({ owner: 'ac\u0000me' })]] }], { replace: false });
  await c.close();
  const bad = await run([...store.args, '--json', 'backup', '--dir', dir, '--keep', '1']);
  assert.equal(bad.code, 4, bad.stdout);
  assert.match(bad.json.error.message, /was written but does not verify: archive .* cannot be restored: jobs\.owner of row "job-bad" holds a NUL character/);
  assert.match(bad.json.error.message, /it is kept as .*\.unverified\.tar\.gz, which retention never counts/);
  assert.match(bad.json.error.hint, /nothing was pruned/);
  const names = fs.readdirSync(dir).sort();
  assert.equal(names.length, 2, names.join(', '));
  assert.ok(names.includes(path.basename(good1.json.path)), 'the good backup stays');
  assert.ok(names.some((n) => /\.unverified\.tar\.gz$/.test(n)), names.join(', '));

  // Once the row is fixed, the next good backup prunes the old good one, not the set-aside one.
  const fixed = await store.open();
  await sqlExec(fixed, `delete from jobs where id = 'job-bad'`);
  await fixed.close();
  await new Promise((r) => setTimeout(r, 1100));
  const good2 = await run([...store.args, '--json', 'backup', '--dir', dir, '--keep', '1']);
  assert.equal(good2.code, 0, good2.stdout);
  assert.deepEqual(good2.json.pruned, [good1.json.path]);
  assert.ok(fs.readdirSync(dir).some((n) => /\.unverified\.tar\.gz$/.test(n)), 'never pruned by retention');
});
