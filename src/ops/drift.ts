import { iterateLivePaths } from '../db/catalog.ts';
import { LIVE_STATES, type FileState } from '../db/types.ts';
import { tierStore, type Context } from '../context.ts';
import { tierCatalog, type TierRow } from '../db/tiers.ts';
import { compareBytewise } from '../storage/paths.ts';
import type { BlobStore } from '../storage/blob.ts';
import { isPackKey, PACKS_PREFIX } from '../storage/pack-format.ts';
import type { TreeEntry } from '../storage/walk.ts';
import { KIND_BY_CODE, listedState, walkTreeChunks, type ListedState, type TreeChunk } from '../storage/walk-chunks.ts';

/** What merging the sorted tree walk with the catalog's sorted live paths found, one stretch at a time. */
export interface DriftChunk {
  /** Regular files walked in this stretch (matched or not). */
  files: number;
  /** Regular files with no live catalog row. */
  orphans: string[];
  /** Where the backend's listing said what each orphan is (S3), in the order of `orphans`: no HEAD needed to plan. */
  orphansListed?: ListedState[];
  /** Live catalog paths ('present', 'deleting' or 'corrupt') with nothing in the tree. */
  missing: string[];
  /** Symlinks and other non-files in the tree, with or without a row: never followed, never deleted. */
  anomalies: TreeEntry[];
}

const KIND_CODE = { file: 0, symlink: 1, other: 2 } as const;

/**
 * The store's entries in byte order, a chunk at a time: the local tree walked on worker
 * threads (its fast path), any other backend through BlobStore.list pages.
 */
export async function* treeChunks(ctx: Context): AsyncGenerator<TreeChunk> {
  if (ctx.store.capabilities.kind === 'local') {
    yield* walkTreeChunks(ctx.blobs.root);
    return;
  }
  for await (const page of ctx.store.list()) {
    yield {
      paths: page.map((e) => e.key),
      kinds: Uint8Array.from(page, (e) => KIND_CODE[e.kind]),
      listed: page.map(listedState),
    };
  }
}

const equalOrCompare = (a: string, b: string) => (a === b ? 0 : compareBytewise(a, b));

/**
 * Merges the tree (walked in byte order on a worker thread) with the catalog's live paths
 * (streamed in byte order): neither side is held in memory, and the merge itself is a plain
 * loop over two arrays, one stretch per tree chunk. Tombstones do not count as live.
 */
export async function* compareTreeWithCatalog(ctx: Context): AsyncGenerator<DriftChunk> {
  const tree = treeChunks(ctx)[Symbol.asyncIterator]();
  const rows = iterateLivePaths(ctx.catalog)[Symbol.asyncIterator]();
  let t: TreeChunk | null = null;
  let ti = 0;
  let r: string[] | null = null;
  let ri = 0;
  try {
    const [t0, r0] = await Promise.all([tree.next(), rows.next()]);
    t = t0.done ? null : t0.value;
    r = r0.done ? null : r0.value;
    while (t || r) {
      const out: DriftChunk = { files: 0, orphans: [], missing: [], anomalies: [] };
      const tc: TreeChunk | null = t;
      const rc: string[] | null = r;
      // One stretch: until the current chunk of either side runs out. A side that has ended
      // compares as greater than everything, so the other side's entries come out unmatched.
      while ((!tc || ti < tc.paths.length) && (!rc || ri < rc.length)) {
        const c = !tc ? 1 : !rc ? -1 : equalOrCompare(tc.paths[ti]!, rc[ri]!);
        if (c > 0) {
          out.missing.push(rc![ri++]!);
          continue;
        }
        const kind = tc!.kinds[ti]!;
        if (kind !== 0) out.anomalies.push({ path: tc!.paths[ti]!, kind: KIND_BY_CODE[kind]! });
        else {
          out.files++;
          if (c < 0) {
            out.orphans.push(tc!.paths[ti]!);
            if (tc!.listed) (out.orphansListed ??= []).push(tc!.listed[ti]!);
          }
        }
        ti++;
        if (c === 0) ri++;
      }
      yield out;
      // Refill whichever side ran out (both at once when both did).
      const [nt, nr] = await Promise.all([tc && ti >= tc.paths.length ? tree.next() : null, rc && ri >= rc.length ? rows.next() : null]);
      if (nt) [t, ti] = [nt.done ? null : nt.value, 0];
      if (nr) [r, ri] = [nr.done ? null : nr.value, 0];
    }
  } finally {
    await tree.return?.(undefined);
    await rows.return?.(undefined);
  }
}

