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
 * a Lua script decides and counts atomically (EVALSHA; ioredis falls back to EVAL when the
 * server lost the script): one script for each API key's calls of one event-loop turn. The
 * arithmetic is that of core's `tokenBucket` and `SlidingWindowLog` (integers in doubles, as in
 * JavaScript), so both adapters decide alike; one contract suite checks it.
 *
 * Keys carry the API key's id as a hash tag, `<prefix>{key_…}:…`, so every key a script touches
 * is in one slot and the script runs on Redis Cluster.
 */

const ADMIT_SCRIPT = `
local algorithm = ARGV[1]
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local dailyCap = tonumber(ARGV[4])
local monthlyQuota = tonumber(ARGV[5])
local billsOverage = ARGV[6] == '1'
local dayEndsAt = tonumber(ARGV[7])
local monthEndsAt = tonumber(ARGV[8])
local COST = 60000
local WINDOW = 60000

local function admit(now)
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
end

-- One call after another, each with its own clock reading, as if each were its own script.
local out = {}
for i = 9, #ARGV do
  local r = admit(tonumber(ARGV[i]))
  for j = 1, 7 do out[#out + 1] = r[j] end
end
return out
`;

const DAY_MS = 86_400_000;
/** The most calls one script decides: a script holds Redis while it runs. */
const MAX_BATCH = 256;
const REPLY_WIDTH = 7;

interface AdmitCommand {
  tollgateAdmit(rateKey: string, dayKey: string, monthKey: string, seqKey: string, ...args: (string | number)[]): Promise<number[]>;
}

export interface RedisAdmissionStoreOptions {
  /** Prepended to every key, so several deployments (or test suites) can share one Redis. */
  keyPrefix?: string;
}

interface PendingCall {
  now: number;
  resolve(result: AdmissionResult): void;
  reject(error: unknown): void;
}

/** Calls for one API key, one day and one month, with one policy: decided by one script. */
interface Batch {
  keyId: string;
  keys: [rate: string, day: string, month: string, seq: string];
  rate: RatePolicy;
  quota: QuotaPolicy;
  calls: PendingCall[];
}

export class RedisAdmissionStore implements AdmissionStore {
  private readonly prefix: string;
  private readonly redis: Redis & AdmitCommand;
  /** This turn's calls, by API key and period, not sent yet. */
  private open = new Map<string, Batch>();
  /** Batches closed this turn (full, or their key's policy changed), sent before the open ones. */
  private closed: Batch[] = [];
  private scheduled = false;

  constructor(redis: Redis, options: RedisAdmissionStoreOptions = {}) {
    this.prefix = options.keyPrefix ?? 'tollgate:';
    redis.defineCommand('tollgateAdmit', { numberOfKeys: 4, lua: ADMIT_SCRIPT });
    this.redis = redis as Redis & AdmitCommand;
  }

  /*
   * Calls are gathered until the event loop has run this turn's I/O callbacks, then sent at
   * once: the calls for one API key share one script (a hot key's burst costs one command, not
   * one each), and every script of the turn leaves in one write. Each call still gets its own
   * decision, made in order with its own clock reading, exactly as one script per call would.
   * ioredis's auto-pipelining also batches, but keeps one batch in flight at a time: under load
   * the gateway then sat idle waiting for it.
   */
  admit(keyId: string, rate: RatePolicy, quota: QuotaPolicy, nowMs: number): Promise<AdmissionResult> {
    const now = Math.floor(nowMs);
    const day = dayPeriod(now);
    const month = monthPeriod(now);
    const group = `${keyId}|${day}|${month}`;
    let batch = this.open.get(group);
    if (batch && (batch.rate !== rate || batch.quota !== quota || batch.calls.length >= MAX_BATCH)) {
      this.closed.push(batch);
      batch = undefined;
    }
    if (!batch) {
      const base = `${this.prefix}{${keyId}}`;
      batch = {
        keyId,
        keys: [`${base}:${rate.algorithm === 'sliding-window' ? 'window' : 'bucket'}`, `${base}:day:${day}`, `${base}:month:${month}`, `${base}:window-seq`],
        rate,
        quota,
        calls: [],
      };
      this.open.set(group, batch);
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.send());
    }
    const calls = batch.calls;
    return new Promise((resolve, reject) => calls.push({ now, resolve, reject }));
  }

  private send(): void {
    const batches = this.closed.concat([...this.open.values()]);
    this.closed = [];
    this.open = new Map();
    this.scheduled = false;
    // One write for all of them: the socket holds them until uncorked.
    const stream = this.redis.stream as { cork?: () => void; uncork?: () => void } | undefined;
    stream?.cork?.();
    try {
      for (const batch of batches) {
        try {
          this.decide(batch);
        } catch (error) {
          // Not sent: its calls fail (the gateway falls back), and the other batches go on.
          for (const call of batch.calls) call.reject(error);
        }
      }
    } finally {
      stream?.uncork?.();
    }
  }

  private decide({ keyId, keys, rate, quota, calls }: Batch): void {
    const first = (calls[0] as PendingCall).now;
    this.redis
      .tollgateAdmit(
        ...keys,
        rate.algorithm,
        rate.ratePerMinute,
        rate.burst,
        quota.dailyCap ?? -1,
        quota.monthlyQuota ?? -1,
        quota.billsOverage ? 1 : 0,
        nextDayStartMs(first),
        nextMonthStartMs(first),
        ...calls.map((call) => call.now),
      )
      .then(
        (reply) => {
          for (let i = 0; i < calls.length; i++) {
            const call = calls[i] as PendingCall;
            try {
              call.resolve(decode(reply, i * REPLY_WIDTH, keyId, rate, quota, call.now));
            } catch (error) {
              call.reject(error);
            }
          }
        },
        (error: unknown) => {
          for (const call of calls) call.reject(error);
        },
      );
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

/** One call's decision from the script's reply, which holds REPLY_WIDTH numbers per call. */
function decode(reply: readonly number[], at: number, keyId: string, rate: RatePolicy, quota: QuotaPolicy, now: number): AdmissionResult {
  const code = reply[at] as number;
  const [remaining, resetAtMs, retryAfterMs, overage, dayUsed, monthUsed] = reply.slice(at + 1, at + REPLY_WIDTH) as number[];
  const decision = { allowed: code !== 1, limit: rate.ratePerMinute, remaining: remaining as number, resetAtMs: resetAtMs as number, retryAfterMs: retryAfterMs as number };
  if (code === 1) return { outcome: 'rate_limited', rate: decision };
  if (code === 2) {
    const refusal = decideQuota(dayUsed as number, monthUsed as number, quota, now);
    if (refusal.allowed) throw new Error(`admission script refused ${keyId} for quota at ${dayUsed}/${monthUsed}, which core allows`);
    return { outcome: 'quota_exceeded', rate: decision, quota: refusal };
  }
  return { outcome: 'admitted', rate: decision, overage: overage === 1, dayUsed: dayUsed as number, monthUsed: monthUsed as number };
}
