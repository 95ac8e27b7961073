ALTER TABLE `files` ADD `compress_checked` text;
