import { expect, it } from 'vitest';
import { openPgliteBefore } from './testing.ts';
import { UsageRepository } from './usage.ts';

// Migration 0014 lets the writer defer a batch's counters with its rollups. A block a writer of
// 0013 left pending had its counters written with its batch: folded after the migration, its
// calls go into the rollups only, never into the counters a second time.

it('migration 0014 folds a block left pending before it into the rollups, not again into the counters', async () => {
  const { client, db, migrateRest, close } = await openPgliteBefore('0014_usage_counters_deferred');
  try {
    // Two calls as the writer of 0013 wrote them: counted at once, rolled up later (a format-2
    // block of eleven-field shapes, still pending).
    await client.query(
      `insert into api_usage_blocks (format, first_at, last_at, count, strings, records, rollup_pending) values (2, $1, $2, 2, $3, $4, true)`,
      [
        '2026-11-23T10:00:00Z',
        '2026-11-23T10:00:01Z',
        ['key_old', 'usr_old', 'prd_old', 'rte_old', '/v1/memes', '/v1/memes', 'GET', '1\t2\t3\t4\t5\t6\t7\t200\t\t\t0', 'req_old_'],
        ['9\t000001\t8\t0\t100\t3\t0', '9\t000002\t8\t0\t100\t3\t1000'].join('\n'),
      ],
    );
    await client.query(`insert into usage_counters (api_key_id, period, count, day, day_count, calls, last_used_at) values ('key_old', 'month:2026-11', 2, '2026-11-23', 2, 2, '2026-11-23T10:00:01Z')`);

    await migrateRest();
    expect(await new UsageRepository(db).replayRollups({ lastBefore: new Date('2026-11-24T00:00:00Z') })).toBe(1);
    const rollups = await client.query<{ count: number; bytes: number }>(`select count::int, bytes::int from usage_rollups where api_key_id = 'key_old'`);
    expect(rollups.rows).toEqual([{ count: 2, bytes: 200 }]);
    const counters = await client.query<{ count: number; calls: number }>(`select count::int, calls::int from usage_counters where api_key_id = 'key_old'`);
    expect(counters.rows).toEqual([{ count: 2, calls: 2 }]);
    const pending = await client.query<{ n: number }>(`select count(*)::int as n from api_usage_blocks where rollup_pending or counters_pending`);
    expect(pending.rows).toEqual([{ n: 0 }]);
  } finally {
    await close();
  }
});
