// Test fixtures: temporary stores on SQLite and on a fresh PostgreSQL database each.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createScratchDatabase } from '../../bench/lib/scratch-db.ts';
import type { Catalog } from '../../src/db/catalog.ts';
import { openCatalog } from '../../src/db/connect.ts';
import { parseDatabaseUrl } from '../../src/db/url.ts';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = path.join(REPO, 'bin', 'storectl');
const PG_URL = process.env.STORECTL_TEST_DATABASE_URL;

if (process.env.CI && !PG_URL) {
  throw new Error('CI is set but STORECTL_TEST_DATABASE_URL is not: PostgreSQL tests must run in CI');
}

export function tmpDir(prefix = 'storectl-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface Store {
  dialect: 'sqlite' | 'postgres';
  root: string;
  /** --database value for the CLI ('' means the embedded default). */
  databaseUrl: string;
  open(): Promise<Catalog>;
  /** CLI args selecting this store. */
  args: string[];
  dispose(): Promise<void>;
}

export interface DialectFixture {
  name: 'sqlite' | 'postgres';
  /** Set when the dialect cannot run here (a skip reason); never in CI. */
  skip: string | false;
  makeStore(opts?: { migrate?: boolean }): Promise<Store>;
}

function createPgDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  return createScratchDatabase(PG_URL!, `storectl_t_${process.pid}_${randomBytes(4).toString('hex')}`);
}

export const DIALECTS: DialectFixture[] = [
  {
    name: 'sqlite',
    skip: false,
    async makeStore({ migrate = true } = {}) {
      const root = tmpDir();
      const store: Store = {
        dialect: 'sqlite',
        root,
        databaseUrl: '',
        args: ['--root', root],
        open: () => openCatalog(parseDatabaseUrl(undefined, root), { create: true, migrate: migrate ? 'auto' : 'never' }),
        dispose: async () => fs.rmSync(root, { recursive: true, force: true }),
      };
      return store;
    },
  },
  {
    name: 'postgres',
    skip: PG_URL ? false : 'STORECTL_TEST_DATABASE_URL is not set',
    async makeStore({ migrate = true } = {}) {
      const root = tmpDir();
      const db = await createPgDatabase();
      if (migrate) {
        const c = await openCatalog(parseDatabaseUrl(db.url, root), { create: false, migrate: 'never' });
        await c.migrate();
        await c.close();
      }
      return {
        dialect: 'postgres',
        root,
        databaseUrl: db.url,
        args: ['--root', root, '--database', db.url],
        open: () => openCatalog(parseDatabaseUrl(db.url, root), { create: false, migrate: 'auto' }),
        dispose: async () => {
          fs.rmSync(root, { recursive: true, force: true });
          await db.drop();
        },
      };
    },
  },
];

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json: any;
}

/** Runs the real bin/storectl, without a TTY, and parses stdout as JSON when it is. */
export function runCli(args: string[], opts: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv; wrap?: string[] } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    // wrap: a command the bin runs under (e.g. setpriv, to drop root's permission override).
    const [cmd, ...pre] = [...(opts.wrap ?? []), process.execPath];
    const child = spawn(cmd!, [...pre, BIN, ...args], {
      cwd: opts.cwd ?? REPO,
      env: { ...process.env, NO_COLOR: '1', STORECTL_ROOT: '', STORECTL_DATABASE_URL: '', DATABASE_URL: '', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolve({ code: code ?? -1, stdout, stderr, json });
    });
    child.stdin.end(opts.input ?? '');
  });
}
