// A PostgreSQL cluster of a test's own (initdb + pg_ctl into a temp dir, another port), which the
// test may kill and restart: the shared cluster on 5432 is never touched. Needs root (the server
// runs as the postgres user) and the PostgreSQL server binaries; `available()` says why not.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function binDir(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!fs.existsSync(base)) return undefined;
  const versions = fs.readdirSync(base).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) if (fs.existsSync(path.join(base, v, 'bin', 'initdb'))) return path.join(base, v, 'bin');
  return undefined;
}

/** Why a scratch cluster cannot run here, or false when it can. */
export function unavailable(): string | false {
  if (process.getuid?.() !== 0) return 'not root: a scratch PostgreSQL cluster needs to run the server as the postgres user';
  if (!binDir()) return 'no PostgreSQL server binaries (initdb) under /usr/lib/postgresql';
  if (spawnSync('id', ['postgres']).status !== 0) return 'no postgres user';
  return false;
}

export interface ScratchCluster {
  url: string;
  port: number;
  /** Kills the server at once, as a crash would (pg_ctl stop -m immediate). */
  kill(): void;
  start(): void;
  dispose(): void;
}

export function startCluster(): ScratchCluster {
  const bin = binDir()!;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-pgcluster-'));
  fs.chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString()), Number(execFileSync('id', ['-g', 'postgres']).toString()));
  const data = path.join(dir, 'data');
  const asPg = (cmd: string, args: string[]) => execFileSync('runuser', ['-u', 'postgres', '--', path.join(bin, cmd), ...args], { stdio: 'pipe' });
  asPg('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const port = 20000 + Math.floor(Math.random() * 20000) + (process.pid % 1000);
  const start = () => void asPg('pg_ctl', ['-D', data, '-l', path.join(dir, 'log'), '-w', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
  start();
  asPg('createdb', ['-h', '127.0.0.1', '-p', String(port), 'storectl']);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/storectl`,
    port,
    kill: () => void asPg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']),
    start,
    dispose() {
      try {
        asPg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        /* already stopped */
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
