// The BlobStores of a store's tiers, opened on first use and closed together. The hot tier is
// the store's own BlobStore (the root); the others come from the config's `tiers` section.
import fs from 'node:fs';
import path from 'node:path';
import { isS3Url, type BlobStore } from './blob.ts';
import { openBlobStore } from './open.ts';
import type { S3Settings } from './s3/settings.ts';

export interface TierPlace {
  name: string;
  url: string;
  storageClass?: string;
  /** Pack each job's small files into one object on a move here (S3 tiers; config `pack`). */
  pack?: boolean;
  /** Stored size up to which a file is packed. */
  packThreshold?: number;
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

  /**
   * Opens every configured tier now (an S3 tier is probed: endpoint, bucket, credentials; a local
   * tier's directory, or its nearest existing parent if it is still to be made, must be a
   * directory this process can write), so a run fails before it changes anything, not halfway.
   * Throws TierUnavailableError naming the first tier that cannot be opened.
   */
  async openAll(): Promise<void> {
    for (const name of this.names()) {
      if (name === 'hot') continue;
      const p = this.places[name]!;
      try {
        if (!isS3Url(p.url)) checkLocalDir(p.url);
        await this.get(name);
      } catch (err) {
        throw new TierUnavailableError(name, p.url, err instanceof Error ? err.message : String(err));
      }
    }
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

export class TierUnavailableError extends Error {
  constructor(
    readonly tier: string,
    readonly url: string,
    readonly reason: string,
  ) {
    super(`tier "${tier}" (${url}) cannot be opened: ${reason}`);
  }
}

function checkLocalDir(dir: string): void {
  let at = path.resolve(dir);
  for (;;) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(at);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (st) {
      if (!st.isDirectory()) throw new Error(at === path.resolve(dir) ? 'not a directory' : `${at} is not a directory`);
      fs.accessSync(at, fs.constants.W_OK | fs.constants.X_OK);
      return;
    }
    const up = path.dirname(at);
    if (up === at) throw new Error('no such directory');
    at = up;
  }
}
