import { afterAll, describe, expect, it } from 'vitest';
import type { AdmissionResult, AdmissionStore, QuotaPolicy, RatePolicy } from '@tollgate/core';
import { ManualClock } from './system-clock.ts';

/*
 * One suite for every AdmissionStore adapter (in process and Redis): the same calls at the same
 * clock must get the same decisions. Each test opens a fresh store (Redis: its own key prefix).
 */

export interface OpenedStore {
  store: AdmissionStore;
  close(): Promise<void>;
}

const ms = (iso: string) => new Date(iso).getTime();

const tenPerMinute: RatePolicy = { algorithm: 'token-bucket', ratePerMinute: 10, burst: 20 };
const unlimited: QuotaPolicy = { dailyCap: null, monthlyQuota: null, billsOverage: false };

async function admitMany(store: AdmissionStore, key: string, rate: RatePolicy, quota: QuotaPolicy, clock: ManualClock, n: number): Promise<AdmissionResult[]> {
  const results: AdmissionResult[] = [];
  for (let i = 0; i < n; i++) results.push(await store.admit(key, rate, quota, clock.now()));
  return results;
}

const outcomes = (results: AdmissionResult[]) => results.map((r) => r.outcome);

export function admissionStoreContract(name: string, open: () => Promise<OpenedStore>): void {
  const opened: OpenedStore[] = [];
  const fresh = async () => {
    const next = await open();
    opened.push(next);
    return next.store;
  };
  afterAll(async () => {
    await Promise.all(opened.map((o) => o.close()));
  });

  describe(`${name}: rate limit`, () => {
    it('10/min burst 20: 20 calls at once are admitted, the 21st is rate limited for 6 s', async () => {
      const clock = new ManualClock(ms('2025-06-15T12:00:00Z'));
      const store = await fresh();
      const results = await admitMany(store, 'key_a', tenPerMinute, unlimited, clock, 21);
      expect(outcomes(results.slice(0, 20)).every((o) => o === 'admitted')).toBe(true);
      const refused = results[20];
      expect(refused).toMatchObject({ outcome: 'rate_limited', rate: { retryAfterMs: 6000 } });

      clock.advance(5999);
      expect((await store.admit('key_a', tenPerMinute, unlimited, clock.now())).outcome).toBe('rate_limited');
      clock.advance(1);
      expect((await store.admit('key_a', tenPerMinute, unlimited, clock.now())).outcome).toBe('admitted');
    });

    it('a rate-limited call is not counted against the daily cap or monthly quota', async () => {
      const clock = new ManualClock(ms('2025-06-15T12:00:00Z'));
      const store = await fresh();
      const rate: RatePolicy = { algorithm: 'token-bucket', ratePerMinute: 10, burst: 2 };
      const quota: QuotaPolicy = { dailyCap: 5, monthlyQuota: 100, billsOverage: false };
      await admitMany(store, 'key_a', rate, quota, clock, 2);
      expect(outcomes(await admitMany(store, 'key_a', rate, quota, clock, 10)).every((o) => o === 'rate_limited')).toBe(true);
      clock.advance(6000);
      const next = (await store.admit('key_a', rate, quota, clock.now()));
      expect(next).toMatchObject({ outcome: 'admitted', dayUsed: 3, monthUsed: 3 });
    });

    it('sliding window through the store: exactly 5 in a minute however large the burst', async () => {
      const clock = new ManualClock(ms('2025-06-15T12:00:00Z'));
      const store = await fresh();
      const rate: RatePolicy = { algorithm: 'sliding-window', ratePerMinute: 5, burst: 50 };
      const results = await admitMany(store, 'key_a', rate, unlimited, clock, 6);
      expect(outcomes(results)).toEqual(['admitted', 'admitted', 'admitted', 'admitted', 'admitted', 'rate_limited']);
      expect(results[5]).toMatchObject({ rate: { retryAfterMs: 60_000 } });

      clock.advance(30_000);
      expect((await store.admit('key_a', rate, unlimited, clock.now())).outcome).toBe('rate_limited');
      clock.advance(30_000);
      expect((await store.admit('key_a', rate, unlimited, clock.now())).outcome).toBe('admitted');
      expect((await store.admit('key_a', rate, unlimited, clock.now())).outcome).toBe('admitted');
    });

    it('keys are independent: one exhausted key does not limit another', async () => {
      const clock = new ManualClock(ms('2025-06-15T12:00:00Z'));
      const store = await fresh();
      const quota: QuotaPolicy = { dailyCap: 25, monthlyQuota: null, billsOverage: false };
      await admitMany(store, 'key_a', tenPerMinute, quota, clock, 30);
      expect((await store.admit('key_a', tenPerMinute, quota, clock.now())).outcome).toBe('rate_limited');
      const b = await admitMany(store, 'key_b', tenPerMinute, quota, clock, 20);
      expect(b.every((r) => r.outcome === 'admitted')).toBe(true);
      expect(b[19]).toMatchObject({ dayUsed: 20, monthUsed: 20 });
    });
  });

  describe(`${name}: a call refused for quota consumes nothing`, () => {
    it('token bucket: quota refusals just before midnight leave the rate tokens for the new day', async () => {
      const clock = new ManualClock(ms('2025-06-15T23:59:59Z'));
      const store = await fresh();
      const rate: RatePolicy = { algorithm: 'token-bucket', ratePerMinute: 10, burst: 3 };
      const quota: QuotaPolicy = { dailyCap: 2, monthlyQuota: null, billsOverage: false };
      expect(outcomes(await admitMany(store, 'key_a', rate, quota, clock, 2))).toEqual(['admitted', 'admitted']);
      const refusals = await admitMany(store, 'key_a', rate, quota, clock, 5);
      expect(outcomes(refusals).every((o) => o === 'quota_exceeded')).toBe(true);

      clock.advance(1000); // 00:00:00 UTC: the daily cap resets; 1 s refills only 1/6 of a token
      const first = (await store.admit('key_a', rate, quota, clock.now()));
      expect(first).toMatchObject({ outcome: 'admitted', dayUsed: 1 });
    });

    it('sliding window: quota refusals just before midnight leave the window slots for the new day', async () => {
      const clock = new ManualClock(ms('2025-06-15T23:59:59Z'));
      const store = await fresh();
      const rate: RatePolicy = { algorithm: 'sliding-window', ratePerMinute: 3, burst: 3 };
      const quota: QuotaPolicy = { dailyCap: 2, monthlyQuota: null, billsOverage: false };
      await admitMany(store, 'key_a', rate, quota, clock, 2);
      expect(outcomes(await admitMany(store, 'key_a', rate, quota, clock, 5)).every((o) => o === 'quota_exceeded')).toBe(true);

      clock.advance(1000);
      expect((await store.admit('key_a', rate, quota, clock.now()))).toMatchObject({ outcome: 'admitted', dayUsed: 1 });
      // And the window still holds exactly 3: the two from yesterday plus this one.
      expect((await store.admit('key_a', rate, quota, clock.now())).outcome).toBe('rate_limited');
    });

    it('a plan that bills overage keeps admitting past the monthly quota, marked overage', async () => {
      const clock = new ManualClock(ms('2025-06-15T12:00:00Z'));
      const store = await fresh();
      const quota: QuotaPolicy = { dailyCap: null, monthlyQuota: 3, billsOverage: true };
      const results = await admitMany(store, 'key_a', tenPerMinute, quota, clock, 5);
      expect(results.map((r) => (r.outcome === 'admitted' ? r.overage : r.outcome))).toEqual([false, false, false, true, true]);
      expect(results[4]).toMatchObject({ monthUsed: 5 });
    });

    it('the same quota without overage billing refuses the 4th call until the 1st of next month', async () => {
      const clock = new ManualClock(ms('2025-06-15T12:00:00Z'));
      const store = await fresh();
      const quota: QuotaPolicy = { dailyCap: null, monthlyQuota: 3, billsOverage: false };
      const fourth = (await admitMany(store, 'key_a', tenPerMinute, quota, clock, 4))[3];
      expect(fourth).toMatchObject({ outcome: 'quota_exceeded', quota: { limit: 'monthly', cap: 3, resetAtMs: ms('2025-07-01T00:00:00Z') } });
    });
  });

  describe(`${name}: periods`, () => {
    const rate: RatePolicy = { algorithm: 'token-bucket', ratePerMinute: 600, burst: 1000 };

    it('the daily cap resets at UTC midnight, while the month keeps counting', async () => {
      const clock = new ManualClock(ms('2025-06-15T23:00:00Z'));
      const store = await fresh();
      const quota: QuotaPolicy = { dailyCap: 3, monthlyQuota: 1000, billsOverage: false };
      await admitMany(store, 'key_a', rate, quota, clock, 3);
      expect((await store.admit('key_a', rate, quota, clock.now()))).toMatchObject({
        outcome: 'quota_exceeded',
        quota: { limit: 'daily', cap: 3, resetAtMs: ms('2025-06-16T00:00:00Z') },
      });
      clock.set(ms('2025-06-15T23:59:59.999Z'));
      expect((await store.admit('key_a', rate, quota, clock.now())).outcome).toBe('quota_exceeded');
      clock.set(ms('2025-06-16T00:00:00Z'));
      expect((await store.admit('key_a', rate, quota, clock.now()))).toMatchObject({ outcome: 'admitted', dayUsed: 1, monthUsed: 4 });
    });

    it('the monthly quota resets on the 1st at 00:00 UTC', async () => {
      const clock = new ManualClock(ms('2025-06-30T22:00:00Z'));
      const store = await fresh();
      const quota: QuotaPolicy = { dailyCap: null, monthlyQuota: 3, billsOverage: false };
      await admitMany(store, 'key_a', rate, quota, clock, 3);
      clock.set(ms('2025-06-30T23:59:59.999Z'));
      expect((await store.admit('key_a', rate, quota, clock.now())).outcome).toBe('quota_exceeded');
      clock.set(ms('2025-07-01T00:00:00Z'));
      expect((await store.admit('key_a', rate, quota, clock.now()))).toMatchObject({ outcome: 'admitted', monthUsed: 1, dayUsed: 1 });
    });

    it('New Year resets both the day and the month', async () => {
      const clock = new ManualClock(ms('2025-12-31T23:59:00Z'));
      const store = await fresh();
      const quota: QuotaPolicy = { dailyCap: 2, monthlyQuota: 2, billsOverage: false };
      await admitMany(store, 'key_a', rate, quota, clock, 2);
      expect((await store.admit('key_a', rate, quota, clock.now())).outcome).toBe('quota_exceeded');
      clock.advance(60_000);
      expect((await store.admit('key_a', rate, quota, clock.now()))).toMatchObject({ outcome: 'admitted', dayUsed: 1, monthUsed: 1 });
    });
  });

  describe(`${name}: seedCounts`, () => {
    const rate: RatePolicy = { algorithm: 'token-bucket', ratePerMinute: 600, burst: 1000 };
    const quota: QuotaPolicy = { dailyCap: 100, monthlyQuota: 1000, billsOverage: false };

    it('a restarted store continues from the persisted counts: 99 used of 100 leaves one call', async () => {
      const clock = new ManualClock(ms('2025-06-15T12:00:00Z'));
      const store = await fresh();
      await store.seedCounts('key_a', { day: '2025-06-15', dayUsed: 99, month: '2025-06', monthUsed: 500 });
      expect((await store.admit('key_a', rate, quota, clock.now()))).toMatchObject({ outcome: 'admitted', dayUsed: 100, monthUsed: 501 });
      expect((await store.admit('key_a', rate, quota, clock.now()))).toMatchObject({ outcome: 'quota_exceeded', quota: { limit: 'daily' } });
    });

    it('a persisted monthly count at the quota refuses at once after a restart', async () => {
      const clock = new ManualClock(ms('2025-06-15T12:00:00Z'));
      const store = await fresh();
      await store.seedCounts('key_a', { day: '2025-06-15', dayUsed: 0, month: '2025-06', monthUsed: 1000 });
      expect((await store.admit('key_a', rate, quota, clock.now()))).toMatchObject({ outcome: 'quota_exceeded', quota: { limit: 'monthly' } });
    });

    it("counts persisted yesterday do not count against today's cap, but the month carries on", async () => {
      const clock = new ManualClock(ms('2025-06-15T00:00:05Z'));
      const store = await fresh();
      await store.seedCounts('key_a', { day: '2025-06-14', dayUsed: 100, month: '2025-06', monthUsed: 700 });
      expect((await store.admit('key_a', rate, quota, clock.now()))).toMatchObject({ outcome: 'admitted', dayUsed: 1, monthUsed: 701 });
    });

    it('counts persisted last month do not count against this month', async () => {
      const clock = new ManualClock(ms('2025-07-01T00:00:05Z'));
      const store = await fresh();
      await store.seedCounts('key_a', { day: '2025-06-30', dayUsed: 100, month: '2025-06', monthUsed: 1000 });
      expect((await store.admit('key_a', rate, quota, clock.now()))).toMatchObject({ outcome: 'admitted', dayUsed: 1, monthUsed: 1 });
    });

    it('seeding does not overwrite the counts the store already keeps', async () => {
      const clock = new ManualClock(ms('2025-06-15T12:00:00Z'));
      const store = await fresh();
      await await admitMany(store, 'key_a', rate, quota, clock, 3);
      // A second instance loading the key seeds what the database had a moment ago.
      await store.seedCounts('key_a', { day: '2025-06-15', dayUsed: 1, month: '2025-06', monthUsed: 1 });
      expect((await store.admit('key_a', rate, quota, clock.now()))).toMatchObject({ outcome: 'admitted', dayUsed: 4, monthUsed: 4 });
    });

    it('a seed for a newer day replaces an older day kept, a seed for an older day does not', async () => {
      const clock = new ManualClock(ms('2025-06-15T23:59:00Z'));
      const store = await fresh();
      await await admitMany(store, 'key_a', rate, quota, clock, 2);
      clock.set(ms('2025-06-16T00:01:00Z'));
      await store.seedCounts('key_a', { day: '2025-06-16', dayUsed: 40, month: '2025-06', monthUsed: 1 });
      await store.seedCounts('key_a', { day: '2025-06-15', dayUsed: 99, month: '2025-06', monthUsed: 1 });
      expect((await store.admit('key_a', rate, quota, clock.now()))).toMatchObject({ outcome: 'admitted', dayUsed: 41, monthUsed: 3 });
    });

    it('seeding one key leaves other keys at zero', async () => {
      const clock = new ManualClock(ms('2025-06-15T12:00:00Z'));
      const store = await fresh();
      await store.seedCounts('key_a', { day: '2025-06-15', dayUsed: 100, month: '2025-06', monthUsed: 900 });
      expect((await store.admit('key_b', rate, quota, clock.now()))).toMatchObject({ outcome: 'admitted', dayUsed: 1, monthUsed: 1 });
    });
  });
}
