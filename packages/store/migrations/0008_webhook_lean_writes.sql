ALTER TABLE "webhook_deliveries" DROP CONSTRAINT "webhook_deliveries_pkey";--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD PRIMARY KEY ("id");--> statement-breakpoint
DROP INDEX "webhook_deliveries_id_key";--> statement-breakpoint
DROP INDEX "webhook_deliveries_endpoint_event_key";--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD COLUMN "last_attempt_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD COLUMN "last_duration_ms" integer;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD COLUMN "last_error" text;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD COLUMN "last_response_excerpt" text;--> statement-breakpoint
-- A delivery's latest attempt now lives on its row; webhook_attempts keeps the earlier ones.
UPDATE "webhook_deliveries" d SET "last_attempt_at" = a."started_at", "last_duration_ms" = a."duration_ms", "last_error" = a."error", "last_response_excerpt" = a."response_excerpt"
  FROM "webhook_attempts" a WHERE a."delivery_id" = d."id" AND a."attempt" = d."attempts";--> statement-breakpoint
DELETE FROM "webhook_attempts" a USING "webhook_deliveries" d WHERE a."delivery_id" = d."id" AND a."attempt" = d."attempts";--> statement-breakpoint
DROP INDEX "webhook_events_dedupe_key";--> statement-breakpoint
CREATE UNIQUE INDEX "webhook_events_dedupe_key" ON "webhook_events" USING btree ("dedupe_key") WHERE dedupe_key is not null;
