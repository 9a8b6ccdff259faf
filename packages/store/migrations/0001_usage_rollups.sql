CREATE TABLE "usage_rollups" (
	"minute" timestamp with time zone NOT NULL,
	"api_key_id" text NOT NULL,
	"user_id" text NOT NULL,
	"product_id" text NOT NULL,
	"endpoint" text NOT NULL,
	"status_code" integer NOT NULL,
	"count" bigint NOT NULL,
	"bytes" bigint NOT NULL,
	"latency_ms_sum" bigint NOT NULL,
	CONSTRAINT "usage_rollups_api_key_id_minute_endpoint_status_code_user_id_product_id_pk" PRIMARY KEY("api_key_id","minute","endpoint","status_code","user_id","product_id")
);
--> statement-breakpoint
DROP INDEX "api_usage_product_id_created_idx";--> statement-breakpoint
DROP INDEX "api_usage_user_id_created_idx";--> statement-breakpoint
CREATE INDEX "usage_rollups_user_minute_idx" ON "usage_rollups" USING btree ("user_id","minute");--> statement-breakpoint
CREATE INDEX "usage_rollups_product_minute_idx" ON "usage_rollups" USING btree ("product_id","minute");--> statement-breakpoint
CREATE INDEX "api_usage_created_idx" ON "api_usage" USING btree ("created_at");