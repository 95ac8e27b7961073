import path from 'node:path';
import { UsageError } from '../errors.ts';

export type CatalogTarget = { dialect: 'sqlite'; file: string } | { dialect: 'postgres'; url: string };

/** Hides the password of a database URL; other strings pass unchanged. */
export function redactUrl(value: string): string {
  try {
    const u = new URL(value);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return value.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
  }
}

/** Replaces every password-bearing URL inside a message (driver errors quote them). */
export function redactText(text: string): string {
  return text.replace(/(postgres(?:ql)?:\/\/[^:/@\s]+:)[^@\s]*@/g, '$1***@');
}

/**
 * `postgres://` or `postgresql://` selects PostgreSQL; `sqlite:PATH`, `file:PATH` or a bare
 * path selects SQLite; no URL means the embedded catalog inside the root.
 */
export function parseDatabaseUrl(url: string | undefined, root: string): CatalogTarget {
  if (!url) return { dialect: 'sqlite', file: path.join(root, '.storectl', 'catalog.db') };
  if (/^postgres(ql)?:\/\//i.test(url)) return { dialect: 'postgres', url };
  const m = /^(?:sqlite|file):(?:\/\/)?(.*)$/i.exec(url);
  if (m) {
    if (!m[1]) throw new UsageError(`database URL ${redactUrl(url)} names no file`);
    return { dialect: 'sqlite', file: path.resolve(m[1]) };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new UsageError(
      `unsupported database URL ${redactUrl(url)}`,
      'use postgres://user@host/db for PostgreSQL, or sqlite:PATH for SQLite',
    );
  }
  return { dialect: 'sqlite', file: path.resolve(url) };
}
