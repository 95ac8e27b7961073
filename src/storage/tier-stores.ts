// The BlobStores of a store's tiers, opened on first use and closed together. The hot tier is
// the store's own BlobStore (the root); the others come from the config's `tiers` section.
import type { BlobStore } from './blob.ts';
import { openBlobStore } from './open.ts';
import type { S3Settings } from './s3/settings.ts';

export interface TierPlace {
  name: string;
  url: string;
  storageClass?: string;
}

export class TierStores {
  private readonly open = new Map<string, Promise<BlobStore>>();

  constructor(
    readonly places: Readonly<Record<string, TierPlace>>,
    private readonly hot: BlobStore,
    private readonly s3: () => S3Settings,
  ) {}

  names(): string[] {
    return Object.keys(this.places);
  }

  has(name: string): boolean {
    return Object.hasOwn(this.places, name);
  }

  place(name: string): TierPlace | undefined {
    return this.has(name) ? this.places[name] : undefined;
  }

  /** The tier's BlobStore; an unknown name throws (the caller names the tiers in its message). */
  get(name: string): Promise<BlobStore> {
    if (name === 'hot') return Promise.resolve(this.hot);
    const p = this.place(name);
    if (!p) return Promise.reject(new UnknownTierError(name, this.names()));
    let s = this.open.get(name);
    if (!s) {
      s = openBlobStore(p.url, this.s3);
      // A failed open is not cached: the next use tries again (and fails the same way, one line).
      s.catch(() => this.open.delete(name));
      this.open.set(name, s);
    }
    return s;
  }

  async close(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    await Promise.all(all.map((s) => s.then((b) => b.close()).catch(() => {})));
  }
}

export class UnknownTierError extends Error {
  constructor(
    readonly tier: string,
    readonly known: string[],
  ) {
    super(`no tier "${tier}" in the config (tiers: ${known.join(', ')})`);
  }
}
