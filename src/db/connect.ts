import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FailedError, UsageError, errorMessage } from '../errors.ts';
import type { Catalog } from './catalog.ts';
import { schemaVersion } from './migrations.ts';
import type { PgCatalog } from './pg.ts';
import { redactText, redactUrl, type CatalogTarget } from './url.ts';

export interface OpenOptions {
  /** May an embedded SQLite catalog be created where none exists? */
  create: boolean;
  /**
   * Bring the schema up to date on open. The embedded SQLite catalog is storectl's own and
   * is migrated silently; a PostgreSQL catalog is shared infrastructure and is migrated only
   * by `storectl migrate` (CI migration steps), so a stale one is an error.
   */
  migrate: 'auto' | 'never';
  /**
   * The store root beside a SQLite catalog: an empty (0-byte or schema-less) or missing catalog
   * beside a root that holds files is refused, never initialised (a lost or replaced catalog
   * must not become an empty store that backups and cleanups trust).
   */
  storeRoot?: StoreBeside;
  /** restore --force rebuilds a store over an existing tree: it may create the catalog there. */
  adoptTree?: boolean;
  /** The command only reads: a SQLite catalog on a read-only mount is read from a private copy. */
  readOnly?: boolean;
}

/** The store a SQLite catalog sits beside: its root and a count of its data files (the caller walks it: db never reads the tree). */
export interface StoreBeside {
  root: string;
  /** Data files under root (not .storectl/), counted only when a catalog looks empty. */
  countFiles(): number;
}

/** Opens the catalog a target names, loading only that dialect's driver. */
export async function openCatalog(target: CatalogTarget, opts: OpenOptions): Promise<Catalog> {
  const catalog = target.dialect === 'sqlite' ? await openSqlite(target.file, opts) : await openPg(target.url, target.schema);
  try {
    if (target.dialect === 'sqlite' && opts.storeRoot && !opts.adoptTree && !(await catalog.migrationStatus()).some((m) => m.applied)) {
      refuseEmptyCatalog(target.file, opts.storeRoot, 'is empty');
    }
  } catch (err) {
    await catalog.close().catch(() => {});
    throw err;
  }
  if (opts.migrate === 'never') return catalog;
  try {
    const pending = (await catalog.migrationStatus()).filter((m) => !m.applied);
    if (pending.length === 0) return catalog;
    if (catalog.dialect === 'sqlite') {
      await catalog.migrate();
      return catalog;
    }
    const legacy = await (catalog as PgCatalog).legacyCatalog();
    if (legacy) {
      throw new UsageError(
        `the catalog at ${catalog.location} is not there: this database holds storectl's catalog in schema ${legacy.schema}, where older versions kept it`,
        `run \`storectl migrate\`: it moves the tables into schema ${(catalog as PgCatalog).schema} in one transaction (stop older storectl versions against this database first)`,
        'schema',
      );
    }
    const others = pending.length === schemaVersion('postgres') ? await (catalog as PgCatalog).otherCatalogSchemas() : [];
    if (others.length) {
      throw new UsageError(
        `no storectl catalog at ${catalog.location}; this database holds one in schema ${others.join(', ')}`,
        `check database.schema / STORECTL_DATABASE_SCHEMA (\`storectl config\` shows it); \`storectl migrate\` starts a new, empty catalog in schema ${(catalog as PgCatalog).schema}`,
        'schema',
      );
    }
    throw new UsageError(
      `the catalog at ${catalog.location} is missing ${pending.length} schema migration(s)`,
      'run `storectl migrate` against it first',
      'schema',
    );
  } catch (err) {
    await catalog.close().catch(() => {});
    throw err;
  }
}

export function refuseEmptyCatalog(file: string, store: StoreBeside, what: string): void {
  const n = store.countFiles();
  const root = store.root;
  if (n === 0) return;
  throw new UsageError(
    `the catalog ${file} ${what} but the store ${root} holds ${n} file${n === 1 ? '' : 's'}: refusing to start an empty catalog beside them`,
    'check --root and --database; to rebuild the catalog, restore a backup (`storectl restore ARCHIVE --force`); nothing was changed',
    'empty_catalog',
  );
}

