import { describe, expect, it } from 'vitest';
import { CallBatch, NO_TEXT } from './call-batch.ts';
import type { UsageRecord } from './domain.ts';

const T0 = Date.UTC(2026, 11, 3, 23, 59, 58);

function call(i: number, change: Partial<UsageRecord> = {}): UsageRecord {
  return {
    requestId: `req_${i}`,
    apiKeyId: `key_${i % 3}`,
    userId: 'usr_1',
    productId: 'prd_1',
    routeId: 'rte_1',
    routePath: '/v1/tokens/{mint}/price',
    path: `/v1/tokens/mint${i % 5}/price`,
    method: 'GET',
    statusCode: i % 7 === 0 ? 429 : 200,
    errorCode: i % 7 === 0 ? 'rate_limit_exceeded' : null,
    bytesIn: i,
    bytesOut: 400 + i,
    latencyMs: i % 4,
    ip: i % 2 === 0 ? '203.0.113.7' : '2001:db8::1',
    isSandbox: i % 2 === 1,
    createdAt: new Date(T0 + i * 7),
    counted: i % 7 !== 0,
    overage: i % 11 === 0,
    quotaEvents: i === 12 ? [{ type: 'usage.threshold', period: 'day', periodStart: '2026-12-03', usage: 90, quota: 100, overage: false }] : null,
    ...change,
  };
}

describe('CallBatch', () => {
  it('gives back every call as recorded, past its first capacity', () => {
    const records = Array.from({ length: 2_500 }, (_, i) => call(i));
    const batch = new CallBatch(16);
    for (const record of records) batch.append(record);
    expect(batch.length).toBe(2_500);
    expect(batch.keyCount).toBe(3);
    expect(batch.records()).toEqual(records);
  });

  it('keeps each distinct text once and null as no text', () => {
    const batch = CallBatch.of([call(0), call(3, { errorCode: null, routePath: null }), call(6)]);
    expect(batch.texts.filter((text) => text === 'usr_1')).toHaveLength(1);
    expect(batch.textAt('routePath', 1)).toBe(NO_TEXT);
    expect(batch.text('routePath', 1)).toBeNull();
    expect(batch.text('routePath', 2)).toBe('/v1/tokens/{mint}/price');
    expect(batch.textAt('userId', 0)).toBe(batch.textAt('userId', 2));
  });

  it('counts distinct keys, a call without a key as one more, and tells whether a key is new', () => {
    const batch = CallBatch.of([call(0), call(3), call(1)]); // key_0, key_0, key_1
    expect(batch.keyCount).toBe(2);
    expect(batch.isNewKey('key_0')).toBe(false);
    expect(batch.isNewKey('key_2')).toBe(true);
    // A text already in the batch under another field is still a new key.
    expect(batch.isNewKey('usr_1')).toBe(true);
    expect(batch.isNewKey(null)).toBe(true);
    batch.append(call(4, { apiKeyId: null }));
    expect(batch.keyCount).toBe(3);
    expect(batch.isNewKey(null)).toBe(false);
  });

  it('keeps the limits a call reached with that call only', () => {
    const batch = CallBatch.of(Array.from({ length: 20 }, (_, i) => call(i)));
    expect([...batch.quotaEvents.keys()]).toEqual([12]);
    expect(batch.record(12).quotaEvents).toEqual(call(12).quotaEvents);
    expect(batch.record(13).quotaEvents).toBeNull();
  });

  it('gives back request ids of any length and characters, kept as bytes past the room first given them', () => {
    const ids = ['', 'r', 'x'.repeat(300), 'req_é€😀', `req_${'ü'.repeat(100)}`, 'req_tab\tline\nend', 'req_last'];
    const batch = new CallBatch(2);
    for (const [i, requestId] of ids.entries()) batch.append(call(i, { requestId }));
    expect(ids.map((_, i) => batch.requestId(i))).toEqual(ids);
    batch.clear();
    batch.append(call(0, { requestId: 'req_after_clear' }));
    expect(batch.requestId(0)).toBe('req_after_clear');
  });

  it('once cleared, holds only the calls appended since', () => {
    const batch = CallBatch.of(Array.from({ length: 40 }, (_, i) => call(i)));
    batch.clear();
    expect(batch.length).toBe(0);
    expect(batch.keyCount).toBe(0);
    expect(batch.isNewKey('key_0')).toBe(true);
    const again = [call(100, { apiKeyId: 'key_9' }), call(101)];
    for (const record of again) batch.append(record);
    expect(batch.records()).toEqual(again);
    expect(batch.texts).not.toContain('/v1/tokens/mint3/price');
    expect(batch.quotaEvents.size).toBe(0);
  });
});
