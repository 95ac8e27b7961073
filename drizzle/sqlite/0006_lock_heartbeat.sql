ALTER TABLE `locks` ADD `heartbeat_at` integer;
