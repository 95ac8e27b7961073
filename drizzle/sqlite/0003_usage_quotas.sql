-- Per-owner quotas, the usage ledger and usage history. The ledger is kept by triggers on
-- `files`, so every writer (generate, put, restore, every deletion, verify's marks, and any
-- future command) changes usage in the same transaction as the rows it counts. Content held
-- = rows in state present, deleting or corrupt (the bytes are still on the store).
CREATE TABLE `quotas` (
	`owner` text PRIMARY KEY NOT NULL,
	`max_bytes` integer NOT NULL,
	`max_files` integer,
	`warn_percent` integer DEFAULT 80 NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `usage` (
	`owner` text PRIMARY KEY NOT NULL,
	`bytes` integer DEFAULT 0 NOT NULL,
	`files` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE `usage_snapshots` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`taken_at` integer NOT NULL,
	`run_id` text,
	`command` text,
	`bytes` integer NOT NULL,
	`files` integer NOT NULL,
	`orphan_files` integer,
	`missing_files` integer,
	`anomalies` integer,
	`usage_drift` integer
);
--> statement-breakpoint
CREATE INDEX `usage_snapshots_taken_idx` ON `usage_snapshots` (`taken_at`);
--> statement-breakpoint
INSERT INTO `usage` (`owner`, `bytes`, `files`)
	SELECT `owner`, sum(`size`), count(*) FROM `files` WHERE `state` IN ('present', 'deleting', 'corrupt') GROUP BY `owner`;
--> statement-breakpoint
CREATE TRIGGER `files_quota_insert` BEFORE INSERT ON `files`
	WHEN NEW.state IN ('present', 'deleting', 'corrupt') AND EXISTS (
		SELECT 1 FROM `quotas` q WHERE q.owner = NEW.owner AND (
			coalesce((SELECT u.bytes FROM `usage` u WHERE u.owner = NEW.owner), 0) + NEW.size > q.max_bytes
			OR (q.max_files IS NOT NULL AND coalesce((SELECT u.files FROM `usage` u WHERE u.owner = NEW.owner), 0) + 1 > q.max_files)))
BEGIN
	SELECT RAISE(ABORT, 'storectl: quota exceeded');
END;
--> statement-breakpoint
CREATE TRIGGER `files_quota_update` BEFORE UPDATE OF `state`, `size`, `owner` ON `files`
	WHEN NEW.state IN ('present', 'deleting', 'corrupt')
		AND OLD.state <> 'missing'
		AND (OLD.state NOT IN ('present', 'deleting', 'corrupt') OR OLD.owner <> NEW.owner OR NEW.size > OLD.size)
		AND EXISTS (
		SELECT 1 FROM `quotas` q WHERE q.owner = NEW.owner AND (
			coalesce((SELECT u.bytes FROM `usage` u WHERE u.owner = NEW.owner), 0)
				- (CASE WHEN OLD.owner = NEW.owner AND OLD.state IN ('present', 'deleting', 'corrupt') THEN OLD.size ELSE 0 END)
				+ NEW.size > q.max_bytes
			OR (q.max_files IS NOT NULL AND coalesce((SELECT u.files FROM `usage` u WHERE u.owner = NEW.owner), 0)
				- (CASE WHEN OLD.owner = NEW.owner AND OLD.state IN ('present', 'deleting', 'corrupt') THEN 1 ELSE 0 END)
				+ 1 > q.max_files)))
BEGIN
	SELECT RAISE(ABORT, 'storectl: quota exceeded');
END;
--> statement-breakpoint
CREATE TRIGGER `files_usage_insert` AFTER INSERT ON `files`
	WHEN NEW.state IN ('present', 'deleting', 'corrupt')
BEGIN
	-- not INSERT OR IGNORE: an outer UPSERT's conflict policy would override the trigger's
	INSERT INTO `usage` (`owner`, `bytes`, `files`)
		SELECT NEW.owner, 0, 0 WHERE NOT EXISTS (SELECT 1 FROM `usage` WHERE `owner` = NEW.owner);
	UPDATE `usage` SET `bytes` = `bytes` + NEW.size, `files` = `files` + 1 WHERE `owner` = NEW.owner;
END;
--> statement-breakpoint
CREATE TRIGGER `files_usage_delete` AFTER DELETE ON `files`
	WHEN OLD.state IN ('present', 'deleting', 'corrupt')
BEGIN
	UPDATE `usage` SET `bytes` = `bytes` - OLD.size, `files` = `files` - 1 WHERE `owner` = OLD.owner;
END;
--> statement-breakpoint
CREATE TRIGGER `files_usage_update` AFTER UPDATE OF `state`, `size`, `owner` ON `files`
	WHEN OLD.state IN ('present', 'deleting', 'corrupt') OR NEW.state IN ('present', 'deleting', 'corrupt')
BEGIN
	UPDATE `usage` SET `bytes` = `bytes` - OLD.size, `files` = `files` - 1
		WHERE `owner` = OLD.owner AND OLD.state IN ('present', 'deleting', 'corrupt');
	INSERT INTO `usage` (`owner`, `bytes`, `files`)
		SELECT NEW.owner, 0, 0 WHERE NEW.state IN ('present', 'deleting', 'corrupt')
			AND NOT EXISTS (SELECT 1 FROM `usage` WHERE `owner` = NEW.owner);
	UPDATE `usage` SET `bytes` = `bytes` + NEW.size, `files` = `files` + 1
		WHERE `owner` = NEW.owner AND NEW.state IN ('present', 'deleting', 'corrupt');
END;
