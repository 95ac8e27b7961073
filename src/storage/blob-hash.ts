// Reading objects back to hash them through the BlobStore interface (an S3 store): each object
// streamed (never held whole) through sha256Stream, several GETs in flight per batch. The same
// HashPool shape as the local tree's threads, so verify treats both alike.
import { BlobNotFoundError, inParallel, type BlobStore } from './blob.ts';
import { sha256Stream } from './hash.ts';
import { checkFromHashes, type HashOutcome, type HashPool } from './hash-pool.ts';

/** Reads in flight per batch; with verify's two batches per "thread", 8 x threads GETs at most. */
const PER_BATCH = 4;

export function openBlobHashPool(store: BlobStore, threads = 4): HashPool {
  return {
    threads,
    hash(keys) {
      return inParallel(keys, PER_BATCH, (key) => hashObject(store, key));
    },
    async check(keys, sizes, sha256s) {
      return checkFromHashes(await inParallel(keys, PER_BATCH, (key) => hashObject(store, key)), sizes, sha256s);
    },
    async close() {},
  };
}

/** Size and SHA-256 of one object, or why it could not be read (never throws). */
export async function hashObject(store: BlobStore, key: string): Promise<HashOutcome> {
  let body;
  try {
    body = await store.get(key);
  } catch (err) {
    if (err instanceof BlobNotFoundError) return { ok: false, missing: true, reason: `not in the store (${store.url})` };
    return { ok: false, missing: false, reason: (err as Error).message };
  }
  try {
    return { ok: true, ...(await sha256Stream(body)) };
  } catch (err) {
    body.destroy();
    return { ok: false, missing: false, reason: `reading broke off: ${(err as Error).message}` };
  }
}
