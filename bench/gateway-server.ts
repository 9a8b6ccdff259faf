import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { generateApiKey } from '@tollgate/core';
import { cryptoRandom, newId, schema } from '@tollgate/store';
import { buildApp } from '../packages/server/src/app.ts';
import { loadConfig } from '../packages/server/src/config.ts';
import { createDeps } from '../packages/server/src/deps.ts';
import { seedDemoCatalog } from '../packages/server/src/demo/seed.ts';
import { sha256Hex } from '../packages/server/src/services/hash.ts';
import { profileMeasuredRun } from './lib/profiler.ts';
import { addBareRoute } from './lib/bare-route.ts';
import { IN_APP_BARE_PREFIX, onStop, tell } from './lib/protocol.ts';

/*
 * The gateway under test, built as `npm start` builds it (createDeps → seedDemoCatalog →
 * buildApp → listen) on a fresh embedded database (PGlite) in BENCH_DATA_DIR, with usage
 * recording on at the default flush interval. It adds a plan whose limits are never hit, one
 * customer subscribed to it, and BENCH_KEYS active keys; the plain keys go to `keys.txt` in the
 * data folder for the load generator.
 *
 * Keys are inserted in bulk (100,000 through the HTTP API would take minutes), with exactly the
 * columns the key service writes: sha256 of the key, display prefix, last four.
 *
 * Env: BENCH_DATA_DIR (required, an empty folder the parent removes), BENCH_KEYS (default 1),
 * PORT (default 0), LOG_LEVEL (default warn), BENCH_REDIS_URL (limits in Redis), BENCH_USAGE_FLUSH_INTERVAL_MS (diagnostics: defer the
 * usage flush), BENCH_CPU_PROFILE (a file: profile the measured run), BENCH_BARE_ROUTE (1: also serve the
 * bare route at /api/bench-bare/…, see lib/alternate-servers.ts).
 */

const started = performance.now();
const dataDir = process.env.BENCH_DATA_DIR;
if (!dataDir) throw new Error('BENCH_DATA_DIR is required');
const keyCount = Number(process.env.BENCH_KEYS ?? 1);
if (!Number.isInteger(keyCount) || keyCount < 1) throw new Error(`BENCH_KEYS must be a positive integer, got ${process.env.BENCH_KEYS}`);

const config = loadConfig({
  DATA_DIR: dataDir,
  HOST: '127.0.0.1',
  PORT: process.env.PORT ?? '0',
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  SEED_DEMO: 'true',
  // Distributed limits: Redis for rate limits and counts, under the run's own prefix.
  ...(process.env.BENCH_REDIS_URL ? { REDIS_URL: process.env.BENCH_REDIS_URL, REDIS_KEY_PREFIX: process.env.BENCH_REDIS_PREFIX ?? `tollgate-bench:${process.pid}:` } : {}),
  // A shared PostgreSQL (several instances), else PGlite in BENCH_DATA_DIR.
  ...(process.env.BENCH_DATABASE_URL ? { DATABASE_URL: process.env.BENCH_DATABASE_URL, DATABASE_SCHEMA: process.env.BENCH_DATABASE_SCHEMA ?? '' } : {}),
  // Diagnostics only (the reference runs keep the default, 1000 ms).
  ...(process.env.BENCH_USAGE_FLUSH_INTERVAL_MS ? { USAGE_FLUSH_INTERVAL_MS: process.env.BENCH_USAGE_FLUSH_INTERVAL_MS } : {}),
});
const deps = await createDeps(config);
await seedDemoCatalog(deps.repos);

const { repos } = deps;

/** The bench plan, a customer on it and the keys; their plain text goes to keys.txt. */
async function createKeys(): Promise<{ file: string; planCode: string }> {
  const product = await repos.catalog.findProduct('cryptomeme-api');
  if (!product) throw new Error('demo catalog has no cryptomeme-api product');
  const enterprise = await repos.catalog.findPlan('cm-enterprise');
  if (!enterprise) throw new Error('demo catalog has no cm-enterprise plan');
  // Limits no benchmark reaches: 1e9 per minute and burst, no daily cap, no quota, no per-call fee.
  const plan = await repos.catalog.createPlan({
    productId: product.id,
    code: 'bench-unlimited',
    name: 'Benchmark (limits never hit)',
    description: null,
    currency: product.currency,
    monthlyFeeMinor: null,
    perCallFeeMicros: null,
    rateLimitPerMinute: 1_000_000_000,
    burst: 1_000_000_000,
    rateLimitAlgorithm: 'token-bucket',
    dailyCap: null,
    monthlyQuota: null,
    entitlements: enterprise.entitlements,
    limits: enterprise.limits,
    isCustom: true,
    isActive: true,
  });
  if (!plan.entitlements.includes('tokens:basic')) throw new Error('bench plan lacks tokens:basic');
  const user = await repos.users.create({ email: `bench-${process.pid}@example.test`, passwordHash: 'not-a-login', role: 'customer' });
  const now = Date.now();
  const subscription = await repos.subscriptions.create({
    userId: user.id,
    planId: plan.id,
    status: 'active',
    currentPeriodStart: new Date(now),
    currentPeriodEnd: new Date(now + 31 * 86_400_000),
  });

  const keys: string[] = new Array(keyCount);
  const CHUNK = 2_000;
  for (let i = 0; i < keyCount; i += CHUNK) {
    const rows: (typeof schema.apiKeys.$inferInsert)[] = [];
    for (let j = i; j < Math.min(i + CHUNK, keyCount); j++) {
      const generated = generateApiKey(config.keyPrefix, 'live', cryptoRandom);
      keys[j] = generated.key;
      rows.push({
        id: newId('apiKey'),
        userId: user.id,
        planId: plan.id,
        subscriptionId: subscription.id,
        keyHash: sha256Hex(generated.key),
        displayPrefix: generated.displayPrefix,
        lastFour: generated.lastFour,
        label: `bench ${j}`,
      });
    }
    await deps.database.db.insert(schema.apiKeys).values(rows);
  }
  const file = path.join(dataDir as string, 'keys.txt');
  writeFileSync(file, keys.join('\n') + '\n');
  return { file, planCode: plan.code };
}

