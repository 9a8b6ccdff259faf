import { describe, expect, it } from 'vitest';
import { PendingRollups, type CounterRow, type RollupRow } from './usage.ts';

const rollup = (keyId: string, minute: number, endpoint: string, count = 1): RollupRow => ({ keyId, minute, endpoint, status: 200, userId: 'usr_a', productId: 'prd_a', count, bytes: 10, latency: 1 });
const counter = (keyId: string, period: string, calls = 1): CounterRow => ({ keyId, period, count: calls, overage: 0, dayStartMs: 0, dayCount: calls, calls, lastAt: 0 });

describe('PendingRollups', () => {
  it('folds the rows of several batches, and gives them in lock order (key, then the rest of the primary key)', async () => {
    const held = new PendingRollups();
    // Keys come in the order of their calls, a key's minutes and endpoints in any order.
    held.add({ blockIds: [1], rollups: [rollup('key_c', 120_000, '/b'), rollup('key_a', 60_000, '/b'), rollup('key_c', 60_000, '/a')], counters: [counter('key_c', 'month:2026-12'), counter('key_a', 'month:2026-12')] }, 0);
    held.add({ blockIds: [2], rollups: [rollup('key_b', 60_000, '/a'), rollup('key_a', 60_000, '/a'), rollup('key_c', 120_000, '/b', 2)], counters: [counter('key_b', 'month:2026-12'), counter('key_a', 'month:2026-11'), counter('key_c', 'month:2026-12', 3)] }, 0);
    expect(held.size).toBe(9); // five rollups, four counters
    const taken = await held.take();
    expect(taken.blockIds).toEqual([1, 2]);
    expect(taken.rollups.map((r) => `${r.keyId} ${r.minute} ${r.endpoint} ${r.count}`)).toEqual([
      'key_a 60000 /a 1',
      'key_a 60000 /b 1',
      'key_b 60000 /a 1',
      'key_c 60000 /a 1',
      'key_c 120000 /b 3',
    ]);
    expect(taken.counters.map((c) => `${c.keyId} ${c.period} ${c.calls}`)).toEqual(['key_a month:2026-11 1', 'key_a month:2026-12 1', 'key_b month:2026-12 1', 'key_c month:2026-12 4']);
    expect(held.size).toBe(0);
    expect(await held.take()).toEqual({ blockIds: [], rollups: [], counters: [] });
  });

  it('orders many keys in slices, giving the event loop turns meanwhile, and holds rows added meanwhile for the next take', async () => {
    const held = new PendingRollups();
    // Keys in no order, of several lengths and cases, some sharing long prefixes.
    const keyIds = Array.from({ length: 30_000 }, (_, i) => `key_${((i * 7_919) % 30_000).toString(36)}${i % 3 === 0 ? 'Z' : 'a'}`);
    held.add({ blockIds: [1], rollups: keyIds.map((keyId) => rollup(keyId, 60_000, '/a')), counters: keyIds.map((keyId) => counter(keyId, 'month:2026-12')) }, 0);
    let turns = 0;
    const ticking = setInterval(() => turns++, 0);
    const taking = held.take();
    // Added while the take is under way: not in it, held for the next.
    held.add({ blockIds: [2], rollups: [rollup('key_late', 120_000, '/a')], counters: [] }, 0);
    const taken = await taking;
    clearInterval(ticking);

    expect(turns).toBeGreaterThan(0);
    expect(taken.blockIds).toEqual([1]);
    expect(taken.rollups.map((r) => r.keyId)).toEqual([...keyIds].sort());
    expect(taken.counters.map((c) => c.keyId)).toEqual([...keyIds].sort());
    expect(held.size).toBe(1);
    expect(await held.take()).toMatchObject({ blockIds: [2], rollups: [{ keyId: 'key_late' }] });
  });
});
