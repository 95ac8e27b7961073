ALTER TABLE "locks" ADD COLUMN "heartbeat_at" timestamp (3) with time zone;
