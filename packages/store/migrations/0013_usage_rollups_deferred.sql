-- The usage writer may write a batch's calls before their minute rollups (schema.ts,
-- api_usage_blocks): with many keys it folds a minute's rollups in memory and writes each row
-- once, not once a batch. A block stays `rollup_pending` until its rollups are written, in the
-- same transaction; the blocks a stopped writer left pending are folded from their lines.
-- Blocks written before this were rolled up with their batch.
ALTER TABLE "api_usage_blocks" ADD COLUMN "rollup_pending" boolean DEFAULT false NOT NULL;--> statement-breakpoint
CREATE INDEX "api_usage_blocks_rollup_pending_idx" ON "api_usage_blocks" USING btree ("id") WHERE rollup_pending;