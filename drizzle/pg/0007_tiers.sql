ALTER TABLE "files" ADD COLUMN "tier" text DEFAULT 'hot' NOT NULL;--> statement-breakpoint
ALTER TABLE "files" ADD COLUMN "encoding" text;--> statement-breakpoint
ALTER TABLE "files" ADD COLUMN "stored_size" bigint;--> statement-breakpoint
ALTER TABLE "files" ADD COLUMN "tier_target" text;--> statement-breakpoint
CREATE INDEX "files_tier_target_idx" ON "files" USING btree ("id") WHERE tier_target is not null;
