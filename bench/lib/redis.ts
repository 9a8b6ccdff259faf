import { spawnSync } from 'node:child_process';
import { startPrivateRedis } from '@tollgate/runtime/testing';
import { hasTaskset } from './child.ts';

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

export async function startBenchRedis(options: { cpu: number | null; fallbackUrl: string }): Promise<BenchRedis> {
  const given = process.env.BENCH_REDIS_URL;
  const hasServer = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
  if (given || !hasServer) {
    const url = given || options.fallbackUrl;
    return { url, description: `${url} (not started by the bench, not pinned)`, stop: async () => {} };
  }
  const pinned = options.cpu !== null && hasTaskset();
  const realtime = process.env.BENCH_REDIS_PRIORITY !== '0' && spawnSync('chrt', ['-f', '1', 'true'], { stdio: 'ignore' }).status === 0;
  const server = await startPrivateRedis({ launcher: [...(realtime ? ['chrt', '-f', '1'] : []), ...(pinned ? ['taskset', '-c', String(options.cpu)] : [])] });
  return {
    url: server.url,
    description: `redis-server of the bench's own on port ${server.port}${pinned ? `, pinned to CPU ${options.cpu} (the load generator's)` : ', not pinned'}${realtime ? ', real-time priority (SCHED_FIFO 1)' : ''}`,
    stop: () => server.kill(),
  };
}
