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
  | { outcome: 'quota_exceeded'; rate: RateDecision; quota: Extract<QuotaDecision, { allowed: false }> };

/**
 * Rate limit, daily cap and monthly quota for one call, decided and counted atomically:
 * a refused call consumes nothing. In process (embedded) or one Lua script (Redis).
 */
export interface AdmissionStore {
  admit(keyId: string, rate: RatePolicy, quota: QuotaPolicy, nowMs: number): AdmissionResult;
  /** Seeds the persisted counts of a key seen for the first time by this process. */
  seedCounts(keyId: string, counts: { day: string; dayUsed: number; month: string; monthUsed: number }): void;
  hasCounts(keyId: string): boolean;
}

export type BusMessage =
  | { topic: 'keys.invalidate'; keyHashes: string[] }
  | { topic: 'keys.invalidate-all' }
  | { topic: 'catalog.changed' };

export type BusHandler = (message: BusMessage) => void | Promise<void>;

/** Cache invalidation and live events across instances (in process, or Redis pub/sub). */
export interface EventBus {
  /** Resolves once this instance's handlers have run, so a change is in effect here when it returns. */
  publish(message: BusMessage): Promise<void>;
  subscribe(handler: BusHandler): () => void;
}
