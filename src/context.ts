import fs from 'node:fs';
import { timed } from './profile.ts';
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Catalog } from './db/catalog.ts';
import { openCatalog } from './db/connect.ts';
import { parseDatabaseUrl } from './db/url.ts';
import { countDataFiles } from './storage/walk.ts';
import { FailedError, StorectlError, UsageError, errorMessage } from './errors.ts';
import type { Logger } from './log.ts';
import { HOT_TIER, tierSettings, type ResolvedConfig } from './config.ts';
import { TierStores, TierUnavailableError, UnknownTierError } from './storage/tier-stores.ts';
import { ensureDir } from './storage/atomic.ts';
import { LocalBlobStore } from './storage/blobstore.ts';
import { isS3Url, type BlobStore } from './storage/blob.ts';
import { openBlobStore } from './storage/open.ts';
import type { ProgressFactory } from './progress.ts';

/** What an operation works with. Operations never print: they log, report progress and return. */
export interface Context {
  catalog: Catalog;
  /** The local tree's synchronous API, for the operations not yet moved to `store`; local stores only. */
  blobs: LocalBlobStore;
  /** The store's files through the one BlobStore interface (local tree or S3). */
  store: BlobStore;
  config: ResolvedConfig;
  clock: () => Date;
  log: Logger;
  progress: ProgressFactory;
  runId: string;
  /**
   * The store's tiers (config `tiers`; `hot` is `store`), each BlobStore opened on first use and
   * closed with the context. Absent on contexts built by hand: only the hot tier exists there.
   */
  tiers?: TierStores;
}

/** The BlobStore of a tier: `hot` is the store itself; another name opens (once) what the config names. */
export function tierStore(ctx: Pick<Context, 'store' | 'tiers'>, name: string): Promise<BlobStore> {
  if (name === HOT_TIER) return Promise.resolve(ctx.store);
  if (!ctx.tiers) return Promise.reject(new UsageError(`no tier "${name}": this store has only the hot tier`, 'name the tier in the config file\'s tiers section', 'config'));
  return ctx.tiers.get(name).catch((err) => {
    if (err instanceof UnknownTierError) throw new UsageError(err.message, 'name the tier in the config file\'s tiers section', 'config');
    throw err;
  });
}

/** Closes what a context opened: its catalog, its store and any tier store. */
/** Opens every configured tier before a run starts: one usage line (exit 2) naming a tier that cannot be opened. */
export async function openAllTiers(ctx: Pick<Context, 'tiers'>): Promise<void> {
  try {
    await ctx.tiers?.openAll();
  } catch (err) {
    if (err instanceof TierUnavailableError) throw new UsageError(`${err.message}; nothing was changed`, "check the config file's tiers section (the URL, the bucket, the mount)", 'tier_unavailable');
    throw err;
  }
}

export async function closeContext(ctx: Pick<Context, 'catalog' | 'store' | 'tiers'>): Promise<void> {
  await Promise.all([ctx.catalog.close().catch(() => {}), ctx.store.close().catch(() => {}), ctx.tiers?.close().catch(() => {})]);
}

export interface ContextOptions {
  /** The command writes into the root: create it (0750) when missing. */
  createRoot: boolean;
  /** May an embedded SQLite catalog be created where none is? */
  createCatalog: boolean;
  /** 'never' for `migrate` itself; otherwise a stale embedded catalog is brought up to date. */
  migrate?: 'auto' | 'never';
  /** The command works on an S3 store too; otherwise an s3:// root is refused (exit 2). */
  s3?: boolean;
  /** Command name, for the refusal above. */
  command?: string;
  /** The command only reads (stats, dry runs, backup): it can run against a read-only store. */
  readOnly?: boolean;
  /** restore (which checks the target itself: empty, --force, or an interrupted restore): the catalog may be created beside an existing tree. */
  adoptTree?: boolean;
}

