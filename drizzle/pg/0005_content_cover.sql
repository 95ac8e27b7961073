DROP INDEX IF EXISTS "files_content_idx";--> statement-breakpoint
CREATE INDEX "files_content_idx" ON "files" USING btree ("sha256","size","owner","content_group") WHERE state = 'present';
