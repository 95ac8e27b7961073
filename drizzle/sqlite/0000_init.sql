CREATE TABLE `events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`run_id` text,
	`at` integer NOT NULL,
	`action` text NOT NULL,
	`path` text,
	`job_id` text,
	`bytes` integer,
	`reason` text
);
--> statement-breakpoint
CREATE INDEX `events_run_idx` ON `events` (`run_id`);--> statement-breakpoint
CREATE INDEX `events_path_idx` ON `events` (`path`);--> statement-breakpoint
CREATE TABLE `files` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`job_id` text,
	`role` text NOT NULL,
	`category` text NOT NULL,
	`owner` text DEFAULT '' NOT NULL,
	`path` text NOT NULL,
	`content_type` text NOT NULL,
	`size` integer NOT NULL,
	`sha256` text NOT NULL,
	`mtime` integer,
	`created_at` integer NOT NULL,
	`expires_at` integer,
	`deleted_at` integer,
	`delete_reason` text,
	`state` text DEFAULT 'present' NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `files_path_uq` ON `files` (`path`);--> statement-breakpoint
CREATE INDEX `files_job_idx` ON `files` (`job_id`);--> statement-breakpoint
CREATE INDEX `files_stats_idx` ON `files` (`state`,`category`,`owner`,`created_at`,`size`);--> statement-breakpoint
CREATE INDEX `files_created_idx` ON `files` (`created_at`);--> statement-breakpoint
CREATE TABLE `images` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`source` text NOT NULL,
	`source_key` text NOT NULL,
	`source_index` integer DEFAULT 0 NOT NULL,
	`owner` text DEFAULT '' NOT NULL,
	`original_path` text NOT NULL,
	`original_bytes` integer NOT NULL,
	`original_format` text,
	`format` text NOT NULL,
	`width` integer NOT NULL,
	`height` integer NOT NULL,
	`bytes` integer NOT NULL,
	`quality` integer,
	`sha256` text NOT NULL,
	`data` blob NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `images_source_uq` ON `images` (`source`,`source_key`,`source_index`);--> statement-breakpoint
CREATE TABLE `jobs` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text DEFAULT 'card' NOT NULL,
	`owner` text DEFAULT '' NOT NULL,
	`status` text NOT NULL,
	`data` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`completed_at` integer,
	`files_state` text DEFAULT 'none' NOT NULL,
	`generation` text,
	`failure_reason` text
);
--> statement-breakpoint
CREATE INDEX `jobs_status_updated_idx` ON `jobs` (`status`,`updated_at`);--> statement-breakpoint
CREATE INDEX `jobs_created_idx` ON `jobs` (`created_at`);--> statement-breakpoint
CREATE INDEX `jobs_files_state_idx` ON `jobs` (`files_state`);--> statement-breakpoint
CREATE INDEX `jobs_stats_idx` ON `jobs` (`kind`,`status`,`files_state`);--> statement-breakpoint
CREATE TABLE `locks` (
	`name` text PRIMARY KEY NOT NULL,
	`pid` integer NOT NULL,
	`host` text NOT NULL,
	`command` text,
	`run_id` text,
	`acquired_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `runs` (
	`id` text PRIMARY KEY NOT NULL,
	`command` text NOT NULL,
	`args` text,
	`dry_run` integer DEFAULT false NOT NULL,
	`status` text NOT NULL,
	`exit_code` integer,
	`user` text,
	`host` text,
	`pid` integer,
	`started_at` integer NOT NULL,
	`finished_at` integer,
	`totals` text
);
--> statement-breakpoint
CREATE INDEX `runs_started_idx` ON `runs` (`started_at`);