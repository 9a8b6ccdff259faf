import path from 'node:path';
import { DEFAULT_RETRY_SCHEDULE_MS, isValidBrandPrefix, parseRetrySchedule } from '@tollgate/core';
import type { LimiterFailureMode } from '@tollgate/runtime';

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | null;
  /** PostgreSQL schema to use instead of `public` (lets test suites share one server). */
  databaseSchema: string | null;
  redisUrl: string | null;
  /** Prepended to every Redis key, so deployments can share one Redis. */
  redisKeyPrefix: string;
  /** A Redis command not answered in this time counts as Redis being unavailable. */
  redisCommandTimeoutMs: number;
  /** What the gateway does while Redis cannot answer (see docs/deployment.md). */
  rateLimitFailureMode: LimiterFailureMode;
  adminEmail: string | null;
  adminPassword: string | null;
  /** Brand of issued keys: `tg` gives `tg_live_…`. */
  keyPrefix: string;
  /** Proxies whose `X-Forwarded-For` is believed: false, true (any), a hop count, or addresses/CIDRs. */
  trustProxy: boolean | number | string[];
  /** Bytes a request body may have. */
  bodyLimit: number;
  /** Seeds the two demo catalogs on first start. */
  seedDemo: boolean;
  logLevel: string;
  /** Secure cookies need https; off for local http. */
  cookieSecure: boolean;
  sessionTtlHours: number;
  usageFlushIntervalMs: number;
  /** Days of per-call records kept (rollups and counters stay). */
  usageRetentionDays: number;
  /** `serve` also works background jobs (set false to run them only in `tollgate worker`). */
  workers: boolean;
  upstreamTimeoutMs: number;
  /** Failed key authentications an IP may make at once, refilled per minute. */
  authFailureBurst: number;
  authFailuresPerMinute: number;
  /** 32 bytes (64 hex or base64) sealing secrets at rest; embedded mode keeps a generated one in DATA_DIR. */
  masterKey: string | null;
  /** NODE_ENV=production: https webhook URLs and an explicit MASTER_KEY with PostgreSQL. */
  production: boolean;
  webhooks: {
    /** Loopback, private and link-local targets allowed (tests, on-premise receivers). */
    allowPrivate: boolean;
    requireHttps: boolean;
    /** Delays before each retry, ms. */
    retrySchedule: number[];
    maxAttempts: number;
    timeoutMs: number;
    pollIntervalMs: number;
    /** Endpoints one worker serves at once. */
    concurrency: number;
  };
}

export class ConfigError extends Error {}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
  }
  return value;
}

function bool(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name]?.toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`);
}

function oneOf<T extends string>(env: NodeJS.ProcessEnv, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if ((allowed as readonly string[]).includes(raw)) return raw as T;
  throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
}

function trustProxy(raw: string | undefined): Config['trustProxy'] {
  if (raw === undefined || raw === '' || raw === 'false') return false;
  if (raw === 'true') return true;
  if (/^\d+$/.test(raw)) return Number(raw);
  return raw.split(',').map((s) => s.trim()).filter(Boolean);
}

function retrySchedule(raw: string | undefined): number[] {
  if (raw === undefined || raw === '') return [...DEFAULT_RETRY_SCHEDULE_MS];
  try {
    return parseRetrySchedule(raw);
  } catch (error) {
    throw new ConfigError(`WEBHOOK_RETRY_SCHEDULE: ${(error as Error).message}`);
  }
}

/** Reads the environment once; everything else receives a Config. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const keyPrefix = env.KEY_PREFIX || 'tg';
  if (!isValidBrandPrefix(keyPrefix)) {
    throw new ConfigError(`KEY_PREFIX must be 1-16 lowercase letters or digits starting with a letter, got "${keyPrefix}"`);
  }
  const production = env.NODE_ENV === 'production';
  const adminEmail = env.ADMIN_EMAIL || null;
  const adminPassword = env.ADMIN_PASSWORD || null;
  if ((adminEmail === null) !== (adminPassword === null)) {
    throw new ConfigError('ADMIN_EMAIL and ADMIN_PASSWORD must be set together');
  }
  if (adminPassword !== null && adminPassword.length < 8) {
    throw new ConfigError('ADMIN_PASSWORD must have at least 8 characters');
  }
  return {
    port: int(env, 'PORT', 3000, 0, 65535),
    host: env.HOST || '0.0.0.0',
    dataDir: path.resolve(env.DATA_DIR || './data'),
    databaseUrl: env.DATABASE_URL || null,
    databaseSchema: env.DATABASE_SCHEMA || null,
    redisUrl: env.REDIS_URL || null,
    redisKeyPrefix: env.REDIS_KEY_PREFIX || 'tollgate:',
    redisCommandTimeoutMs: int(env, 'REDIS_COMMAND_TIMEOUT_MS', 500, 10, 60_000),
    rateLimitFailureMode: oneOf(env, 'RATE_LIMIT_FAILURE_MODE', ['local', 'open', 'closed'] as const, 'local'),
    adminEmail,
    adminPassword,
    keyPrefix,
    trustProxy: trustProxy(env.TRUST_PROXY),
    bodyLimit: int(env, 'BODY_LIMIT', 1_048_576, 1024),
    seedDemo: bool(env, 'SEED_DEMO', true),
    logLevel: env.LOG_LEVEL || 'info',
    cookieSecure: bool(env, 'COOKIE_SECURE', production),
    sessionTtlHours: int(env, 'SESSION_TTL_HOURS', 24 * 14, 1),
    usageFlushIntervalMs: int(env, 'USAGE_FLUSH_INTERVAL_MS', 1000, 10, 60_000),
    usageRetentionDays: int(env, 'USAGE_RETENTION_DAYS', 90, 1),
    workers: bool(env, 'WORKERS', true),
    upstreamTimeoutMs: int(env, 'UPSTREAM_TIMEOUT_MS', 30_000, 100),
    authFailureBurst: int(env, 'AUTH_FAILURE_BURST', 20, 1),
    authFailuresPerMinute: int(env, 'AUTH_FAILURES_PER_MINUTE', 10, 1),
    masterKey: env.MASTER_KEY || null,
    production,
    webhooks: {
      allowPrivate: bool(env, 'WEBHOOK_ALLOW_PRIVATE', false),
      requireHttps: bool(env, 'WEBHOOK_REQUIRE_HTTPS', production),
      retrySchedule: retrySchedule(env.WEBHOOK_RETRY_SCHEDULE),
      maxAttempts: int(env, 'WEBHOOK_MAX_ATTEMPTS', 10, 1, 100),
      timeoutMs: int(env, 'WEBHOOK_TIMEOUT_MS', 10_000, 100, 60_000),
      pollIntervalMs: int(env, 'WEBHOOK_POLL_INTERVAL_MS', 250, 10, 60_000),
      concurrency: int(env, 'WEBHOOK_CONCURRENCY', 32, 1, 1_000),
    },
  };
}
