import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { Redis } from 'ioredis';
import { serverKeys, startServer, type RunningServer } from './child.ts';
import { assertClean, runLoad, type LoadResult } from './load.ts';
import { BENCH_PATH } from './protocol.ts';

/*
 * Distributed mode with several instances: gateways on one PostgreSQL schema and one Redis
 * prefix of the run's own, each key's limits shared. One instance is measured alone, then two
 * side by side, each taking half of the connections (the load generator's two streams run at
 * once; requests per second add up). Servers are not pinned here: on a two-core machine the
 * instances, PostgreSQL and Redis share the cores with the load generator.
 */

export interface ClusterSettings {
  databaseUrl: string;
  redisUrl: string;
  connections: number;
  warmupSec: number;
  durationSec: number;
  log(message: string): void;
}

export interface ClusterResult {
  one: LoadResult;
  two: { total: number; each: LoadResult[] };
}

export async function clusterRun(settings: ClusterSettings): Promise<ClusterResult> {
  const schema = `bench_${process.pid}`;
  const prefix = `tollgate-bench-cluster:${process.pid}:`;
  const dataDirs = [0, 1].map(() => mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-cluster-')));
  const env = (i: number, keysFile?: string) => ({
    BENCH_DATA_DIR: dataDirs[i] as string,
    BENCH_KEYS: '1',
    BENCH_DATABASE_URL: settings.databaseUrl,
    BENCH_DATABASE_SCHEMA: schema,
    BENCH_REDIS_URL: settings.redisUrl,
    BENCH_REDIS_PREFIX: prefix,
    ...(keysFile ? { BENCH_KEYS_FILE: keysFile } : {}),
  });
  const servers: RunningServer[] = [];
  try {
    settings.log('cluster: first instance on PostgreSQL + Redis');
    const first = await startServer({ script: 'bench/gateway-server.ts', cpu: null, env: env(0), readyTimeoutMs: 120_000 });
    servers.push(first);
    const keysFile = first.ready.keysFile as string;
    const keys = serverKeys(first);
    const load = (server: RunningServer, connections: number, durationSec: number, timeLatencies: boolean) =>
      runLoad({ url: server.url(BENCH_PATH), connections, pipelining: 1, durationSec, keys, timeLatencies });

    assertClean('cluster warm-up', await load(first, settings.connections, settings.warmupSec, false));
    const one = await load(first, settings.connections, settings.durationSec, true);
    assertClean('cluster, one instance', one);
    settings.log(`cluster, one instance: ${Math.round(one.rps)} req/s`);

    settings.log('cluster: second instance on the same database and Redis');
    const second = await startServer({ script: 'bench/gateway-server.ts', cpu: null, env: env(1, keysFile), readyTimeoutMs: 120_000 });
    servers.push(second);
    const half = Math.max(1, Math.floor(settings.connections / 2));
    await Promise.all([load(first, half, settings.warmupSec, false), load(second, half, settings.warmupSec, false)]);
    const each = await Promise.all([load(first, half, settings.durationSec, true), load(second, half, settings.durationSec, true)]);
    each.forEach((result, i) => assertClean(`cluster, two instances (#${i + 1})`, result));
    const total = each.reduce((sum, result) => sum + result.rps, 0);
    settings.log(`cluster, two instances: ${Math.round(total)} req/s in total`);
    return { one, two: { total, each } };
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
    const client = new pg.Client({ connectionString: settings.databaseUrl });
    await client.connect();
    await client.query(`drop schema if exists ${schema} cascade`).finally(() => client.end());
    const redis = new Redis(settings.redisUrl);
    const stale = await redis.keys(`${prefix}*`);
    if (stale.length > 0) await redis.del(...stale);
    redis.disconnect();
  }
}
