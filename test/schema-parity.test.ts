// The two drizzle schemas must describe the same tables, columns and row types.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getTableConfig as pgConfig } from 'drizzle-orm/pg-core';
import { getTableConfig as sqliteConfig } from 'drizzle-orm/sqlite-core';
import type { InferSelectModel } from 'drizzle-orm';
import * as pgSchema from '../src/db/schema/pg.ts';
import * as sqliteSchema from '../src/db/schema/sqlite.ts';
import type { FileRecord, Job, RunRecord } from '../src/db/types.ts';

// Type level: each dialect's row type is exactly the domain type.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const checks: [
  Equal<InferSelectModel<typeof pgSchema.files>, InferSelectModel<typeof sqliteSchema.files>>,
  Equal<InferSelectModel<typeof pgSchema.jobs>, InferSelectModel<typeof sqliteSchema.jobs>>,
  Equal<InferSelectModel<typeof pgSchema.runs>, InferSelectModel<typeof sqliteSchema.runs>>,
  Equal<InferSelectModel<typeof pgSchema.events>, InferSelectModel<typeof sqliteSchema.events>>,
  Equal<InferSelectModel<typeof pgSchema.images>, InferSelectModel<typeof sqliteSchema.images>>,
  Equal<InferSelectModel<typeof pgSchema.locks>, InferSelectModel<typeof sqliteSchema.locks>>,
  Equal<InferSelectModel<typeof sqliteSchema.files>, FileRecord>,
  Equal<InferSelectModel<typeof sqliteSchema.jobs>, Job>,
  Equal<InferSelectModel<typeof sqliteSchema.runs>, RunRecord>,
] = [true, true, true, true, true, true, true, true, true];

test('both schemas have the same tables, columns, nullability and indexes', () => {
  assert.ok(checks.every(Boolean));
  const pgTables = Object.values(pgSchema.schema).map((t) => pgConfig(t));
  const sqliteTables = Object.values(sqliteSchema.schema).map((t) => sqliteConfig(t));
  assert.deepEqual(pgTables.map((t) => t.name), sqliteTables.map((t) => t.name));
  for (let i = 0; i < pgTables.length; i++) {
    const a = pgTables[i]!;
    const b = sqliteTables[i]!;
    const cols = (cs: { name: string; notNull: boolean; primary: boolean }[]) => cs.map((c) => `${c.name}:${c.notNull}:${c.primary}`).sort();
    assert.deepEqual(cols(a.columns), cols(b.columns), `columns of ${a.name}`);
    const idx = (is: { config: { name: string; unique: boolean } }[]) => is.map((x) => `${x.config.name}:${x.config.unique}`).sort();
    assert.deepEqual(idx(a.indexes as never), idx(b.indexes as never), `indexes of ${a.name}`);
  }
});
