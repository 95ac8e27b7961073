// Mass-deletion guards: refuse (exit 2) when the store looks wrong, or a run would delete too much.
import type { Context } from '../../context.ts';
import fs from 'node:fs';
import type { FilesCatalog } from '../../db/catalog.ts';
import type { BlobStore } from '../../storage/blob.ts';
import { UsageError } from '../../errors.ts';
import { RESERVED_DIR } from '../../storage/layout.ts';
import { walkTree } from '../../storage/walk.ts';

/** Does the root hold any data file (anything but .storectl/)? Stops at the first. */
export function rootHasFiles(root: string): boolean {
  for (const _ of walkTree(root)) return true;
  return false;
}

function rootIsEmpty(root: string): boolean {
  const st = fs.statSync(root, { throwIfNoEntry: false });
  if (!st) return true;
  return fs.readdirSync(root).filter((n) => n !== RESERVED_DIR).length === 0;
}

/**
 * An empty or missing root beside a catalog with present rows: an unmounted volume. The rows
 * are only counted (for the message) when the guard fires.
 */
export async function guardUnmountedRoot(root: string, hasPresentRows: boolean, allow: boolean, catalog: Pick<FilesCatalog, 'counts'>): Promise<void> {
  if (allow || !hasPresentRows || !rootIsEmpty(root)) return;
  const { presentFiles } = await catalog.counts();
  throw new UsageError(
    `refusing: the root ${root} is missing or empty, but the catalog has ${presentFiles} present file rows (an unmounted volume?)`,
    'check --root and the mount; pass --allow-empty-root if the files are really gone',
    'guard_empty_root',
  );
}

/**
 * The unmounted-volume guard for any store: a local root as guardUnmountedRoot; an S3 store
 * whose bucket listing under the prefix returns nothing while the catalog has present rows (a
 * wrong endpoint, bucket or prefix) is refused the same way (one ListObjectsV2 of one key).
 */
export async function guardEmptyStore(store: BlobStore, root: string, hasPresentRows: boolean, allow: boolean, catalog: Pick<FilesCatalog, 'counts'>): Promise<void> {
  if (store.capabilities.kind === 'local') return guardUnmountedRoot(root, hasPresentRows, allow, catalog);
  if (allow || !hasPresentRows) return;
  for await (const page of store.list({ pageSize: 1 })) if (page.length) return;
  const { presentFiles } = await catalog.counts();
  throw new UsageError(
    `refusing: the bucket listing under ${store.url} is empty, but the catalog has ${presentFiles} present file rows (a wrong endpoint, bucket or prefix?)`,
    'check --root and the S3 endpoint; pass --allow-empty-root if the objects are really gone',
    'guard_empty_root',
  );
}

/** A catalog without any file row beside a tree with files: a wrong database URL. */
export function guardEmptyCatalog(root: string, hasRows: boolean, allow: boolean): void {
  if (allow || hasRows || !rootHasFiles(root)) return;
  throw new UsageError(
    `refusing: the catalog has no file rows, but the tree under ${root} has files (a wrong --database?)`,
    'check --database / STORECTL_DATABASE_URL; pass --allow-empty-catalog if every file really is unreferenced',
    'guard_empty_catalog',
  );
}

/** The cap as a number of files: 'N' or 'N%' of `base`. */
export function capOf(maxDelete: string, base: number): number {
  return maxDelete.endsWith('%') ? Math.floor((Number(maxDelete.slice(0, -1)) / 100) * base) : Number(maxDelete);
}

/** What the --max-delete cap says of a plan: refused or not, and why, in words. */
export interface CapVerdict {
  maxDelete: string;
  /** Where the cap came from: --max-delete, or the config file's cleanup.maxDelete. */
  source: string;
  cap: number;
  count: number;
  refused: boolean;
  reason: string;
}

export function capVerdict(what: string, count: number, maxDelete: string, base: number, baseName: string, source = '--max-delete', verb = 'delete'): CapVerdict {
  const cap = capOf(maxDelete, base);
  const of = `${source} ${maxDelete}${maxDelete.endsWith('%') ? ` of ${base} ${baseName}` : ''}`;
  return {
    maxDelete,
    source,
    cap,
    count,
    refused: count > cap,
    reason: count > cap ? `this run would ${verb} ${count} ${what}, over the cap of ${cap} (${of})` : `${count} ${what}, within the cap of ${cap} (${of})`,
  };
}

export function guardCap(what: string, count: number, maxDelete: string | undefined, base: number, baseName: string, source = '--max-delete', offerLimit = false): void {
  if (maxDelete === undefined) return;
  const v = capVerdict(what, count, maxDelete, base, baseName, source);
  if (!v.refused) return;
  throw new UsageError(
    `refusing: ${v.reason}`,
    `check the plan with --dry-run --list; pass a higher --max-delete N or N%${offerLimit ? ', or --limit N to delete N files this run and leave the rest for the next' : ' to proceed'}`,
    'guard_max_delete',
  );
}

export function parseMaxDelete(v: string): string {
  if (!/^\d+(\.\d+)?%$|^\d+$/.test(v)) throw new UsageError(`bad --max-delete ${JSON.stringify(v)}`, 'give a number of files (5000) or a percentage (10%)');
  return v;
}

/**
 * Whether the root should hold files: some present row is on the hot tier. Without tiers every
 * present row is; with tiers, rows moved to other tiers leave an empty root that is no sign of an
 * unmounted volume.
 */
export async function hotHasPresentRows(ctx: Pick<Context, 'catalog' | 'tiers'>, anyPresent: boolean): Promise<boolean> {
  if (!anyPresent || (ctx.tiers?.names().length ?? 1) <= 1) return anyPresent;
  const { tierCatalog } = await import('../../db/tiers.ts');
  return tierCatalog(ctx.catalog).anyPresentOn('hot');
}
