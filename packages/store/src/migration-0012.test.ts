import { expect, it } from 'vitest';
import { KeyRepository } from './keys.ts';
import { openPgliteBefore, testUsageRecord } from './testing.ts';
import { UsageRepository } from './usage.ts';

// Migration 0012 folds the day counters into one row per key and month, which also takes over
// the key's usage count and last use from api_keys. Counts stored before it are kept.

it('migration 0012 keeps the counts, the latest day of each month and the keys’ usage stored before it', async () => {
  const { client, db, migrateRest, close } = await openPgliteBefore('0012_usage_counters_by_month');
  try {
    await client.exec(`
      insert into users (id, email, password_hash, role) values ('usr_a', 'a@example.test', 'x', 'customer');
      insert into products (id, slug, name, category, currency) values ('prd_a', 'a', 'A', 'a', 'USD');
      insert into plans (id, product_id, code, name, currency, rate_limit_per_minute, burst) values ('pln_a', 'prd_a', 'a', 'A', 'USD', 100, 100);
      insert into api_keys (id, user_id, plan_id, key_hash, display_prefix, last_four, usage_count, last_used_at) values
        ('key_a', 'usr_a', 'pln_a', 'hash_a', 'tg_live_', '0000', 57, '2026-11-23T09:00:00Z');
      insert into usage_counters (api_key_id, period, count, overage) values
        ('key_a', 'month:2026-10', 30, 0), ('key_a', 'day:2026-10-30', 10, 0), ('key_a', 'day:2026-10-31', 20, 0),
        ('key_a', 'month:2026-11', 25, 5), ('key_a', 'day:2026-11-22', 15, 5), ('key_a', 'day:2026-11-23', 10, 0);
    `);

    await migrateRest();
    const keys = new KeyRepository(db);
    const counts = async (iso: string) => (await keys.findForGateway('hash_a', Date.parse(iso)))?.counts;
    expect(await counts('2026-10-31T12:00:00Z')).toEqual({ day: 20, month: 30 });
    expect(await counts('2026-11-23T12:00:00Z')).toEqual({ day: 10, month: 25 });
    expect(await counts('2026-11-24T00:00:00Z')).toEqual({ day: 0, month: 25 });
    const periods = (await client.query<{ period: string; overage: number }>('select period, overage::int from usage_counters order by period')).rows;
    expect(periods).toEqual([{ period: 'month:2026-10', overage: 0 }, { period: 'month:2026-11', overage: 5 }]);
    expect((await keys.findById('key_a'))?.key).toMatchObject({ usageCount: 57, lastUsedAt: new Date('2026-11-23T09:00:00Z') });

    // Calls after it add to what was counted before.
    await new UsageRepository(db).writeBatch([
      testUsageRecord({ apiKeyId: 'key_a', userId: 'usr_a', createdAt: new Date('2026-11-23T10:00:00Z') }),
      testUsageRecord({ apiKeyId: 'key_a', userId: 'usr_a', createdAt: new Date('2026-11-23T10:00:01Z'), counted: false, statusCode: 429 }),
    ]);
    expect(await counts('2026-11-23T12:00:00Z')).toEqual({ day: 11, month: 26 });
    expect((await keys.findById('key_a'))?.key).toMatchObject({ usageCount: 59, lastUsedAt: new Date('2026-11-23T10:00:01Z') });
  } finally {
    await close();
  }
});
