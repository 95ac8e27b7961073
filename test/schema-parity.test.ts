// The two drizzle schemas must describe the same tables, columns and row types: checked at run
// time (so `npm test` fails on a drift), and at type level under tsc.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bigint, bigserial, boolean, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import { index, integer, sqliteTable, text as sqliteText } from 'drizzle-orm/sqlite-core';
import type { InferSelectModel } from 'drizzle-orm';
import * as pgSchema from '../src/db/schema/pg.ts';
import * as sqliteSchema from '../src/db/schema/sqlite.ts';
import type { FileRecord, Job, RunRecord } from '../src/db/types.ts';
import { pgShape, schemaDifferences, sqliteShape } from './helpers/schema-shape.ts';

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

test('both schemas have the same tables, columns, nullability, kinds, keys, defaults and indexes (compared at run time)', () => {
  assert.ok(checks.every(Boolean));
  const pg = pgShape(pgSchema.schema);
  const sqlite = sqliteShape(sqliteSchema.schema);
  assert.deepEqual(schemaDifferences(pg, sqlite), []);
  // The comparison sees what it compares: every table, with columns and indexes.
  assert.deepEqual(Object.keys(pg).sort(), Object.keys(sqlite).sort());
  assert.ok(Object.keys(pg).length >= 6);
  assert.equal(pg.files?.columns.path?.kind, 'string');
  assert.equal(pg.images?.columns.data?.kind, 'buffer');
  assert.equal(sqlite.files?.columns.created_at?.kind, 'date');
  assert.ok((pg.files?.indexes.length ?? 0) > 0, 'files has indexes');
});

test('a schema pair that differs fails the comparison, naming each difference', () => {
  const pgFiles = pgTable(
    'files',
    {
      id: bigserial('id', { mode: 'number' }).primaryKey(),
      path: text('path').notNull(),
      size: bigint('size', { mode: 'number' }).notNull(),
      createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
      owner: text('owner'),
    },
    (t) => [uniqueIndex('files_path').on(t.path)],
  );
  const pgRuns = pgTable('runs', { id: text('id').primaryKey(), dryRun: boolean('dry_run').notNull().default(false) });
  const sqliteFiles = sqliteTable(
    'files',
    {
      id: integer('id').primaryKey({ autoIncrement: true }),
      path: sqliteText('path').notNull(),
      size: sqliteText('size').notNull(),
      createdAt: integer('created_at', { mode: 'timestamp_ms' }),
      extra: sqliteText('extra'),
    },
    (t) => [index('files_path').on(t.path)],
  );
  const sqliteJobs = sqliteTable('jobs', { id: sqliteText('id').primaryKey() });
  const diffs = schemaDifferences(pgShape({ pgFiles, pgRuns }), sqliteShape({ sqliteFiles, sqliteJobs }));
  assert.deepEqual(diffs.sort(), [
    'files.created_at: notNull true in pg, false in sqlite',
    'files.extra: only in sqlite',
    'files.owner: only in pg',
    'files.size: kind number in pg, string in sqlite',
    'files: index files_path:index(path) only in sqlite',
    'files: index files_path:unique(path) only in pg',
    'table jobs: only in sqlite',
    'table runs: only in pg',
  ]);
  // And the same schema compared with itself agrees.
  assert.deepEqual(schemaDifferences(pgShape({ pgFiles, pgRuns }), pgShape({ pgFiles, pgRuns })), []);
});
