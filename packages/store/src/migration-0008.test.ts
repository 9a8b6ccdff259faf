import { expect, it } from 'vitest';
import { openPgliteBefore } from './testing.ts';

// Migration 0008 moves each delivery's latest attempt from webhook_attempts onto the delivery
// row. Deliveries stored before it must keep every attempt in their log.

it('migration 0008 keeps every attempt of deliveries stored before it', async () => {
  const { client, migrateRest, close } = await openPgliteBefore('0008_webhook_lean_writes');
  try {
    await client.exec(`
      insert into users (id, email, password_hash, role) values ('usr_m', 'm@example.test', 'h', 'customer');
      insert into webhook_endpoints (id, user_id, url, events, secret_sealed, status) values ('wh_m', 'usr_m', 'https://example.test', '["key.created"]', 's', 'active');
      insert into webhook_deliveries (id, endpoint_id, event_id, event_type, status, attempts, last_status_code, delivered_at)
        values ('whd_retried', 'wh_m', 'evt_1', 'key.created', 'succeeded', 3, 200, now()),
               ('whd_once', 'wh_m', 'evt_2', 'key.created', 'succeeded', 1, 200, now()),
               ('whd_waiting', 'wh_m', 'evt_3', 'key.created', 'pending', 0, null, null);
      insert into webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, response_excerpt) values
        ('whd_retried', 1, '2026-11-01T10:00:00Z', 11, 500, 'HTTP 500', 'down'),
        ('whd_retried', 2, '2026-11-01T10:00:05Z', 12, null, 'timeout: no answer', null),
        ('whd_retried', 3, '2026-11-01T10:00:35Z', 13, 200, null, 'ok'),
        ('whd_once', 1, '2026-11-01T11:00:00Z', 14, 200, null, 'fine');
    `);

    await migrateRest();

    const deliveries = await client.query<Record<string, unknown>>(
      `select id, extract(epoch from last_attempt_at)::int as at, last_duration_ms, last_status_code, last_error, last_response_excerpt
       from webhook_deliveries order by id`,
    );
    expect(deliveries.rows).toEqual([
      { id: 'whd_once', at: Date.parse('2026-11-01T11:00:00Z') / 1000, last_duration_ms: 14, last_status_code: 200, last_error: null, last_response_excerpt: 'fine' },
      { id: 'whd_retried', at: Date.parse('2026-11-01T10:00:35Z') / 1000, last_duration_ms: 13, last_status_code: 200, last_error: null, last_response_excerpt: 'ok' },
      { id: 'whd_waiting', at: null, last_duration_ms: null, last_status_code: null, last_error: null, last_response_excerpt: null },
    ]);
    const earlier = await client.query<Record<string, unknown>>('select delivery_id, attempt, status_code, error from webhook_attempts order by delivery_id, attempt');
    expect(earlier.rows).toEqual([
      { delivery_id: 'whd_retried', attempt: 1, status_code: 500, error: 'HTTP 500' },
      { delivery_id: 'whd_retried', attempt: 2, status_code: null, error: 'timeout: no answer' },
    ]);
  } finally {
    await close();
  }
});
