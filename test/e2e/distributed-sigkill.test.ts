import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestRedis, redisAvailable, TEST_REDIS_URL } from '@tollgate/runtime/testing';
import { openTestPostgres, postgresAvailable, TEST_DATABASE_URL, type TestDatabase } from '@tollgate/store/testing';
import { startServe } from './serve.ts';

/*
 * Distributed mode, an instance killed with SIGKILL: the counts that bill live in Redis, so the
 * next instance continues from them, although the killed one never wrote its usage buffer.
 */

const available = (await redisAvailable()) && (await postgresAvailable());
const PRICE = '/v1/tokens/V6FjH7P33dh7tVHHLHczC4hyG2NUA2YatLmXiDrKRgV7/price';

describe.skipIf(!available)('distributed mode: an instance killed with SIGKILL', () => {
  let database: TestDatabase & { schema: string };
  let redis: ReturnType<typeof openTestRedis>;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    database = await openTestPostgres();
    redis = openTestRedis();
  });
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await redis.close();
    await database.close();
  });

  async function instance(): Promise<{ base: string; child: ChildProcess }> {
    const started = await startServe({
      DATABASE_URL: TEST_DATABASE_URL,
      DATABASE_SCHEMA: database.schema,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: redis.prefix,
      // Nothing reaches the database's counters before the kill.
      USAGE_FLUSH_INTERVAL_MS: '60000',
    });
    children.push(started.child);
    return started;
  }

  it('the next instance continues the daily count where the killed one left it', async () => {
    const first = await instance();
    const post = (url: string, body: object, token?: string) =>
      fetch(`${first.base}${url}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
    const { token } = (await (await post('/api/v1/auth/signup', { email: `kill-${Date.now()}@example.test`, password: 'correct-horse-battery' })).json()) as { token: string };
    const { key } = (await (await post('/api/v1/api-marketplace/keys', { planId: 'cm-free' }, token)).json()) as { key: string };

    let remaining = '';
    for (let i = 0; i < 7; i++) {
      const res = await fetch(`${first.base}${PRICE}`, { headers: { 'x-api-key': key } });
      expect(res.status).toBe(200);
      remaining = res.headers.get('x-daily-remaining') ?? '';
    }
    expect(remaining).toBe('993'); // Free: 1,000 a day

    const exited = new Promise((resolve) => first.child.once('exit', resolve));
    first.child.kill('SIGKILL');
    await exited;

    const second = await instance();
    const res = await fetch(`${second.base}${PRICE}`, { headers: { 'x-api-key': key } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-daily-remaining')).toBe('992');
  }, 120_000);
});
