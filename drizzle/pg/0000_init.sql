CREATE TABLE "events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"run_id" text,
	"at" timestamp (3) with time zone NOT NULL,
	"action" text NOT NULL,
	"path" text,
	"job_id" text,
	"bytes" bigint,
	"reason" text
);
--> statement-breakpoint
CREATE TABLE "files" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"job_id" text,
	"role" text NOT NULL,
	"category" text NOT NULL,
	"owner" text DEFAULT '' NOT NULL,
	"path" text COLLATE "C" NOT NULL,
	"content_type" text NOT NULL,
	"size" bigint NOT NULL,
	"sha256" text NOT NULL,
	"mtime" timestamp (3) with time zone,
	"created_at" timestamp (3) with time zone NOT NULL,
	"expires_at" timestamp (3) with time zone,
	"deleted_at" timestamp (3) with time zone,
	"delete_reason" text,
	"state" text DEFAULT 'present' NOT NULL
);
--> statement-breakpoint
CREATE TABLE "images" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"source" text NOT NULL,
	"source_key" text NOT NULL,
	"source_index" integer DEFAULT 0 NOT NULL,
	"owner" text DEFAULT '' NOT NULL,
	"original_path" text NOT NULL,
	"original_bytes" bigint NOT NULL,
	"original_format" text,
	"format" text NOT NULL,
	"width" integer NOT NULL,
	"height" integer NOT NULL,
	"bytes" bigint NOT NULL,
	"quality" integer,
	"sha256" text NOT NULL,
	"data" "bytea" NOT NULL,
	"created_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "jobs" (
	"id" text PRIMARY KEY NOT NULL,
	"kind" text DEFAULT 'card' NOT NULL,
	"owner" text DEFAULT '' NOT NULL,
	"status" text NOT NULL,
	"data" jsonb NOT NULL,
	"created_at" timestamp (3) with time zone NOT NULL,
	"updated_at" timestamp (3) with time zone NOT NULL,
	"completed_at" timestamp (3) with time zone,
	"files_state" text DEFAULT 'none' NOT NULL,
	"generation" jsonb,
	"failure_reason" text
);
--> statement-breakpoint
CREATE TABLE "locks" (
	"name" text PRIMARY KEY NOT NULL,
	"pid" integer NOT NULL,
	"host" text NOT NULL,
	"command" text,
	"run_id" text,
	"acquired_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "runs" (
	"id" text PRIMARY KEY NOT NULL,
	"command" text NOT NULL,
	"args" jsonb,
	"dry_run" boolean DEFAULT false NOT NULL,
	"status" text NOT NULL,
	"exit_code" integer,
	"user" text,
	"host" text,
	"pid" integer,
	"started_at" timestamp (3) with time zone NOT NULL,
	"finished_at" timestamp (3) with time zone,
	"totals" jsonb
);
--> statement-breakpoint
CREATE INDEX "events_run_idx" ON "events" USING btree ("run_id");--> statement-breakpoint
CREATE INDEX "events_path_idx" ON "events" USING btree ("path");--> statement-breakpoint
CREATE UNIQUE INDEX "files_path_uq" ON "files" USING btree ("path");--> statement-breakpoint
CREATE INDEX "files_job_idx" ON "files" USING btree ("job_id");--> statement-breakpoint
CREATE INDEX "files_stats_idx" ON "files" USING btree ("state","category","owner","created_at","size");--> statement-breakpoint
CREATE INDEX "files_created_idx" ON "files" USING btree ("created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "images_source_uq" ON "images" USING btree ("source","source_key","source_index");--> statement-breakpoint
CREATE INDEX "jobs_status_updated_idx" ON "jobs" USING btree ("status","updated_at");--> statement-breakpoint
CREATE INDEX "jobs_created_idx" ON "jobs" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "jobs_files_state_idx" ON "jobs" USING btree ("files_state");--> statement-breakpoint
CREATE INDEX "jobs_stats_idx" ON "jobs" USING btree ("kind","status","files_state");--> statement-breakpoint
CREATE INDEX "runs_started_idx" ON "runs" USING btree ("started_at");