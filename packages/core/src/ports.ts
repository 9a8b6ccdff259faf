import type { RateDecision, RatePolicy } from './rate-limit.ts';
import type { QuotaDecision, QuotaPolicy } from './quota.ts';

/** Time comes in through this port so rules can be tested with a clock that is advanced, not slept on. */
export interface Clock {
  now(): number;
}

/** Randomness comes in through this port; the runtime adapter uses the operating system's CSPRNG. */
export interface RandomSource {
  bytes(length: number): Uint8Array;
}

export type AdmissionResult =
  | { outcome: 'admitted'; rate: RateDecision; overage: boolean; dayUsed: number; monthUsed: number }
  | { outcome: 'rate_limited'; rate: RateDecision }
  | { outcome: 'quota_exceeded'; rate: RateDecision; quota: Extract<QuotaDecision, { allowed: false }> }
  /** The shared limiter cannot answer and the failure mode is `closed`. */
  | { outcome: 'unavailable' };

/**
 * Rate limit, daily cap and monthly quota for one call, decided and counted atomically:
 * a refused call consumes nothing. In process (embedded: synchronous, so a warm call needs no
 * promise) or one Lua script per call (Redis: a promise).
 */
export interface AdmissionStore {
  admit(keyId: string, rate: RatePolicy, quota: QuotaPolicy, nowMs: number): AdmissionResult | Promise<AdmissionResult>;
  /**
   * Seeds a key's persisted counts (from the database) for the periods the store has no count
   * of: a count it already keeps wins, and a newer period replaces an older one. A restarted
   * process, or a Redis that lost its data, continues from the store instead of from zero.
   */
  seedCounts(keyId: string, counts: SeededCounts): void | Promise<void>;
}

export interface SeededCounts {
  day: string;
  dayUsed: number;
  month: string;
  monthUsed: number;
}

export type BusMessage =
  | { topic: 'keys.invalidate'; keyHashes: string[] }
  | { topic: 'keys.invalidate-all' }
  | { topic: 'catalog.changed' }
  /** Webhook events were stored: delivery workers look for work now instead of at their next poll. */
  | { topic: 'webhooks.pending' };

export type BusHandler = (message: BusMessage) => void | Promise<void>;

/** Cache invalidation and live events across instances (in process, or Redis pub/sub). */
export interface EventBus {
  /** Resolves once this instance's handlers have run, so a change is in effect here when it returns. */
  publish(message: BusMessage): Promise<void>;
  subscribe(handler: BusHandler): () => void;
}
