import { expect, it } from 'vitest';
import { openPgliteBefore, testUsageRecord } from './testing.ts';
import { UsageRepository } from './usage.ts';

// Migration 0011 adds a second block format to the call log. Blocks written before it (format 1)
// stay readable next to the new ones through the api_usage view, and are pruned as before.

it('migration 0011 keeps the blocks written before it readable, next to the new format, and prunable', async () => {
  const { client, db, migrateRest, close } = await openPgliteBefore('0011_usage_block_shapes');
  try {
    // A format-1 block as the writer of 0009 wrote it: two calls, texts as positions in `strings`.
    await client.query(
      `insert into api_usage_blocks (first_at, last_at, count, strings, records) values ($1, $2, 2, $3, $4)`,
      [
        '2026-10-01T10:00:00Z',
        '2026-10-01T10:00:05Z',
        ['req_old_1', 'key_a', 'usr_a', 'prd_a', 'rte_a', '/v1/memes', 'GET', '203.0.113.7', 'req_old_2', 'invalid_api_key'],
        ['1\t2\t3\t4\t5\t6\t6\t7\t200\t\t0\t99\t4\t8\t0\t0', '9\t\t\t\t\t\t6\t7\t401\t10\t0\t120\t1\t\t1\t5000'].join('\n'),
      ],
    );

    await migrateRest();
    const usage = new UsageRepository(db);
    await usage.writeBatch([
      testUsageRecord({ requestId: 'req_new_000000000001', apiKeyId: 'key_b', userId: 'usr_b', ip: '198.51.100.1', createdAt: new Date('2026-11-23T10:00:00Z') }),
    ]);

    const calls = async () =>
      (await client.query<Record<string, unknown>>(
        `select request_id, api_key_id, user_id, product_id, route_id, route_path, path, method, status_code, error_code, bytes_in, bytes_out,
                latency_ms, ip, is_sandbox, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') as at
         from api_usage order by created_at`,
      )).rows;
    const old = { user_id: 'usr_a', product_id: 'prd_a', route_id: 'rte_a', route_path: '/v1/memes', path: '/v1/memes', method: 'GET', bytes_in: 0 };
    expect(await calls()).toEqual([
      { ...old, request_id: 'req_old_1', api_key_id: 'key_a', status_code: 200, error_code: null, bytes_out: 99, latency_ms: 4, ip: '203.0.113.7', is_sandbox: false, at: '2026-10-01 10:00:00' },
      { ...old, request_id: 'req_old_2', api_key_id: null, user_id: null, product_id: null, route_id: null, route_path: null, status_code: 401, error_code: 'invalid_api_key', bytes_out: 120, latency_ms: 1, ip: null, is_sandbox: true, at: '2026-10-01 10:00:05' },
      expect.objectContaining({ request_id: 'req_new_000000000001', api_key_id: 'key_b', user_id: 'usr_b', ip: '198.51.100.1', at: '2026-11-23 10:00:00' }),
    ]);
    expect((await client.query<{ format: number }>('select format from api_usage_blocks order by first_at')).rows.map((r) => r.format)).toEqual([1, 2]);

    expect(await usage.pruneRecords(new Date('2026-11-01T00:00:00Z'))).toBe(2);
    expect((await calls()).map((c) => c.request_id)).toEqual(['req_new_000000000001']);
  } finally {
    await close();
  }
});
