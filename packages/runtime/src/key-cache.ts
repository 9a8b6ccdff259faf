import { LRUCache } from 'lru-cache';
import type { EventBus } from '@tollgate/core';

export interface KeyCacheOptions {
  maxEntries?: number;
  /** A safety net only: invalidation over the bus is what makes changes take effect at once. */
  ttlMs?: number;
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
  private readonly unsubscribe: () => void;
  private invalidations = 0;

  constructor(bus: EventBus, options: KeyCacheOptions = {}) {
    this.lru = new LRUCache({ max: options.maxEntries ?? 500_000, ttl: options.ttlMs ?? 5 * 60_000, ttlAutopurge: false });
    this.missingTtlMs = options.missingTtlMs ?? 1_000;
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
    else this.lru.set(hash, value);
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
