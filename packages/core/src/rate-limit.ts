import type { RateLimitAlgorithm } from '@tollgate/contracts';

/** A key's rate policy: `ratePerMinute` refills, `burst` is how many may pass at once. */
export interface RatePolicy {
  algorithm: RateLimitAlgorithm;
  ratePerMinute: number;
  burst: number;
}

export interface RateDecision {
  allowed: boolean;
  /** The plan's per-minute rate, for `X-RateLimit-Limit`. */
  limit: number;
  remaining: number;
  /** When the key is back to full capacity (epoch ms), for `X-RateLimit-Reset`. */
  resetAtMs: number;
  /** Set when refused: how long until one call would pass. */
  retryAfterMs: number;
}

const MINUTE_MS = 60_000;

/**
 * A token bucket in exact integer arithmetic. The level is kept in "token-minutes × rate"
 * units: one call costs 60,000, the bucket holds `burst` × 60,000, and each elapsed ms refills
 * `ratePerMinute`. Everything stays an integer far below 2^53, so there is no floating-point
 * drift at epoch-ms magnitudes (the TAT form of GCRA accumulates rounding error per call).
 * With 10/min and burst 20: 20 pass at once, the 21st waits 6 s.
 */
export interface BucketState {
  level: number;
  updatedMs: number;
}

const COST = MINUTE_MS;

export function tokenBucket(
  state: BucketState | undefined,
  nowMs: number,
  policy: RatePolicy,
): { decision: RateDecision; state: BucketState } {
  const now = Math.floor(nowMs);
  const capacity = policy.burst * COST;
  const rate = policy.ratePerMinute;
  // A clock that stepped back refills nothing rather than draining the bucket.
  const elapsed = state ? Math.max(0, now - state.updatedMs) : 0;
  const level = state ? Math.min(capacity, state.level + elapsed * rate) : capacity;
  if (level < COST) {
    return {
      state: { level, updatedMs: Math.max(now, state?.updatedMs ?? now) },
      decision: {
        allowed: false,
        limit: rate,
        remaining: 0,
        resetAtMs: now + Math.ceil((capacity - level) / rate),
        retryAfterMs: Math.ceil((COST - level) / rate),
      },
    };
  }
  const after = level - COST;
  return {
    state: { level: after, updatedMs: Math.max(now, state?.updatedMs ?? now) },
    decision: {
      allowed: true,
      limit: rate,
      remaining: Math.floor(after / COST),
      resetAtMs: now + Math.ceil((capacity - after) / rate),
      retryAfterMs: 0,
    },
  };
}

/**
 * The blueprint's exact sliding window: at most `ratePerMinute` calls in any 60 s. A ring of
 * the admitted calls' times, so a check is O(1) and memory is bounded by the limit.
 */
export class SlidingWindowLog {
  private readonly times: Float64Array;
  private head = 0; // index of the oldest entry
  private size = 0;

  constructor(readonly capacity: number) {
    this.times = new Float64Array(capacity);
  }

  check(nowMs: number, policy: RatePolicy, commit: boolean): RateDecision {
    const windowStart = nowMs - MINUTE_MS;
    while (this.size > 0 && (this.times[this.head] as number) <= windowStart) {
      this.head = (this.head + 1) % this.capacity;
      this.size--;
    }
    const oldest = this.size > 0 ? (this.times[this.head] as number) : nowMs;
    if (this.size >= this.capacity) {
      return {
        allowed: false,
        limit: policy.ratePerMinute,
        remaining: 0,
        resetAtMs: this.newest(nowMs) + MINUTE_MS,
        retryAfterMs: Math.max(1, Math.ceil(oldest + MINUTE_MS - nowMs)),
      };
    }
    if (commit) {
      this.times[(this.head + this.size) % this.capacity] = nowMs;
      this.size++;
    }
    const used = this.size + (commit ? 0 : 1);
    return {
      allowed: true,
      limit: policy.ratePerMinute,
      remaining: this.capacity - used,
      // Full capacity is back once the newest admitted call has left the window.
      resetAtMs: (commit ? nowMs : this.newest(nowMs)) + MINUTE_MS,
      retryAfterMs: 0,
    };
  }

  private newest(fallback: number): number {
    return this.size > 0 ? (this.times[(this.head + this.size - 1) % this.capacity] as number) : fallback;
  }

  /** Undo the most recent admission (used when a later check refuses the same call). */
  undoLast(): void {
    if (this.size > 0) this.size--;
  }
}

/** Seconds for `Retry-After`: whole seconds, never 0 for a refusal. */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