async function openSqlite(file: string, opts: OpenOptions): Promise<Catalog> {
  const st = fs.statSync(file, { throwIfNoEntry: false });
  if (opts.storeRoot && !opts.adoptTree) {
    if (st && st.isFile() && st.size === 0) refuseEmptyCatalog(file, opts.storeRoot, 'is empty (0 bytes)');
    else if (!st && opts.create) refuseEmptyCatalog(file, opts.storeRoot, 'does not exist');
  }
  if (!opts.create && !st) {
    throw new UsageError(
      `no store here: no catalog at ${file}`,
      'check --root / STORECTL_ROOT / --database (a mistyped path, an unmounted volume?); a new store is created by `storectl generate`, `storectl migrate --create` or `storectl restore`',
      'no_catalog',
    );
  }
  const { SqliteCatalog } = await import('./sqlite.ts');
  try {
    return new SqliteCatalog(file);
  } catch (err) {
    if (opts.readOnly && st && cannotWriteBeside(err, file)) return openPrivateCopy(file, SqliteCatalog);
    throw new FailedError(
      `cannot open SQLite catalog ${file}: ${errorMessage(err)}`,
      cannotWriteBeside(err, file) ? 'the store is read-only here: commands that change it cannot run; stats, dry runs and backup can' : undefined,
      'catalog_unavailable',
    );
  }
}

/** SQLite in WAL mode needs to write beside its file (-shm, -wal): on a read-only mount it cannot open it. */
function cannotWriteBeside(err: unknown, file: string): boolean {
  const code = (err as { code?: string }).code ?? '';
  if (code !== 'SQLITE_CANTOPEN' && !code.startsWith('SQLITE_READONLY') && code !== 'EROFS' && code !== 'EACCES') return false;
  try {
    fs.accessSync(path.dirname(file), fs.constants.W_OK);
    // access(2) says writable, but a read-only mount still refuses: probe.
    const probe = path.join(path.dirname(file), `.storectl-probe-${process.pid}`);
    fs.writeFileSync(probe, '');
    fs.rmSync(probe);
    return false;
  } catch {
    return true;
  }
}

/**
 * A read-only store (a read-only mount) for a command that only reads: the catalog is read from
 * a private copy (its -wal too, if a crash left one), removed when the catalog closes. Nothing
 * such a command records (its runs row) is kept.
 */
function openPrivateCopy(file: string, SqliteCatalog: typeof import('./sqlite.ts').SqliteCatalog): Catalog {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-readonly-'));
  const copy = path.join(dir, 'catalog.db');
  try {
    fs.copyFileSync(file, copy);
    if (fs.existsSync(`${file}-wal`)) fs.copyFileSync(`${file}-wal`, `${copy}-wal`);
    const catalog = new SqliteCatalog(copy);
    catalog.location = `${file} (read-only: read from a private copy)`;
    const close = catalog.close.bind(catalog);
    catalog.close = async () => {
      await close();
      fs.rmSync(dir, { recursive: true, force: true });
    };
    return catalog;
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new FailedError(`cannot read the read-only SQLite catalog ${file}: ${errorMessage(err)}`, undefined, 'catalog_unavailable');
  }
}

async function openPg(url: string, schema: string | undefined): Promise<Catalog> {
  const { PgCatalog } = await import('./pg.ts');
  const catalog = new PgCatalog(url, schema);
  try {
    await catalog.ping();
  } catch (err) {
    await catalog.close().catch(() => {});
    throw new FailedError(
      `cannot connect to PostgreSQL at ${redactUrl(url)}: ${redactText(errorMessage(err)) || (err as { code?: string }).code || 'unknown error'}`,
      'check the URL, that the server is up, and that the database exists',
      'db_unreachable',
    );
  }
  return catalog;
}
