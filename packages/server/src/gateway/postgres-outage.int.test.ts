import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { openPostgres, queryRows, type Database } from '@tollgate/store';
import { postgresAvailable, startPrivatePostgres, type PrivatePostgres, type TestDatabase } from '@tollgate/store/testing';
import { createTestApp, type TestApp } from '../testing/harness.ts';

/*
 * PostgreSQL really stopped under a running gateway (a server of the test's own), then started
 * again: warm keys keep verifying, usage waits in the buffer and is written once when the
 * database is back.
 */

// With REQUIRE_SERVICES=1 a missing PostgreSQL fails the suite instead of skipping it.
const available = await postgresAvailable();
const PRICE = '/v1/tokens/V6FjH7P33dh7tVHHLHczC4hyG2NUA2YatLmXiDrKRgV7/price';

describe.skipIf(!available)('gateway while PostgreSQL is stopped', () => {
  let server: PrivatePostgres;
  let database: Database;
  let t: TestApp;

  beforeAll(async () => {
    server = await startPrivatePostgres();
    database = await openPostgres({ url: server.url, poolSize: 4 });
    const shared: TestDatabase = { ...database, closeKeepingData: () => database.close() };
    t = await createTestApp({ shared });
  }, 60_000);
  afterAll(async () => {
    await t?.close().catch(() => undefined);
    await database?.close().catch(() => undefined);
    await server?.destroy();
  });

  it('warm keys keep verifying, cold keys get 503, and the buffered usage is written once when it is back', async () => {
    const user = await t.signup();
    const warm = await t.createKey(user.token, { planId: 'cm-free' });
    const cold = await t.createKey(user.token, { planId: 'cm-free' });
    const call = (key: string) => t.inject({ method: 'GET', url: PRICE, headers: { 'x-api-key': key } });
    expect((await call(warm.key)).statusCode).toBe(200);
    await t.flushUsage();

    await server.stop();
    for (let i = 0; i < 3; i++) expect((await call(warm.key)).statusCode).toBe(200);
    expect((await call(cold.key)).statusCode).toBe(503);
    expect((await t.inject({ method: 'GET', url: '/ready' })).statusCode).toBe(503);
    await t.flushUsage(); // fails: the records stay
    expect(t.tollgate.usage.pending).toBe(4);

    await server.start();
    await expect.poll(async () => (await t.inject({ method: 'GET', url: '/ready' })).statusCode, { timeout: 10_000, interval: 200 }).toBe(200);
    await t.flushUsage();
    expect(t.tollgate.usage.pending).toBe(0);
    await t.flushUsage(); // nothing left, nothing written again

    const rows = await queryRows<{ n: number | string }>(database.db, sql`select count(*) as n from api_usage where api_key_id = ${warm.id}`);
    expect(Number(rows[0]?.n)).toBe(4);
    const counted = await queryRows<{ count: number | string }>(database.db, sql`select day_count as count from usage_counters where api_key_id = ${warm.id}`);
    expect(Number(counted[0]?.count)).toBe(4);
    expect((await call(cold.key)).statusCode).toBe(200);
  }, 60_000);
});
