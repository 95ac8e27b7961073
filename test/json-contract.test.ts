// The --json contract: every command prints one parseable document on stdout (no colour, no
// progress), with `version` and `command`, and the README documents each of its keys.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import Database from 'better-sqlite3';
import { COMMANDS } from '../src/commands/index.ts';
import { REPO, runCli, tmpDir } from './helpers/env.ts';

const README = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
function section(name: string): string {
  const start = README.indexOf(`\n### ${name}\n`);
  assert.ok(start >= 0, `README has a section for ${name}`);
  const next = README.slice(start + 5).search(/\n### |\n## /);
  return README.slice(start, next < 0 ? undefined : start + 5 + next);
}

describe('--json on every command', () => {
  let dir: string;
  let args: string[];
  before(async () => {
    dir = tmpDir();
    args = ['--root', path.join(dir, 'store'), '--json'];
    fs.mkdirSync(path.join(dir, 'photos'));
    await sharp({ create: { width: 40, height: 30, channels: 3, background: '#884422' } }).png().toFile(path.join(dir, 'photos/p.png'));
    const app = new Database(path.join(dir, 'app.db'));
    app.exec('create table legacy (id text primary key, data blob)');
    app.prepare('insert into legacy values (?, ?)').run('legacy-1', fs.readFileSync(path.join(dir, 'photos/p.png')));
    app.close();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const firstJob = () => {
    const db = new Database(path.join(dir, 'store/.storectl/catalog.db'), { readonly: true });
    try {
      return (db.prepare(`select job_id from files where role = 'front.png' order by job_id limit 1`).get() as { job_id: string }).job_id;
    } finally {
      db.close();
    }
  };
  const runs: [string, string[]][] = [
    ['generate', ['generate', '--sample', '4', '--seed', '5', '--workers', '1']],
    ['stats', ['stats']],
    ['jobs', ['jobs']],
    ['show', ['show', 'JOB']],
    ['get', ['get', 'JOB', 'front.png', '-o', 'OUTFILE']],
    ['url', ['url', '--nginx-config']],
    ['export', ['export', 'JOB', '--output', 'EXPORTFILE']],
    ['delete', ['delete', 'JOB', '--dry-run']],
    ['cleanup-expired', ['cleanup-expired', '--dry-run']],
    ['cleanup-orphaned', ['cleanup-orphaned', '--dry-run']],
    ['tier', ['tier', 'JOB', '--to', 'hot', '--dry-run']],
    ['backup', ['backup', '--output', 'BACKUP']],
    ['restore', ['restore', 'BACKUP', '--verify-only']],
    ['verify', ['verify']],
    ['put', ['put', 'PHOTO', '--job', 'upload-1', '--owner', 'acme']],
    ['dedup', ['dedup', '--dry-run']],
    ['migrate-images-to-db', ['migrate-images-to-db', '--from-dir', 'PHOTOS', '--dry-run']],
    ['import-from-db', ['import-from-db', '--source-database', 'APPDB', '--table', 'legacy', '--data-column', 'data', '--dry-run']],
    ['migrate-store', ['migrate-store', '--to', 'MOVED', '--dry-run']],
    ['quota', ['quota', 'list']],
    ['unlock', ['unlock']],
    ['migrate', ['migrate']],
    ['config', ['config']],
    ['completion', ['completion', 'bash']],
    // A local store has no bucket: the refusal is one JSON error document (test/s3-lifecycle.test.ts has the report on S3).
    ['s3-lifecycle', ['s3-lifecycle', '--print']],
  ];
  const expectedCode: Record<string, number> = { 's3-lifecycle': 2 };

  test('the list covers every command', () => {
    assert.deepEqual(runs.map((r) => r[0]).sort(), COMMANDS.map((c) => c.name).sort());
  });

  for (const [name, argv] of runs) {
    test(`${name} --json: one document, version and command, keys documented`, async () => {
      const a = argv.map((x) => (x === 'BACKUP' ? path.join(dir, 'b.tar.gz') : x === 'PHOTOS' ? path.join(dir, 'photos') : x === 'PHOTO' ? path.join(dir, 'photos/p.png') : x === 'APPDB' ? `sqlite:${path.join(dir, 'app.db')}` : x === 'JOB' ? firstJob() : x === 'OUTFILE' ? path.join(dir, 'got.png') : x === 'EXPORTFILE' ? path.join(dir, 'export.zip') : x === 'MOVED' ? path.join(dir, 'moved') : x));
      const r = await runCli([...args, ...a], { env: { STORECTL_URL_BASE: 'http://127.0.0.1:8080/files', STORECTL_URL_SECRET: 'contract-secret-0123456789' } });
      assert.equal(r.code, expectedCode[name] ?? 0, r.stderr + r.stdout);
      assert.ok(r.json, `stdout parses as JSON: ${r.stdout.slice(0, 200)}`);
      assert.doesNotMatch(r.stdout, /\x1b\[/, 'no escape codes on stdout');
      assert.equal(r.json.version, 1);
      if (expectedCode[name]) {
        assert.equal(r.json.error.exitCode, expectedCode[name]);
        return;
      }
      assert.equal(r.json.command, name);
      // Documented: the key appears as a word inside a `code span` of the command's section.
      const words = new Set((section(name).replace(/```[\s\S]*?```/g, '').match(/`[^`]+`/g) ?? []).flatMap((span) => span.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? []));
      const undocumented = Object.keys(r.json).filter((k) => k !== 'version' && k !== 'command' && !words.has(k));
      assert.deepEqual(undocumented, [], `README section "${name}" does not document ${undocumented.join(', ')}`);
    });
  }
});
