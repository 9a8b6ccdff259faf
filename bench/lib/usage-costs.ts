import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';

/*
 * Diagnostics for docs/benchmarks.md, "Where the time goes": what one call record costs the
 * embedded database (CPU of this process, PGlite on its thread) under several layouts of the
 * `api_usage` table, written in batches of 1,000 as the usage writer does, with `unnest` over
 * column arrays (what the store does) and with COPY from a blob (PGlite only; not used yet).
 * Plain SQL on a bare table, not product code: it sizes layout choices, nothing else.
 *
 *   npx tsx bench/lib/usage-costs.ts            (KEYS=100000: records spread over that many keys)
 */

const COLUMNS = `request_id text not null, api_key_id text, user_id text, product_id text, route_id text, route_path text,
  path text not null, method text not null, status_code int not null, error_code text, bytes_in int not null,
  bytes_out int not null, latency_ms int not null, ip text, is_sandbox bool not null, created_at timestamptz not null`;
const LAYOUTS: Record<string, string> = {
  'bigserial key, B-trees (key, time) and (time): before 0007': `create table u (id bigserial primary key, ${COLUMNS});
    create index on u (api_key_id, created_at); create index on u (created_at);`,
  'no key, B-trees (key, time) and (time)': `create table u (${COLUMNS});
    create index on u (api_key_id, created_at); create index on u (created_at);`,
  'no key, B-tree (key, time), BRIN (time): 0007, the product': `create table u (${COLUMNS});
    create index on u (api_key_id, created_at); create index on u using brin (created_at);`,
  'no key, BRIN (time) only': `create table u (${COLUMNS}); create index on u using brin (created_at);`,
};
const NAMES = ['request_id', 'api_key_id', 'user_id', 'product_id', 'route_id', 'route_path', 'path', 'method', 'status_code', 'error_code', 'bytes_in', 'bytes_out', 'latency_ms', 'ip', 'is_sandbox', 'created_at'];
const TYPES = ['text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'int', 'text', 'int', 'int', 'int', 'text', 'bool', 'timestamptz'];
const KEYS = Number(process.env.KEYS ?? 1);
const BATCH = 1_000;
const BATCHES = 100;
const START = Date.UTC(2026, 10, 23);

function records(from: number): unknown[][] {
  return Array.from({ length: BATCH }, (_, k) => {
    const i = from + k;
    return [`req_${i.toString(36)}`, `key_${String(i % KEYS).padStart(26, '0')}`, 'usr_01jabcdefghjkmnpqrstvwxyz0', 'prd_01jabcdefghjkmnpqrstvwxyz0', 'rte_01jabcdefghjkmnpqrstvwxyz0',
      '/v1/tokens/{mint}/price', '/v1/tokens/So11111111111111111111111111111111111111112/price', 'GET', 200, null, 0, 412, 1, '127.0.0.1', false, new Date(START + i).toISOString()];
  });
}

async function write(db: PGlite, how: 'unnest' | 'copy', rows: unknown[][]): Promise<void> {
  if (how === 'unnest') {
    await db.query(`insert into u (${NAMES.join(', ')}) select * from unnest(${TYPES.map((type, i) => `$${i + 1}::${type}[]`).join(', ')})`, NAMES.map((_, c) => rows.map((r) => r[c])));
  } else {
    const text = rows.map((r) => r.map((v) => (v === null ? '\\N' : String(v))).join('\t')).join('\n') + '\n';
    await db.query(`copy u (${NAMES.join(', ')}) from '/dev/blob'`, [], { blob: new Blob([text]) });
  }
}

console.log(`CPU µs per call record, batches of ${BATCH}, ${BATCHES} batches after 10 of warm-up, records over ${KEYS} key(s)`);
for (const [name, ddl] of Object.entries(LAYOUTS)) {
  for (const how of ['unnest', 'copy'] as const) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-usage-costs-'));
    const db = new PGlite({ dataDir: dir });
    await db.exec(ddl);
    let next = 0;
    for (let i = 0; i < 10; i++, next += BATCH) await write(db, how, records(next));
    const before = process.cpuUsage();
    for (let i = 0; i < BATCHES; i++, next += BATCH) await write(db, how, records(next));
    const used = process.cpuUsage(before);
    console.log(`${((used.user + used.system) / (BATCH * BATCHES)).toFixed(1).padStart(6)}  ${how.padEnd(6)}  ${name}`);
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
