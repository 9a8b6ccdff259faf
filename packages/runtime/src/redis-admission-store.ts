import type { Redis } from 'ioredis';
import {
  dayPeriod,
  decideQuota,
  monthPeriod,
  nextDayStartMs,
  nextMonthStartMs,
  type AdmissionResult,
  type AdmissionStore,
  type QuotaPolicy,
  type RatePolicy,
  type SeededCounts,
} from '@tollgate/core';

/*
 * The distributed adapter: a key's rate state and its day and month counts live in Redis, and
 * one Lua script per call decides and counts atomically (EVALSHA; ioredis falls back to EVAL
 * when the server lost the script). The arithmetic is that of core's `tokenBucket` and
 * `SlidingWindowLog` (integers in doubles, as in JavaScript), so both adapters decide alike;
 * one contract suite checks it.
 *
 * Keys carry the API key's id as a hash tag, `<prefix>{key_…}:…`, so every key a script touches
 * is in one slot and the script runs on Redis Cluster.
 */

const ADMIT_SCRIPT = `
local now = tonumber(ARGV[1])
local algorithm = ARGV[2]
local rate = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local dailyCap = tonumber(ARGV[5])
local monthlyQuota = tonumber(ARGV[6])
local billsOverage = ARGV[7] == '1'
local dayEndsAt = tonumber(ARGV[8])
local monthEndsAt = tonumber(ARGV[9])
local COST = 60000
local WINDOW = 60000

local remaining, resetAt, newLevel, newUpdated, seq
if algorithm == 'token-bucket' then
  local capacity = burst * COST
  local state = redis.call('HMGET', KEYS[1], 'level', 'updated')
  local level, updated
  if state[1] then
    updated = tonumber(state[2])
    level = math.min(capacity, tonumber(state[1]) + math.max(0, now - updated) * rate)
  else
    level = capacity
    updated = now
  end
  if level < COST then
    return {1, 0, now + math.ceil((capacity - level) / rate), math.ceil((COST - level) / rate), 0, 0, 0}
  end
  newLevel = level - COST
  newUpdated = math.max(now, updated)
  remaining = math.floor(newLevel / COST)
  resetAt = now + math.ceil((capacity - newLevel) / rate)
else
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - WINDOW)
  local size = redis.call('ZCARD', KEYS[1])
  if size >= rate then
    local oldest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
    local newest = tonumber(redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])
    return {1, 0, newest + WINDOW, math.max(1, math.ceil(oldest + WINDOW - now)), 0, 0, 0}
  end
  remaining = rate - size - 1
  resetAt = now + WINDOW
end

local dayUsed = tonumber(redis.call('GET', KEYS[2]) or '0')
local monthUsed = tonumber(redis.call('GET', KEYS[3]) or '0')
local overage = 0
if dailyCap >= 0 and dayUsed >= dailyCap then
  return {2, remaining, resetAt, 0, 0, dayUsed, monthUsed}
end
if monthlyQuota >= 0 and monthUsed >= monthlyQuota then
  if not billsOverage then return {2, remaining, resetAt, 0, 0, dayUsed, monthUsed} end
  overage = 1
end

if algorithm == 'token-bucket' then
  -- %.0f: Redis would write a Lua number with 14 significant digits only.
  redis.call('HSET', KEYS[1], 'level', string.format('%.0f', newLevel), 'updated', string.format('%.0f', newUpdated))
  -- A bucket that has refilled is the same as no bucket: let it go then.
  redis.call('PEXPIRE', KEYS[1], resetAt - now + 1000)
else
  seq = redis.call('INCR', KEYS[4])
  redis.call('ZADD', KEYS[1], string.format('%.0f', now), string.format('%.0f', now) .. ':' .. seq)
  redis.call('PEXPIRE', KEYS[1], WINDOW + 1000)
  redis.call('PEXPIRE', KEYS[4], WINDOW + 1000)
end
-- Relative expiries: the caller's clock, not Redis's, says when a period ends.
dayUsed = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], dayEndsAt - now + 86400000)
monthUsed = redis.call('INCR', KEYS[3])
redis.call('PEXPIRE', KEYS[3], monthEndsAt - now + 86400000)
return {0, remaining, resetAt, 0, overage, dayUsed, monthUsed}
`;

const DAY_MS = 86_400_000;

type ScriptReply = [code: number, remaining: number, resetAtMs: number, retryAfterMs: number, overage: number, dayUsed: number, monthUsed: number];

interface AdmitCommand {
  tollgateAdmit(rateKey: string, dayKey: string, monthKey: string, seqKey: string, ...args: (string | number)[]): Promise<ScriptReply>;
}

export interface RedisAdmissionStoreOptions {
  /** Prepended to every key, so several deployments (or test suites) can share one Redis. */
  keyPrefix?: string;
}

export class RedisAdmissionStore implements AdmissionStore {
  private readonly prefix: string;
  private readonly redis: Redis & AdmitCommand;

  constructor(redis: Redis, options: RedisAdmissionStoreOptions = {}) {
    this.prefix = options.keyPrefix ?? 'tollgate:';
    redis.defineCommand('tollgateAdmit', { numberOfKeys: 4, lua: ADMIT_SCRIPT });
    this.redis = redis as Redis & AdmitCommand;
  }

  async admit(keyId: string, rate: RatePolicy, quota: QuotaPolicy, nowMs: number): Promise<AdmissionResult> {
    const now = Math.floor(nowMs);
    const base = `${this.prefix}{${keyId}}`;
    const [code, remaining, resetAtMs, retryAfterMs, overage, dayUsed, monthUsed] = await this.redis.tollgateAdmit(
      `${base}:${rate.algorithm === 'sliding-window' ? 'window' : 'bucket'}`,
      `${base}:day:${dayPeriod(now)}`,
      `${base}:month:${monthPeriod(now)}`,
      `${base}:window-seq`,
      now,
      rate.algorithm,
      rate.ratePerMinute,
      rate.burst,
      quota.dailyCap ?? -1,
      quota.monthlyQuota ?? -1,
      quota.billsOverage ? 1 : 0,
      nextDayStartMs(now),
      nextMonthStartMs(now),
    );
    const decision = { allowed: code !== 1, limit: rate.ratePerMinute, remaining, resetAtMs, retryAfterMs };
    if (code === 1) return { outcome: 'rate_limited', rate: decision };
    if (code === 2) {
      const refusal = decideQuota(dayUsed, monthUsed, quota, now);
      if (refusal.allowed) throw new Error(`admission script refused ${keyId} for quota at ${dayUsed}/${monthUsed}, which core allows`);
      return { outcome: 'quota_exceeded', rate: decision, quota: refusal };
    }
    return { outcome: 'admitted', rate: decision, overage: overage === 1, dayUsed, monthUsed };
  }

  async seedCounts(keyId: string, counts: SeededCounts): Promise<void> {
    const base = `${this.prefix}{${keyId}}`;
    // A count Redis keeps wins (NX); each period is its own key, so an older one never blocks a
    // newer. The expiries are upper bounds (a period plus a day): the next counted call sets the exact one.
    await this.redis
      .multi()
      .set(`${base}:day:${counts.day}`, counts.dayUsed, 'PX', 2 * DAY_MS, 'NX')
      .set(`${base}:month:${counts.month}`, counts.monthUsed, 'PX', 32 * DAY_MS, 'NX')
      .exec();
  }
}
