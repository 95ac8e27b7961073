-- The usage ledger's update trigger fires only when a row's contribution changes: it enters or
-- leaves the held states (present, deleting, corrupt), or changes size or owner while held. A
-- row going from present to deleting (every deletion's intent) or from deleted to deleted left
-- the ledger as it was but cost two updates of it per row: most of the intent statement's time
-- in the deletion engine's profile (bench/results/cleanup-engine.md, "the removal threads").
DROP TRIGGER IF EXISTS `files_usage_update`;
--> statement-breakpoint
CREATE TRIGGER `files_usage_update` AFTER UPDATE OF `state`, `size`, `owner` ON `files`
	WHEN (OLD.state IN ('present', 'deleting', 'corrupt')) <> (NEW.state IN ('present', 'deleting', 'corrupt'))
		OR (NEW.state IN ('present', 'deleting', 'corrupt') AND (OLD.size <> NEW.size OR OLD.owner <> NEW.owner))
BEGIN
	UPDATE `usage` SET `bytes` = `bytes` - OLD.size, `files` = `files` - 1
		WHERE `owner` = OLD.owner AND OLD.state IN ('present', 'deleting', 'corrupt');
	INSERT INTO `usage` (`owner`, `bytes`, `files`)
		SELECT NEW.owner, 0, 0 WHERE NEW.state IN ('present', 'deleting', 'corrupt')
			AND NOT EXISTS (SELECT 1 FROM `usage` WHERE `owner` = NEW.owner);
	UPDATE `usage` SET `bytes` = `bytes` + NEW.size, `files` = `files` + 1
		WHERE `owner` = NEW.owner AND NEW.state IN ('present', 'deleting', 'corrupt');
END;
