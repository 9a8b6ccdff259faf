import { describe, expect, it } from 'vitest';
import type { AdmissionResult, AdmissionStore, QuotaPolicy, RatePolicy } from '@tollgate/core';
import { admissionStoreContract } from './admission-store.contract.ts';
import { MemoryAdmissionStore } from './memory-admission-store.ts';
import { RedisAdmissionStore } from './redis-admission-store.ts';
import { ManualClock } from './system-clock.ts';
import { openTestRedis, redisAvailable } from './testing.ts';

// With REQUIRE_SERVICES=1 an unreachable server throws here, so CI fails instead of skipping.
const available = await redisAvailable();

function openRedisStore() {
  const test = openTestRedis();
  return { store: new RedisAdmissionStore(test.redis, { keyPrefix: test.prefix }), close: test.close, redis: test.redis, prefix: test.prefix };
}

describe.skipIf(!available)('RedisAdmissionStore', () => {
  admissionStoreContract('RedisAdmissionStore', async () => openRedisStore());

  it('makes the same decisions as the in-process store for one long sequence of calls', async () => {
    // A deterministic pseudo-random walk over keys, plans, clock steps and period boundaries.
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const plans: { rate: RatePolicy; quota: QuotaPolicy }[] = [
      { rate: { algorithm: 'token-bucket', ratePerMinute: 10, burst: 20 }, quota: { dailyCap: 1_000, monthlyQuota: null, billsOverage: false } },
      { rate: { algorithm: 'token-bucket', ratePerMinute: 600, burst: 5 }, quota: { dailyCap: 40, monthlyQuota: 90, billsOverage: false } },
      { rate: { algorithm: 'sliding-window', ratePerMinute: 7, burst: 7 }, quota: { dailyCap: null, monthlyQuota: 60, billsOverage: true } },
      { rate: { algorithm: 'token-bucket', ratePerMinute: 1, burst: 1 }, quota: { dailyCap: null, monthlyQuota: null, billsOverage: false } },
    ];
    const memory = new MemoryAdmissionStore();
    const redis = openRedisStore();
    const clock = new ManualClock(Date.UTC(2026, 0, 31, 23, 50, 0)); // crosses a day and a month
    const decide = async (store: AdmissionStore, key: string, plan: (typeof plans)[number]) => store.admit(key, plan.rate, plan.quota, clock.now());
    const fromMemory: AdmissionResult[] = [];
    const fromRedis: AdmissionResult[] = [];
    try {
      for (let i = 0; i < 3_000; i++) {
        const k = Math.floor(random() * plans.length);
        const plan = plans[k] as (typeof plans)[number];
        const key = `key_eq${k}`;
        fromMemory.push(await decide(memory, key, plan));
        fromRedis.push(await decide(redis.store, key, plan));
        const step = random();
        clock.advance(step < 0.6 ? 0 : step < 0.9 ? Math.floor(random() * 2_000) : Math.floor(random() * 120_000));
      }
    } finally {
      await redis.close();
    }
    const outcomes = new Set(fromMemory.map((r) => r.outcome));
    expect([...outcomes].sort()).toEqual(['admitted', 'quota_exceeded', 'rate_limited']);
    expect(fromRedis).toEqual(fromMemory);
  });

  it('one key hammered from many connections at once admits exactly its burst', async () => {
    const test = openTestRedis();
    const clients = Array.from({ length: 4 }, () => test.redis.duplicate());
    const connections = clients.map((client) => new RedisAdmissionStore(client, { keyPrefix: test.prefix }));
    const rate: RatePolicy = { algorithm: 'token-bucket', ratePerMinute: 60, burst: 50 };
    const quota: QuotaPolicy = { dailyCap: null, monthlyQuota: null, billsOverage: false };
    const now = Date.UTC(2026, 10, 23, 12);
    try {
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => (connections[i % 4] as RedisAdmissionStore).admit('key_burst', rate, quota, now)));
      expect(results.filter((r) => r.outcome === 'admitted')).toHaveLength(50);
      const admitted = results.filter((r) => r.outcome === 'admitted').map((r) => (r as { dayUsed: number }).dayUsed).sort((a, b) => a - b);
      expect(admitted).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    } finally {
      await Promise.all(clients.map((client) => client.quit()));
      await test.close();
    }
  });

  it('a turn of the event loop sends one script for each key, all in one write, and each call gets its own decision', async () => {
    const opened = openRedisStore();
    const memory = new MemoryAdmissionStore();
    const rate: RatePolicy = { algorithm: 'token-bucket', ratePerMinute: 60, burst: 25 };
    const window: RatePolicy = { algorithm: 'sliding-window', ratePerMinute: 12, burst: 12 };
    const quota: QuotaPolicy = { dailyCap: 20, monthlyQuota: null, billsOverage: false };
    const now = Date.UTC(2026, 10, 23, 12);
    try {
      await opened.redis.ping(); // connected, so commands go to the socket rather than a queue
      const stream = opened.redis.stream;
      const writes: number[] = [];
      // What reaches the socket: one writev of several commands, or one write per command.
      const writev = stream._writev?.bind(stream);
      const write = stream._write.bind(stream);
      stream._writev = (chunks, callback) => {
        writes.push(chunks.length);
        writev?.(chunks, callback);
      };
      stream._write = (chunk, encoding, callback) => {
        writes.push(1);
        write(chunk, encoding, callback);
      };
      // Three keys, 30 calls each, interleaved, one millisecond apart: past the daily cap of 20
      // on the bucket key, past the window's 12 on the other two.
      const plan = (i: number) => (i % 3 === 0 ? rate : window);
      const calls = Array.from({ length: 90 }, (_, i) => opened.store.admit(`key_turn${i % 3}`, plan(i), quota, now + i));
      const results = await Promise.all(calls);
      expect(writes).toEqual([3]);
      const expected = Array.from({ length: 90 }, (_, i) => memory.admit(`key_turn${i % 3}`, plan(i), quota, now + i));
      expect(results).toEqual(expected);
      expect(new Set(results.map((r) => r.outcome))).toEqual(new Set(['admitted', 'quota_exceeded', 'rate_limited']));
    } finally {
      await opened.close();
    }
  });

  it('keys are hash-tagged by API key id, so a script touches one Cluster slot', async () => {
    const opened = openRedisStore();
    try {
      await opened.store.admit('key_tagged', { algorithm: 'sliding-window', ratePerMinute: 5, burst: 5 }, { dailyCap: 10, monthlyQuota: 10, billsOverage: false }, Date.UTC(2026, 10, 23));
      const keys = await opened.redis.keys(`${opened.prefix}*`);
      expect(keys.length).toBeGreaterThanOrEqual(3);
      for (const key of keys) expect(key).toContain('{key_tagged}');
    } finally {
      await opened.close();
    }
  });
});
