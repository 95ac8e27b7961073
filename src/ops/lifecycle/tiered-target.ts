// The deletion engine's acting side on a store with tiers: each path is looked at, re-checked
// and removed on the tier its catalog row names (the hot root's gate, a second local tree's
// gate, an S3 tier's S3Target), so a rule or `delete` removes a moved file where it is, never
// leaving its copy behind on a colder tier and never looking for it in the hot tree.
import type { Context } from '../../context.ts';
import { tierStore } from '../../context.ts';
import type { FilesCatalog } from '../../db/catalog.ts';
import type { Limiter } from '../pool.ts';
import { DeleteGate, type DeletionTarget, type DiskState, type GateResult, type PlannedRemoval, type Removed, type TargetBatch } from './gate.ts';
import { S3Target } from './s3-target.ts';

/** The deletion target of a whole store: tier-aware when the config names tiers besides hot. */
export async function openTieredDeletionTarget(ctx: Pick<Context, 'store' | 'config' | 'tiers' | 'catalog'>, hot: DeletionTarget, dryRun: boolean): Promise<DeletionTarget> {
  const names = ctx.tiers?.names().filter((n) => n !== 'hot') ?? [];
  if (!names.length) return hot;
  const targets = new Map<string, DeletionTarget>([['hot', hot]]);
  for (const name of names) {
    const store = await tierStore(ctx, name);
    targets.set(name, store.capabilities.kind === 's3' ? new S3Target(store, dryRun) : new DeleteGate(store.url, dryRun));
  }
  return new TieredTarget(ctx.catalog, targets, hot);
}

/** Indices of `items` grouped by key, in order. */
function groupBy(keys: readonly string[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  keys.forEach((k, i) => {
    const g = out.get(k);
    if (g) g.push(i);
    else out.set(k, [i]);
  });
  return out;
}

export class TieredTarget implements DeletionTarget {
  readonly kind: 'local' | 's3';
  readonly root: string;
  readonly dryRun: boolean;

  constructor(
    readonly catalog: Pick<FilesCatalog, 'filesByPaths'>,
    readonly targets: ReadonlyMap<string, DeletionTarget>,
    readonly hot: DeletionTarget,
  ) {
    this.kind = hot.kind;
    this.root = hot.root;
    this.dryRun = hot.dryRun;
  }

  /** The tier of each path, as its row names it now (a path with no row: hot). */
  async tiersOf(paths: readonly string[]): Promise<string[]> {
    if (!paths.length) return [];
    const tierOf = new Map<string, string>();
    for (let i = 0; i < paths.length; i += 1000) {
      for (const r of await this.catalog.filesByPaths(paths.slice(i, i + 1000))) tierOf.set(r.path, r.tier);
    }
    return paths.map((p) => tierOf.get(p) ?? 'hot');
  }

  target(tier: string): DeletionTarget | undefined {
    return this.targets.get(tier);
  }

  async look(paths: readonly string[]): Promise<DiskState[]> {
    const tiers = await this.tiersOf(paths);
    const out: DiskState[] = new Array(paths.length);
    for (const [tier, idx] of groupBy(tiers)) {
      const t = this.target(tier);
      if (!t) {
        for (const i of idx) out[i] = { kind: 'error', reason: `its row names tier "${tier}", which the config does not name` };
        continue;
      }
      const states = await t.look(idx.map((i) => paths[i]!));
      idx.forEach((i, j) => (out[i] = states[j]!));
    }
    return out;
  }

  batch(): TargetBatch {
    return new TieredBatch(this);
  }

  close(): void {
    for (const t of this.targets.values()) t.close();
  }
}

class TieredBatch implements TargetBatch {
  readonly #batches = new Map<string, TargetBatch>();
  /** The directories each tier's batch removed, for its own pruning. */
  readonly #dirs = new Map<string, Set<string>>();

  constructor(readonly owner: TieredTarget) {}

  #batch(tier: string): TargetBatch | undefined {
    let b = this.#batches.get(tier);
    if (!b) {
      const t = this.owner.target(tier);
      if (!t) return undefined;
      b = t.batch();
      this.#batches.set(tier, b);
    }
    return b;
  }

  async inspectMany(paths: readonly string[]): Promise<DiskState[]> {
    const tiers = await this.owner.tiersOf(paths);
    const out: DiskState[] = new Array(paths.length);
    for (const [tier, idx] of groupBy(tiers)) {
      const b = this.#batch(tier);
      if (!b) {
        for (const i of idx) out[i] = { kind: 'error', reason: `its row names tier "${tier}", which the config does not name` };
        continue;
      }
      const states = await b.inspectMany(idx.map((i) => paths[i]!));
      idx.forEach((i, j) => (out[i] = states[j]!));
    }
    return out;
  }

  async removePlanned(work: readonly PlannedRemoval[], slots: Limiter): Promise<Removed> {
    const tiers = await this.owner.tiersOf(work.map((w) => w.path));
    const results: GateResult[] = new Array(work.length);
    const dirsRemoved: string[] = [];
    await Promise.all(
      [...groupBy(tiers)].map(async ([tier, idx]) => {
        const b = this.#batch(tier);
        if (!b) {
          for (const i of idx) results[i] = { outcome: 'failed', reason: `its row names tier "${tier}", which the config does not name` };
          return;
        }
        const r = await b.removePlanned(idx.map((i) => work[i]!), slots);
        idx.forEach((i, j) => (results[i] = r.results[j]!));
        const mine = this.#dirs.get(tier) ?? new Set<string>();
        for (const d of r.dirsRemoved) mine.add(d);
        this.#dirs.set(tier, mine);
        // Only the hot tree's directories go back to the engine (its tally); the others are pruned here.
        if (tier === 'hot') dirsRemoved.push(...r.dirsRemoved);
      }),
    );
    return { results, dirsRemoved };
  }

  async pruneEmptied(dirs: Iterable<string>, concurrency: number): Promise<number> {
    let n = 0;
    const hotDirs = new Set(dirs);
    for (const [tier, b] of this.#batches) {
      const mine = tier === 'hot' ? hotDirs : (this.#dirs.get(tier) ?? new Set<string>());
      if (mine.size) n += await b.pruneEmptied(mine, concurrency);
    }
    return n;
  }

  swapped(): string[] {
    return [...this.#batches.values()].flatMap((b) => b.swapped());
  }

  close(): void {
    for (const b of this.#batches.values()) b.close();
    this.#batches.clear();
  }
}