// A second instance on the same database (BENCH_KEYS_FILE) serves the first one's keys.
const joined = process.env.BENCH_KEYS_FILE;
const { file: keysFile, planCode } = joined ? { file: joined, planCode: 'bench-unlimited' } : await createKeys();
const setupMs = Math.round(performance.now() - started);

const tollgate = await buildApp({ config, deps });
const { app, usage } = tollgate;

// Observation only, behaviour unchanged: how long each usage flush takes (wall time: PGlite's
// thread shares the CPU with serving when the process is pinned to one) and how late the event
// loop runs.
const flushes = { count: 0, records: 0, totalMs: 0, maxMs: 0 };
const flush = usage.flushDue.bind(usage); // the timer's flush
usage.flushDue = () => {
  const before = usage.written;
  const t0 = performance.now();
  return flush().finally(() => {
    const ms = performance.now() - t0;
    flushes.count++;
    flushes.records += usage.written - before;
    flushes.totalMs += ms;
    flushes.maxMs = Math.max(flushes.maxMs, ms);
  });
};
// Cold key loads: the store lookups the gateway makes when keys are not (or no longer) cached,
// several keys a query (counted as keys).
const coldLoads = { count: 0, totalMs: 0 };
const findManyForGateway = repos.keys.findManyForGateway.bind(repos.keys);
repos.keys.findManyForGateway = (hashes, nowMs) => {
  const t0 = performance.now();
  return findManyForGateway(hashes, nowMs).finally(() => {
    coldLoads.count += hashes.length;
    coldLoads.totalMs += performance.now() - t0;
  });
};
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
/** Counters since the last `reset` (the runner resets them when a measurement starts). */
async function snapshot(reset: boolean, writeUsage: boolean) {
  if (writeUsage) await usage.flush();
  await profileMeasuredRun(reset);
  const out = {
    usageWritten: usage.written,
    usagePending: usage.pending,
    usageDropped: usage.dropped,
    flushCount: flushes.count,
    flushRecords: flushes.records,
    flushTotalMs: Math.round(flushes.totalMs),
    flushMaxMs: Math.round(flushes.maxMs),
    keyLoads: coldLoads.count,
    keyLoadTotalMs: Math.round(coldLoads.totalMs),
    loopDelayP99Ms: Math.round(loopDelay.percentile(99) / 1e4) / 100,
    loopDelayMaxMs: Math.round(loopDelay.max / 1e4) / 100,
    rssMb: Math.round(process.memoryUsage().rss / 1_048_576),
  };
  if (reset) {
    Object.assign(flushes, { count: 0, records: 0, totalMs: 0, maxMs: 0 });
    Object.assign(coldLoads, { count: 0, totalMs: 0 });
    loopDelay.reset();
  }
  return out;
}
// Diagnostics (BENCH_BARE_ROUTE=1): the bare route's handler inside the product's app, at
// /api/bench-bare/…, to tell the app's own cost (options, hooks, a larger process) from the gateway's.
if (process.env.BENCH_BARE_ROUTE === '1') addBareRoute(app, IN_APP_BARE_PREFIX);
await app.listen({ host: config.host, port: config.port });
const address = app.server.address();
if (address === null || typeof address === 'string') throw new Error('no TCP address');

onStop(
  async () => {
    await app.close(); // flushes the usage buffer
    await deps.close();
  },
  (reset, writeUsage) => snapshot(reset, writeUsage),
);
tell({
  type: 'ready',
  port: address.port,
  keysFile,
  keyCount,
  setupMs,
  info: { fastify: app.version, database: deps.database.kind, usageFlushIntervalMs: config.usageFlushIntervalMs, planCode },
});
if (!process.send) console.log(`gateway on http://127.0.0.1:${address.port} with ${keyCount} keys in ${keysFile}`);
