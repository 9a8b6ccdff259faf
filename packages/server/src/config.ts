import path from 'node:path';
import { DEFAULT_RETRY_SCHEDULE_MS, isValidBrandPrefix, parseRetrySchedule, vatRateBpsFromFraction, type VatRates } from '@tollgate/core';
import type { BillingSettings } from '@tollgate/jobs';
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
    /** The longest wait between an idle worker's rounds (it grows from pollIntervalMs while nothing happens). */
    idlePollMaxMs: number;
    /** Endpoints one worker serves at once. */
    concurrency: number;
    /** Worker threads that sign and send (0: the worker's own thread). */
    senderThreads: number;
  };
  /** Where customers reach this instance (links in invoices and emails, payment return URLs). */
  publicUrl: string;
  billing: BillingSettings;
  mail: {
    /** smtp:// or smtps:// URL; unset: emails are written as .eml files into DATA_DIR/mail. */
    smtpUrl: string | null;
    from: string;
  };
  /** Payment providers with credentials; each one absent is not offered. */
  payments: {
    /** The `test` gateway (a checkout page served here): on unless production. */
    testGateway: boolean;
    paystack: { secretKey: string; baseUrl?: string } | null;
    payfast: { merchantId: string; merchantKey: string; passphrase?: string; baseUrl?: string; validSourceIps?: string[] } | null;
    ozow: { siteCode: string; privateKey: string; apiKey: string; baseUrl?: string; isTest: boolean } | null;
    stripe: { secretKey: string; webhookSecret: string; apiBaseUrl?: string } | null;
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

/** API_BILLING_VAT_RATE is South Africa's rate (the blueprint's); BILLING_VAT_RATES adds others: `GB=0.2,DE=0.19`. */
function vatRates(env: NodeJS.ProcessEnv): VatRates {
  const rate = (name: string, raw: string): number => {
    try {
      return vatRateBpsFromFraction(Number(raw));
    } catch (error) {
      throw new ConfigError(`${name}: ${(error as Error).message}`);
    }
  };
  const rates: Record<string, number> = { ZA: rate('API_BILLING_VAT_RATE', env.API_BILLING_VAT_RATE || '0.15') };
  for (const entry of (env.BILLING_VAT_RATES ?? '').split(',').map((e) => e.trim()).filter(Boolean)) {
    const match = /^([A-Za-z]{2})=(.+)$/.exec(entry);
    if (!match) throw new ConfigError(`BILLING_VAT_RATES must look like GB=0.2,DE=0.19, got "${entry}"`);
    rates[(match[1] as string).toUpperCase()] = rate('BILLING_VAT_RATES', match[2] as string);
  }
  return rates;
}

function country(env: NodeJS.ProcessEnv, name: string): string | null {
  const raw = env[name];
  if (!raw) return null;
  if (!/^[A-Za-z]{2}$/.test(raw)) throw new ConfigError(`${name} must be a two-letter country code, got "${raw}"`);
  return raw.toUpperCase();
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
      idlePollMaxMs: int(env, 'WEBHOOK_IDLE_POLL_MAX_MS', 5_000, 10, 600_000),
      concurrency: int(env, 'WEBHOOK_CONCURRENCY', 32, 1, 1_000),
      senderThreads: int(env, 'WEBHOOK_SENDER_THREADS', 1, 0, 16),
    },
    publicUrl: publicUrl(env),
    billing: {
      vatRates: vatRates(env),
      defaultCountry: country(env, 'BILLING_DEFAULT_COUNTRY'),
      paymentTermsDays: int(env, 'BILLING_PAYMENT_TERMS_DAYS', 7, 0, 90),
      seller: {
        name: env.BILLING_SELLER_NAME || 'Tollgate',
        addressLines: (env.BILLING_SELLER_ADDRESS ?? '').split('|').map((l) => l.trim()).filter(Boolean),
        vatNumber: env.BILLING_SELLER_VAT_NUMBER || null,
        email: env.BILLING_SELLER_EMAIL || null,
        country: country(env, 'BILLING_SELLER_COUNTRY'),
      },
    },
    mail: {
      smtpUrl: env.SMTP_URL || null,
      from: env.MAIL_FROM || env.BILLING_SELLER_EMAIL || 'billing@localhost',
    },
    payments: payments(env, production),
  };
}

/** A provider is configured when its required settings are all set; half a configuration is a mistake. */
function provider<T>(env: NodeJS.ProcessEnv, name: string, required: string[], build: (get: (key: string) => string) => T): T | null {
  const set = required.filter((key) => env[key]);
  if (set.length === 0) return null;
  if (set.length < required.length) {
    throw new ConfigError(`${name} needs ${required.join(', ')}; missing ${required.filter((key) => !env[key]).join(', ')}`);
  }
  return build((key) => env[key] as string);
}

const optional = <K extends string>(key: K, value: string | undefined) => (value ? ({ [key]: value } as Record<K, string>) : {});

function payments(env: NodeJS.ProcessEnv, production: boolean): Config['payments'] {
  return {
    testGateway: bool(env, 'PAYMENTS_TEST_GATEWAY', !production),
    paystack: provider(env, 'Paystack', ['PAYSTACK_SECRET_KEY'], (get) => ({ secretKey: get('PAYSTACK_SECRET_KEY'), ...optional('baseUrl', env.PAYSTACK_BASE_URL) })),
    payfast: provider(env, 'PayFast', ['PAYFAST_MERCHANT_ID', 'PAYFAST_MERCHANT_KEY'], (get) => ({
      merchantId: get('PAYFAST_MERCHANT_ID'),
      merchantKey: get('PAYFAST_MERCHANT_KEY'),
      ...optional('passphrase', env.PAYFAST_PASSPHRASE),
      ...optional('baseUrl', env.PAYFAST_BASE_URL),
      ...(env.PAYFAST_VALID_IPS ? { validSourceIps: env.PAYFAST_VALID_IPS.split(',').map((ip) => ip.trim()).filter(Boolean) } : {}),
    })),
    ozow: provider(env, 'Ozow', ['OZOW_SITE_CODE', 'OZOW_PRIVATE_KEY', 'OZOW_API_KEY'], (get) => ({
      siteCode: get('OZOW_SITE_CODE'),
      privateKey: get('OZOW_PRIVATE_KEY'),
      apiKey: get('OZOW_API_KEY'),
      ...optional('baseUrl', env.OZOW_BASE_URL),
      isTest: bool(env, 'OZOW_TEST_MODE', false),
    })),
    stripe: provider(env, 'Stripe', ['STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET'], (get) => ({
      secretKey: get('STRIPE_SECRET_KEY'),
      webhookSecret: get('STRIPE_WEBHOOK_SECRET'),
      ...optional('apiBaseUrl', env.STRIPE_API_BASE_URL),
    })),
  };
}

function publicUrl(env: NodeJS.ProcessEnv): string {
  const raw = env.PUBLIC_URL || `http://localhost:${env.PORT || 3000}`;
  try {
    const url = new URL(raw);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
    return url.toString().replace(/\/$/, '');
  } catch {
    throw new ConfigError(`PUBLIC_URL must be an http(s) URL, got "${raw}"`);
  }
}
