import fs from 'node:fs';
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Catalog } from './db/catalog.ts';
import { openCatalog } from './db/connect.ts';
import { parseDatabaseUrl } from './db/url.ts';
import { FailedError, UsageError, errorMessage } from './errors.ts';
import type { Logger } from './log.ts';
import type { ResolvedConfig } from './config.ts';
import { ensureDir } from './storage/atomic.ts';
import { LocalBlobStore } from './storage/blobstore.ts';
import type { ProgressFactory } from './ui/progress.ts';

/** What an operation works with. Operations never print: they log, report progress and return. */
export interface Context {
  catalog: Catalog;
  blobs: LocalBlobStore;
  config: ResolvedConfig;
  clock: () => Date;
  log: Logger;
  progress: ProgressFactory;
  runId: string;
}

export interface ContextOptions {
  /** The command writes into the root: create it (0750) when missing. */
  createRoot: boolean;
  /** May an embedded SQLite catalog be created where none is? */
  createCatalog: boolean;
  /** 'never' for `migrate` itself; otherwise a stale embedded catalog is brought up to date. */
  migrate?: 'auto' | 'never';
  /** The command only reads (stats, dry runs, backup): it can run against a read-only store. */
  readOnly?: boolean;
  /** restore (which checks the target itself: empty, --force, or an interrupted restore): the catalog may be created beside an existing tree. */
  adoptTree?: boolean;
}

export function checkRoot(root: string, create: boolean): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(root, { throwIfNoEntry: false });
  } catch (err) {
    throw new UsageError(`root ${root}: ${errorMessage(err)}`, 'pass --root DIR naming a directory; nothing was read or changed', 'bad_root');
  }
  if (st && !st.isDirectory()) {
    throw new UsageError(`root ${root} is not a directory`, 'pass --root DIR naming a directory', 'bad_root');
  }
  if (!st) {
    if (!create) return;
    try {
      ensureDir(root);
    } catch (err) {
      throw new FailedError(`cannot create root ${root}: ${errorMessage(err)}`, undefined, 'bad_root');
    }
    return;
  }
  if (create) {
    try {
      fs.accessSync(root, fs.constants.W_OK);
    } catch (err) {
      throw new FailedError(`root ${root} is not writable: ${errorMessage(err)}`, undefined, 'bad_root');
    }
  }
}

export async function openContext(
  config: ResolvedConfig,
  opts: ContextOptions,
  deps: { log: Logger; progress: ProgressFactory; clock?: () => Date },
): Promise<Context> {
  checkRoot(config.root, opts.createRoot);
  const target = parseDatabaseUrl(config.databaseUrl, config.root);
  if (target.dialect === 'sqlite' && !config.databaseUrl && opts.createCatalog) checkRoot(config.root, true);
  const catalog: Catalog = await openCatalog(target, { create: opts.createCatalog, migrate: opts.migrate ?? 'auto', storeRoot: config.root, adoptTree: opts.adoptTree, readOnly: opts.readOnly });
  return {
    catalog,
    blobs: new LocalBlobStore(config.root),
    config,
    clock: deps.clock ?? (() => new Date()),
    log: deps.log,
    progress: deps.progress,
    runId: randomUUID(),
  };
}

export function whoAmI(): { user: string; host: string; pid: number } {
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    /* no passwd entry in some containers */
  }
  return { user, host: os.hostname(), pid: process.pid };
}
