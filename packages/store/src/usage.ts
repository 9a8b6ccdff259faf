import { sql, type SQL } from 'drizzle-orm';
import type { UsageGroupBy, UsageStats } from '@tollgate/contracts';
import { dayPeriod, monthPeriod, type UsageRecord } from '@tollgate/core';
import { queryRows, type Db } from './database.ts';
import { apiUsage } from './schema.ts';

// Postgres allows 65,535 bind parameters per statement; 16 columns a row.
const INSERT_CHUNK = 2_000;

export const dayCounter = (nowMs: number) => `day:${dayPeriod(nowMs)}`;
export const monthCounter = (nowMs: number) => `month:${monthPeriod(nowMs)}`;

export interface UsageFilter {
  /** Set for customers: only their own calls. */
  userId?: string;
  apiKeyId?: string;
  productId?: string;
  start: Date;
  end: Date;
  groupBy: UsageGroupBy;
}

export class UsageRepository {
  constructor(private readonly db: Db) {}

  /**
   * Writes a batch in one transaction: the call records, the quota counters they add to, and each
   * key's usage count and last use. Either all of a batch is stored or none of it.
   */
  async writeBatch(records: readonly UsageRecord[]): Promise<void> {
    if (records.length === 0) return;
    const counters = new Map<string, { keyId: string; period: string; count: number; overage: number }>();
    const keys = new Map<string, { n: number; last: Date }>();
    for (const r of records) {
      if (r.apiKeyId === null) continue;
      const seen = keys.get(r.apiKeyId);
      if (!seen) keys.set(r.apiKeyId, { n: 1, last: r.createdAt });
      else {
        seen.n++;
        if (r.createdAt > seen.last) seen.last = r.createdAt;
      }
      if (!r.counted) continue;
      const at = r.createdAt.getTime();
      for (const period of [dayCounter(at), monthCounter(at)]) {
        const id = `${r.apiKeyId}|${period}`;
        const c = counters.get(id) ?? { keyId: r.apiKeyId, period, count: 0, overage: 0 };
        c.count++;
        if (r.overage) c.overage++;
        counters.set(id, c);
      }
    }
    // Rows are locked in one order (key, period) so concurrent writers rarely deadlock; when
    // PostgreSQL still picks this transaction as a deadlock victim, the whole batch is retried.
    const counterRows = [...counters.values()].sort((a, b) => (a.keyId + a.period < b.keyId + b.period ? -1 : 1));
    const keyRows = [...keys.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
    for (let attempt = 1; ; attempt++) {
      try {
        await this.writeTransaction(records, counterRows, keyRows);
        return;
      } catch (error) {
        if (attempt >= 5 || !isRetryable(error)) throw error;
      }
    }
  }

  private async writeTransaction(
    records: readonly UsageRecord[],
    counterRows: { keyId: string; period: string; count: number; overage: number }[],
    keyRows: [string, { n: number; last: Date }][],
  ): Promise<void> {
    await this.db.transaction(async (tx) => {
      for (let i = 0; i < records.length; i += INSERT_CHUNK) {
        const chunk = records.slice(i, i + INSERT_CHUNK).map(({ counted: _c, overage: _o, ...row }) => row);
        await tx.insert(apiUsage).values(chunk);
      }
      if (counterRows.length > 0) {
        const values = sql.join(
          counterRows.map((c) => sql`(${c.keyId}, ${c.period}, ${c.count}::bigint, ${c.overage}::bigint)`),
          sql`, `,
        );
        await tx.execute(sql`
          insert into usage_counters (api_key_id, period, count, overage) values ${values}
          on conflict (api_key_id, period) do update
          set count = usage_counters.count + excluded.count,
              overage = usage_counters.overage + excluded.overage,
              updated_at = now()`);
      }
      if (keyRows.length > 0) {
        const values = sql.join(
          keyRows.map(([id, k]) => sql`(${id}, ${k.n}::bigint, ${k.last.toISOString()}::timestamptz)`),
          sql`, `,
        );
        await tx.execute(sql`
          update api_keys set usage_count = api_keys.usage_count + v.n,
                 last_used_at = greatest(api_keys.last_used_at, v.t)
          from (values ${values}) as v(id, n, t) where api_keys.id = v.id`);
      }
    });
  }

  /** The persisted counts of a key for the day and month containing `nowMs`. */
  async counts(keyId: string, nowMs: number): Promise<{ day: number; month: number }> {
    const day = dayCounter(nowMs);
    const month = monthCounter(nowMs);
    const rows = await queryRows<{ period: string; count: string | number }>(
      this.db,
      sql`select period, count from usage_counters where api_key_id = ${keyId} and period in (${day}, ${month})`,
    );
    const get = (p: string) => Number(rows.find((r) => r.period === p)?.count ?? 0);
    return { day: get(day), month: get(month) };
  }

  async stats(filter: UsageFilter): Promise<Omit<UsageStats, 'startDate' | 'endDate' | 'groupBy'>> {
    const conditions: SQL[] = [sql`created_at >= ${filter.start.toISOString()}::timestamptz`, sql`created_at < ${filter.end.toISOString()}::timestamptz`];
    if (filter.userId !== undefined) conditions.push(sql`user_id = ${filter.userId}`);
    if (filter.apiKeyId !== undefined) conditions.push(sql`api_key_id = ${filter.apiKeyId}`);
    if (filter.productId !== undefined) conditions.push(sql`product_id = ${filter.productId}`);
    const where = sql.join(conditions, sql` and `);
    const unit = sql.raw(`'${filter.groupBy}'`); // from a closed enum, never user text

    const [totals, top, buckets, statuses] = await Promise.all([
      queryRows<{ total: string | number; bandwidth: string | number | null; latency: string | number | null; errors: string | number }>(
        this.db,
        sql`select count(*) as total, sum(bytes_in + bytes_out) as bandwidth, avg(latency_ms) as latency,
                   count(*) filter (where status_code >= 400) as errors
            from api_usage where ${where}`,
      ),
      queryRows<{ path: string; count: string | number }>(
        this.db,
        sql`select coalesce(route_path, path) as path, count(*) as count from api_usage where ${where}
            group by 1 order by 2 desc, 1 limit 10`,
      ),
      queryRows<{ bucket: string | Date; count: string | number }>(
        this.db,
        sql`select date_trunc(${unit}, created_at at time zone 'UTC') as bucket, count(*) as count
            from api_usage where ${where} group by 1 order by 1`,
      ),
      queryRows<{ status: number; count: string | number }>(
        this.db,
        sql`select status_code as status, count(*) as count from api_usage where ${where} group by 1 order by 1`,
      ),
    ]);
    const t = totals[0];
    const total = Number(t?.total ?? 0);
    return {
      totalRequests: total,
      totalBandwidth: Number(t?.bandwidth ?? 0),
      averageLatency: Math.round(Number(t?.latency ?? 0) * 100) / 100,
      errorRate: total === 0 ? 0 : Math.round((Number(t?.errors ?? 0) / total) * 10_000) / 100,
      topEndpoints: top.map((r) => ({ path: r.path, count: Number(r.count) })),
      requestsByHour: buckets.map((r) => ({ hour: utcIso(r.bucket), count: Number(r.count) })),
      statusCodeDistribution: Object.fromEntries(statuses.map((r) => [String(r.status), Number(r.count)])),
    };
  }
}

/** Deadlock (40P01) and serialization failure (40001): the transaction did nothing and may run again. */
function isRetryable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 3; depth++) {
    const code = (e as { code?: string }).code;
    if (code === '40P01' || code === '40001') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** `timestamp without time zone` values hold UTC wall time; drivers may hand them over as local Dates or text. */
function utcIso(value: string | Date): string {
  if (value instanceof Date) {
    return new Date(value.getTime() - value.getTimezoneOffset() * 60_000).toISOString().replace('.000Z', 'Z');
  }
  return `${value.replace(' ', 'T').slice(0, 19)}Z`;
}
