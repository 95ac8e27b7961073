import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../package-root.ts';
import type { Dialect, MigrationState } from './types.ts';

/** The migration folders ship with the package, beside src/. */
export function migrationsFolder(dialect: Dialect): string {
  return path.join(packageRoot(), 'drizzle', dialect === 'sqlite' ? 'sqlite' : 'pg');
}

export const MIGRATIONS_TABLE = '__storectl_migrations';

interface JournalEntry {
  tag: string;
  when: number;
}

export function journal(dialect: Dialect): JournalEntry[] {
  const file = `${migrationsFolder(dialect)}/meta/_journal.json`;
  const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as { entries: JournalEntry[] };
  return parsed.entries.map((e) => ({ tag: e.tag, when: e.when }));
}

/** Same rule as drizzle's migrator: applied up to the newest recorded created_at. */
export function migrationStates(dialect: Dialect, appliedMillis: readonly number[]): MigrationState[] {
  const last = appliedMillis.length ? Math.max(...appliedMillis) : -Infinity;
  return journal(dialect).map((e) => ({ tag: e.tag, createdAt: e.when, applied: e.when <= last }));
}

/** The schema version is the number of migrations this storectl ships. */
export function schemaVersion(dialect: Dialect = 'sqlite'): number {
  return journal(dialect).length;
}
