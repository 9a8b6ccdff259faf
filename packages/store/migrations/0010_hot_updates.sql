-- The usage writer updates a row of each of these tables for every key it met in a batch (usage
-- count and last use; day and month counts; the minute's rollup). Room left on each page lets
-- PostgreSQL update a row in place (a HOT update) instead of adding an entry to every index of
-- the table: with 1,000 keys a batch, the write of a call cost about half as much in PGlite.
-- Pages already full keep no room; the rows written from now on do.
ALTER TABLE "api_keys" SET (fillfactor = 70);--> statement-breakpoint
ALTER TABLE "usage_counters" SET (fillfactor = 70);--> statement-breakpoint
ALTER TABLE "usage_rollups" SET (fillfactor = 70);
