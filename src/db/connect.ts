import fs from 'node:fs';
import { FailedError, UsageError, errorMessage } from '../errors.ts';
import type { Catalog } from './catalog.ts';
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
}

/** Opens the catalog a target names, loading only that dialect's driver. */
export async function openCatalog(target: CatalogTarget, opts: OpenOptions): Promise<Catalog> {
  const catalog = target.dialect === 'sqlite' ? await openSqlite(target.file, opts) : await openPg(target.url);
  if (opts.migrate === 'never') return catalog;
  try {
    const pending = (await catalog.migrationStatus()).filter((m) => !m.applied);
    if (pending.length === 0) return catalog;
    if (catalog.dialect === 'sqlite') {
      await catalog.migrate();
      return catalog;
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

async function openSqlite(file: string, opts: OpenOptions): Promise<Catalog> {
  if (!opts.create && !fs.existsSync(file)) {
    throw new UsageError(
      `no catalog at ${file}`,
      'check --root / --database, or create a store with `storectl migrate` or `storectl generate`',
      'no_catalog',
    );
  }
  const { SqliteCatalog } = await import('./sqlite.ts');
  try {
    return new SqliteCatalog(file);
  } catch (err) {
    throw new FailedError(`cannot open SQLite catalog ${file}: ${errorMessage(err)}`);
  }
}

async function openPg(url: string): Promise<Catalog> {
  const { PgCatalog } = await import('./pg.ts');
  const catalog = new PgCatalog(url);
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
