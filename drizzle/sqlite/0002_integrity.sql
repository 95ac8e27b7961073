ALTER TABLE `files` ADD `verified_at` integer;--> statement-breakpoint
ALTER TABLE `files` ADD `verify_result` text;--> statement-breakpoint
ALTER TABLE `files` ADD `content_group` integer;--> statement-breakpoint
CREATE INDEX `files_verify_idx` ON `files` (`verified_at`,`id`);--> statement-breakpoint
CREATE INDEX `files_content_idx` ON `files` (`sha256`,`size`,`owner`) WHERE state = 'present';--> statement-breakpoint
DROP INDEX `files_live_path_idx`;--> statement-breakpoint
CREATE INDEX `files_live_path_idx` ON `files` (`path`) WHERE state in ('present', 'deleting', 'corrupt');
