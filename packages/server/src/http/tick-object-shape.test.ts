import { describe, expect, it } from 'vitest';
import { keepTickObjectShape } from './tick-object-shape.ts';

describe('keepTickObjectShape', () => {
  it("keeps one of process.nextTick's queue entries, the same however often it is asked", () => {
    const kept = keepTickObjectShape();
    // Node's entry: the callback and the two async ids under Node's own symbols.
    expect(kept).toMatchObject({ callback: expect.any(Function) });
    expect(Object.getOwnPropertySymbols(kept).map(String)).toEqual(['Symbol(async_id_symbol)', 'Symbol(trigger_async_id_symbol)']);
    expect(keepTickObjectShape()).toBe(kept);
  });
});
