import path from 'node:path';
import { UsageError } from '../errors.ts';
import { redactUrl } from '../redact.ts';

/** `schema`: the PostgreSQL schema of storectl's tables (database.schema; default "storectl"). */
export type CatalogTarget = { dialect: 'sqlite'; file: string } | { dialect: 'postgres'; url: string; schema?: string };

export { redactText, redactUrl } from '../redact.ts';

/**
 * `postgres://` or `postgresql://` selects PostgreSQL; `sqlite:PATH`, `file:PATH` or a bare
 * path selects SQLite; no URL means the embedded catalog inside the root. SCHEMA applies to
 * PostgreSQL only.
 */
export function parseDatabaseUrl(url: string | undefined, root: string, schema?: string): CatalogTarget {
  if (!url) return { dialect: 'sqlite', file: path.join(root, '.storectl', 'catalog.db') };
  if (/^postgres(ql)?:\/\//i.test(url)) return schema === undefined ? { dialect: 'postgres', url } : { dialect: 'postgres', url, schema };
  if (/(^|\s)(host|hostaddr|dbname|user|password|port|sslmode)\s*=/i.test(url)) {
    throw new UsageError(
      `database ${redactUrl(url)} is a libpq key=value string, which storectl does not read`,
      'give a URL: postgres://USER:PASS@HOST:PORT/DB (percent-encode @ : / in PASS)',
    );
  }
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
