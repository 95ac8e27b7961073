import type { Context } from '../context.ts';
import type { LayoutChange, MigrationState } from '../db/types.ts';
import type { PgCatalog } from '../db/pg.ts';
import { withStoreLock } from './store-lock.ts';

/**
 * The migration that gives the store lock the schema it needs (the locks table and its
 * heartbeat). A catalog older than it has no lock to take, and no run of this version can hold
 * one there: every other command migrates such a catalog first (or refuses it).
 */
export const LOCK_SCHEMA_MIGRATION = '0006_lock_heartbeat';

export interface MigrateReport {
  catalog: string;
  dialect: string;
  applied: string[];
  pending: string[];
  schemaVersion: number;
  migrations: MigrationState[];
  /** PostgreSQL: a catalog an older storectl kept in schema "public", moved into the catalog's schema by this run. */
  layoutChange?: LayoutChange;
  /**
   * PostgreSQL, with --status: the catalog an older storectl kept in schema "public" (SCHEMA, the
   * catalog's own, holds none yet), which `migrate` would move; its pending list is SCHEMA's.
   */
  oldLayout?: { schema: string; to: string; applied: number };
}

export async function runMigrate(ctx: Context, opts: { statusOnly: boolean; waitMs: number }): Promise<MigrateReport> {
  let applied: string[] = [];
  let layoutChange: LayoutChange | undefined;
  if (!opts.statusOnly) {
    const migrate = () =>
      ctx.catalog.migrate({
        onLayoutChange: (change) => {
          layoutChange = change;
          if (change.moved.length) ctx.log.warn(`moved storectl's catalog from schema ${change.from} into schema ${change.to}: ${change.moved.join(', ')}`);
          if (change.droppedEmptyJournal) ctx.log.warn(`dropped the empty ${change.from}.__storectl_migrations an earlier failed migrate had left`);
        },
      });
    // Migrating changes the schema under every other run: one at a time, as every changing command.
    const lockable = (await ctx.catalog.migrationStatus()).some((m) => m.tag === LOCK_SCHEMA_MIGRATION && m.applied);
    applied = lockable ? await withStoreLock(ctx, 'migrate', opts.waitMs, migrate) : await migrate();
  }
  const migrations = await ctx.catalog.migrationStatus();
  const oldLayout = opts.statusOnly && ctx.catalog.dialect === 'postgres' ? await oldLayoutOf(ctx.catalog as unknown as PgCatalog) : undefined;
  return {
    ...(layoutChange ? { layoutChange } : {}),
    ...(oldLayout ? { oldLayout } : {}),
    catalog: ctx.catalog.location,
    dialect: ctx.catalog.dialect,
    applied,
    pending: migrations.filter((m) => !m.applied).map((m) => m.tag),
    schemaVersion: migrations.filter((m) => m.applied).length,
    migrations,
  };
}

async function oldLayoutOf(catalog: PgCatalog): Promise<MigrateReport['oldLayout']> {
  const legacy = await catalog.legacyCatalog();
  return legacy ? { schema: legacy.schema, to: catalog.schema, applied: legacy.applied } : undefined;
}
