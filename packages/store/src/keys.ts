import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import type { KeyStatus, SubscriptionStatus } from '@tollgate/contracts';
import { dayPeriod, type ApiKey, type Plan } from '@tollgate/core';
import type { Db } from './database.ts';
import { newId } from './ids.ts';
import { apiKeys, plans, subscriptions } from './schema.ts';
import { monthCounter } from './usage.ts';
import { toPlanRecord } from './catalog.ts';

type Row = typeof apiKeys.$inferSelect;
const toKey = (row: Row): ApiKey => {
  const { revokedAt: _revokedAt, ...rest } = row;
  return { ...rest, status: row.status as KeyStatus };
};

export type NewApiKey = Omit<ApiKey, 'id' | 'status' | 'usageCount' | 'lastUsedAt' | 'createdAt' | 'updatedAt'>;

export interface KeyWithPlan {
  key: ApiKey;
  plan: Plan;
  /** null for sandbox keys, which need no subscription. */
  subscriptionStatus: SubscriptionStatus | null;
}

/**
 * What the gateway needs of a key. Its `key.usageCount` and `key.lastUsedAt` are only what
 * `api_keys` counted before migration 0012 (the gateway reads neither); `listByUser` and
 * `findById` give the whole usage.
 */
export interface KeyForGateway extends KeyWithPlan {
  /** The persisted counts of the day and month asked about. */
  counts: { day: number; month: number };
}

export class KeyRepository {
  /** The gateway's cold path, built once when first used: a query builder costs about as much as the query. */
  private gatewayLookup: ReturnType<KeyRepository['prepareGatewayLookup']> | undefined;

  constructor(private readonly db: Db) {}

  private prepareGatewayLookup() {
    return this.db
      .select({
        key: apiKeys,
        plan: plans,
        subscriptionStatus: subscriptions.status,
        dayUsed: sql<string | number | null>`(select case when c.day = ${sql.placeholder('day')}::date then c.day_count else 0 end
          from usage_counters c where c.api_key_id = ${apiKeys.id} and c.period = ${sql.placeholder('month')})`,
        monthUsed: sql<string | number | null>`(select c.count from usage_counters c where c.api_key_id = ${apiKeys.id} and c.period = ${sql.placeholder('month')})`,
      })
      .from(apiKeys)
      .innerJoin(plans, eq(plans.id, apiKeys.planId))
      .leftJoin(subscriptions, eq(subscriptions.id, apiKeys.subscriptionId))
      .where(sql`${apiKeys.keyHash} = any(${sql.placeholder('hashes')}::text[])`)
      .prepare('gateway_key_lookup');
  }

  async create(input: NewApiKey): Promise<ApiKey> {
    const [row] = await this.db.insert(apiKeys).values({ id: newId('apiKey'), ...input }).returning();
    return toKey(row as Row);
  }

  async listByUser(userId: string): Promise<KeyWithPlan[]> {
    return this.selectWithPlan(eq(apiKeys.userId, userId));
  }

  /** Owner-scoped when `userId` is given: another customer's key is simply not found. */
  async findById(id: string, userId?: string): Promise<KeyWithPlan | null> {
    const where = userId === undefined ? eq(apiKeys.id, id) : and(eq(apiKeys.id, id), eq(apiKeys.userId, userId));
    const [found] = await this.selectWithPlan(where);
    return found ?? null;
  }

  /**
   * The gateway's cold path: everything needed to decide on a call, with the key's counts for the
   * day and month of `nowMs`, in one round trip.
   */
  async findForGateway(keyHash: string, nowMs: number): Promise<KeyForGateway | null> {
    return (await this.findManyForGateway([keyHash], nowMs)).get(keyHash) ?? null;
  }

