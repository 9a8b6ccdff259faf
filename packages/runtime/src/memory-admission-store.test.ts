import { describe, expect, it } from 'vitest';
import { admissionStoreContract } from './admission-store.contract.ts';
import { MemoryAdmissionStore } from './memory-admission-store.ts';

admissionStoreContract('MemoryAdmissionStore', async () => ({ store: new MemoryAdmissionStore(), close: async () => undefined }));

describe('MemoryAdmissionStore: memory', () => {
  const rate = { algorithm: 'token-bucket', ratePerMinute: 10, burst: 20 } as const;
  const quota = { dailyCap: 1_000, monthlyQuota: null, billsOverage: false };

  it('forgets keys idle for an hour, keeps the ones in use, and a forgotten key continues from its seeded counts', () => {
    const store = new MemoryAdmissionStore();
    const t0 = Date.UTC(2026, 10, 23, 8);
    store.admit('key_idle', rate, quota, t0);
    store.admit('key_idle', rate, quota, t0);
    store.admit('key_busy', rate, quota, t0);
    for (let minute = 1; minute <= 61; minute++) store.admit('key_busy', rate, quota, t0 + minute * 60_000);
    expect(store.size).toBe(1); // key_idle went when the hour passed
    // Its next call loads it from the store again, which seeds what was persisted.
    store.seedCounts('key_idle', { day: '2026-11-23', dayUsed: 2, month: '2026-11', monthUsed: 2 });
    expect(store.admit('key_idle', rate, quota, t0 + 62 * 60_000)).toMatchObject({ outcome: 'admitted', dayUsed: 3 });
    expect(store.admit('key_busy', rate, quota, t0 + 62 * 60_000)).toMatchObject({ outcome: 'admitted', dayUsed: 63 });
  });

  it('forgets an idle key beside one called many times a second', () => {
    const store = new MemoryAdmissionStore();
    const t0 = Date.UTC(2026, 10, 23, 8);
    const busyRate = { algorithm: 'token-bucket', ratePerMinute: 1_000_000, burst: 1_000_000 } as const;
    const noQuota = { dailyCap: null, monthlyQuota: null, billsOverage: false };
    store.admit('key_busy', busyRate, noQuota, t0);
    store.admit('key_idle', rate, quota, t0 + 50);
    for (let ms = 100; ms <= 61 * 60_000; ms += 100) store.admit('key_busy', busyRate, noQuota, t0 + ms);
    expect(store.size).toBe(1);
  });

  it('stays bounded by the keys active within the hour and the minute between sweeps', () => {
    const store = new MemoryAdmissionStore();
    const t0 = Date.UTC(2026, 10, 23, 8);
    for (let i = 0; i < 5_000; i++) {
      store.admit(`key_${i}`, rate, quota, t0 + i * 1_000); // one new key a second
      expect(store.size).toBeLessThanOrEqual(3_600 + 60);
    }
    expect(store.size).toBeGreaterThanOrEqual(3_600);
  });

  it('a key seeded but never admitted is forgotten an hour after the first sweep that sees it', () => {
    const store = new MemoryAdmissionStore();
    const t0 = Date.UTC(2026, 10, 23, 8);
    store.seedCounts('key_refused', { day: '2026-11-23', dayUsed: 5, month: '2026-11', monthUsed: 5 });
    store.admit('key_a', rate, quota, t0);
    store.admit('key_a', rate, quota, t0 + 30 * 60_000);
    expect(store.size).toBe(2);
    store.admit('key_a', rate, quota, t0 + 95 * 60_000);
    expect(store.size).toBe(1);
  });
});
