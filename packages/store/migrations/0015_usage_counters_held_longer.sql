-- The usage writer may now write a block's minute rollups before its keys' counters (it holds the
-- counters longer: with many keys, a counter row a key is written every few minutes rather than
-- every minute), so a block may be `counters_pending` alone. The fold of stopped writers' blocks
-- looks for either mark.
DROP INDEX "api_usage_blocks_rollup_pending_idx";--> statement-breakpoint
CREATE INDEX "api_usage_blocks_pending_idx" ON "api_usage_blocks" USING btree ("id") WHERE rollup_pending or counters_pending;