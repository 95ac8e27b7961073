// The deletion engine's acting side on an S3 store: the same protocol as the local tree's gate
// (the engine commits the intent before anything is removed and writes tombstones after), with
// what S3 offers instead of a directory held open:
//   - every key is confined to the store's prefix: a catalog path that is not a safe relative
//     path ('..', absolute, empty or '.' segments, a backslash, .storectl/) or whose object key
//     would not lie under the prefix is refused, never sent;
//   - the re-check just before removing is a HEAD, or one listing of the keys' common parent:
//     size and ETag (and LastModified) must be what the plan saw, or the object is kept and
//     reported as changed;
//   - removal is the BlobStore's removeMany: DeleteObjects, up to 1,000 keys a request, several
//     in flight, one result per key (a failed key is reported as failed; its row goes back to
//     'present' with a delete_failed event).
// S3 has no directories to prune and nothing to swap.
import path from 'node:path';
import { errorMessage, FailedError } from '../../errors.ts';
import { inParallel, type BlobStore } from '../../storage/blob.ts';
import { checkRelPath, compareBytewise, UnsafePathError } from '../../storage/paths.ts';
import { listedState } from '../../storage/walk-chunks.ts';
import type { Limiter } from '../pool.ts';
import { compare, type DeletionTarget, type DiskState, type GateResult, type PlannedRemoval, type Removed, type TargetBatch } from './gate.ts';

/** HEAD (or listing) requests in flight while planning or re-checking. */
export const HEAD_CONCURRENCY = 16;
/** Keys under one parent from which a listing replaces their HEADs. */
const LIST_MIN_KEYS = 2;
/** Pages a listing may read beyond what its wanted keys need before the rest get HEADs. */
const LIST_EXTRA_PAGES = 1;

/**
 * LastModified to whole seconds: a HEAD carries it as an HTTP date (seconds), a listing as ISO
 * time (milliseconds on some servers); a plan and its re-check may see it either way.
 */

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
      return { kind: 'file', ...listedState(st) };
    } catch (err) {
      return { kind: 'error', reason: errorMessage(err) };
    }
  }

  /**
   * What the plan (or the re-check) sees of each key. Keys that share a parent "directory" are
   * looked at with one ListObjectsV2 of that prefix (size, ETag and LastModified of up to 1,000
   * keys a request) instead of a HEAD each, and parents under one grandparent (a day's job
   * directories) with one listing of it: the profile of a 1,000-object delete showed the
   * HEADs, two per object, as most of the run (bench/results/s3.md). A key alone under its
   * parent, or left over when the listing of a crowded prefix is cut short, gets its HEAD.
   */
  async look(paths: readonly string[]): Promise<DiskState[]> {
    const out: DiskState[] = new Array(paths.length);
    const groups = new Map<string, number[]>();
    paths.forEach((p, i) => {
      try {
        this.confine(p);
      } catch (err) {
        out[i] = { kind: 'unsafe', reason: errorMessage(err) };
        return;
      }
      const dir = path.posix.dirname(p);
      const g = groups.get(dir) ?? [];
      g.push(i);
      groups.set(dir, g);
    });
    // Parents that share their own parent (the job directories of one day) are listed together:
    // one listing of the day instead of one per job.
    const byGrandparent = new Map<string, [string, number[]][]>();
    for (const [dir, idx] of groups) {
      const up = dir === '.' ? '' : path.posix.dirname(dir);
      const list = byGrandparent.get(up) ?? [];
      list.push([dir, idx]);
      byGrandparent.set(up, list);
    }
    const merged: [string, number[]][] = [];
    for (const [up, dirs] of byGrandparent) {
      if (dirs.length >= 2 && up !== '' && up !== '.') merged.push([up, dirs.flatMap(([, idx]) => idx)]);
      else merged.push(...dirs);
    }
    const headed: number[] = [];
    const listed = merged.filter(([, idx]) => idx.length >= LIST_MIN_KEYS || (headed.push(...idx), false));
    await inParallel(listed, HEAD_CONCURRENCY, async ([dir, idx]) => {
      const left = await this.lookByListing(dir, idx.map((i) => paths[i]!), (j, state) => (out[idx[j]!] = state));
      for (const j of left) headed.push(idx[j]!);
    });
    const heads = await inParallel(headed, HEAD_CONCURRENCY, (i) => this.head(paths[i]!));
    headed.forEach((i, j) => (out[i] = heads[j]!));
    return out;
  }

  /**
   * Lists `dir/` in key order from just before the first wanted key to the last: a wanted key
   * the listing passes without meeting is gone. Returns the indexes (into keys) it could not
   * settle: the listing failed, or the prefix held so many other keys that it stopped.
   */
  private async lookByListing(dir: string, keys: string[], settle: (j: number, s: DiskState) => void): Promise<number[]> {
    const order = keys.map((k, j) => ({ k, j })).sort((a, b) => compareBytewise(a.k, b.k));
    const wanted = new Map(order.map(({ k, j }) => [k, j]));
    const last = order[order.length - 1]!.k;
    const maxPages = Math.ceil(keys.length / 1000) + LIST_EXTRA_PAGES;
    const prefix = dir === '.' ? '' : `${dir}/`;
    // StartAfter: the first wanted key with its last character stepped back, so that it is listed.
    const first = order[0]!.k;
    const startAfter = first.length > prefix.length ? first.slice(0, -1) : undefined;
    let pages = 0;
    let done = false;
    try {
      for await (const page of this.store.list({ prefix, startAfter })) {
        for (const e of page) {
          if (compareBytewise(e.key, last) > 0) {
            done = true;
            break;
          }
          const j = wanted.get(e.key);
          if (j === undefined) continue;
          wanted.delete(e.key);
          settle(j, e.kind === 'file' ? { kind: 'file', ...listedState(e) } : { kind: 'other' });
        }
        if (done || ++pages >= maxPages) break;
      }
    } catch {
      return [...wanted.values()];
    }
    // The listing ran to its end (or past the last wanted key): what it did not meet is gone.
    if (done || pages < maxPages) {
      for (const j of wanted.values()) settle(j, { kind: 'gone' });
      return [];
    }
    return [...wanted.values()];
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
