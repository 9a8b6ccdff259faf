import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

describe('loadConfig', () => {
  it('runs on the embedded default with no environment at all', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ port: 3000, host: '0.0.0.0', databaseUrl: null, redisUrl: null, keyPrefix: 'tg', trustProxy: false, seedDemo: true });
    expect(config.dataDir).toMatch(/data$/);
  });

  it('serve runs the background jobs and keeps 90 days of call records unless told otherwise', () => {
    expect(loadConfig({})).toMatchObject({ workers: true, usageRetentionDays: 90 });
    expect(loadConfig({ WORKERS: 'false', USAGE_RETENTION_DAYS: '30' })).toMatchObject({ workers: false, usageRetentionDays: 30 });
  });

  it('distributed mode: Redis settings default to local limits on failure', () => {
    expect(loadConfig({ REDIS_URL: 'redis://cache:6379' })).toMatchObject({ redisUrl: 'redis://cache:6379', redisKeyPrefix: 'tollgate:', rateLimitFailureMode: 'local', redisCommandTimeoutMs: 500 });
    expect(loadConfig({ RATE_LIMIT_FAILURE_MODE: 'closed', REDIS_KEY_PREFIX: 'eu1:' })).toMatchObject({ rateLimitFailureMode: 'closed', redisKeyPrefix: 'eu1:' });
  });

  it('webhook workers poll every 250 ms, and back off to 5 s while idle, unless told otherwise', () => {
    expect(loadConfig({}).webhooks).toMatchObject({ pollIntervalMs: 250, idlePollMaxMs: 5_000 });
    expect(loadConfig({ WEBHOOK_POLL_INTERVAL_MS: '100', WEBHOOK_IDLE_POLL_MAX_MS: '60000' }).webhooks).toMatchObject({ pollIntervalMs: 100, idlePollMaxMs: 60_000 });
  });

  it('reads TRUST_PROXY as a flag, a hop count or a list of proxies', () => {
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.1, 10.1.0.0/16' }).trustProxy).toEqual(['10.0.0.1', '10.1.0.0/16']);
  });

  it.each([
    [{ PORT: 'eighty' }, /PORT must be an integer/],
    [{ PORT: '70000' }, /PORT must be an integer between 0 and 65535/],
    [{ KEY_PREFIX: 'Bad_Prefix' }, /KEY_PREFIX/],
    [{ ADMIN_EMAIL: 'a@b.co' }, /ADMIN_EMAIL and ADMIN_PASSWORD must be set together/],
    [{ ADMIN_EMAIL: 'a@b.co', ADMIN_PASSWORD: 'short' }, /at least 8/],
    [{ SEED_DEMO: 'maybe' }, /SEED_DEMO must be true or false/],
    [{ RATE_LIMIT_FAILURE_MODE: 'fail' }, /RATE_LIMIT_FAILURE_MODE must be one of local, open, closed/],
    [{ REDIS_COMMAND_TIMEOUT_MS: '0' }, /REDIS_COMMAND_TIMEOUT_MS must be an integer between 10/],
    [{ USAGE_RETENTION_DAYS: '0' }, /USAGE_RETENTION_DAYS must be an integer between 1/],
    [{ WORKERS: 'sometimes' }, /WORKERS must be true or false/],
    [{ WEBHOOK_IDLE_POLL_MAX_MS: '5' }, /WEBHOOK_IDLE_POLL_MAX_MS must be an integer between 10/],
  ])('refuses %o with a message naming the setting', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('uses a brand prefix for keys', () => {
    expect(loadConfig({ KEY_PREFIX: 'vrfx' }).keyPrefix).toBe('vrfx');
  });
});
