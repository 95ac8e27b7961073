import fs from 'node:fs';
import path from 'node:path';

export class UnsafePathError extends Error {
  constructor(
    readonly relPath: string,
    reason: string,
  ) {
    super(`unsafe path ${JSON.stringify(relPath)}: ${reason}`);
  }
}

/**
 * Checks a catalog or archive path: relative, '/'-separated, no '.', '..' or empty
 * segments, no NUL or backslash. Returns it unchanged, or throws UnsafePathError.
 */
export function checkRelPath(rel: string): string {
  if (typeof rel !== 'string' || rel.length === 0) throw new UnsafePathError(String(rel), 'empty');
  if (rel.includes('\0')) throw new UnsafePathError(rel, 'contains NUL');
  if (rel.includes('\\')) throw new UnsafePathError(rel, 'contains a backslash');
  if (rel.startsWith('/') || /^[A-Za-z]:/.test(rel)) throw new UnsafePathError(rel, 'absolute');
  for (const seg of rel.split('/')) {
    if (seg === '..') throw new UnsafePathError(rel, "contains '..'");
    if (seg === '' || seg === '.') throw new UnsafePathError(rel, 'empty or "." segment');
  }
  if (rel === '.storectl' || rel.startsWith('.storectl/')) throw new UnsafePathError(rel, 'inside the reserved .storectl/');
  return rel;
}

/** The directory part of a '/'-separated relative path ('' for a top-level name). */
export function parentDir(rel: string): string {
  return rel.slice(0, Math.max(0, rel.lastIndexOf('/')));
}

export function isSafeRelPath(rel: string): boolean {
  try {
    checkRelPath(rel);
    return true;
  } catch {
    return false;
  }
}

/** Absolute path of a checked relative path under root (no file system access). */
export function resolveInRoot(root: string, rel: string): string {
  checkRelPath(rel);
  return path.join(root, ...rel.split('/'));
}

/**
 * Resolves rel under root and refuses when any directory on the way is a symlink, so a
 * link planted inside the tree cannot send a write or a delete outside the root.
 * A missing component is fine (the caller will find the file gone or create it).
 */
export function resolveNoSymlinks(root: string, rel: string): string {
  const abs = resolveInRoot(root, rel);
  const segs = rel.split('/');
  let cur = root;
  for (let i = 0; i < segs.length - 1; i++) {
    cur = path.join(cur, segs[i]!);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(cur);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return abs;
      throw err;
    }
    if (st.isSymbolicLink()) throw new UnsafePathError(rel, `${segs.slice(0, i + 1).join('/')} is a symlink`);
    if (!st.isDirectory()) throw new UnsafePathError(rel, `${segs.slice(0, i + 1).join('/')} is not a directory`);
  }
  return abs;
}

/** Forward-slash relative path of abs under root. */
export function toRelPath(root: string, abs: string): string {
  return path.relative(root, abs).split(path.sep).join('/');
}

export { compareBytewise } from '../bytewise.ts';
