import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../testing/harness.ts';

const PRICE = '/v1/tokens/V6FjH7P33dh7tVHHLHczC4hyG2NUA2YatLmXiDrKRgV7/price';

describe("gateway when the embedded database's thread stops", () => {
  let t: TestApp;
  let warm: { key: string; id: string };
  let cold: { key: string; id: string };
  let userId: string;

  beforeAll(async () => {
    t = await createTestApp();
    const user = await t.signup();
    userId = user.userId;
    warm = await t.createKey(user.token, { planId: 'cm-free' });
    cold = await t.createKey(user.token, { planId: 'cm-free' });
    expect((await t.inject({ method: 'GET', url: PRICE, headers: { 'x-api-key': warm.key } })).statusCode).toBe(200);
    await t.flushUsage();
  });
  afterAll(() => t.close());

  it('keeps serving warm keys, opens the database again by itself, and loses no usage', async () => {
    const stopThread = t.database.stopThread;
    if (!stopThread) throw new Error('the test app runs on PGlite, whose thread can be stopped');
    await stopThread();
    // Served from the cache; its usage waits in the buffer.
    expect((await t.inject({ method: 'GET', url: PRICE, headers: { 'x-api-key': warm.key } })).statusCode).toBe(200);

    let ready = 0;
    for (let waited = 0; ready !== 200 && waited < 30_000; waited += 100) {
      ready = (await t.inject({ method: 'GET', url: '/ready' })).statusCode;
      if (ready !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(ready).toBe(200);

    // Keys are looked up again, and every call so far is stored.
    expect((await t.inject({ method: 'GET', url: PRICE, headers: { 'x-api-key': cold.key } })).statusCode).toBe(200);
    await t.flushUsage();
    expect(t.tollgate.usage.pending).toBe(0);
    const stats = await t.deps.repos.usage.stats({ userId, start: new Date(Date.now() - 3_600_000), end: new Date(Date.now() + 60_000), groupBy: 'hour' });
    expect(stats.totalRequests).toBe(3);
  }, 60_000);
});
