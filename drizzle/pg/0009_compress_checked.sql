ALTER TABLE "files" ADD COLUMN "compress_checked" text;
