-- Nothing changes on PostgreSQL: its usage ledger is kept by statement-level triggers over
-- transition tables (0003), which sum what changed once per statement. SQLite's row trigger
-- now fires only when a row's contribution changes (drizzle/sqlite/0008); this migration keeps
-- the two dialects' schema versions in step.
SELECT 1;
