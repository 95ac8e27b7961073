ALTER TABLE "files" ADD COLUMN "pack" text COLLATE "C";--> statement-breakpoint
ALTER TABLE "files" ADD COLUMN "pack_offset" bigint;--> statement-breakpoint
CREATE INDEX "files_pack_idx" ON "files" USING btree ("pack") WHERE pack is not null;
