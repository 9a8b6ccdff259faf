import { MemoryAdmissionStore } from '../../packages/runtime/src/memory-admission-store.ts';
import type { QuotaPolicy, RatePolicy } from '../../packages/core/src/index.ts';

/*
 * Diagnostic: CPU µs a call of the embedded admission store's decision (rate limit and quota),
 * for 1 to 100,000 keys called in turn at 15,000 calls a second of its clock, limits never
 * reached. The gateway calls it once per call; its cost should not grow with the keys.
 *
 *   npx tsx bench/lib/admission-costs.ts      (KEYS=1,1000,20000,100000 CALLS=2000000)
 */
const keyCounts = (process.env.KEYS ?? '1,1000,20000,100000').split(',').map(Number);
const calls = Number(process.env.CALLS ?? 2_000_000);
const rate: RatePolicy = { algorithm: 'token-bucket', ratePerMinute: 1_000_000, burst: 1_000_000 };
const quota: QuotaPolicy = { dailyCap: null, monthlyQuota: null, billsOverage: false };

for (const keys of keyCounts) {
  const store = new MemoryAdmissionStore();
  const ids = Array.from({ length: keys }, (_, i) => `key_${String(i).padStart(26, '0')}`);
  let now = Date.UTC(2026, 11, 4, 10);
  const call = (i: number) => store.admit(ids[i % keys] as string, rate, quota, (now += 1 / 15));
  for (let i = 0; i < 200_000; i++) call(i); // every key known, the code optimized
  const before = process.cpuUsage();
  for (let i = 0; i < calls; i++) call(i);
  const used = process.cpuUsage(before);
  console.log(`${keys} keys: ${((used.user + used.system) / calls).toFixed(3)} CPU µs a call`);
}
