import { LRUCache } from 'lru-cache';
import type { EventBus } from '@tollgate/core';

export interface KeyCacheOptions {
  maxEntries?: number;
  /**
   * Longest time a found key is kept (default 30 min), each entry for between half of it and
   * all of it, so that keys loaded together are not loaded again together. A safety net only:
   * invalidation over the bus is what makes changes take effect at once (and a Redis bus that
   * reconnects clears the cache). With 100,000 keys in use, 5 minutes meant a reload of every
   * key every 5 minutes, all at once after a start: rounds of the bench at a quarter of their
   * throughput (docs/benchmarks.md). Less than the hour after which the in-process limiter
   * forgets an idle key (`MemoryAdmissionStore`): its next call must load the key, which seeds
   * its counts again.
   */
  ttlMs?: number;
  /** Where an entry's time in [ttlMs / 2, ttlMs] is drawn from (tests); Math.random by default. */
  random?: () => number;
  /** How long "no such key" is remembered, so a flood of one unknown key costs one lookup. */
  missingTtlMs?: number;
}

const MISSING = Symbol('missing');

/**
 * Resolved keys by sha256, so a warm key costs no database round trip. Entries are dropped when
 * the bus says a key, its plan or its subscription changed.
 */
export class KeyCache<T extends object> {
  private readonly lru: LRUCache<string, T | typeof MISSING>;
  private readonly missingTtlMs: number;
  private readonly ttlMs: number;
  private readonly random: () => number;
  private readonly unsubscribe: () => void;
  private invalidations = 0;

  constructor(bus: EventBus, options: KeyCacheOptions = {}) {
    this.ttlMs = options.ttlMs ?? 30 * 60_000;
    this.lru = new LRUCache({ max: options.maxEntries ?? 500_000, ttl: this.ttlMs, ttlAutopurge: false });
    this.missingTtlMs = options.missingTtlMs ?? 1_000;
    this.random = options.random ?? Math.random;
    this.unsubscribe = bus.subscribe((message) => {
      if (message.topic === 'keys.invalidate') {
        this.invalidations++;
        for (const hash of message.keyHashes) this.lru.delete(hash);
      } else if (message.topic === 'keys.invalidate-all') {
        this.invalidations++;
        this.lru.clear();
      }
    });
  }

  /** `undefined`: not cached; `null`: known not to exist. */
  get(hash: string): T | null | undefined {
    const value = this.lru.get(hash);
    return value === MISSING ? null : value;
  }

  set(hash: string, value: T | null): void {
    if (value === null) this.lru.set(hash, MISSING, { ttl: this.missingTtlMs });
    else this.lru.set(hash, value, { ttl: Math.ceil(this.ttlMs * (1 + this.random()) / 2) });
  }

  /**
   * Invalidations seen so far. A key read from the store before an invalidation may be stale:
   * whoever read it compares this number before caching what it read.
   */
  get generation(): number {
    return this.invalidations;
  }

  get size(): number {
    return this.lru.size;
  }

  close(): void {
    this.unsubscribe();
  }
}
