// The deletion engine's acting side on an S3 store: the same protocol as the local tree's gate
// (the engine commits the intent before anything is removed and writes tombstones after), with
// what S3 offers instead of a directory held open:
//   - every key is confined to the store's prefix: a catalog path that is not a safe relative
//     path ('..', absolute, empty or '.' segments, a backslash, .storectl/) or whose object key
//     would not lie under the prefix is refused, never sent;
//   - the re-check just before removing is a HEAD: size and ETag (and LastModified) must be what
//     the plan saw, or the object is kept and reported as changed;
//   - removal is the BlobStore's removeMany: DeleteObjects, up to 1,000 keys a request, several
//     in flight, one result per key (a failed key is reported as failed; its row goes back to
//     'present' with a delete_failed event).
// S3 has no directories to prune and nothing to swap.
import path from 'node:path';
import { errorMessage, FailedError } from '../../errors.ts';
import { inParallel, type BlobStore } from '../../storage/blob.ts';
import { checkRelPath, UnsafePathError } from '../../storage/paths.ts';
import type { Limiter } from '../pool.ts';
import { compare, type DeletionTarget, type DiskState, type GateResult, type PlannedRemoval, type Removed, type TargetBatch } from './gate.ts';

/** HEAD requests in flight while planning or re-checking. */
export const HEAD_CONCURRENCY = 16;

/** The object-key prefix of an S3 store, when the store says (S3BlobStore.loc.prefix). */
function prefixOf(store: BlobStore): string | undefined {
  const loc = (store as { loc?: { prefix?: unknown } }).loc;
  return typeof loc?.prefix === 'string' ? loc.prefix : undefined;
}

/**
 * Throws UnsafePathError unless `rel` is a safe catalog path whose object key stays under the
 * store's prefix (the key is prefix + rel: a normalised join must give the same string back).
 */
export function confineKey(prefix: string, rel: string): string {
  checkRelPath(rel);
  const key = prefix + rel;
  if (!key.startsWith(prefix) || path.posix.normalize(key) !== key || (prefix !== '' && !prefix.endsWith('/'))) {
    throw new UnsafePathError(rel, `object key ${JSON.stringify(key)} is not under the store's prefix ${JSON.stringify(prefix)}`);
  }
  return rel;
}

export class S3Target implements DeletionTarget {
  readonly kind = 's3' as const;
  readonly root: string;
  readonly #prefix: string;

  constructor(
    readonly store: BlobStore,
    readonly dryRun: boolean,
  ) {
    this.root = store.url;
    this.#prefix = prefixOf(store) ?? '';
  }

  /** A catalog path checked to stay under the prefix (throws UnsafePathError otherwise). */
  confine(rel: string): string {
    return confineKey(this.#prefix, rel);
  }

  /** HEAD one key: what the plan (or the re-check) sees. Never throws. */
  async head(rel: string): Promise<DiskState> {
    try {
      this.confine(rel);
    } catch (err) {
      return { kind: 'unsafe', reason: errorMessage(err) };
    }
    try {
      const st = await this.store.stat(rel);
      if (!st) return { kind: 'gone' };
      if (st.kind !== 'file') return { kind: 'other' };
      return { kind: 'file', size: st.size, mtimeMs: st.mtime.getTime(), identity: st.identity };
    } catch (err) {
      return { kind: 'error', reason: errorMessage(err) };
    }
  }

  look(paths: readonly string[]): Promise<DiskState[]> {
    return inParallel(paths, HEAD_CONCURRENCY, (p) => this.head(p));
  }

  batch(): TargetBatch {
    return new S3Batch(this);
  }

  close(): void {}
}

export class S3Batch implements TargetBatch {
  constructor(readonly target: S3Target) {}

  inspectMany(paths: readonly string[]): Promise<DiskState[]> {
    return this.target.look(paths);
  }

  async removePlanned(work: readonly PlannedRemoval[], _slots: Limiter): Promise<Removed> {
    if (this.target.dryRun) throw new FailedError('internal: refusing to delete objects in a dry run');
    const results: GateResult[] = new Array(work.length);
    // The re-check the batch made just before (HEAD), or one now.
    const needHead = work.map((w, i) => ({ w, i })).filter(({ w }) => w.expect !== null && !w.checked);
    const heads = await this.target.look(needHead.map(({ w }) => w.path));
    const now = new Map(needHead.map(({ i }, j) => [i, heads[j]!]));
    const remove: { i: number; key: string }[] = [];
    work.forEach((w, i) => {
      if (w.expect === null) {
        results[i] = { outcome: 'gone' };
        return;
      }
      const state = w.checked ?? now.get(i)!;
      const r = compare(state, w.expect);
      if (r) {
        results[i] = r;
        return;
      }
      try {
        remove.push({ i, key: this.target.confine(w.path) });
      } catch (err) {
        results[i] = { outcome: 'changed', reason: errorMessage(err) };
      }
    });
    if (remove.length) {
      const out = await this.target.store.removeMany(remove.map((r) => r.key));
      remove.forEach((r, j) => {
        const x = out[j];
        results[r.i] = x?.ok ? { outcome: 'deleted' } : { outcome: 'failed', reason: x?.error ?? 'no result from DeleteObjects' };
      });
    }
    return { results, dirsRemoved: [] };
  }

  async pruneEmptied(): Promise<number> {
    return 0;
  }

  swapped(): string[] {
    return [];
  }

  close(): void {}
}
