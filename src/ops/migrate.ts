import type { Context } from '../context.ts';
import type { LayoutChange, MigrationState } from '../db/types.ts';

export interface MigrateReport {
  catalog: string;
  dialect: string;
  applied: string[];
  pending: string[];
  schemaVersion: number;
  migrations: MigrationState[];
  /** PostgreSQL: a catalog an older storectl kept in schema "public", moved into the catalog's schema by this run. */
  layoutChange?: LayoutChange;
}

export async function runMigrate(ctx: Context, opts: { statusOnly: boolean }): Promise<MigrateReport> {
  let layoutChange: LayoutChange | undefined;
  const applied = opts.statusOnly
    ? []
    : await ctx.catalog.migrate({
        onLayoutChange: (change) => {
          layoutChange = change;
          if (change.moved.length) ctx.log.warn(`moved storectl's catalog from schema ${change.from} into schema ${change.to}: ${change.moved.join(', ')}`);
          if (change.droppedEmptyJournal) ctx.log.warn(`dropped the empty ${change.from}.__storectl_migrations an earlier failed migrate had left`);
        },
      });
  const migrations = await ctx.catalog.migrationStatus();
  return {
    ...(layoutChange ? { layoutChange } : {}),
    catalog: ctx.catalog.location,
    dialect: ctx.catalog.dialect,
    applied,
    pending: migrations.filter((m) => !m.applied).map((m) => m.tag),
    schemaVersion: migrations.filter((m) => m.applied).length,
    migrations,
  };
}
