import path from 'node:path';
import { Redis } from 'ioredis';
import pino from 'pino';
import type { AdmissionStore, Clock, EventBus, SecretBox } from '@tollgate/core';
import {
  MemoryAdmissionStore,
  MemoryEventBus,
  RedisAdmissionStore,
  RedisEventBus,
  ResilientAdmissionStore,
  systemClock,
  type LimiterState,
} from '@tollgate/runtime';
import { createRepositories, openPglite, openPostgres, type Database, type Repositories } from '@tollgate/store';
import type { Config } from './config.ts';
import { createPaymentGateways, type PaymentGateways } from './payments.ts';
import { openSecretBox } from './secrets.ts';

export interface Deps {
  database: Database;
  repos: Repositories;
  admission: AdmissionStore;
  bus: EventBus;
  clock: Clock;
  /** Seals secrets at rest under MASTER_KEY. */
  secretBox: SecretBox;
  /** The enabled payment gateways, shared by the API (payments, callbacks) and dunning (saved cards). */
  gateways: PaymentGateways;
  /** Where rate limits are decided: `embedded`, or Redis (`global`) and its failure mode while it is down. */
  limiter(): { kind: 'embedded' } | ({ kind: 'redis' } & LimiterState);
  close(): Promise<void>;
}

export interface DepsOptions {
  clock?: Clock;
  log?: pino.Logger;
}

/**
 * Picks the adapters for the configuration: PGlite in DATA_DIR by default (its thread in the
 * background: calls go first), PostgreSQL with DATABASE_URL; in-process limits and bus by
 * default, Redis with REDIS_URL.
 */
export async function createDeps(config: Config, options: DepsOptions = {}): Promise<Deps> {
  const log = options.log ?? pino({ level: config.logLevel });
  const database = config.databaseUrl
    ? await openPostgres({ url: config.databaseUrl, ...(config.databaseSchema ? { schema: config.databaseSchema } : {}) })
    : await openPglite({ dataDir: path.join(config.dataDir, 'pglite'), log, backgroundPriority: true });
  try {
    const deps = await assembleDeps(database, config, { ...options, log });
    return {
      ...deps,
      close: async () => {
        await deps.close();
        await database.close();
      },
    };
  } catch (error) {
    await database.close();
    throw error;
  }
}

/** The adapters around an open database; `close` closes what this made, not the database. */
export async function assembleDeps(database: Database, config: Config, options: DepsOptions = {}): Promise<Deps> {
  const log = options.log ?? pino({ level: config.logLevel });
  const base = {
    database,
    repos: createRepositories(database.db),
    clock: options.clock ?? systemClock,
    secretBox: openSecretBox(config, log),
    gateways: createPaymentGateways(config.payments, config.publicUrl),
  };
  if (!config.redisUrl) {
    return { ...base, admission: new MemoryAdmissionStore(), bus: new MemoryEventBus(), limiter: () => ({ kind: 'embedded' }), close: async () => undefined };
  }

  let redis: Redis | undefined;
  let bus: RedisEventBus;
  try {
    redis = await connectRedis(config);
    bus = await RedisEventBus.open(redis, {
      channel: `${config.redisKeyPrefix}bus`,
      onError: (error, message) => log.error({ err: error, topic: message.topic }, 'bus handler failed'),
    });
  } catch (error) {
    redis?.disconnect();
    throw new Error(`Redis at ${redactUrl(config.redisUrl)} is unreachable: ${(error as Error).message}`, { cause: error });
  }
  const connection = redis;
  const admission = new ResilientAdmissionStore(new RedisAdmissionStore(connection, { keyPrefix: config.redisKeyPrefix }), {
    mode: config.rateLimitFailureMode,
    onStateChange: (state) =>
      state.limits === 'global'
        ? log.info('Redis is back: rate limits are global again')
        : log.error({ mode: state.limits, error: state.lastError }, `Redis unavailable: rate limits are ${state.limits} until it is back`),
  });
  connection.on('ready', () => admission.recovered());
  connection.on('close', () => admission.failed(new Error('connection to Redis closed')));
  return {
    ...base,
    admission,
    bus,
    limiter: () => ({ kind: 'redis', ...admission.state }),
    close: async () => {
      await bus.close();
      connection.disconnect();
    },
  };
}

/**
 * One connection for limits, cache invalidation and (later) live events; while disconnected,
 * commands fail at once (no offline queue) so the gateway falls back instead of waiting.
 * No auto-pipelining: the admission store batches each turn's calls itself, and ioredis's
 * auto-pipelining keeps one batch in flight at a time, so under load the gateway sat idle
 * waiting for it (Redis mode kept ~70 % of the embedded mode's throughput with it).
 */
async function connectRedis(config: Config): Promise<Redis> {
  const redis = new Redis(config.redisUrl as string, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: config.redisCommandTimeoutMs,
    connectTimeout: 5_000,
    // Reconnect for ever, backing off to 2 s: the gateway serves on its fallback meanwhile.
    retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
  });
  // Errors also surface as failed commands and 'close' events; without a listener ioredis prints them.
  redis.on('error', () => undefined);
  await redis.connect();
  return redis;
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
