import { describe, expect, it } from 'vitest';
import { KeyCache } from './key-cache.ts';
import { MemoryEventBus } from './memory-event-bus.ts';

interface CachedKey {
  id: string;
  plan: string;
}

const wait = (msToWait: number) => new Promise((resolve) => setTimeout(resolve, msToWait));

function setup(options: ConstructorParameters<typeof KeyCache>[1] = {}) {
  const bus = new MemoryEventBus();
  const cache = new KeyCache<CachedKey>(bus, options);
  return { bus, cache };
}

describe('KeyCache', () => {
  it('a key that was set is served from the cache; an unknown hash is undefined (not cached)', () => {
    const { cache } = setup();
    const record = { id: 'key_1', plan: 'pro' };
    cache.set('hash_1', record);
    expect(cache.get('hash_1')).toBe(record);
    expect(cache.get('hash_2')).toBeUndefined();
    expect(cache.size).toBe(1);
  });

  it('a known-missing key is remembered as null, distinct from not cached', () => {
    const { cache } = setup();
    cache.set('hash_missing', null);
    expect(cache.get('hash_missing')).toBeNull();
    expect(cache.get('hash_other')).toBeUndefined();
  });

  it('counts the invalidations it has seen (its generation), and nothing else', async () => {
    const { bus, cache } = setup();
    expect(cache.generation).toBe(0);
    await bus.publish({ topic: 'catalog.changed' });
    await bus.publish({ topic: 'webhooks.pending' });
    expect(cache.generation).toBe(0);
    await bus.publish({ topic: 'keys.invalidate', keyHashes: ['hash_9'] });
    await bus.publish({ topic: 'keys.invalidate-all' });
    expect(cache.generation).toBe(2);
  });

  it('keys.invalidate drops only the named hashes', async () => {
    const { bus, cache } = setup();
    cache.set('hash_1', { id: 'key_1', plan: 'pro' });
    cache.set('hash_2', { id: 'key_2', plan: 'pro' });
    cache.set('hash_3', { id: 'key_3', plan: 'free' });
    cache.set('hash_4', null);
    await bus.publish({ topic: 'keys.invalidate', keyHashes: ['hash_1', 'hash_4', 'hash_never_cached'] });
    expect(cache.get('hash_1')).toBeUndefined();
    expect(cache.get('hash_4')).toBeUndefined();
    expect(cache.get('hash_2')).toEqual({ id: 'key_2', plan: 'pro' });
    expect(cache.get('hash_3')).toEqual({ id: 'key_3', plan: 'free' });
    expect(cache.size).toBe(2);
  });

  it('keys.invalidate-all clears every entry, found and missing', async () => {
    const { bus, cache } = setup();
    cache.set('hash_1', { id: 'key_1', plan: 'pro' });
    cache.set('hash_2', null);
    await bus.publish({ topic: 'keys.invalidate-all' });
    expect(cache.get('hash_1')).toBeUndefined();
    expect(cache.get('hash_2')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('a catalog.changed message leaves the key cache alone', async () => {
    const { bus, cache } = setup();
    cache.set('hash_1', { id: 'key_1', plan: 'pro' });
    await bus.publish({ topic: 'catalog.changed' });
    expect(cache.get('hash_1')).toEqual({ id: 'key_1', plan: 'pro' });
  });

  it('every cache on the bus (every instance) drops the invalidated key', async () => {
    const bus = new MemoryEventBus();
    const a = new KeyCache<CachedKey>(bus);
    const b = new KeyCache<CachedKey>(bus);
    a.set('hash_1', { id: 'key_1', plan: 'pro' });
    b.set('hash_1', { id: 'key_1', plan: 'pro' });
    await bus.publish({ topic: 'keys.invalidate', keyHashes: ['hash_1'] });
    expect(a.get('hash_1')).toBeUndefined();
    expect(b.get('hash_1')).toBeUndefined();
  });

  it('after close() the cache no longer listens to the bus', async () => {
    const { bus, cache } = setup();
    cache.set('hash_1', { id: 'key_1', plan: 'pro' });
    cache.close();
    await bus.publish({ topic: 'keys.invalidate-all' });
    expect(cache.get('hash_1')).toEqual({ id: 'key_1', plan: 'pro' });
  });

  it('a "missing" entry expires after missingTtlMs, so a key created later is looked up again', async () => {
    const { cache } = setup({ missingTtlMs: 1 });
    cache.set('hash_new', null);
    // (That it reads back as null before expiring is covered with the default TTL above.)
    await wait(20);
    expect(cache.get('hash_new')).toBeUndefined();
  });

  it('with the default missing TTL (1 s) a miss is still remembered 20 ms later', async () => {
    const { cache } = setup();
    cache.set('hash_unknown', null);
    await wait(20);
    expect(cache.get('hash_unknown')).toBeNull();
  });

  it('a found key outlives the missing TTL (the short TTL applies to misses only)', async () => {
    const { cache } = setup({ missingTtlMs: 1 });
    cache.set('hash_found', { id: 'key_1', plan: 'pro' });
    await wait(20);
    expect(cache.get('hash_found')).toEqual({ id: 'key_1', plan: 'pro' });
  });

  it('a key found after a cached miss replaces it and is not expired by the miss TTL', async () => {
    const { cache } = setup({ missingTtlMs: 1 });
    cache.set('hash_1', null);
    cache.set('hash_1', { id: 'key_1', plan: 'pro' });
    await wait(20);
    expect(cache.get('hash_1')).toEqual({ id: 'key_1', plan: 'pro' });
  });

  it('keeps a found key between half of ttlMs and all of it, drawn for each entry, so keys loaded together expire apart', async () => {
    const draws = [0, 0.99];
    const { cache } = setup({ ttlMs: 600, random: () => draws.shift() ?? 0 });
    cache.set('hash_short', { id: 'key_1', plan: 'pro' }); // kept 300 ms
    cache.set('hash_long', { id: 'key_2', plan: 'pro' }); // kept ~600 ms
    await wait(450);
    expect(cache.get('hash_short')).toBeUndefined();
    expect(cache.get('hash_long')).toEqual({ id: 'key_2', plan: 'pro' });
  });

  it('maxEntries bounds the cache, evicting the least recently used key', () => {
    const { cache } = setup({ maxEntries: 2 });
    cache.set('hash_1', { id: 'key_1', plan: 'pro' });
    cache.set('hash_2', { id: 'key_2', plan: 'pro' });
    cache.get('hash_1'); // hash_2 is now the least recently used
    cache.set('hash_3', { id: 'key_3', plan: 'pro' });
    expect(cache.size).toBe(2);
    expect(cache.get('hash_2')).toBeUndefined();
    expect(cache.get('hash_1')).toEqual({ id: 'key_1', plan: 'pro' });
    expect(cache.get('hash_3')).toEqual({ id: 'key_3', plan: 'pro' });
  });
});
