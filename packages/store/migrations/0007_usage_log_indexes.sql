DROP INDEX "api_usage_created_idx";--> statement-breakpoint
CREATE INDEX "api_usage_created_brin_idx" ON "api_usage" USING brin ("created_at");--> statement-breakpoint
ALTER TABLE "api_usage" DROP COLUMN "id";