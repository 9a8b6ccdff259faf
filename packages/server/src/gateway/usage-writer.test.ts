import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import type { CallBatch, UsageRecord } from '@tollgate/core';
import { createRepositories, queryRows, type Repositories } from '@tollgate/store';
import { openTestPglite, testUsageRecord, type TestDatabase } from '@tollgate/store/testing';
import { UsageWriter } from './usage-writer.ts';

const silent = pino({ level: 'silent' });

const record = (requestId: string, at: number): UsageRecord =>
  testUsageRecord({ requestId, createdAt: new Date(at), statusCode: 401, errorCode: 'invalid_api_key', counted: false });

describe('UsageWriter', () => {
  let database: TestDatabase;
  let repos: Repositories;

  beforeAll(async () => {
    database = await openTestPglite();
    repos = createRepositories(database.db);
  });
  afterAll(() => database.close());

  // In the order recorded: each test's calls are recorded in the order of their times, then ids.
  const stored = async (prefix: string) =>
    (await queryRows<{ request_id: string }>(database.db, sql`select request_id from api_usage where request_id like ${`${prefix}%`} order by created_at, request_id`)).map((r) => r.request_id);

  it('writes everything buffered in batches, in the order recorded', async () => {
    const writer = new UsageWriter(repos.usage, silent, { flushIntervalMs: 60_000, batchSize: 7 });
    const ids = Array.from({ length: 30 }, (_, i) => `req_order_${String(i).padStart(2, '0')}`);
    ids.forEach((id, i) => writer.record(record(id, Date.UTC(2026, 10, 23, 10, 0, i))));
    expect(writer.pending).toBe(30);
    await writer.flush();
    expect(writer.pending).toBe(0);
    expect(writer.written).toBe(30);
    expect(await stored('req_order_')).toEqual(ids);
  });

  it('wakes the webhook workers once a batch with quota events is written, and only then', async () => {
    let wakes = 0;
    const writer = new UsageWriter(repos.usage, silent, { flushIntervalMs: 60_000, onWebhookEvents: () => wakes++ });
    const at = Date.UTC(2026, 10, 23, 11);
    writer.record(testUsageRecord({ apiKeyId: 'key_wake', createdAt: new Date(at) }));
    await writer.flush();
    expect(wakes).toBe(0);
    const reached = { type: 'usage.threshold', period: 'month', periodStart: '2026-11', usage: 80, quota: 100, overage: false } as const;
    writer.record(testUsageRecord({ apiKeyId: 'key_wake', createdAt: new Date(at + 1), quotaEvents: [reached] }));
    await writer.flush();
    expect(wakes).toBe(1);
    const [event] = await queryRows<{ type: string }>(database.db, sql`select type from webhook_events where dedupe_key = ${'usage.threshold:key_wake:2026-11'}`);
    expect(event?.type).toBe('usage.threshold'); // stored before the wake-up
  });

  /** The calls in the minute rollups of a key. */
  const rolledUp = async (keyId: string) =>
    Number((await queryRows<{ n: string | number | null }>(database.db, sql`select sum(count) as n from usage_rollups where api_key_id = ${keyId}`))[0]?.n ?? 0);
  /** A key's calls in its counters (all months), and those counted toward its quotas. */
  const counted = async (keyId: string) => {
    const [row] = await queryRows<{ calls: string | number | null; count: string | number | null }>(database.db, sql`select sum(calls) as calls, sum(count) as count from usage_counters where api_key_id = ${keyId}`);
    return { calls: Number(row?.calls ?? 0), count: Number(row?.count ?? 0) };
  };
  const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('holds the rollups and counters of many keys (past rollupRowsAtOnce) for rollupHoldMs, folded, and writes few at once', async () => {
    const now = Math.floor(Date.now() / 60_000) * 60_000; // this minute: one rollup row a key
    const keys = ['key_hold_a', 'key_hold_b', 'key_hold_c'];
    const holding = new UsageWriter(repos.usage, silent, { flushIntervalMs: 20, rollupRowsAtOnce: 2, rollupHoldMs: 60_000 });
    holding.start();
    for (let i = 0; i < 30; i++) holding.record(testUsageRecord({ apiKeyId: keys[i % 3] as string, createdAt: new Date(now + i) }));
    await settle(120); // several timed flushes
    for (let i = 30; i < 60; i++) holding.record(testUsageRecord({ apiKeyId: keys[i % 3] as string, createdAt: new Date(now + i) }));
    await settle(120);
    expect(holding.pending).toBe(0); // the calls are stored...
    expect(holding.heldRollups).toBe(6); // ...their rollups and counters held, a row of each a key however many flushes
    expect(await rolledUp('key_hold_a')).toBe(0);
    expect(await counted('key_hold_a')).toEqual({ calls: 0, count: 0 });
    await holding.flush(); // asked for: written
    expect(holding.heldRollups).toBe(0);
    expect(await Promise.all(keys.map(rolledUp))).toEqual([20, 20, 20]);
    expect(await Promise.all(keys.map(counted))).toEqual(keys.map(() => ({ calls: 20, count: 20 })));
    await holding.stop();

    // Held past rollupHoldMs, they are written by a timed flush; so are few rows, at once.
    const brief = new UsageWriter(repos.usage, silent, { flushIntervalMs: 20, rollupRowsAtOnce: 0, rollupHoldMs: 100 });
    brief.start();
    brief.record(testUsageRecord({ apiKeyId: 'key_hold_brief', createdAt: new Date(now) }));
    await expect.poll(() => rolledUp('key_hold_brief'), { timeout: 2_000, interval: 20 }).toBe(1);
    await brief.stop();
    const few = new UsageWriter(repos.usage, silent, { flushIntervalMs: 20 });
    few.start();
    few.record(testUsageRecord({ apiKeyId: 'key_hold_few', createdAt: new Date(now) }));
    await expect.poll(() => rolledUp('key_hold_few'), { timeout: 2_000, interval: 20 }).toBe(1);
    await few.stop();
  });

  it('writes the rows held once they are maxHeldRows, however recent', async () => {
    const now = Math.floor(Date.now() / 60_000) * 60_000;
    const capped = new UsageWriter(repos.usage, silent, { flushIntervalMs: 20, rollupRowsAtOnce: 0, rollupHoldMs: 60_000, maxHeldRows: 4 });
    capped.start();
    capped.record(testUsageRecord({ apiKeyId: 'key_cap_a', createdAt: new Date(now) }));
    await settle(120);
    expect(capped.heldRollups).toBe(2); // a rollup and a counter: under the cap, held
    expect(await rolledUp('key_cap_a')).toBe(0);
    capped.record(testUsageRecord({ apiKeyId: 'key_cap_b', createdAt: new Date(now + 1) }));
    await expect.poll(() => rolledUp('key_cap_b'), { timeout: 2_000, interval: 20 }).toBe(1);
    expect(await rolledUp('key_cap_a')).toBe(1);
    expect(await Promise.all(['key_cap_a', 'key_cap_b'].map(counted))).toEqual([{ calls: 1, count: 1 }, { calls: 1, count: 1 }]);
    expect(capped.heldRollups).toBe(0);
    await capped.stop();
  });

  it('writes the rollups held as their minute ends, before the next minute has any: each key a row a minute; the counters later', async () => {
    const minute = (Math.floor(Date.now() / 60_000) - 5) * 60_000;
    const keys = ['key_minute_a', 'key_minute_b'];
    const rollupsOf = async (keyId: string) =>
      (await queryRows<{ at: Date | string; n: string | number }>(database.db, sql`select minute as at, count as n from usage_rollups where api_key_id = ${keyId} order by minute`)).map(
        (r) => `${new Date(r.at).getTime() - minute} ${Number(r.n)}`,
      );
    const writer = new UsageWriter(repos.usage, silent, { flushIntervalMs: 60_000, rollupRowsAtOnce: 0, rollupHoldMs: 60 * 60_000 });
    // One buffer with calls of two minutes: the batch ends with the minute.
    for (let i = 0; i < 6; i++) writer.record(testUsageRecord({ apiKeyId: keys[i % 2] as string, createdAt: new Date(minute + 50_000 + i) }));
    writer.record(testUsageRecord({ apiKeyId: 'key_minute_a', createdAt: new Date(minute + 60_000) }));
    await writer.flushDue();
    expect(await Promise.all(keys.map(rollupsOf))).toEqual([['0 3'], ['0 3']]); // the first minute's, written once
    expect(await Promise.all(keys.map(counted))).toEqual([{ calls: 0, count: 0 }, { calls: 0, count: 0 }]); // held for counterHoldMs
    expect(writer.heldRollups).toBe(3); // the second minute's rollup of key a, and both keys' counters
    writer.record(testUsageRecord({ apiKeyId: 'key_minute_a', createdAt: new Date(minute + 61_000) }));
    writer.record(testUsageRecord({ apiKeyId: 'key_minute_b', createdAt: new Date(minute + 62_000) }));
    await writer.flushDue();
    expect(await rollupsOf('key_minute_a')).toEqual(['0 3']); // still held: its minute goes on
    writer.record(testUsageRecord({ apiKeyId: 'key_minute_b', createdAt: new Date(minute + 120_000) }));
    await writer.flushDue();
    expect(await Promise.all(keys.map(rollupsOf))).toEqual([['0 3', '60000 2'], ['0 3', '60000 1']]);
    expect(await Promise.all(keys.map(counted))).toEqual([{ calls: 0, count: 0 }, { calls: 0, count: 0 }]);
    await writer.stop();
    expect(await rollupsOf('key_minute_b')).toEqual(['0 3', '60000 1', '120000 1']);
    expect(await Promise.all(keys.map(counted))).toEqual([{ calls: 5, count: 5 }, { calls: 5, count: 5 }]); // each a row, once
  });

  it('holds the keys\' counters for counterHoldMs, past their minute\'s end, and then writes them with a timed flush', async () => {
    const minute = (Math.floor(Date.now() / 60_000) - 5) * 60_000;
    const writer = new UsageWriter(repos.usage, silent, { flushIntervalMs: 20, rollupRowsAtOnce: 0, rollupHoldMs: 60 * 60_000, counterHoldMs: 300 });
    writer.start();
    const startedMs = Date.now();
    writer.record(testUsageRecord({ apiKeyId: 'key_counter_hold', createdAt: new Date(minute) }));
    writer.record(testUsageRecord({ apiKeyId: 'key_counter_hold', createdAt: new Date(minute + 60_000) }));
    await expect.poll(() => rolledUp('key_counter_hold'), { timeout: 2_000, interval: 10 }).toBe(1); // the first minute's, at its end
    await expect.poll(() => counted('key_counter_hold'), { timeout: 2_000, interval: 10 }).toEqual({ calls: 2, count: 2 }); // both calls, in one row
    expect(Date.now() - startedMs).toBeGreaterThanOrEqual(300);
    expect(await rolledUp('key_counter_hold')).toBe(1); // the second minute's rollup is still held: its minute goes on
    await writer.stop();
    expect(await rolledUp('key_counter_hold')).toBe(2);
  });

  it('puts calls recorded late (of the minute before) in the later minute\'s batch, and counts them once', async () => {
    const minute = (Math.floor(Date.now() / 60_000) - 5) * 60_000;
    const batches: number[][] = [];
    const spy = {
      writeBatch: (batch: CallBatch, id: string | undefined, options: { deferRollups: true }) => {
        batches.push(Array.from(batch.createdAtMs.subarray(0, batch.length), (at) => at - minute));
        return repos.usage.writeBatch(batch, id, options);
      },
      writeRollups: (pending) => repos.usage.writeRollups(pending),
      replayRollups: (which) => repos.usage.replayRollups(which),
    } as Repositories['usage'];
    const writer = new UsageWriter(spy, silent, { flushIntervalMs: 60_000, rollupRowsAtOnce: 0, rollupHoldMs: 60 * 60_000 });
    // Calls end out of order around the minute's end, as calls to an upstream of varying latency do.
    for (const at of [59_000, 59_500, 60_010, 59_990, 60_020, 59_995, 61_000]) writer.record(testUsageRecord({ apiKeyId: 'key_late', createdAt: new Date(minute + at) }));
    await writer.flush();
    expect(batches).toEqual([[59_000, 59_500], [60_010, 59_990, 60_020, 59_995, 61_000]]);
    const rollups = await queryRows<{ at: Date | string; n: string | number }>(database.db, sql`select minute as at, count as n from usage_rollups where api_key_id = 'key_late' order by minute`);
    expect(rollups.map((r) => `${new Date(r.at).getTime() - minute} ${Number(r.n)}`)).toEqual(['0 4', '60000 3']);
    expect(await counted('key_late')).toEqual({ calls: 7, count: 7 });
    await writer.stop();
  });

  it("folds from the log the rollups a stopped writer held, once its calls are ten minutes old", async () => {
    const old = Date.now() - 11 * 60_000;
    // A writer that wrote these calls and stopped before writing their rollups.
    await repos.usage.writeBatch([testUsageRecord({ apiKeyId: 'key_orphan', createdAt: new Date(old) }), testUsageRecord({ apiKeyId: 'key_orphan', createdAt: new Date(old + 1) })], undefined, { deferRollups: true });
    expect(await rolledUp('key_orphan')).toBe(0);
    const next = new UsageWriter(repos.usage, silent, { flushIntervalMs: 60_000 });
    await next.flush();
    expect(await rolledUp('key_orphan')).toBe(2);
  });

  it('folds, before it serves, what a writer that stopped (a crash) left pending, however recent', async () => {
    const now = Date.now();
    // A process that wrote these calls and died holding their rollups and counters.
    await repos.usage.writeBatch(
      [testUsageRecord({ apiKeyId: 'key_crashed', createdAt: new Date(now - 2_000) }), testUsageRecord({ apiKeyId: 'key_crashed', createdAt: new Date(now - 1_000), counted: false })],
      undefined,
      { deferRollups: true },
    );
    expect(await counted('key_crashed')).toEqual({ calls: 0, count: 0 });
    const restarted = new UsageWriter(repos.usage, silent, { flushIntervalMs: 60_000 });
    await restarted.recover();
    // The key's quota counts, which a key load seeds from, include them: one counted, one refused.
    expect(await counted('key_crashed')).toEqual({ calls: 2, count: 1 });
    expect(await rolledUp('key_crashed')).toBe(2);
  });

  it('retries at each flush a recovery the database refused, until it is done', async () => {
    let replays = 0;
    const flaky = {
      replayRollups: () => (++replays === 1 ? Promise.reject(new Error('connection refused')) : Promise.resolve(0)),
    } as unknown as Repositories['usage'];
    const writer = new UsageWriter(flaky, silent, { flushIntervalMs: 60_000 });
    await writer.recover(); // logged, not thrown: the process still starts
    expect(replays).toBe(1);
    await writer.flush();
    // The retried recovery, then the check for old blocks of stopped writers (once a minute).
    expect(replays).toBe(3);
    await writer.flush();
    expect(replays).toBe(3);
  });

  it('batches emptied after their write are filled again with only the new calls', async () => {
    const writer = new UsageWriter(repos.usage, silent, { flushIntervalMs: 60_000, batchSize: 3 });
    const first = Array.from({ length: 7 }, (_, i) => `req_reuse_a${i}`);
    const second = Array.from({ length: 8 }, (_, i) => `req_reuse_b${i}`);
    first.forEach((id, i) => writer.record(record(id, Date.UTC(2026, 10, 23, 15, 0, i))));
    await writer.flush();
    second.forEach((id, i) => writer.record(record(id, Date.UTC(2026, 10, 23, 15, 1, i))));
    await writer.flush();
    expect(writer.written).toBe(15);
    expect(await stored('req_reuse_')).toEqual([...first, ...second]);
  });

  it('ends a batch at its size or at its number of distinct keys, whichever comes first', async () => {
    const batches: (string | null)[][] = [];
    const spy = {
      writeBatch: (batch: CallBatch) => {
        batches.push(batch.records().map((r) => r.apiKeyId));
        return Promise.resolve({ blockIds: [], rollups: [], counters: [] });
      },
      replayRollups: () => Promise.resolve(0),
    } as unknown as Repositories['usage'];
    const writer = new UsageWriter(spy, silent, { flushIntervalMs: 60_000, batchSize: 4, batchKeys: 2 });
    const at = Date.UTC(2026, 10, 23, 10);
    ['a', 'a', 'a', 'a', 'a', 'b', 'b', 'c', null, null, 'd'].forEach((keyId, i) => writer.record({ ...record(`req_keys_${i}`, at), apiKeyId: keyId }));
    await writer.flush();
    expect(batches).toEqual([['a', 'a', 'a', 'a'], ['a', 'b', 'b'], ['c', null, null], ['d']]);
    expect(writer.written).toBe(11);
  });

  it('keeps the records of a failed flush, ahead of newer ones, and writes them on the next', async () => {
    let failures = 1;
    const flaky = {
      writeBatch: (batch: CallBatch, id: string | undefined, options: { deferRollups: true }) => {
        if (failures-- > 0) return Promise.reject(new Error('database unavailable'));
        return repos.usage.writeBatch(batch, id, options);
      },
      writeRollups: (pending) => repos.usage.writeRollups(pending),
      replayRollups: (which) => repos.usage.replayRollups(which),
    } as Repositories['usage'];
    const writer = new UsageWriter(flaky, silent, { flushIntervalMs: 60_000 });
    writer.record(record('req_retry_a', Date.UTC(2026, 10, 23, 11)));
    writer.record(record('req_retry_b', Date.UTC(2026, 10, 23, 11)));
    await writer.flush();
    expect(writer.pending).toBe(2);
    expect(await stored('req_retry_')).toEqual([]);

    writer.record(record('req_retry_c', Date.UTC(2026, 10, 23, 11)));
    await writer.flush();
    expect(writer.pending).toBe(0);
    expect(await stored('req_retry_')).toEqual(['req_retry_a', 'req_retry_b', 'req_retry_c']);
  });

  it('a batch whose commit went through but was reported failed is not written twice', async () => {
    let lose = 1;
    const lossy = {
      writeBatch: async (batch: CallBatch, id: string | undefined, options: { deferRollups: true }) => {
        const written = await repos.usage.writeBatch(batch, id, options);
        if (lose-- > 0) throw new Error('connection lost before the commit was confirmed');
        return written;
      },
      writeRollups: (pending) => repos.usage.writeRollups(pending),
      replayRollups: (which) => repos.usage.replayRollups(which),
    } as Repositories['usage'];
    const writer = new UsageWriter(lossy, silent, { flushIntervalMs: 60_000 });
    writer.record(record('req_twice_a', Date.UTC(2026, 10, 23, 14)));
    writer.record(record('req_twice_b', Date.UTC(2026, 10, 23, 14)));
    await writer.flush();
    expect(writer.pending).toBe(2); // the writer cannot know it was stored
    await writer.flush();
    expect(writer.pending).toBe(0);
    expect(await stored('req_twice_')).toEqual(['req_twice_a', 'req_twice_b']);
  });

  it('past its bound drops new records and counts them', async () => {
    const writer = new UsageWriter(repos.usage, silent, { flushIntervalMs: 60_000, maxBuffered: 3 });
    for (const id of ['a', 'b', 'c', 'd', 'e']) writer.record(record(`req_bound_${id}`, Date.UTC(2026, 10, 23, 12)));
    expect(writer.dropped).toBe(2);
    await writer.stop();
    expect(await stored('req_bound_')).toEqual(['req_bound_a', 'req_bound_b', 'req_bound_c']);
  });

  it('records arriving during a flush are written by stop()', async () => {
    const writer = new UsageWriter(repos.usage, silent, { flushIntervalMs: 60_000, batchSize: 2 });
    for (let i = 0; i < 5; i++) writer.record(record(`req_during_${i}`, Date.UTC(2026, 10, 23, 13)));
    const flushing = writer.flush();
    writer.record(record('req_during_late', Date.UTC(2026, 10, 23, 13)));
    await flushing;
    await writer.stop();
    expect(await stored('req_during_')).toHaveLength(6);
    expect(writer.pending).toBe(0);
  });

  it('counts the time its writes take and the rows it writes, not those another writer folded from the log', async () => {
    const minute = (Math.floor(Date.now() / 60_000) - 5) * 60_000;
    const writer = new UsageWriter(repos.usage, silent, { flushIntervalMs: 60_000, rollupRowsAtOnce: 0, rollupHoldMs: 60 * 60_000 });
    for (let i = 0; i < 3; i++) writer.record(testUsageRecord({ apiKeyId: 'key_rows_a', createdAt: new Date(minute + i) }));
    writer.record(testUsageRecord({ apiKeyId: 'key_rows_b', createdAt: new Date(minute + 3) }));
    await writer.flushDue();
    expect(writer.writeSeconds.calls).toBeGreaterThan(0);
    expect(writer.writeSeconds.rollups).toBe(0);
    expect(writer.heldRollups).toBe(4); // each key's minute rollup and counter
    // Another process folds the calls' blocks from the log meanwhile (as it does a stopped writer's).
    const blocks = await queryRows<{ id: string }>(database.db, sql`select id from api_usage_blocks where 'key_rows_a' = any(strings) and rollup_pending`);
    expect(blocks).toHaveLength(1);
    await repos.usage.replayRollups({ blockIds: blocks.map((b) => Number(b.id)) });
    await writer.flush();
    expect(await rolledUp('key_rows_a')).toBe(3); // once: the held rows were not written
    expect(writer.rowsWritten).toEqual({ rollups: 0, counters: 0 });
    expect(writer.writeSeconds.rollups).toBeGreaterThan(0);
    expect(writer.writeSeconds.counters).toBeGreaterThan(0);

    writer.record(testUsageRecord({ apiKeyId: 'key_rows_a', createdAt: new Date(minute + 60_000) }));
    writer.record(testUsageRecord({ apiKeyId: 'key_rows_a', createdAt: new Date(minute + 60_001) }));
    await writer.stop();
    expect(writer.rowsWritten).toEqual({ rollups: 1, counters: 1 });
    expect(await rolledUp('key_rows_a')).toBe(5);
  });
});
