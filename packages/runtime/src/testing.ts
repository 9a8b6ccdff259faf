import { Redis } from 'ioredis';

/* Redis for tests: the server at TEST_REDIS_URL, each suite under a key prefix of its own. */

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Whether the test Redis answers; with REQUIRE_SERVICES=1 an unreachable one is an error, not a skip. */
export async function redisAvailable(): Promise<boolean> {
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
    return true;
  } catch (error) {
    if (process.env.REQUIRE_SERVICES === '1') {
      throw new Error(`REQUIRE_SERVICES=1 but Redis at ${TEST_REDIS_URL} is unreachable: ${(error as Error).message}`);
    }
    return false;
  } finally {
    redis.disconnect();
  }
}

/** A connection and a fresh key prefix; `close` deletes every key under the prefix. */
export function openTestRedis(): { redis: Redis; prefix: string; close(): Promise<void> } {
  const redis = new Redis(TEST_REDIS_URL);
  const prefix = `tollgate-test:${process.pid}:${Math.random().toString(36).slice(2)}:`;
  return {
    redis,
    prefix,
    close: async () => {
      const keys: string[] = [];
      for await (const batch of redis.scanStream({ match: `${prefix}*`, count: 1000 })) keys.push(...(batch as string[]));
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    },
  };
}

export interface PrivateRedis {
  url: string;
  port: number;
  /** Kills the server (SIGKILL): clients see the connection drop. */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
}

/**
 * A redis-server of the test's own on a free port, to take down and bring back: failure tests
 * cannot stop the shared one. Needs the `redis-server` binary (installed with Redis).
 * `launcher` is a command it runs under (the bench pins it with `taskset`, say).
 */
export async function startPrivateRedis(options: { launcher?: readonly string[] } = {}): Promise<PrivateRedis> {
  const { spawn } = await import('node:child_process');
  const { createServer } = await import('node:net');
  const port = await new Promise<number>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
  let child: ReturnType<typeof spawn> | null = null;
  const url = `redis://127.0.0.1:${port}`;
  const self: PrivateRedis = {
    url,
    port,
    async start() {
      const command = [...(options.launcher ?? []), 'redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
      child = spawn(command[0] as string, command.slice(1), { stdio: 'ignore' });
      for (let attempt = 0; attempt < 100; attempt++) {
        const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
        client.on('error', () => undefined);
        try {
          await client.connect();
          await client.ping();
          return;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 50));
        } finally {
          client.disconnect();
        }
      }
      throw new Error(`redis-server on port ${port} did not start`);
    },
    async kill() {
      const running = child;
      child = null;
      if (!running || running.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        running.once('exit', () => resolve());
        running.kill('SIGKILL');
      });
    },
  };
  await self.start();
  return self;
}
export * from './testing-documents.ts';
export * from './payments/testing.ts';
export * from './testing-http.ts';
