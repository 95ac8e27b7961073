ALTER TABLE `files` ADD `pack` text;--> statement-breakpoint
ALTER TABLE `files` ADD `pack_offset` integer;--> statement-breakpoint
CREATE INDEX `files_pack_idx` ON `files` (`pack`) WHERE pack is not null;
