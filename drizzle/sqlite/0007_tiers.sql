ALTER TABLE `files` ADD `tier` text DEFAULT 'hot' NOT NULL;--> statement-breakpoint
ALTER TABLE `files` ADD `encoding` text;--> statement-breakpoint
ALTER TABLE `files` ADD `stored_size` integer;--> statement-breakpoint
ALTER TABLE `files` ADD `tier_target` text;--> statement-breakpoint
CREATE INDEX `files_tier_target_idx` ON `files` (`id`) WHERE tier_target is not null;
