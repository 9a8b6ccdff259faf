import { monitorEventLoopDelay } from 'node:perf_hooks';
import { openTestPglite } from '../../packages/store/src/testing.ts';
import { PendingRollups, UsageRepository } from '../../packages/store/src/usage.ts';
import { CallBatch, minuteStartMs, type UsageRecord } from '../../packages/core/src/index.ts';

/*
 * Diagnostic: CPU µs per call record of the product's own usage write (UsageRepository.writeBatch)
 * on a migrated PGlite, in batches of BATCH records (10,000, the usage writer's), spread over
 * KEYS keys (rows of api_keys, as the gateway's are) at 1,000 calls a second. ALTER: SQL run
 * before the keys are made, to try a change of the tables. The batches are built before they are
 * timed, as the usage writer builds them while the calls come; WARM s of writes first let V8
 * finish compiling PGlite's wasm (its background compilation counts in the process's CPU).
 * DEFER=1 writes as the usage writer does: the minute rollups and counters held back, folded
 * with the other batches' (timed), not written (once a minute, not timed). Prints the
 * event loop's delay during the writes too: what a call arriving then waits.
 * HELD=<rows> (with DEFER=1) writes the rows held too, timed, as the usage writer does: when a
 * batch of a later minute comes, once they are a minute old (in the calls' time), or at HELD rows
 * (the writer's cap, `maxHeldRows`), so that the cap's cost in row writes can be weighed. RATE: the calls' rate in their own time
 * (default 1,000 a second); with many keys it sets how often a key comes back within a minute.
 *
 *   npx tsx bench/lib/usage-write-costs.ts      (KEYS=1, BATCH=10000, BATCHES=60, WARM=5)
 *   KEYS=100000 BATCH=1000 BATCHES=600 RATE=14000 DEFER=1 HELD=200000 npx tsx bench/lib/usage-write-costs.ts
 */
const KEYS = Number(process.env.KEYS ?? 1);
const BATCH = Number(process.env.BATCH ?? 10_000);
const BATCHES = Number(process.env.BATCHES ?? 600_000 / BATCH);
const DEFER = process.env.DEFER === '1';
const HELD = process.env.HELD ? Number(process.env.HELD) : null;
const RATE = Number(process.env.RATE ?? 1_000);
const held = new PendingRollups();
let heldWrites = 0;
let heldRowsWritten = 0;
let heldMinute = -Infinity;
const write = async (calls: CallBatch) => {
  if (!DEFER) return usage.writeBatch(calls);
  // The calls' own time, as the writer's clock would read it when the batch is written.
  const now = calls.createdAtMs[calls.length - 1] as number;
  const minute = minuteStartMs(calls.createdAtMs[0] as number);
  // As the writer: the rows held are written when calls of a later minute come, at the cap, or a minute old.
  if (HELD !== null && held.blocks > 0 && minute > heldMinute) {
    heldWrites++;
    heldRowsWritten += held.size;
    await usage.writeRollups(await held.take());
  }
  heldMinute = Math.max(heldMinute, minuteStartMs(now));
  held.add(await usage.writeBatch(calls, undefined, { deferRollups: true }), now);
  if (HELD === null) {
    // Not timed: 60 batches of 10,000 at most here, as the writer writes them at least once a minute.
    if (held.blocks >= 600) await held.take();
  } else if (held.size >= HELD || now - held.since >= 60_000) {
    heldWrites++;
    heldRowsWritten += held.size;
    await usage.writeRollups(await held.take());
  }
};
const start = Date.UTC(2026, 11, 3, 8);

function batch(from: number): UsageRecord[] {
  return Array.from({ length: BATCH }, (_, k) => {
    const i = from + k;
    return {
      requestId: `req_0123456789abcdef${i.toString(36)}`, apiKeyId: `key_${String(i % KEYS).padStart(26, '0')}`,
      userId: 'usr_bench', productId: 'prd_bench', routeId: 'rte_01jabcdefghjkmnpqrstvwxyz0',
      routePath: '/v1/tokens/{mint}/price', path: '/v1/tokens/So11111111111111111111111111111111111111112/price', method: 'GET',
      statusCode: 200, errorCode: null, bytesIn: 0, bytesOut: 412, latencyMs: 1, ip: '127.0.0.1', isSandbox: false,
      createdAt: new Date(start + Math.floor((i * 1000) / RATE)), counted: true, overage: false,
    };
  });
}

const db = await openTestPglite();
const usage = new UsageRepository(db.db);
await db.executeSql(`
  ${process.env.ALTER ?? ''}
  insert into users (id, email, password_hash, role) values ('usr_bench', 'bench@example.test', 'x', 'customer');
  insert into products (id, slug, name, category, currency) values ('prd_bench', 'bench', 'Bench', 'bench', 'USD');
  insert into plans (id, product_id, code, name, currency, rate_limit_per_minute, burst) values ('pln_bench', 'prd_bench', 'bench', 'Bench', 'USD', 1000, 1000);
  insert into api_keys (id, user_id, plan_id, key_hash, display_prefix, last_four)
    select 'key_' || lpad(i::text, 26, '0'), 'usr_bench', 'pln_bench', md5(i::text), 'tg_live_', '0000' from generate_series(0, ${KEYS - 1}) as i;`);
let next = 0;
const warmUntil = Date.now() + Number(process.env.WARM ?? 5) * 1000;
do {
  await write(CallBatch.of(batch(next)));
  next += BATCH;
} while (Date.now() < warmUntil);

const batches = Array.from({ length: BATCHES }, (_, i) => CallBatch.of(batch(next + i * BATCH)));
// How long a call arriving during the writes would wait for the event loop: sampled by a 1 ms
// timer (a loop of turns would spin, and take the CPU the database's thread needs).
const delays = monitorEventLoopDelay({ resolution: 1 });
heldWrites = 0;
heldRowsWritten = 0;
const before = process.cpuUsage();
const t0 = performance.now();
delays.enable();
for (const calls of batches) await write(calls);
if (HELD !== null && held.blocks > 0) {
  // What is still held is written too: every row is, sooner or later.
  heldWrites++;
  heldRowsWritten += held.size;
  await usage.writeRollups(await held.take());
}
delays.disable();
const used = process.cpuUsage(before);
const longest = delays.max / 1e6;
const p99 = delays.percentile(99) / 1e6;
console.log(
  `${KEYS} keys: ${((used.user + used.system) / (BATCH * BATCHES)).toFixed(1)} CPU µs/record, ${(((performance.now() - t0) * 1000) / (BATCH * BATCHES)).toFixed(1)} wall µs/record, ` +
    `event-loop delay max ${longest.toFixed(1)} ms, p99 ${p99.toFixed(1)}` +
    (HELD === null ? '' : `; held rows written ${heldWrites} times, ${(heldRowsWritten / (BATCH * BATCHES)).toFixed(2)} rows a record`),
);
await db.close();
