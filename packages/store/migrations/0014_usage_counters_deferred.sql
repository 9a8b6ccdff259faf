-- The usage writer may write a batch's calls before its keys' counters, as it does their minute
-- rollups (migration 0013): with many keys each counter row was written once a batch, and now
-- once a minute. A block stays `counters_pending` until its calls are in the counters (always
-- with `rollup_pending`, cleared with it); a shape's twelfth field records how its calls counted
-- toward the key's quotas, so a block left pending by a stopped writer is folded from its lines.
-- Blocks written before this had their counters written with their batch.
ALTER TABLE "api_usage_blocks" ADD COLUMN "counters_pending" boolean DEFAULT false NOT NULL;
