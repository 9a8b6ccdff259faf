import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturedLog } from '../testing/captured-log.ts';
import { createTestApp, type TestApp } from '../testing/harness.ts';

const PRICE = '/v1/tokens/V6FjH7P33dh7tVHHLHczC4hyG2NUA2YatLmXiDrKRgV7/price';

describe('gateway while the database is unavailable', () => {
  let t: TestApp;
  let warm: string;
  let cold: string;
  const { lines: logged, log } = capturedLog('error');

  beforeAll(async () => {
    t = await createTestApp({ log });
    const user = await t.signup();
    warm = (await t.createKey(user.token, { planId: 'cm-free' })).key;
    cold = (await t.createKey(user.token, { planId: 'cm-free' })).key;
    expect((await t.inject({ method: 'GET', url: PRICE, headers: { 'x-api-key': warm } })).statusCode).toBe(200);
    await t.flushUsage();
    await t.database.closeKeepingData(); // the store stops answering under the running app
  });
  afterAll(async () => {
    await t.app.close().catch(() => undefined); // its final usage flush fails: the database is gone
    await t.database.close().catch(() => undefined);
  });

  it('a warm key keeps verifying, and its usage waits in the buffer', async () => {
    const res = await t.inject({ method: 'GET', url: PRICE, headers: { 'x-api-key': warm } });
    expect(res.statusCode).toBe(200);
    await t.flushUsage(); // fails and keeps the record
    expect(t.tollgate.usage.pending).toBe(1);
  });

  it('a key not cached is answered 503 in the error shape, with Retry-After', async () => {
    const res = await t.inject({ method: 'GET', url: PRICE, headers: { 'x-api-key': cold } });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ error: { code: 'service_unavailable', details: { reason: 'store_unavailable' } }, request_id: expect.stringMatching(/^req_/) });
    expect(res.headers['retry-after']).toBe('1');
    // The product's logger has the failure, with the request's id.
    await new Promise((resolve) => setImmediate(resolve));
    expect(logged).toContainEqual(expect.objectContaining({ level: 50, msg: 'key lookup failed', reqId: res.json().request_id, err: expect.objectContaining({ message: expect.any(String) }) }));
  });

  it('/ready says 503 and /live still 200', async () => {
    expect((await t.inject({ method: 'GET', url: '/ready' })).statusCode).toBe(503);
    expect((await t.inject({ method: 'GET', url: '/live' })).json()).toEqual({ live: true });
  });
});
