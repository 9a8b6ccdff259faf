import { isFreePlan, monthStartMs, nextMonthStartMs, type Clock, type EventBus, type Plan, type Subscription } from '@tollgate/core';
import { UniqueViolationError, type Repositories, type SubscriptionWithPlan } from '@tollgate/store';
import { AppError, notFound } from '../http/app-error.ts';

const withPlan = (subscription: Subscription, plan: Plan): SubscriptionWithPlan => ({
  ...subscription,
  planCode: plan.code,
  productId: plan.productId,
});

export class SubscriptionService {
  constructor(
    private readonly repos: Repositories,
    private readonly bus: EventBus,
    private readonly clock: Clock,
  ) {}

  list(userId: string): Promise<SubscriptionWithPlan[]> {
    return this.repos.subscriptions.listByUser(userId);
  }

  async requirePlan(idOrCode: string): Promise<Plan> {
    const plan = await this.repos.catalog.findPlan(idOrCode);
    if (!plan || !plan.isActive) throw notFound('Plan', idOrCode);
    return plan;
  }

  /**
   * Free plans start at once; paid plans wait in `pending_payment` until their first invoice is
   * paid (or an admin grants them); custom plans are arranged with the provider and granted.
   * Subscribing twice returns the subscription that exists.
   */
  async subscribe(userId: string, planIdOrCode: string): Promise<SubscriptionWithPlan> {
    const plan = await this.requirePlan(planIdOrCode);
    if (plan.isCustom) {
      throw new AppError('forbidden', `${plan.name} has custom pricing; the provider grants it on request`, {
        details: { planCode: plan.code },
      });
    }
    const existing = await this.repos.subscriptions.findLive(userId, plan.id);
    if (existing) return withPlan(existing, plan);
    return withPlan(await this.createLive(userId, plan, isFreePlan(plan) ? 'active' : 'pending_payment'), plan);
  }

  /** An admin grants a plan without payment (custom deals, trials, support). */
  async grant(actorId: string, email: string, planCode: string): Promise<SubscriptionWithPlan> {
    const user = await this.repos.users.findByEmail(email);
    if (!user) throw notFound('User', email);
    const plan = await this.requirePlan(planCode);
    const existing = await this.repos.subscriptions.findLive(user.id, plan.id);
    let subscription: Subscription;
    if (existing) {
      subscription = (await this.repos.subscriptions.setStatus(existing.id, 'active')) ?? existing;
      await this.bus.publish({ topic: 'keys.invalidate', keyHashes: await this.repos.keys.hashesForSubscription(existing.id) });
    } else {
      subscription = await this.createLive(user.id, plan, 'active');
    }
    await this.repos.audit.append({
      actorId,
      action: 'subscription.grant',
      resourceType: 'subscription',
      resourceId: subscription.id,
      data: { userId: user.id, planCode: plan.code },
    });
    return withPlan(subscription, plan);
  }

  private async createLive(userId: string, plan: Plan, status: 'active' | 'pending_payment'): Promise<Subscription> {
    const now = this.clock.now();
    try {
      return await this.repos.subscriptions.create({
        userId,
        planId: plan.id,
        status,
        currentPeriodStart: new Date(monthStartMs(now)),
        currentPeriodEnd: new Date(nextMonthStartMs(now)),
      });
    } catch (error) {
      // Two concurrent requests: the other one created it.
      if (error instanceof UniqueViolationError) {
        const existing = await this.repos.subscriptions.findLive(userId, plan.id);
        if (existing) return existing;
      }
      throw error;
    }
  }
}
