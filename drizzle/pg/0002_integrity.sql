ALTER TABLE "files" ADD COLUMN "verified_at" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "files" ADD COLUMN "verify_result" text;--> statement-breakpoint
ALTER TABLE "files" ADD COLUMN "content_group" bigint;--> statement-breakpoint
CREATE INDEX "files_verify_idx" ON "files" USING btree ("verified_at" NULLS FIRST,"id");--> statement-breakpoint
CREATE INDEX "files_content_idx" ON "files" USING btree ("sha256","size","owner") WHERE state = 'present';--> statement-breakpoint
DROP INDEX "files_live_path_idx";--> statement-breakpoint
CREATE INDEX "files_live_path_idx" ON "files" USING btree ("path") WHERE state in ('present', 'deleting', 'corrupt');
