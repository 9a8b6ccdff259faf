import { and, desc, eq, inArray, notInArray } from 'drizzle-orm';
import type { PlanLimits, SubscriptionStatus } from '@tollgate/contracts';
import type { Subscription } from '@tollgate/core';
import type { Db } from './database.ts';
import { rethrowUnique } from './errors.ts';
import { newId } from './ids.ts';
import { plans, products, subscriptions } from './schema.ts';

type Row = typeof subscriptions.$inferSelect;
const toSubscription = (row: Row): Subscription => ({ ...row, status: row.status as SubscriptionStatus });

const ENDED: SubscriptionStatus[] = ['cancelled', 'expired'];

export interface SubscriptionWithPlan extends Subscription {
  planCode: string;
  productId: string;
}

export class SubscriptionRepository {
  constructor(private readonly db: Db) {}

  async create(input: {
    userId: string;
    planId: string;
    status: SubscriptionStatus;
    currentPeriodStart: Date;
    currentPeriodEnd: Date;
  }): Promise<Subscription> {
    try {
      const [row] = await this.db
        .insert(subscriptions)
        .values({ id: newId('subscription'), ...input })
        .returning();
      return toSubscription(row as Row);
    } catch (error) {
      rethrowUnique(error);
    }
  }

  /** The customer's subscription to a plan that has not ended, if any (at most one exists). */
  async findLive(userId: string, planId: string): Promise<Subscription | null> {
    const [row] = await this.db
      .select()
      .from(subscriptions)
      .where(and(eq(subscriptions.userId, userId), eq(subscriptions.planId, planId), notInArray(subscriptions.status, ENDED)));
    return row ? toSubscription(row) : null;
  }

  async findById(id: string): Promise<Subscription | null> {
    const [row] = await this.db.select().from(subscriptions).where(eq(subscriptions.id, id));
    return row ? toSubscription(row) : null;
  }

  async listByUser(userId: string): Promise<SubscriptionWithPlan[]> {
    const rows = await this.db
      .select({ sub: subscriptions, planCode: plans.code, productId: plans.productId })
      .from(subscriptions)
      .innerJoin(plans, eq(plans.id, subscriptions.planId))
      .where(eq(subscriptions.userId, userId))
      .orderBy(desc(subscriptions.createdAt));
    return rows.map((r) => ({ ...toSubscription(r.sub), planCode: r.planCode, productId: r.productId }));
  }

  /** The plan limits and product of each of the customer's active subscriptions. */
  async activePlanLimits(userId: string): Promise<{ productSlug: string; planCode: string; limits: PlanLimits }[]> {
    return this.db
      .select({ productSlug: products.slug, planCode: plans.code, limits: plans.limits })
      .from(subscriptions)
      .innerJoin(plans, eq(plans.id, subscriptions.planId))
      .innerJoin(products, eq(products.id, plans.productId))
      .where(and(eq(subscriptions.userId, userId), eq(subscriptions.status, 'active')));
  }

  async setStatus(id: string, status: SubscriptionStatus): Promise<Subscription | null> {
    const [row] = await this.db
      .update(subscriptions)
      .set({ status, updatedAt: new Date() })
      .where(eq(subscriptions.id, id))
      .returning();
    return row ? toSubscription(row) : null;
  }

  /**
   * Moves the subscriptions that are in one of `from` to `to`; answers the ids that moved. The
   * condition makes concurrent transitions (a payment and the dunning job) safe.
   */
  async transition(ids: readonly string[], from: readonly SubscriptionStatus[], to: SubscriptionStatus): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await this.db
      .update(subscriptions)
      .set({ status: to, updatedAt: new Date() })
      .where(and(inArray(subscriptions.id, [...ids]), inArray(subscriptions.status, [...from])))
      .returning({ id: subscriptions.id });
    return rows.map((r) => r.id);
  }

  async update(
    id: string,
    patch: Partial<Pick<Subscription, 'planId' | 'scheduledPlanId' | 'cancelAtPeriodEnd' | 'status' | 'currentPeriodStart' | 'currentPeriodEnd'>>,
  ): Promise<Subscription | null> {
    const [row] = await this.db
      .update(subscriptions)
      .set({ ...patch, updatedAt: new Date() })
      .where(eq(subscriptions.id, id))
      .returning();
    return row ? toSubscription(row) : null;
  }
}
