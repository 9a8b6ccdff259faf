import type { KeyStatus, SubscriptionStatus } from '@tollgate/contracts';
import {
  dayPeriod,
  limitsFor,
  monthPeriod,
  parseAllowlist,
  type AdmissionStore,
  type Clock,
  type KeyLimits,
  type ParsedCidr,
} from '@tollgate/core';
import type { KeyCache } from '@tollgate/runtime';
import type { KeyForGateway, Repositories } from '@tollgate/store';

/** Everything the hot path needs about a key, parsed once when it enters the cache. */
export interface ResolvedKey {
  id: string;
  userId: string;
  planId: string;
  planCode: string;
  productId: string;
  status: KeyStatus;
  expiresAtMs: number | null;
  isSandbox: boolean;
  /** null for sandbox keys. */
  subscriptionStatus: SubscriptionStatus | null;
  allowlist: ParsedCidr[];
  entitlements: ReadonlySet<string>;
  /** Passed to upstreams as `X-Tollgate-Entitlements`. */
  entitlementsHeader: string;
  limits: KeyLimits;
  historyDays: number | null;
}

/** Keys looked up in one store query at most. */
const LOOKUP_BATCH = 500;

interface Waiting {
  resolve(key: ResolvedKey | null): void;
  reject(error: unknown): void;
}

/**
 * Finds keys by sha256: from the cache when warm, from the store once when cold. Cold keys are
 * looked up together: those asked for in one turn of the event loop (and while a lookup runs) go
 * in one query, so a restart with many keys in use costs a query per batch, not per key.
 */
export class KeyResolver {
  private readonly inflight = new Map<string, Promise<ResolvedKey | null>>();
  /** Cold keys waiting for the next lookup. */
  private readonly queued = new Map<string, Waiting>();
  private lookups: Promise<void> | null = null;
  /**
   * One set per list of entitlements, shared by the keys of a plan: with many keys, a set of each
   * key's own was a cache miss on every call (~0.7 µs a call with 1,000 keys, perf).
   */
  private readonly entitlementSets = new Map<string, ReadonlySet<string>>();

  constructor(
    private readonly cache: KeyCache<ResolvedKey>,
    private readonly repos: Repositories,
    private readonly admission: AdmissionStore,
    private readonly clock: Clock,
  ) {}

  /** Synchronous on a warm key: `undefined` means "not cached, call `load`". */
  cached(hash: string): ResolvedKey | null | undefined {
    return this.cache.get(hash);
  }

  /** One store lookup per cold key, however many calls arrive for it at once. */
  load(hash: string): Promise<ResolvedKey | null> {
    let pending = this.inflight.get(hash);
    if (!pending) {
      pending = new Promise<ResolvedKey | null>((resolve, reject) => this.queued.set(hash, { resolve, reject })).finally(() => this.inflight.delete(hash));
      this.inflight.set(hash, pending);
      // After the turn's other calls (setImmediate runs once the turn's I/O is handled).
      this.lookups ??= new Promise((resolve) => setImmediate(resolve))
        .then(() => this.lookUpQueued())
        .finally(() => {
          this.lookups = null;
        });
    }
    return pending;
  }

  /** Looks up the queued keys, a batch at a time, until none is left. */
  private async lookUpQueued(): Promise<void> {
    while (this.queued.size > 0) {
      const batch = [...this.queued].slice(0, LOOKUP_BATCH);
      for (const [hash] of batch) this.queued.delete(hash);
      try {
        const now = this.clock.now();
        const generation = this.cache.generation;
        const found = await this.repos.keys.findManyForGateway(batch.map(([hash]) => hash), now);
        // Each key on its own: one whose counts cannot be seeded (Redis down) fails alone.
        const resolved = await Promise.allSettled(batch.map(([hash]) => this.resolve(hash, found.get(hash), now, generation)));
        batch.forEach(([, waiting], i) => {
          const outcome = resolved[i] as PromiseSettledResult<ResolvedKey | null>;
          if (outcome.status === 'fulfilled') waiting.resolve(outcome.value);
          else waiting.reject(outcome.reason);
        });
      } catch (error) {
        for (const [, waiting] of batch) waiting.reject(error);
      }
    }
  }

  /**
   * A key found (or not) in the store, cached as the hot path reads it unless an invalidation
   * came since the store was read (`generation`): a revocation that committed while the lookup
   * ran must not be undone by caching what the lookup read; the next call reads again.
   */
  private async resolve(hash: string, found: KeyForGateway | undefined, now: number, generation: number): Promise<ResolvedKey | null> {
    if (!found) {
      if (this.cache.generation === generation) this.cache.set(hash, null);
      return null;
    }
    const { key, plan, subscriptionStatus, counts } = found;
    // Counts this process (or Redis) does not keep yet continue from the persisted ones.
    await this.admission.seedCounts(key.id, { day: dayPeriod(now), dayUsed: counts.day, month: monthPeriod(now), monthUsed: counts.month });
    const resolved: ResolvedKey = {
      id: key.id,
      userId: key.userId,
      planId: plan.id,
      planCode: plan.code,
      productId: plan.productId,
      status: key.status,
      expiresAtMs: key.expiresAt ? key.expiresAt.getTime() : null,
      isSandbox: key.isSandbox,
      subscriptionStatus: key.isSandbox ? null : subscriptionStatus,
      allowlist: parseAllowlist(key.ipWhitelist),
      entitlements: this.entitlementSet(plan.entitlements),
      entitlementsHeader: plan.entitlements.join(','),
      limits: limitsFor(plan, key.isSandbox),
      historyDays: plan.limits.historyDays ?? null,
    };
    if (this.cache.generation === generation) this.cache.set(hash, resolved);
    return resolved;
  }

  private entitlementSet(entitlements: readonly string[]): ReadonlySet<string> {
    const id = JSON.stringify(entitlements);
    let set = this.entitlementSets.get(id);
    if (!set) {
      set = new Set(entitlements);
      this.entitlementSets.set(id, set);
    }
    return set;
  }
}
