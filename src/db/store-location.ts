// The store-location role of the catalog: where the store's files live (its root URL), so a
// command run against another directory or bucket refuses instead of seeing an "empty" store.
// Same SQL on both dialects through sqlExec; test/store-root.test.ts runs it on both.
import type { Catalog } from './catalog.ts';
import { placeholders, sqlExec, type SqlExec } from './sql-exec.ts';

export interface StoreLocationCatalog {
  /** The recorded root URL, or null when none is (a catalog from before it was recorded). */
  rootUrl(): Promise<string | null>;
  setRootUrl(url: string, at: Date): Promise<void>;
  /** migrate-store: of these paths, the ones already copied to `target` and verified there. */
  migratedPaths(target: string, paths: readonly string[]): Promise<Map<string, MigratedFile>>;
  recordMigrated(target: string, files: readonly MigratedFile[], at: Date): Promise<void>;
  /** How many files are recorded as copied to `target`. */
  migratedCount(target: string): Promise<number>;
  clearMigration(target: string): Promise<void>;
}

export interface MigratedFile {
  path: string;
  size: number;
  sha256: string;
  /** The copy's identity at the target (ETag or inode), to see that it is still the one verified. */
  identity: string;
}

const KEY = 'root_url';

class SqlStoreLocation implements StoreLocationCatalog {
  constructor(private readonly db: SqlExec) {}

  async rootUrl(): Promise<string | null> {
    const rows = await this.db.all<{ value: string }>('SELECT value FROM store_meta WHERE key = ?', [KEY]);
    return rows[0]?.value ?? null;
  }

  async setRootUrl(url: string, at: Date): Promise<void> {
    await this.db.transaction([
      {
        sql: 'INSERT INTO store_meta (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
        params: [KEY, url, this.db.at(at)],
      },
    ]);
  }

  async migratedPaths(target: string, paths: readonly string[]): Promise<Map<string, MigratedFile>> {
    const out = new Map<string, MigratedFile>();
    for (let i = 0; i < paths.length; i += 500) {
      const part = paths.slice(i, i + 500);
      const rows = await this.db.all<{ path: string; size: number | string; sha256: string; identity: string }>(
        `SELECT path, size, sha256, identity FROM store_migration WHERE target = ? AND path IN ${placeholders(part.length)}`,
        [target, ...part],
      );
      for (const r of rows) out.set(r.path, { path: r.path, size: Number(r.size), sha256: r.sha256, identity: r.identity });
    }
    return out;
  }

  async recordMigrated(target: string, files: readonly MigratedFile[], at: Date): Promise<void> {
    if (!files.length) return;
    await this.db.transaction(
      files.map((f) => ({
        sql: 'INSERT INTO store_migration (target, path, size, sha256, identity, verified_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (target, path) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256, identity = excluded.identity, verified_at = excluded.verified_at',
        params: [target, f.path, f.size, f.sha256, f.identity, this.db.at(at)],
      })),
    );
  }

  async migratedCount(target: string): Promise<number> {
    const rows = await this.db.all<{ n: number | string }>('SELECT count(*) AS n FROM store_migration WHERE target = ?', [target]);
    return Number(rows[0]?.n ?? 0);
  }

  async clearMigration(target: string): Promise<void> {
    await this.db.transaction([{ sql: 'DELETE FROM store_migration WHERE target = ?', params: [target] }]);
  }
}

export function storeLocation(catalog: Catalog): StoreLocationCatalog {
  return new SqlStoreLocation(sqlExec(catalog));
}
