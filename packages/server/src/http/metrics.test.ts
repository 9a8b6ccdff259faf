import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../testing/harness.ts';

describe('GET /metrics', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('answers Prometheus text with the process, the usage buffer and where limits are decided', async () => {
    const user = await t.signup();
    const { key } = await t.createKey(user.token, { planId: 'cm-free' });
    for (let i = 0; i < 3; i++) await t.inject({ method: 'GET', url: '/v1/memes', headers: { 'x-api-key': key } });
    const before = await t.inject({ method: 'GET', url: '/metrics' });
    expect(before.statusCode).toBe(200);
    expect(before.headers['content-type']).toMatch(/^text\/plain/);
    expect(before.body).toContain('tollgate_usage_records_pending 3');
    expect(before.body).toContain('tollgate_rate_limits{limits="embedded"} 1');
    expect(before.body).toContain('tollgate_rate_limits{limits="global"} 0');
    expect(before.body).toMatch(/tollgate_process_cpu_seconds_total \d/);
    expect(before.body).toContain('tollgate_usage_write_seconds_total{part="calls"} 0');
    expect(before.body).toContain('tollgate_usage_rows_written_total{part="rollups"} 0');

    await t.flushUsage();
    const after = (await t.inject({ method: 'GET', url: '/metrics' })).body;
    expect(after).toContain('tollgate_usage_records_pending 0');
    expect(after).toMatch(/tollgate_usage_records_written_total [3-9]/);
    expect(after).toContain('tollgate_usage_records_dropped_total 0');
    expect(after).toContain('tollgate_usage_rollups_held 0');
    // The flush wrote the calls, then the key's minute rollup (two if a minute ended meanwhile) and its counter.
    for (const part of ['calls', 'rollups', 'counters']) {
      const seconds = Number(after.match(new RegExp(`tollgate_usage_write_seconds_total\\{part="${part}"\\} (\\S+)`))?.[1]);
      expect(seconds, part).toBeGreaterThan(0);
    }
    expect(after).toMatch(/tollgate_usage_rows_written_total\{part="rollups"\} [12]\n/);
    expect(after).toContain('tollgate_usage_rows_written_total{part="counters"} 1\n');
  });
});
