-- One counter row per key and month (schema.ts, usage_counters): the month's row also holds the
-- admitted calls of the key's latest day that month, and every call with the key and the last
-- one's time, which the writer updated on api_keys until now. With the minute's rollup, a key
-- costs a usage batch two row writes instead of four. api_keys keeps the usage counted before
-- (the key repository adds both). Each day row is folded into its month's row, the latest day of
-- each month kept (a daily cap only needs today's), then removed.
ALTER TABLE "usage_counters" ADD COLUMN "day" date;--> statement-breakpoint
ALTER TABLE "usage_counters" ADD COLUMN "day_count" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "usage_counters" ADD COLUMN "calls" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "usage_counters" ADD COLUMN "last_used_at" timestamp with time zone;--> statement-breakpoint
INSERT INTO "usage_counters" ("api_key_id", "period", "day", "day_count")
SELECT DISTINCT ON ("api_key_id", substr("period", 5, 7)) "api_key_id", 'month:' || substr("period", 5, 7), substr("period", 5)::date, "count"
FROM "usage_counters" WHERE "period" LIKE 'day:%'
ORDER BY "api_key_id", substr("period", 5, 7), "period" DESC
ON CONFLICT ("api_key_id", "period") DO UPDATE SET "day" = excluded."day", "day_count" = excluded."day_count";--> statement-breakpoint
DELETE FROM "usage_counters" WHERE "period" LIKE 'day:%';