  /**
   * `findForGateway` for many keys in one query, by sha256 (the keys not found are not in the
   * map): in PGlite a query's fixed cost is most of a key's, so keys that come cold together
   * (after a restart, say) are looked up together.
   */
  async findManyForGateway(keyHashes: readonly string[], nowMs: number): Promise<Map<string, KeyForGateway>> {
    const found = new Map<string, KeyForGateway>();
    if (keyHashes.length === 0) return found;
    this.gatewayLookup ??= this.prepareGatewayLookup();
    const rows = await this.gatewayLookup.execute({ hashes: [...keyHashes], day: dayPeriod(nowMs), month: monthCounter(nowMs) });
    for (const row of rows) {
      found.set(row.key.keyHash, {
        key: toKey(row.key),
        plan: toPlanRecord(row.plan),
        subscriptionStatus: (row.subscriptionStatus as SubscriptionStatus | null) ?? null,
        counts: { day: Number(row.dayUsed ?? 0), month: Number(row.monthUsed ?? 0) },
      });
    }
    return found;
  }

  async update(
    id: string,
    change: Partial<Pick<ApiKey, 'label' | 'ipWhitelist' | 'metadata' | 'expiresAt' | 'scopes' | 'status'>>,
  ): Promise<ApiKey | null> {
    const [row] = await this.db
      .update(apiKeys)
      .set({ ...change, ...(change.status === 'revoked' ? { revokedAt: new Date() } : {}), updatedAt: new Date() })
      .where(eq(apiKeys.id, id))
      .returning();
    return row ? toKey(row) : null;
  }

  /** Issues the replacement and revokes the old key in one transaction: never both live, never neither. */
  async rotate(oldId: string, replacement: NewApiKey): Promise<ApiKey> {
    return this.db.transaction(async (tx) => {
      await tx
        .update(apiKeys)
        .set({ status: 'revoked', revokedAt: new Date(), updatedAt: new Date() })
        .where(eq(apiKeys.id, oldId));
      const [row] = await tx.insert(apiKeys).values({ id: newId('apiKey'), ...replacement }).returning();
      return toKey(row as Row);
    });
  }

  async hashesForPlan(planId: string): Promise<string[]> {
    const rows = await this.db.select({ h: apiKeys.keyHash }).from(apiKeys).where(eq(apiKeys.planId, planId));
    return rows.map((r) => r.h);
  }

  async hashesForSubscription(subscriptionId: string): Promise<string[]> {
    return this.hashesForSubscriptions([subscriptionId]);
  }

  async hashesForSubscriptions(subscriptionIds: readonly string[]): Promise<string[]> {
    if (subscriptionIds.length === 0) return [];
    const rows = await this.db
      .select({ h: apiKeys.keyHash })
      .from(apiKeys)
      .where(inArray(apiKeys.subscriptionId, [...subscriptionIds]));
    return rows.map((r) => r.h);
  }

  /** Moves a subscription's keys to its new plan (an upgrade takes effect at once). */
  async movePlan(subscriptionId: string, planId: string): Promise<void> {
    await this.db.update(apiKeys).set({ planId, updatedAt: new Date() }).where(eq(apiKeys.subscriptionId, subscriptionId));
  }

  /** Keys with their usage: counted on `api_keys` before migration 0012, in the month counters since. */
  private async selectWithPlan(where: ReturnType<typeof eq> | undefined): Promise<KeyWithPlan[]> {
    const rows = await this.db
      .select({
        key: apiKeys,
        plan: plans,
        subscriptionStatus: subscriptions.status,
        calls: sql<string | number | null>`(select sum(c.calls) from usage_counters c where c.api_key_id = ${apiKeys.id})`,
        lastUsedAt: sql`(select max(c.last_used_at) from usage_counters c where c.api_key_id = ${apiKeys.id})`.mapWith(apiKeys.lastUsedAt),
      })
      .from(apiKeys)
      .innerJoin(plans, eq(plans.id, apiKeys.planId))
      .leftJoin(subscriptions, eq(subscriptions.id, apiKeys.subscriptionId))
      .where(where)
      .orderBy(desc(apiKeys.createdAt));
    return rows.map((r) => ({
      key: {
        ...toKey(r.key),
        usageCount: r.key.usageCount + Number(r.calls ?? 0),
        lastUsedAt: r.lastUsedAt !== null && (r.key.lastUsedAt === null || r.lastUsedAt > r.key.lastUsedAt) ? r.lastUsedAt : r.key.lastUsedAt,
      },
      plan: toPlanRecord(r.plan),
      subscriptionStatus: (r.subscriptionStatus as SubscriptionStatus | null) ?? null,
    }));
  }
}
