import type { Context } from '../context.ts';
import type { MigrationState } from '../db/types.ts';

export interface MigrateReport {
  catalog: string;
  dialect: string;
  applied: string[];
  pending: string[];
  schemaVersion: number;
  migrations: MigrationState[];
}

export async function runMigrate(ctx: Context, opts: { statusOnly: boolean }): Promise<MigrateReport> {
  const applied = opts.statusOnly ? [] : await ctx.catalog.migrate();
  const migrations = await ctx.catalog.migrationStatus();
  return {
    catalog: ctx.catalog.location,
    dialect: ctx.catalog.dialect,
    applied,
    pending: migrations.filter((m) => !m.applied).map((m) => m.tag),
    schemaVersion: migrations.filter((m) => m.applied).length,
    migrations,
  };
}
