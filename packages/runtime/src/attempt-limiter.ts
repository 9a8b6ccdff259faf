import { tokenBucket, type BucketState, type RatePolicy } from '@tollgate/core';

/**
 * Slows guessing: counts failures (bad keys, bad passwords) per client and refuses a client whose
 * failures used up the burst, until they refill. Successes cost nothing.
 */
export class MemoryAttemptLimiter {
  private readonly buckets = new Map<string, BucketState>();
  private readonly policy: RatePolicy;

  constructor(burst: number, perMinute: number, private readonly maxEntries = 100_000) {
    this.policy = { algorithm: 'token-bucket', ratePerMinute: perMinute, burst };
  }

  /** Milliseconds until this client may try again; 0 when it may try now. */
  blockedForMs(client: string, nowMs: number): number {
    const bucket = this.buckets.get(client);
    if (bucket === undefined) return 0;
    const { decision } = tokenBucket(bucket, nowMs, this.policy);
    return decision.allowed ? 0 : decision.retryAfterMs;
  }

  recordFailure(client: string, nowMs: number): void {
    if (this.buckets.size >= this.maxEntries && !this.buckets.has(client)) this.evictRefilled(nowMs);
    this.buckets.set(client, tokenBucket(this.buckets.get(client), nowMs, this.policy).state);
  }

  /** Forgets clients whose bucket has refilled (they are as good as new). */
  private evictRefilled(nowMs: number): void {
    const fullAfterMs = Math.ceil((this.policy.burst * 60_000) / this.policy.ratePerMinute);
    for (const [client, bucket] of this.buckets) if (nowMs - bucket.updatedMs >= fullAfterMs) this.buckets.delete(client);
    // Under a flood of distinct clients, forget the oldest rather than grow without bound.
    if (this.buckets.size >= this.maxEntries) {
      const first = this.buckets.keys().next();
      if (!first.done) this.buckets.delete(first.value);
    }
  }
}