/** Stands in for the local tree's API on an S3 store: any use is a bug, never a write to a directory named s3:. */
const NO_LOCAL_TREE = new Proxy({} as LocalBlobStore, {
  get(_t, prop) {
    throw new Error(`internal error: the local tree API (${String(prop)}) was used on an S3 store`);
  },
});

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
  const s3 = isS3Url(config.root);
  if (s3) {
    if (!opts.s3) {
      throw new UsageError(`${opts.command ?? 'this command'} does not work on an S3 store yet (root ${config.root})`, 'run it against a local store', 'unsupported_backend');
    }
    if (!config.databaseUrl) {
      throw new UsageError(
        `an S3 store has no local .storectl/ for the embedded catalog: ${config.root} needs --database`,
        'pass --database postgres://... or --database sqlite:PATH on a local disk (or STORECTL_DATABASE_URL)',
        'no_catalog',
      );
    }
  } else checkRoot(config.root, opts.createRoot);
  const target = parseDatabaseUrl(config.databaseUrl, config.root, config.databaseSchema);
  if (!s3 && target.dialect === 'sqlite' && !config.databaseUrl && opts.createCatalog) checkRoot(config.root, true);
  const store = await timed('open: blob store', () => openBlobStore(config.root, () => config.s3.settings));
  let catalog: Catalog;
  try {
    catalog = await timed('open: catalog', () => openCatalog(target, { create: opts.createCatalog, migrate: opts.migrate ?? 'auto', storeRoot: s3 ? undefined : { root: config.root, countFiles: () => countDataFiles(config.root) }, adoptTree: opts.adoptTree, readOnly: opts.readOnly }));
  } catch (err) {
    await store.close();
    throw sharedUrlHint(err, config);
  }
  const clock = deps.clock ?? (() => new Date());
  if (opts.migrate !== 'never') {
    try {
      await timed('open: check store root', () => checkStoreRoot(catalog!, store.url, { embedded: !config.databaseUrl, allowChange: config.allowRootChange, at: clock(), log: deps.log }));
    } catch (err) {
      await Promise.all([catalog.close().catch(() => {}), store.close()]);
      throw err;
    }
  }
  return {
    catalog,
    blobs: s3 ? NO_LOCAL_TREE : new LocalBlobStore(config.root),
    store,
    config,
    clock,
    log: deps.log,
    progress: deps.progress,
    runId: randomUUID(),
    tiers: new TierStores(tierSettings(config), store, () => config.s3.settings),
  };
}

/**
 * The catalog records where its store lives. A catalog of its own (--database) that names
 * another root refuses: a wrong bucket or an unmounted volume must never look like an empty
 * store. The embedded catalog lives inside its root and moves with it, so it just follows
 * (unless the store has moved to S3: then its old directory is no longer the store).
 */
export async function checkStoreRoot(
  catalog: Catalog,
  url: string,
  o: { embedded: boolean; allowChange: boolean; at: Date; log: Logger },
): Promise<void> {
  const { storeLocation } = await import('./db/store-location.ts');
  const loc = storeLocation(catalog);
  const recorded = await loc.rootUrl();
  if (recorded === url) return;
  if (recorded !== null && (!o.embedded || isS3Url(recorded))) {
    if (!o.allowChange) {
      throw new UsageError(
        `the catalog belongs to the store at ${recorded}, not ${url}`,
        `pass --root ${recorded}; or, if the files have moved there, --allow-root-change to record ${url}`,
        'root_mismatch',
      );
    }
    o.log.warn('store root changed', { from: recorded, to: url });
    await loc.setRootUrl(url, o.at);
    return;
  }
  try {
    await loc.setRootUrl(url, o.at);
  } catch (err) {
    // First recording (or the embedded catalog following its root): a read-only catalog still reads.
    o.log.debug('store root not recorded', { url, error: errorMessage(err) });
  }
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

/**
 * A catalog that cannot be opened through DATABASE_URL, the application's own variable, says so:
 * the operator may not know storectl fell back to it.
 */
function sharedUrlHint(err: unknown, config: ResolvedConfig): unknown {
  if (!config.databaseFromSharedUrl || !(err instanceof StorectlError)) return err;
  const note = 'the database URL came from DATABASE_URL, the application\'s variable, because STORECTL_DATABASE_URL is not set; set STORECTL_DATABASE_URL (or --database) to name storectl\'s catalog';
  // The same error (its class and exit code), with the note added to its hint.
  return Object.assign(err, { hint: err.hint ? `${err.hint}; ${note}` : note });
}
