-- Blocks of the call log in a second format (schema.ts, api_usage_blocks): a call's texts, status
-- and sandbox flag as one interned shape, its request id as an interned head and a short tail.
-- PGlite takes a query's text at ~10 ns a byte; a call's line shrinks from ~70 bytes to ~25.
-- The blocks written before keep format 1, and the view reads both formats and the rows of 0009.
ALTER TABLE "api_usage_blocks" ADD COLUMN "format" smallint DEFAULT 1 NOT NULL;--> statement-breakpoint
CREATE OR REPLACE VIEW "api_usage" AS
SELECT b.strings[f[1]::int] AS request_id,
       b.strings[nullif(f[2], '')::int] AS api_key_id,
       b.strings[nullif(f[3], '')::int] AS user_id,
       b.strings[nullif(f[4], '')::int] AS product_id,
       b.strings[nullif(f[5], '')::int] AS route_id,
       b.strings[nullif(f[6], '')::int] AS route_path,
       b.strings[f[7]::int] AS path,
       b.strings[f[8]::int] AS method,
       f[9]::int AS status_code,
       b.strings[nullif(f[10], '')::int] AS error_code,
       f[11]::int AS bytes_in,
       f[12]::int AS bytes_out,
       f[13]::int AS latency_ms,
       b.strings[nullif(f[14], '')::int] AS ip,
       f[15] = '1' AS is_sandbox,
       b.first_at + f[16]::bigint * interval '1 millisecond' AS created_at
FROM "api_usage_blocks" b
CROSS JOIN LATERAL string_to_table(b.records, E'\n') AS line
CROSS JOIN LATERAL string_to_array(line, E'\t') AS f
WHERE b.format = 1
UNION ALL
SELECT b.strings[f[1]::int] || f[2] AS request_id,
       b.strings[nullif(s[1], '')::int] AS api_key_id,
       b.strings[nullif(s[2], '')::int] AS user_id,
       b.strings[nullif(s[3], '')::int] AS product_id,
       b.strings[nullif(s[4], '')::int] AS route_id,
       b.strings[nullif(s[5], '')::int] AS route_path,
       b.strings[s[6]::int] AS path,
       b.strings[s[7]::int] AS method,
       s[8]::int AS status_code,
       b.strings[nullif(s[9], '')::int] AS error_code,
       f[4]::int AS bytes_in,
       f[5]::int AS bytes_out,
       f[6]::int AS latency_ms,
       b.strings[nullif(s[10], '')::int] AS ip,
       s[11] = '1' AS is_sandbox,
       b.first_at + f[7]::bigint * interval '1 millisecond' AS created_at
FROM "api_usage_blocks" b
CROSS JOIN LATERAL string_to_table(b.records, E'\n') AS line
CROSS JOIN LATERAL string_to_array(line, E'\t') AS f
CROSS JOIN LATERAL string_to_array(b.strings[f[3]::int], E'\t') AS s
WHERE b.format = 2
UNION ALL
SELECT request_id, api_key_id, user_id, product_id, route_id, route_path, path, method, status_code, error_code,
       bytes_in, bytes_out, latency_ms, ip, is_sandbox, created_at
FROM "api_usage_rows";
