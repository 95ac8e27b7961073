// An S3 store for end-to-end tests: a fresh bucket root on the loopback s3rver (or the endpoint
// given), a catalog on the dialect under test (PostgreSQL, or sqlite:PATH in a temp directory),
// the bucket opened through the BlobStore, and the CLI with the S3 environment.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import type { Catalog } from '../../src/db/catalog.ts';
import { openCatalog } from '../../src/db/connect.ts';
import { parseDatabaseUrl } from '../../src/db/url.ts';
import type { BlobStore } from '../../src/storage/blob.ts';
import { openBlobStore } from '../../src/storage/open.ts';
import { runCli, tmpDir, type CliResult, type DialectFixture } from './env.ts';
import type { S3Fixture } from './s3.ts';

export const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export interface S3Store {
  root: string;
  db: string;
  dir: string;
  c: Catalog;
  bucket: BlobStore;
  /** bin/storectl --root ROOT --database DB --json ARGS, with the S3 environment. */
  cli(...args: string[]): Promise<CliResult>;
  /** The same with more environment (a crash point, ...). */
  cliEnv(env: Record<string, string>, ...args: string[]): Promise<CliResult>;
  /** Where restore into this store stages and keeps its marker (STORECTL_STATE_DIR). */
  stateDir: string;
  dispose(): Promise<void>;
}

export async function makeS3Store(d: DialectFixture, s3: S3Fixture): Promise<S3Store> {
  const store = await d.makeStore();
  const dir = tmpDir('storectl-s3store-');
  const db = store.databaseUrl || `sqlite:${path.join(dir, 'catalog.db')}`;
  const root = await s3.newRoot();
  const stateDir = path.join(dir, 'state');
  const cliEnv = (env: Record<string, string>, ...args: string[]) => runCli(['--root', root, '--database', db, '--json', ...args], { env: { ...s3.env, STORECTL_STATE_DIR: stateDir, ...env } });
  const cli = (...args: string[]) => cliEnv({}, ...args);
  if (!store.databaseUrl) {
    const m = await cli('migrate', '--create');
    assert.equal(m.code, 0, m.stdout + m.stderr);
  }
  const c = await openCatalog(parseDatabaseUrl(db, dir), { create: false, migrate: 'never' });
  const bucket = await openBlobStore(root, () => s3.settings());
  return {
    root,
    db,
    dir,
    c,
    bucket,
    cli,
    cliEnv,
    stateDir,
    async dispose() {
      await bucket.close();
      await c.close();
      await store.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function readObject(store: BlobStore, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await store.get(key)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** n jobs of `perJob` random objects each, put in the bucket and catalogued; returns path -> bytes. */
export async function buildS3Store(bucket: BlobStore, c: Catalog, jobs: number, perJob: number, size = 2000, prefix = 'j'): Promise<Map<string, Buffer>> {
  const created = new Date('2026-11-20T10:00:00Z');
  const out = new Map<string, Buffer>();
  const newJobs = [];
  const newFiles = [];
  for (let j = 0; j < jobs; j++) {
    const id = `${prefix}-${String(j).padStart(5, '0')}`;
    newJobs.push({ id, kind: 'card', owner: j % 2 ? 'acme' : 'globex', status: 'completed', data: {}, createdAt: created, filesState: 'on_disk' as const });
    for (let k = 0; k < perJob; k++) {
      const rel = `cards/2026/11/20/${id}/f${k}.png`;
      const data = randomBytes(size + ((j * 7 + k) % 50));
      out.set(rel, data);
      newFiles.push({ jobId: id, role: `f${k}.png`, category: 'cards', owner: j % 2 ? 'acme' : 'globex', path: rel, contentType: 'image/png', size: data.length, sha256: sha(data), createdAt: created });
    }
  }
  const entries = [...out];
  for (let i = 0; i < entries.length; i += 16) await Promise.all(entries.slice(i, i + 16).map(([k, v]) => bucket.put(k, v)));
  await c.insertJobs(newJobs);
  await c.insertFiles(newFiles);
  return out;
}

export const randomData = (n: number) => randomBytes(n);
