import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { Redis } from 'ioredis';
import { hasTaskset, trackChild } from './child.ts';

/*
 * The Redis the bench's gateways use. In production Redis runs on a machine of its own, and
 * answers as soon as a request arrives. Here a redis-server of the bench's own stands in for it:
 * pinned to the load generator's CPU, so it never takes time from the core the gateway under
 * test is pinned to, and at real-time priority (SCHED_FIFO, where the system allows it), so its
 * replies do not wait for the load generator's time slice on that core (without it, the Redis
 * mode measured ~79 % of the embedded mode's throughput instead of ~83 %, the gateway idling
 * while its calls waited; docs/benchmarks.md). BENCH_REDIS_PRIORITY=0 leaves the priority
 * alone; BENCH_REDIS_URL names another server instead, used as it is.
 */

export interface BenchRedis {
  url: string;
  /** How it runs, for the report. */
  description: string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function answers(url: string): Promise<boolean> {
  const redis = new Redis(url, { maxRetriesPerRequest: 0, lazyConnect: true, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

export async function startBenchRedis(options: { cpu: number | null; fallbackUrl: string }): Promise<BenchRedis> {
  const given = process.env.BENCH_REDIS_URL;
  const hasServer = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
  if (given || !hasServer) {
    const url = given || options.fallbackUrl;
    return { url, description: `${url} (not started by the bench, not pinned)`, stop: async () => {} };
  }
  const port = await freePort();
  const serverArgs = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'];
  const pinned = options.cpu !== null && hasTaskset();
  const realtime = process.env.BENCH_REDIS_PRIORITY !== '0' && spawnSync('chrt', ['-f', '1', 'true'], { stdio: 'ignore' }).status === 0;
  const command = [...(realtime ? ['chrt', '-f', '1'] : []), ...(pinned ? ['taskset', '-c', String(options.cpu)] : []), 'redis-server', ...serverArgs];
  const child = spawn(command[0] as string, command.slice(1), { stdio: 'ignore' });
  trackChild(child);
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  while (!(await answers(url))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server on port ${port} did not start`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url,
    description: `redis-server of the bench's own on port ${port}${pinned ? `, pinned to CPU ${options.cpu} (the load generator's)` : ', not pinned'}${realtime ? ', real-time priority (SCHED_FIFO 1)' : ''}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
