// The store-location role of the catalog: where the store's files live (its root URL), so a
// command run against another directory or bucket refuses instead of seeing an "empty" store.
// Same SQL on both dialects through sqlExec; test/store-root.test.ts runs it on both.
import type { Catalog } from './catalog.ts';
import { sqlExec, type SqlExec } from './sql-exec.ts';

export interface StoreLocationCatalog {
  /** The recorded root URL, or null when none is (a catalog from before it was recorded). */
  rootUrl(): Promise<string | null>;
  setRootUrl(url: string, at: Date): Promise<void>;
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
}

export function storeLocation(catalog: Catalog): StoreLocationCatalog {
  return new SqlStoreLocation(sqlExec(catalog));
}
