import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdmissionStore } from '@tollgate/core';
import { KeyCache, MemoryAdmissionStore, MemoryEventBus } from '@tollgate/runtime';
import type { Repositories } from '@tollgate/store';
import { sha256Hex } from '../services/hash.ts';
import { createTestApp, type TestApp } from '../testing/harness.ts';
import { KeyResolver, type ResolvedKey } from './key-resolver.ts';

describe('KeyResolver', () => {
  let t: TestApp;
  /** Hashes of keys issued through the API, and their ids. */
  const keys: { hash: string; id: string }[] = [];

  beforeAll(async () => {
    t = await createTestApp();
    const user = await t.signup();
    for (let i = 0; i < 12; i++) {
      const { key, id } = await t.createKey(user.token, { planId: 'cm-free', label: `cold ${i}` });
      keys.push({ hash: sha256Hex(key), id });
    }
  });
  afterAll(() => t.close());

  /** A resolver on the app's store, counting the store's lookups and the keys asked of each; `store.down` fails them. */
  function resolver(admission: AdmissionStore = new MemoryAdmissionStore(), store: { down: boolean; read?: () => Promise<void> } = { down: false }) {
    const lookups: number[] = [];
    const real = t.deps.repos.keys;
    const spied = Object.create(real) as Repositories['keys'];
    spied.findManyForGateway = async (hashes, nowMs) => {
      lookups.push(hashes.length);
      if (store.down) throw new Error('store down');
      const found = await real.findManyForGateway(hashes, nowMs);
      await store.read?.(); // what happens after the store was read, before the lookup ends
      return found;
    };
    const bus = new MemoryEventBus();
    const cache = new KeyCache<ResolvedKey>(bus);
    return { keys: new KeyResolver(cache, { ...t.deps.repos, keys: spied }, admission, { now: () => Date.now() }), lookups, cache, bus };
  }

  it('looks up the keys that come cold in one turn with one query, each caller getting its own key', async () => {
    const { keys: resolve, lookups, cache } = resolver();
    const unknown = sha256Hex('tg_live_not-a-key');
    const asked = [...keys.map((k) => k.hash), unknown, keys[0]!.hash];
    const answers = await Promise.all(asked.map((hash) => resolve.load(hash)));
    expect(lookups).toEqual([13]); // one query; the key asked twice is looked up once
    expect(answers.map((key) => key?.id ?? null)).toEqual([...keys.map((k) => k.id), null, keys[0]!.id]);
    expect(answers[0]).toBe(answers[13]);
    expect(resolve.cached(keys[5]!.hash)?.id).toBe(keys[5]!.id);
    expect(cache.get(unknown)).toBeNull(); // remembered as unknown

    // Keys asked for while a lookup runs go in the next one, together.
    const second = resolver();
    const first = second.keys.load(keys[0]!.hash);
    await new Promise((resolve) => setImmediate(resolve)); // the first lookup has started
    const later = keys.slice(1, 6).map((k) => second.keys.load(k.hash));
    expect((await Promise.all([first, ...later])).map((key) => key?.id)).toEqual(keys.slice(0, 6).map((k) => k.id));
    expect(second.lookups).toEqual([1, 5]);
  });

  it('a key whose counts cannot be seeded fails alone; a failed lookup fails its batch and the next load asks again', async () => {
    const memory = new MemoryAdmissionStore();
    const failing = keys[3]!.id;
    const admission = Object.create(memory) as AdmissionStore;
    admission.seedCounts = (keyId, counts) => (keyId === failing ? Promise.reject(new Error('limiter unavailable')) : memory.seedCounts(keyId, counts));
    const { keys: resolve } = resolver(admission);
    const outcomes = await Promise.allSettled(keys.slice(0, 6).map((k) => resolve.load(k.hash)));
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(resolve.cached(keys[3]!.hash)).toBeUndefined(); // not cached: the next call tries again

    const store = { down: true };
    const broken = resolver(new MemoryAdmissionStore(), store);
    const failed = await Promise.allSettled([broken.keys.load(keys[0]!.hash), broken.keys.load(keys[1]!.hash)]);
    expect(failed.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    store.down = false;
    expect((await broken.keys.load(keys[0]!.hash))?.id).toBe(keys[0]!.id);
    expect(broken.lookups).toEqual([2, 1]);
  });

  it('does not cache what it read when an invalidation came while it read (a revocation committed meanwhile)', async () => {
    const store: { down: boolean; read?: () => Promise<void> } = { down: false };
    const raced = resolver(new MemoryAdmissionStore(), store);
    store.read = () => raced.bus.publish({ topic: 'keys.invalidate', keyHashes: [keys[7]!.hash] });
    expect((await raced.keys.load(keys[7]!.hash))?.id).toBe(keys[7]!.id); // this call has its answer
    expect(raced.keys.cached(keys[7]!.hash)).toBeUndefined(); // the next one reads the store again
    store.read = undefined;
    await raced.keys.load(keys[7]!.hash);
    expect(raced.keys.cached(keys[7]!.hash)?.id).toBe(keys[7]!.id);
  });
});
