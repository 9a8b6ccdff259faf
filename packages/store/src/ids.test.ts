import { describe, expect, it } from 'vitest';
import { kindOfId } from '@tollgate/contracts';
import { newId, requestIdGenerator } from './ids.ts';

describe('ids', () => {
  it('newId carries its kind and 22 base62 characters', () => {
    const id = newId('apiKey');
    expect(id).toMatch(/^key_[0-9A-Za-z]{22}$/);
    expect(kindOfId(id)).toBe('apiKey');
  });

  it('request ids have the shape of every id, never repeat, and differ between processes', () => {
    const next = requestIdGenerator();
    const ids = Array.from({ length: 10_000 }, next);
    for (const id of [ids[0], ids[9_999]]) expect(id).toMatch(/^req_[0-9A-Za-z]{22}$/);
    expect(kindOfId(ids[0] as string)).toBe('request');
    expect(new Set(ids).size).toBe(ids.length);
    // Another generator (another process) starts from another random stem.
    expect(requestIdGenerator()().slice(0, 15)).not.toBe((ids[0] as string).slice(0, 15));
  });
});
