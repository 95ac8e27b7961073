// What the catalog contract suites share: the clock they write at, a file-row builder, and a
// store per suite with its catalog connections opened before and closed after.
import type { Catalog } from '../../src/db/catalog.ts';
import type { NewFile } from '../../src/db/types.ts';
import type { DialectFixture, Store } from './env.ts';
import { after, before } from './node-test.ts';

/** The instant the contract suites write their rows at. */
export const T0 = new Date('2026-11-01T10:00:00.000Z');

/** A file row of job j1 at T0; role and category come from the path. */
export function newFile(path: string, over: Partial<NewFile> = {}): NewFile {
  return { jobId: 'j1', role: path.split('/').pop()!, category: path.split('/')[0]!, path, contentType: 'image/png', size: 100, sha256: 'ab'.repeat(32), createdAt: T0, ...over };
}

export interface CatalogSuite {
  store: Store;
  /** The catalog connections, opened in order (most suites need one; lock tests two). */
  catalogs: Catalog[];
}

/**
 * Registers the suite's hooks: before, a fresh store of this dialect with `connections` catalogs
 * open on it (then `setup`, e.g. tables of its own); after, every connection closed and the
 * store removed. Call it inside the suite's describe.
 */
export function useCatalogStore(d: DialectFixture, onOpen: (s: CatalogSuite) => void | Promise<void>, connections = 1): void {
  let suite: CatalogSuite | undefined;
  before(async () => {
    const store = await d.makeStore();
    suite = { store, catalogs: [] };
    for (let i = 0; i < connections; i++) suite.catalogs.push(await store.open());
    await onOpen(suite);
  });
  after(async () => {
    for (const c of suite?.catalogs ?? []) await c.close();
    await suite?.store.dispose();
  });
}
