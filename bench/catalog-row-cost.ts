// What one deletion costs the SQLite catalog per file row, and which index or trigger it goes
// to: on a copy of the delete-profile store's catalog, the two state updates of the delete
// protocol (present -> deleting, the intent; deleting -> deleted, the tombstone) for every due
// file, in batches of BATCH_FILES as the engine makes them, with the catalog as shipped and with
// one secondary index or trigger of `files` dropped at a time. CPU time of this process (the
// statements run here, synchronously). Not part of `npm run bench`: it explains the profile in
// bench/results/cleanup-engine.md.
//   node --import tsx bench/delete-profile.ts build --work DIR --files 200000
//   node --import tsx bench/catalog-row-cost.ts [--work DIR]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { arg } from './lib/measure.ts';
import { BATCH_FILES } from '../src/ops/lifecycle/apply.ts';

const W = arg('--work') ?? path.join(os.tmpdir(), 'storectl-delete-profile');
const source = path.join(W, 'store', '.storectl', 'catalog.db');
const due = fs.readFileSync(path.join(W, 'due.txt'), 'utf8').split('\n').filter(Boolean);
const copy = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-row-cost-')), 'catalog.db');
const chunk = <T,>(a: T[], n: number): T[][] => Array.from({ length: Math.ceil(a.length / n) }, (_, i) => a.slice(i * n, (i + 1) * n));
const cpuMs = (f: () => void) => {
  const c0 = process.cpuUsage();
  f();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
};

function run(label: string, change: (db: Database.Database) => void): string[] {
  fs.copyFileSync(source, copy);
  for (const s of ['-wal', '-shm']) fs.rmSync(copy + s, { force: true });
  const db = new Database(copy);
  // as src/db/sqlite.ts opens it
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('wal_autocheckpoint = 10000');
  db.exec(`update files set state = 'present', deleted_at = null, delete_reason = null where state in ('deleting', 'deleted')`);
  change(db);
  const idOf = db.prepare('select id from files where path = ?').pluck();
  const ids = due.map((p) => idOf.get(p) as number);
  // the engine's statements (src/db/sqlite.ts markDeleting and finishDeletions' tombstones)
  const intent = db.prepare(`update files set state = 'deleting', delete_reason = ? where id in (select value from json_each(?)) and +state = 'present' returning id, path, coalesce(stored_size, size), state, job_id`).raw();
  const tomb = db.prepare(`update files set state = 'deleted', deleted_at = v.value ->> 1, delete_reason = v.value ->> 2 from json_each(?) as v where files.id = v.value ->> 0 and +files.state = 'deleting'`);
  const at = Date.now();
  const i = cpuMs(() => { for (const b of chunk(ids, BATCH_FILES)) db.transaction(() => intent.all('expired:bench', JSON.stringify(b)))(); });
  const t = cpuMs(() => { for (const b of chunk(ids, BATCH_FILES)) db.transaction(() => tomb.run(JSON.stringify(b.map((id) => [id, at, 'expired:bench']))))(); });
  db.close();
  return [label, i.toFixed(0), t.toFixed(0), (((i + t) * 1000) / ids.length).toFixed(1)];
}

const probe = new Database(source, { readonly: true });
const objects = probe.prepare(`select type, name from sqlite_master where tbl_name = 'files' and type in ('index', 'trigger') and sql is not null order by type, name`).all() as { type: string; name: string }[];
const rows = probe.prepare('select count(*) from files').pluck().get() as number;
probe.close();
const out = [run('as shipped', () => {})];
for (const o of objects) out.push(run(`without ${o.type} ${o.name}`, (db) => db.exec(`drop ${o.type} ${o.name}`)));
out.push(run('without any secondary index or trigger of files', (db) => { for (const o of objects) db.exec(`drop ${o.type} ${o.name}`); }));
console.log(`### SQLite: the delete protocol's two updates of ${due.length.toLocaleString('en-US')} of ${rows.toLocaleString('en-US')} file rows, batches of ${BATCH_FILES} (CPU ms, ${new Date().toISOString().slice(0, 16)}Z, load ${os.loadavg()[0]!.toFixed(1)})\n`);
console.log('| catalog | intent (present -> deleting) | tombstone (deleting -> deleted) | µs per file, both |');
console.log('| --- | --- | --- | --- |');
for (const r of out) console.log(`| ${r.join(' | ')} |`);
fs.rmSync(path.dirname(copy), { recursive: true, force: true });
