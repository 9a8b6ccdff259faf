import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestRedis, redisAvailable, startPrivateRedis, TEST_REDIS_URL, type PrivateRedis } from '@tollgate/runtime/testing';
import { openTestPostgres, postgresAvailable, type TestDatabase } from '@tollgate/store/testing';
import { createTestApp, type TestApp } from '../testing/harness.ts';

/*
 * Distributed mode against real servers: several gateway instances on one PostgreSQL and one
 * Redis, and a Redis of the test's own that is killed and brought back.
 */

// With REQUIRE_SERVICES=1 an unreachable server throws here, so CI fails instead of skipping.
const available = (await redisAvailable()) && (await postgresAvailable());
const PRICE = '/v1/tokens/V6FjH7P33dh7tVHHLHczC4hyG2NUA2YatLmXiDrKRgV7/price';

const call = (t: TestApp, key: string, ip = '203.0.113.10') => t.inject({ method: 'GET', url: PRICE, headers: { 'x-api-key': key, 'x-forwarded-for': ip } });

describe.skipIf(!available)('distributed mode: three instances on one PostgreSQL and one Redis', () => {
  let database: TestDatabase;
  let instances: TestApp[];
  let redisKeys: ReturnType<typeof openTestRedis>;

  beforeAll(async () => {
    database = await openTestPostgres();
    redisKeys = openTestRedis();
    const env = { REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: redisKeys.prefix, TRUST_PROXY: 'true' };
    instances = [];
    // One after the other: the first seeds the catalog, the others find it.
    for (let i = 0; i < 3; i++) instances.push(await createTestApp({ shared: database, env, seed: i === 0 }));
  });
  afterAll(async () => {
    await Promise.all(instances.map((t) => t.close()));
    await redisKeys.close();
    await database.close();
  });

  it("a key's burst admits exactly its capacity in total, whichever instance takes the call", async () => {
    const [a] = instances as [TestApp];
    const user = await a.signup();
    const { key } = await a.createKey(user.token, { planId: 'cm-free' }); // 10/min, burst 20
    const responses = await Promise.all(Array.from({ length: 45 }, (_, i) => call(instances[i % 3] as TestApp, key)));
    const statuses = responses.map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 200)).toHaveLength(20);
    expect(statuses.filter((s) => s === 429)).toHaveLength(25);
  });

  it('a key revoked through one instance is refused by all of them within a second', async () => {
    const [a, b, c] = instances as [TestApp, TestApp, TestApp];
    const user = await a.signup();
    const { key, id } = await a.createKey(user.token, { planId: 'cm-free' });
    for (const t of [a, b, c]) expect((await call(t, key)).statusCode).toBe(200); // warm in every cache
    const revoked = await b.inject({ method: 'POST', url: `/api/v1/api-marketplace/keys/${id}/revoke`, headers: { authorization: `Bearer ${user.token}` } });
    expect(revoked.statusCode).toBe(200);
    const deadline = Date.now() + 1_000;
    for (const t of [a, b, c]) {
      await expect.poll(async () => (await call(t, key)).statusCode, { timeout: Math.max(50, deadline - Date.now()), interval: 20 }).toBe(401);
    }
  });

  it('usage totals equal the calls made, across instances', async () => {
    const [a, b, c] = instances as [TestApp, TestApp, TestApp];
    const user = await a.signup();
    const { key, id } = await a.createKey(user.token, { planId: 'cm-free' });
    const made = 12;
    for (let i = 0; i < made; i++) expect((await call(instances[i % 3] as TestApp, key)).statusCode).toBe(200);
    await Promise.all([a, b, c].map((t) => t.flushUsage()));
    const usage = await c.inject({ method: 'GET', url: `/api/v1/api-marketplace/usage?apiKeyId=${id}`, headers: { authorization: `Bearer ${user.token}` } });
    expect(usage.statusCode).toBe(200);
    expect(usage.json().totalRequests).toBe(made);
    const listed = await b.inject({ method: 'GET', url: `/api/v1/api-marketplace/keys/${id}`, headers: { authorization: `Bearer ${user.token}` } });
    expect(listed.json().usageCount).toBe(made);
  });
});

describe.skipIf(!available)('distributed mode: Redis goes down and comes back', () => {
  let redis: PrivateRedis;
  const apps: TestApp[] = [];
  beforeAll(async () => {
    redis = await startPrivateRedis();
  });
  afterAll(async () => {
    await Promise.all(apps.map((t) => t.close()));
    await redis.kill();
  });

  async function appWith(mode: 'local' | 'open' | 'closed') {
    // Each test starts with its Redis up (the one before may have left it down).
    await redis.kill();
    await redis.start();
    const t = await createTestApp({ env: { REDIS_URL: redis.url, RATE_LIMIT_FAILURE_MODE: mode, REDIS_COMMAND_TIMEOUT_MS: '200', TRUST_PROXY: 'true' } });
    apps.push(t);
    const user = await t.signup();
    const { key } = await t.createKey(user.token, { planId: 'cm-free' }); // 10/min, burst 20
    return { t, key };
  }
  const ready = async (t: TestApp) => (await t.inject({ method: 'GET', url: '/ready' })).json() as { ready: boolean; limits: string };

  it('local (default): keeps answering with per-instance limits, says so on /ready, and is global again when Redis is back', async () => {
    const { t, key } = await appWith('local');
    for (let i = 0; i < 5; i++) expect((await call(t, key)).statusCode).toBe(200);
    expect(await ready(t)).toEqual({ ready: true, limits: 'global' });

    await redis.kill();
    const during = [];
    for (let i = 0; i < 21; i++) during.push((await call(t, key)).statusCode);
    // The instance's own bucket starts full: 20 pass, the 21st is limited, nothing fails.
    expect(during.slice(0, 20).every((s) => s === 200)).toBe(true);
    expect(during[20]).toBe(429);
    expect(await ready(t)).toEqual({ ready: true, limits: 'local' });
    const health = (await t.inject({ method: 'GET', url: '/health' })).json();
    expect(health.limiter).toMatchObject({ limits: 'local', lastError: expect.any(String) });
    expect((await t.inject({ method: 'GET', url: '/metrics' })).body).toContain('tollgate_rate_limits{limits="local"} 1');

    await redis.start(); // empty: a fresh bucket in Redis
    await expect.poll(async () => (await ready(t)).limits, { timeout: 5_000, interval: 100 }).toBe('global');
    expect((await call(t, key)).statusCode).toBe(200);
    const remaining = Number((await call(t, key)).headers['x-ratelimit-remaining']);
    expect(remaining).toBe(18); // counted in the new Redis: 20 − 2
  });

  it('closed: refuses with 503 in the error shape while Redis is down', async () => {
    const { t, key } = await appWith('closed');
    await redis.kill();
    const res = await call(t, key);
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ error: { code: 'service_unavailable' }, request_id: expect.stringMatching(/^req_/) });
    expect(res.headers['retry-after']).toBe('1');
    await redis.start();
    await expect.poll(async () => (await call(t, key)).statusCode, { timeout: 5_000, interval: 100 }).toBe(200);
  });

  it('open: lets calls through past the limits while Redis is down', async () => {
    const { t, key } = await appWith('open');
    await redis.kill();
    const statuses = [];
    for (let i = 0; i < 30; i++) statuses.push((await call(t, key)).statusCode);
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(await ready(t)).toEqual({ ready: true, limits: 'open' });
  });
});
