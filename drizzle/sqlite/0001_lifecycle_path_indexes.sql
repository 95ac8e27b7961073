CREATE INDEX `files_live_path_idx` ON `files` (`path`) WHERE state in ('present', 'deleting');--> statement-breakpoint
CREATE INDEX `files_loose_path_idx` ON `files` (`path`) WHERE job_id is null;