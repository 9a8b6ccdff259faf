import { describe, expect, it } from 'vitest';
import type { BusMessage } from '@tollgate/core';
import { RedisEventBus } from './redis-event-bus.ts';
import { openTestRedis, redisAvailable, startPrivateRedis } from './testing.ts';
import { Redis } from 'ioredis';

const available = await redisAvailable();

describe.skipIf(!available)('RedisEventBus', () => {
  it('a message published on one instance reaches the handlers of the others once, and its own at once', async () => {
    const test = openTestRedis();
    const channel = `${test.prefix}bus`;
    const publishers = [0, 1, 2].map(() => test.redis.duplicate());
    const [a, b, c] = await Promise.all(publishers.map((publisher) => RedisEventBus.open(publisher, { channel })));
    const seen: Record<string, BusMessage[]> = { a: [], b: [], c: [] };
    a?.subscribe((m) => void seen.a?.push(m));
    b?.subscribe((m) => void seen.b?.push(m));
    c?.subscribe((m) => void seen.c?.push(m));
    try {
      const message: BusMessage = { topic: 'keys.invalidate', keyHashes: ['abc'] };
      await a?.publish(message);
      expect(seen.a).toEqual([message]); // in effect here when publish returns
      await expect.poll(() => [seen.b?.length, seen.c?.length], { timeout: 1000 }).toEqual([1, 1]);
      expect(seen.b).toEqual([message]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(seen.a).toHaveLength(1); // not delivered to itself a second time
    } finally {
      await Promise.all([a, b, c].map((bus) => bus?.close()));
      await Promise.all(publishers.map((publisher) => publisher.quit()));
      await test.close();
    }
  });

  it('a failing handler is reported and does not stop the others', async () => {
    const test = openTestRedis();
    const errors: unknown[] = [];
    const bus = await RedisEventBus.open(test.redis, { channel: `${test.prefix}bus`, onError: (error) => errors.push(error) });
    const seen: BusMessage[] = [];
    bus.subscribe(() => {
      throw new Error('handler failed');
    });
    bus.subscribe((m) => void seen.push(m));
    try {
      await bus.publish({ topic: 'catalog.changed' });
      expect(seen).toEqual([{ topic: 'catalog.changed' }]);
      expect(errors).toHaveLength(1);
    } finally {
      await bus.close();
      await test.close();
    }
  });

  it('a publish while Redis is down takes effect here and does not fail; a dropped subscription comes back announcing that caches are stale', async () => {
    const server = await startPrivateRedis();
    const connection = new Redis(server.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 50 });
    connection.on('error', () => undefined);
    const errors: unknown[] = [];
    const bus = await RedisEventBus.open(connection, { onError: (error) => errors.push(error) });
    const seen: BusMessage[] = [];
    bus.subscribe((m) => void seen.push(m));
    try {
      await server.kill();
      await bus.publish({ topic: 'keys.invalidate', keyHashes: ['k1'] });
      expect(seen).toEqual([{ topic: 'keys.invalidate', keyHashes: ['k1'] }]);
      expect(errors).toHaveLength(1);

      await server.start();
      await expect.poll(() => seen.length, { timeout: 5_000, interval: 50 }).toBe(3);
      expect(seen.slice(1)).toEqual([{ topic: 'keys.invalidate-all' }, { topic: 'catalog.changed' }]);
    } finally {
      await bus.close();
      connection.disconnect();
      await server.kill();
    }
  });
});
