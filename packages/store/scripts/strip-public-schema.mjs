// drizzle-kit writes `REFERENCES "public"."users"`; the same migrations must run in any schema
// (DATABASE_SCHEMA, and one schema per test suite), so the qualifier is removed after generation.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

const folder = new URL('../migrations/', import.meta.url);
for (const name of readdirSync(folder).filter((f) => f.endsWith('.sql'))) {
  const file = new URL(name, folder);
  const sql = readFileSync(file, 'utf8');
  const stripped = sql.replaceAll('"public".', '');
  if (stripped !== sql) writeFileSync(file, stripped);
}
