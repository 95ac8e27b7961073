-- Per-owner quotas, the usage ledger and usage history. The ledger is kept by statement-level
-- triggers on "files" (transition tables: one grouped update per statement, not per row), so
-- every writer changes usage in the same transaction as the rows it counts. Content held =
-- rows in state present, deleting or corrupt. A statement that grows an owner's usage past
-- its quota raises 'storectl: quota exceeded' (SQLSTATE 23Q01) and rolls back; the update of
-- the usage row takes its row lock, so two writers racing for the last bytes serialise.
CREATE TABLE "quotas" (
	"owner" text PRIMARY KEY NOT NULL,
	"max_bytes" bigint NOT NULL,
	"max_files" bigint,
	"warn_percent" integer DEFAULT 80 NOT NULL,
	"updated_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "usage" (
	"owner" text PRIMARY KEY NOT NULL,
	"bytes" bigint DEFAULT 0 NOT NULL,
	"files" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "usage_snapshots" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"taken_at" timestamp (3) with time zone NOT NULL,
	"run_id" text,
	"command" text,
	"bytes" bigint NOT NULL,
	"files" bigint NOT NULL,
	"orphan_files" bigint,
	"missing_files" bigint,
	"anomalies" bigint,
	"usage_drift" bigint
);
--> statement-breakpoint
CREATE INDEX "usage_snapshots_taken_idx" ON "usage_snapshots" USING btree ("taken_at");
--> statement-breakpoint
INSERT INTO "usage" ("owner", "bytes", "files")
	SELECT "owner", sum("size"), count(*) FROM "files" WHERE "state" IN ('present', 'deleting', 'corrupt') GROUP BY "owner";
--> statement-breakpoint
CREATE FUNCTION storectl_files_usage() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	over text;
BEGIN
	IF TG_OP = 'INSERT' THEN
		WITH d AS (
			SELECT n.owner, sum(n.size) AS bytes, count(*) AS files, sum(n.size) AS grow_bytes, count(*) AS grow_files
			FROM new_rows n WHERE n.state IN ('present', 'deleting', 'corrupt') GROUP BY n.owner
		), up AS (
			INSERT INTO "usage" AS u ("owner", "bytes", "files")
				SELECT d.owner, d.bytes, d.files FROM d WHERE d.bytes <> 0 OR d.files <> 0
				ON CONFLICT ("owner") DO UPDATE SET "bytes" = u."bytes" + excluded."bytes", "files" = u."files" + excluded."files"
				RETURNING u.owner, u.bytes, u.files
		)
		SELECT d.owner INTO over FROM d JOIN up ON up.owner = d.owner JOIN "quotas" q ON q.owner = d.owner
			WHERE (d.grow_bytes > 0 AND up.bytes > q.max_bytes) OR (d.grow_files > 0 AND q.max_files IS NOT NULL AND up.files > q.max_files)
			LIMIT 1;
	ELSIF TG_OP = 'DELETE' THEN
		WITH d AS (
			SELECT o.owner, -sum(o.size) AS bytes, -count(*) AS files, 0 AS grow_bytes, 0 AS grow_files
			FROM old_rows o WHERE o.state IN ('present', 'deleting', 'corrupt') GROUP BY o.owner
		), up AS (
			INSERT INTO "usage" AS u ("owner", "bytes", "files")
				SELECT d.owner, d.bytes, d.files FROM d WHERE d.bytes <> 0 OR d.files <> 0
				ON CONFLICT ("owner") DO UPDATE SET "bytes" = u."bytes" + excluded."bytes", "files" = u."files" + excluded."files"
				RETURNING u.owner, u.bytes, u.files
		)
		SELECT d.owner INTO over FROM d JOIN up ON up.owner = d.owner JOIN "quotas" q ON q.owner = d.owner
			WHERE (d.grow_bytes > 0 AND up.bytes > q.max_bytes) OR (d.grow_files > 0 AND q.max_files IS NOT NULL AND up.files > q.max_files)
			LIMIT 1;
	ELSE
		WITH d AS (
			SELECT owner, sum(b) AS bytes, sum(f) AS files, sum(gb) AS grow_bytes, sum(gf) AS grow_files FROM (
				SELECT n.owner, n.size AS b, 1 AS f,
					CASE WHEN o.state = 'missing' THEN 0
					     WHEN o.state NOT IN ('present', 'deleting', 'corrupt') OR o.owner <> n.owner THEN n.size
					     ELSE greatest(n.size - o.size, 0) END AS gb,
					CASE WHEN o.state = 'missing' THEN 0
					     WHEN o.state NOT IN ('present', 'deleting', 'corrupt') OR o.owner <> n.owner THEN 1 ELSE 0 END AS gf
				FROM new_rows n JOIN old_rows o ON o.id = n.id
				WHERE n.state IN ('present', 'deleting', 'corrupt')
				UNION ALL
				SELECT o.owner, -o.size, -1, 0, 0 FROM old_rows o WHERE o.state IN ('present', 'deleting', 'corrupt')
			) x GROUP BY owner
		), up AS (
			INSERT INTO "usage" AS u ("owner", "bytes", "files")
				SELECT d.owner, d.bytes, d.files FROM d WHERE d.bytes <> 0 OR d.files <> 0
				ON CONFLICT ("owner") DO UPDATE SET "bytes" = u."bytes" + excluded."bytes", "files" = u."files" + excluded."files"
				RETURNING u.owner, u.bytes, u.files
		)
		SELECT d.owner INTO over FROM d JOIN up ON up.owner = d.owner JOIN "quotas" q ON q.owner = d.owner
			WHERE (d.grow_bytes > 0 AND up.bytes > q.max_bytes) OR (d.grow_files > 0 AND q.max_files IS NOT NULL AND up.files > q.max_files)
			LIMIT 1;
	END IF;
	IF over IS NOT NULL THEN
		RAISE EXCEPTION 'storectl: quota exceeded' USING ERRCODE = '23Q01', DETAIL = over;
	END IF;
	RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE FUNCTION storectl_files_usage_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE "usage" SET "bytes" = 0, "files" = 0;
	RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER files_usage_insert AFTER INSERT ON "files" REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION storectl_files_usage();
--> statement-breakpoint
CREATE TRIGGER files_usage_update AFTER UPDATE ON "files" REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION storectl_files_usage();
--> statement-breakpoint
CREATE TRIGGER files_usage_delete AFTER DELETE ON "files" REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION storectl_files_usage();
--> statement-breakpoint
CREATE TRIGGER files_usage_truncate AFTER TRUNCATE ON "files"
	FOR EACH STATEMENT EXECUTE FUNCTION storectl_files_usage_truncate();