export interface DriftSummary {
  walkedFiles: number;
  orphanFiles: number;
  orphanBytes: number;
  missingFiles: number;
  missingBytes: number;
  anomalies: number;
  sample: { orphans: string[]; missing: string[]; anomalies: string[] };
}

/** Drift in numbers, with the first few paths of each kind; stats --check-disk shows it. */
export async function summariseDrift(ctx: Context, sampleSize = 20): Promise<DriftSummary> {
  const s: DriftSummary = {
    walkedFiles: 0,
    orphanFiles: 0,
    orphanBytes: 0,
    missingFiles: 0,
    missingBytes: 0,
    anomalies: 0,
    sample: { orphans: [], missing: [], anomalies: [] },
  };
  const progress = ctx.progress('checking disk');
  for await (const chunk of compareTreeWithCatalog(ctx)) {
    progress.tick(chunk.files + chunk.anomalies.length);
    s.walkedFiles += chunk.files;
    s.anomalies += chunk.anomalies.length;
    for (const a of chunk.anomalies) if (s.sample.anomalies.length < sampleSize) s.sample.anomalies.push(`${a.path} (${a.kind})`);
    for (const p of chunk.orphans) {
      s.orphanFiles++;
      // Only orphans are stat'ed: stat of every file would double the walk's cost.
      s.orphanBytes += (ctx.store.capabilities.kind === 'local' ? ctx.blobs.stat(p)?.size : (await ctx.store.stat(p))?.size) ?? 0;
      if (s.sample.orphans.length < sampleSize) s.sample.orphans.push(p);
    }
    if (chunk.missing.length) {
      // Sizes of the (few) rows whose file is gone, as they are now; a row gone meanwhile counts no longer.
      for (const row of await ctx.catalog.filesByPaths(chunk.missing)) {
        if (!LIVE_STATES.includes(row.state as FileState)) continue;
        if (row.tier !== 'hot') continue; // on another tier: tierDrift checks it there
        s.missingFiles++;
        s.missingBytes += row.size;
        if (s.sample.missing.length < sampleSize) s.sample.missing.push(row.path);
      }
    }
  }
  progress.done();
  return s;
}

const PAGE = 1000;

/** The items of keyset pages of PAGE (a page after the last one's key), one at a time. */
function keysetItems<T>(page: (after: string | undefined) => Promise<T[]>, keyOf: (item: T) => string): AsyncIterator<T> {
  return (async function* () {
    let after: string | undefined;
    for (;;) {
      const items = await page(after);
      yield* items;
      if (items.length < PAGE) return;
      after = keyOf(items.at(-1)!);
    }
  })()[Symbol.asyncIterator]();
}

/**
 * The packs of a tier: the distinct packs its rows name (byte order) merged with the listing of
 * `.packs/`: a named pack not there is missing with all its members; a listed one no row names
 * is a stray.
 */
