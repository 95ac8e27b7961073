import { iteratePaths } from '../db/catalog.ts';
import type { PathRow } from '../db/types.ts';
import type { Context } from '../context.ts';
import { compareBytewise } from '../storage/paths.ts';
import type { TreeEntry } from '../storage/walk.ts';

/** What merging the sorted tree walk with the catalog's sorted rows finds, one item at a time. */
export type DriftItem =
  | { type: 'match'; entry: TreeEntry; row: PathRow }
  | { type: 'orphan'; entry: TreeEntry }
  | { type: 'missing'; row: PathRow };

/**
 * Merges the tree (walked in byte order) with the catalog's live rows (streamed in byte
 * order): neither side is held in memory. `present` and `deleting` rows count as live;
 * tombstones do not. Symlinks and other non-files come out as orphans with their kind, for
 * the caller to report as anomalies (never to delete through).
 */
export async function* compareTreeWithCatalog(ctx: Context): AsyncGenerator<DriftItem> {
  const walk = ctx.blobs.walk({ sorted: true });
  const rows = iteratePaths(ctx.catalog, ['present', 'deleting']);
  let e = walk.next();
  let r = await rows.next();
  while (!e.done || !r.done) {
    if (r.done || (!e.done && compareBytewise(e.value.path, r.value.path) < 0)) {
      yield { type: 'orphan', entry: (e as IteratorYieldResult<TreeEntry>).value };
      e = walk.next();
    } else if (e.done || compareBytewise(e.value.path, r.value.path) > 0) {
      yield { type: 'missing', row: r.value };
      r = await rows.next();
    } else {
      yield { type: 'match', entry: e.value, row: r.value };
      e = walk.next();
      r = await rows.next();
    }
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
  for await (const item of compareTreeWithCatalog(ctx)) {
    if (item.type === 'missing') {
      s.missingFiles++;
      s.missingBytes += item.row.size;
      if (s.sample.missing.length < sampleSize) s.sample.missing.push(item.row.path);
      continue;
    }
    progress.tick();
    if (item.entry.kind !== 'file') {
      s.anomalies++;
      if (s.sample.anomalies.length < sampleSize) s.sample.anomalies.push(`${item.entry.path} (${item.entry.kind})`);
      continue;
    }
    s.walkedFiles++;
    if (item.type === 'orphan') {
      s.orphanFiles++;
      // Only orphans are stat'ed: stat of every file would double the walk's cost.
      s.orphanBytes += ctx.blobs.stat(item.entry.path)?.size ?? 0;
      if (s.sample.orphans.length < sampleSize) s.sample.orphans.push(item.entry.path);
    }
  }
  progress.done();
  return s;
}
