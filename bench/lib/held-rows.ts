import { PendingRollups } from '../../packages/store/src/usage.ts';

/*
 * Diagnostic: what the usage rows held by the writer cost (`PendingRollups`, which the usage
 * writer fills for up to a minute and up to its `maxHeldRows`): KEYS keys (default 100,000), each
 * with a rollup in each of two minutes and its month's counter, as a minute's hold spanning a
 * minute's end leaves them, the keys in no order (as calls bring them). Prints the memory a row
 * takes (heap used after a full collection, before and after) and the time `take` takes to give
 * them in lock order, a pause in serving before they are written.
 *
 *   node --expose-gc --import tsx bench/lib/held-rows.ts
 */
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (see the comment at the top of this file)');
const keyCount = Number(process.env.KEYS ?? 100_000);
// Spread over the key space in no order, as ULIDs of keys made at different times are.
const keyIds = Array.from({ length: keyCount }, (_, i) => `key_${String((i * 7_919) % keyCount).padStart(26, '0')}`);
const minute = Date.UTC(2026, 11, 7, 5, 0);
gc();
const before = process.memoryUsage().heapUsed;
const held = new PendingRollups();
for (let m = 0; m < 2; m++) {
  const at = minute + m * 60_000;
  const rollups = keyIds.map((keyId) => ({ keyId, minute: at, endpoint: '/v1/tokens/{mint}/price', status: 200, userId: 'usr_bench', productId: 'prd_bench', count: 1, bytes: 412, latency: 1 }));
  const counters = keyIds.map((keyId) => ({ keyId, period: 'month:2026-12', count: 1, overage: 0, dayStartMs: minute - (minute % 86_400_000), dayCount: 1, calls: 1, lastAt: at + 5 }));
  held.add({ blockIds: [m + 1], rollups, counters }, Date.now());
}
gc();
const after = process.memoryUsage().heapUsed;
const rows = held.size;
const started = performance.now();
await held.take();
console.log(`${rows} rows held for ${keyCount} keys: ${((after - before) / rows).toFixed(0)} bytes a row, ${((after - before) / 2 ** 20).toFixed(1)} MiB; take ${(performance.now() - started).toFixed(0)} ms`);