async function packDrift(cat: ReturnType<typeof tierCatalog>, store: BlobStore, tier: string, d: TierDrift, sampleSize: number): Promise<void> {
  const named = keysetItems((after) => cat.packsOn(tier, PAGE, after), (p) => p.pack);
  const listed = (async function* () {
    for await (const page of store.list({ prefix: PACKS_PREFIX })) yield* page;
  })()[Symbol.asyncIterator]();
  let r = await named.next();
  let k = await listed.next();
  while (!r.done || !k.done) {
    const c = r.done ? 1 : k.done ? -1 : r.value.pack === k.value.key ? 0 : compareBytewise(r.value.pack, k.value.key);
    if (c < 0) {
      const p = r.value as { pack: string; files: number; bytes: number };
      d.missingFiles += p.files;
      d.missingBytes += p.bytes;
      if (d.sample.missing.length < sampleSize) d.sample.missing.push(p.pack);
      r = await named.next();
      continue;
    }
    const e = k.value as { key: string; size: number };
    d.listed++;
    d.packs++;
    if (c > 0) {
      d.strayFiles++;
      d.strayBytes += e.size;
      if (d.sample.strays.length < sampleSize) d.sample.strays.push(e.key);
    } else {
      d.packedFiles += (r.value as { files: number }).files;
      r = await named.next();
    }
    k = await listed.next();
  }
}

/** One tier other than hot, checked against the rows that name it. */
export interface TierDrift {
  tier: string;
  url: string;
  /** Objects (files) listed in the tier. */
  listed: number;
  /** Present rows on this tier whose object is not there. */
  missingFiles: number;
  missingBytes: number;
  /** Objects no row names on this tier (and no move in flight names): strays. */
  strayFiles: number;
  strayBytes: number;
  /** Objects of a move in flight (a copy not yet switched to, or a leftover not yet removed). */
  inFlight: number;
  /** Pack objects listed (each a job's small files; their rows are checked against the pack, not a path). */
  packs: number;
  /** Files named as packed in a listed pack. */
  packedFiles: number;
  sample: { missing: string[]; strays: string[] };
}

/**
 * Every tier but hot, checked as --check-disk checks the root: the tier's listing (byte order)
 * merged with the catalog rows on it or moving to or from it (path order, the same order).
 */
export async function summariseTierDrift(ctx: Context, tiers: readonly string[], sampleSize = 20): Promise<TierDrift[]> {
  const out: TierDrift[] = [];
  const cat = tierCatalog(ctx.catalog);
  for (const tier of tiers) {
    if (tier === 'hot') continue;
    const store = await tierStore(ctx, tier);
    const d: TierDrift = { tier, url: store.url, listed: 0, missingFiles: 0, missingBytes: 0, strayFiles: 0, strayBytes: 0, inFlight: 0, packs: 0, packedFiles: 0, sample: { missing: [], strays: [] } };
    const rows = keysetItems((after) => cat.pathsOn(tier, PAGE, after), (r) => r.path);
    const keys = (async function* () {
      for await (const page of store.list()) for (const e of page) if (!isPackKey(e.key)) yield e;
    })()[Symbol.asyncIterator]();
    const missing = (r: TierRow) => {
      // A row moving to this tier may not have its copy yet; only a row on it needs one.
      if (r.tier !== tier) return;
      d.missingFiles++;
      d.missingBytes += r.size;
      if (d.sample.missing.length < sampleSize) d.sample.missing.push(r.path);
    };
    let r = await rows.next();
    let k = await keys.next();
    while (!r.done || !k.done) {
      const c = r.done ? 1 : k.done ? -1 : r.value.path === k.value.key ? 0 : compareBytewise(r.value.path, k.value.key);
      if (c < 0) {
        missing(r.value as TierRow);
        r = await rows.next();
        continue;
      }
      const e = k.value as { key: string; size: number; kind: string };
      d.listed++;
      if (c > 0) {
        d.strayFiles++;
        d.strayBytes += e.size;
        if (d.sample.strays.length < sampleSize) d.sample.strays.push(e.key);
      } else {
        if ((r.value as TierRow).tier !== tier) d.inFlight++;
        r = await rows.next();
      }
      k = await keys.next();
    }
    await packDrift(cat, store, tier, d, sampleSize);
    out.push(d);
  }
  return out;
}
