import fs from 'node:fs';
import path from 'node:path';
import { compareBytewise } from './paths.ts';
import { RESERVED_DIR } from './layout.ts';

export type EntryKind = 'file' | 'symlink' | 'other';

export interface TreeEntry {
  /** '/'-separated path relative to the root. */
  path: string;
  kind: EntryKind;
}

export class WalkError extends Error {
  constructor(
    readonly relPath: string,
    cause: unknown,
  ) {
    super(`cannot read ${relPath || '.'}: ${(cause as Error).message ?? String(cause)}`, { cause });
  }
}

/**
 * Walks the data tree lazily, depth first, yielding files, symlinks and other non-directory
 * entries. Never follows symlinks, never enters the root's `.storectl/`. With `sorted`, paths
 * come in UTF-8 byte order of the whole path (siblings sorted as `name/` for directories),
 * the order the catalog streams rows in, so the two can be merged without holding either.
 * Memory is bounded by depth times directory width, not by the number of files.
 * A read error throws WalkError: callers fail closed. A missing root yields nothing, and so
 * does a directory removed or renamed between being listed and being read (it holds nothing
 * now; a permission or I/O error still throws).
 */
export function* walkTree(root: string, opts: { sorted?: boolean } = {}): Generator<TreeEntry> {
  yield* walkDir(root, '', opts.sorted ?? false);
}

/** One directory's entries (not `.storectl/` at the root), in walk order when `sorted`. */
export function readDirEntries(root: string, rel: string, sorted: boolean): fs.Dirent[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(rel ? path.join(root, rel) : root, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new WalkError(rel, err);
  }
  if (rel === '') entries = entries.filter((d) => d.name !== RESERVED_DIR);
  if (sorted && entries.length > 1) {
    // Keys made once per entry, not once per comparison: this runs for every directory.
    const keyed = entries.map((d) => ({ d, key: d.isDirectory() ? `${d.name}/` : d.name }));
    keyed.sort((a, b) => compareBytewise(a.key, b.key));
    entries = keyed.map((x) => x.d);
  }
  return entries;
}

export const kindOf = (d: fs.Dirent): EntryKind => (d.isFile() ? 'file' : d.isSymbolicLink() ? 'symlink' : 'other');

function* walkDir(root: string, rel: string, sorted: boolean): Generator<TreeEntry> {
  for (const d of readDirEntries(root, rel, sorted)) {
    const p = rel ? `${rel}/${d.name}` : d.name;
    if (d.isDirectory()) yield* walkDir(root, p, sorted);
    else yield { path: p, kind: kindOf(d) };
  }
}

/** walkTree below one directory, as a plain recursion with a callback (no generator per level). */
export function visitSubtree(root: string, rel: string, sorted: boolean, visit: (path: string, kind: EntryKind) => void): void {
  for (const d of readDirEntries(root, rel, sorted)) {
    const p = rel ? `${rel}/${d.name}` : d.name;
    if (d.isDirectory()) visitSubtree(root, p, sorted, visit);
    else visit(p, kindOf(d));
  }
}

/** Removes empty directories below (not including) root, deepest first; never follows links. */
export function pruneEmptyDirs(root: string, rel = ''): number {
  let removed = 0;
  const dir = rel ? path.join(root, rel) : root;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const d of entries) {
    if (!d.isDirectory() || (rel === '' && d.name === RESERVED_DIR)) continue;
    const p = rel ? `${rel}/${d.name}` : d.name;
    removed += pruneEmptyDirs(root, p);
    try {
      fs.rmdirSync(path.join(root, p));
      removed++;
    } catch {
      /* not empty, or not ours to remove */
    }
  }
  return removed;
}

/** Data files under root (not .storectl/); an unreadable part ends the count (the files counted so far are reason enough to refuse). */
export function countDataFiles(root: string): number {
  let n = 0;
  try {
    for (const e of walkTree(root)) if (e.kind === 'file') n++;
  } catch {
    /* an unreadable part: the files counted so far are reason enough */
  }
  return n;
}
