import { expect, it } from 'vitest';
import { openPgliteBefore, testUsageRecord } from './testing.ts';
import { UsageRepository } from './usage.ts';

// Migration 0009 moves the call log into blocks. The calls stored before it stay in their rows,
// and the api_usage view reads both: nothing stored is lost, and the old rows are pruned as before.

it('migration 0009 keeps the calls stored before it readable, next to the new blocks, and prunable', async () => {
  const { client, db, migrateRest, close } = await openPgliteBefore('0009_usage_blocks');
  try {
    await client.exec(`
      insert into api_usage (request_id, api_key_id, user_id, product_id, route_id, route_path, path, method, status_code,
                             error_code, bytes_in, bytes_out, latency_ms, ip, is_sandbox, created_at) values
        ('req_old_1', 'key_a', 'usr_a', 'prd_a', 'rte_a', '/v1/memes', '/v1/memes', 'GET', 200, null, 0, 99, 4, '203.0.113.7', false, '2026-10-01T10:00:00Z'),
        ('req_old_2', null, null, null, null, null, '/v1/memes', 'GET', 401, 'invalid_api_key', 0, 120, 1, null, true, '2026-11-20T10:00:00Z');
    `);

    await migrateRest();
    const usage = new UsageRepository(db);
    await usage.writeBatch([testUsageRecord({ requestId: 'req_new_1', createdAt: new Date('2026-11-23T10:00:00Z') })]);

    const calls = async () =>
      (await client.query<{ request_id: string; api_key_id: string | null; status_code: number; error_code: string | null; is_sandbox: boolean; at: string }>(
        `select request_id, api_key_id, status_code, error_code, is_sandbox, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI') as at
         from api_usage order by created_at`,
      )).rows;
    expect(await calls()).toEqual([
      { request_id: 'req_old_1', api_key_id: 'key_a', status_code: 200, error_code: null, is_sandbox: false, at: '2026-10-01 10:00' },
      { request_id: 'req_old_2', api_key_id: null, status_code: 401, error_code: 'invalid_api_key', is_sandbox: true, at: '2026-11-20 10:00' },
      { request_id: 'req_new_1', api_key_id: null, status_code: 200, error_code: null, is_sandbox: false, at: '2026-11-23 10:00' },
    ]);

    expect(await usage.pruneRecords(new Date('2026-11-01T00:00:00Z'))).toBe(1);
    expect((await calls()).map((c) => c.request_id)).toEqual(['req_old_2', 'req_new_1']);
  } finally {
    await close();
  }
});
