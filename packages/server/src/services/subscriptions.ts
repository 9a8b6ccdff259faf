import type { CustomPlanBody } from '@tollgate/contracts';
import { classifyPlanChange, isFreePlan, monthStartMs, nextMonthStartMs, type Clock, type EventBus, type Plan, type Subscription, type User } from '@tollgate/core';
import { invalidateKeys, invalidatePlanKeys } from '@tollgate/jobs';
import { UniqueViolationError, type Repositories, type SubscriptionWithPlan } from '@tollgate/store';
import { AppError, notFound } from '../http/app-error.ts';
import type { BillingService } from './billing.ts';
import { exactMicros, exactMinor } from './money-input.ts';

const withPlan = (subscription: Subscription, plan: Plan): SubscriptionWithPlan => ({
  ...subscription,
  planCode: plan.code,
  productId: plan.productId,
});

/** Subscriptions that can change plan or be cancelled: started and not ended. */
const CHANGEABLE = new Set(['active', 'past_due']);

export class SubscriptionService {
  constructor(
    private readonly repos: Repositories,
    private readonly bus: EventBus,
    private readonly clock: Clock,
    private readonly billing: BillingService,
  ) {}

  list(userId: string): Promise<SubscriptionWithPlan[]> {
    return this.repos.subscriptions.listByUser(userId);
  }

  /** An active plan this customer may use: public, or made for them. */
  async requirePlan(idOrCode: string, userId?: string): Promise<Plan> {
    const plan = await this.repos.catalog.findPlan(idOrCode);
    if (!plan || !plan.isActive || (plan.customerId !== null && plan.customerId !== userId)) throw notFound('Plan', idOrCode);
    return plan;
  }

  /**
   * Free plans start at once. A paid plan starts in `pending_payment` with its first invoice (the
   * fee prorated to the month's end), and becomes active when that is paid (or an admin grants
   * it); custom plans are arranged with the provider and granted. Subscribing twice returns the
   * subscription that exists.
   */
  async subscribe(userId: string, planIdOrCode: string): Promise<SubscriptionWithPlan> {
    const plan = await this.requirePlan(planIdOrCode, userId);
    if (plan.isCustom && plan.customerId === null) {
      throw new AppError('forbidden', `${plan.name} has custom pricing; the provider grants it on request`, {
        details: { planCode: plan.code },
      });
    }
    const existing = await this.repos.subscriptions.findLive(userId, plan.id);
    if (existing) return withPlan(existing, plan);
    if (isFreePlan(plan)) return withPlan(await this.createLive(userId, plan, 'active'), plan);
    const [user, product] = await Promise.all([this.repos.users.findById(userId), this.repos.catalog.findProduct(plan.productId)]);
    if (!user) throw notFound('User', userId);
    try {
      const subscription = await this.repos.transaction(async (tx) => {
        const created = await tx.subscriptions.create(this.newSubscription(user.id, plan, 'pending_payment'));
        await this.billing.issueFirstInvoice(tx, { user, subscription: created, plan, productName: product?.name ?? plan.code });
        return created;
      });
      await this.bus.publish({ topic: 'webhooks.pending' });
      return withPlan(subscription, plan);
    } catch (error) {
      if (error instanceof UniqueViolationError) {
        // Two concurrent requests: the other one created it (and its invoice).
        const raced = await this.repos.subscriptions.findLive(userId, plan.id);
        if (raced) return withPlan(raced, plan);
      }
      throw error;
    }
  }

  /**
   * Moves a subscription to another plan of its product. An upgrade takes effect at once, with
   * the fee difference for the rest of the month invoiced; a downgrade waits for the period end
   * (the cycle applies it). Choosing the current plan undoes a scheduled downgrade.
   */
  async changePlan(user: User, subscriptionId: string, planIdOrCode: string): Promise<{ subscription: SubscriptionWithPlan; change: 'upgrade' | 'downgrade' | 'same'; invoiceId: string | null }> {
    const subscription = await this.requireOwned(user, subscriptionId);
    if (!CHANGEABLE.has(subscription.status)) {
      throw new AppError('conflict', `A ${subscription.status.replace('_', ' ')} subscription cannot change plan`, { details: { status: subscription.status } });
    }
    const [from, to] = await Promise.all([this.repos.catalog.findPlan(subscription.planId), this.requirePlan(planIdOrCode, user.id)]);
    if (!from) throw notFound('Plan', subscription.planId);
    if (to.productId !== from.productId || to.currency !== from.currency) {
      throw new AppError('invalid_request', `${to.code} is not a plan of this subscription's product; subscribe to it instead`, { details: { planId: to.id } });
    }
    if (to.isCustom && to.customerId === null) {
      throw new AppError('forbidden', `${to.name} has custom pricing; the provider grants it on request`, { details: { planCode: to.code } });
    }
    const change = classifyPlanChange(from, to);
    if (change === 'same') {
      const updated = await this.repos.subscriptions.update(subscription.id, { scheduledPlanId: null });
      return { subscription: withPlan(updated ?? subscription, from), change, invoiceId: null };
    }
    if (change === 'downgrade') {
      const updated = await this.repos.subscriptions.update(subscription.id, { scheduledPlanId: to.id });
      await this.audit(user.id, 'subscription.downgrade_scheduled', subscription.id, { from: from.code, to: to.code });
      return { subscription: withPlan(updated ?? subscription, from), change, invoiceId: null };
    }
    const taken = await this.repos.subscriptions.findLive(user.id, to.id);
    if (taken) throw new AppError('conflict', `You already subscribe to ${to.code}`, { details: { subscriptionId: taken.id } });
    const product = await this.repos.catalog.findProduct(to.productId);
    const { updated, invoiceId } = await this.repos.transaction(async (tx) => {
      const moved = (await tx.subscriptions.update(subscription.id, { planId: to.id, scheduledPlanId: null })) as Subscription;
      await tx.keys.movePlan(subscription.id, to.id);
      const invoice = await this.billing.issueUpgradeInvoice(tx, { user, subscription: moved, from, to, productName: product?.name ?? to.code });
      return { updated: moved, invoiceId: invoice?.id ?? null };
    });
    await invalidateKeys({ repos: this.repos, bus: this.bus }, [subscription.id]);
    await this.bus.publish({ topic: 'webhooks.pending' });
    await this.audit(user.id, 'subscription.upgrade', subscription.id, { from: from.code, to: to.code, invoiceId });
    return { subscription: withPlan(updated, to), change, invoiceId };
  }

  /**
   * Cancels at the period end (the last invoice carries the month's usage); a subscription that
   * never started, or a free one, ends at once, and an unpaid first invoice is void.
   */
  async cancel(user: User, subscriptionId: string): Promise<SubscriptionWithPlan> {
    const subscription = await this.requireOwned(user, subscriptionId);
    const plan = (await this.repos.catalog.findPlan(subscription.planId)) as Plan;
    if (subscription.status === 'cancelled' || subscription.status === 'expired') return withPlan(subscription, plan);
    const immediate = subscription.status === 'pending_payment' || isFreePlan(plan);
    const updated = await this.repos.transaction(async (tx) => {
      if (!immediate) return tx.subscriptions.update(subscription.id, { cancelAtPeriodEnd: true, scheduledPlanId: null });
      for (const invoiceId of await tx.billing.unpaidInvoicesOf([subscription.id], '')) await tx.billing.setStatus(invoiceId, 'void');
      return tx.subscriptions.update(subscription.id, { status: 'cancelled' });
    });
    if (immediate) await invalidateKeys({ repos: this.repos, bus: this.bus }, [subscription.id]);
    await this.audit(user.id, immediate ? 'subscription.cancel' : 'subscription.cancel_scheduled', subscription.id, {});
    return withPlan(updated ?? subscription, plan);
  }

  /** Takes back a cancellation scheduled for the period end. */
  async resume(user: User, subscriptionId: string): Promise<SubscriptionWithPlan> {
    const subscription = await this.requireOwned(user, subscriptionId);
    if (!CHANGEABLE.has(subscription.status)) {
      throw new AppError('conflict', `A ${subscription.status.replace('_', ' ')} subscription cannot be resumed; subscribe again`, { details: { status: subscription.status } });
    }
    const plan = (await this.repos.catalog.findPlan(subscription.planId)) as Plan;
    const updated = await this.repos.subscriptions.update(subscription.id, { cancelAtPeriodEnd: false });
    return withPlan(updated ?? subscription, plan);
  }

  /** An admin grants a plan without payment (custom deals, trials, support). */
  async grant(actorId: string, email: string, planCode: string): Promise<SubscriptionWithPlan> {
    const user = await this.repos.users.findByEmail(email);
    if (!user) throw notFound('User', email);
    const plan = await this.requirePlan(planCode, user.id);
    const existing = await this.repos.subscriptions.findLive(user.id, plan.id);
    let subscription: Subscription;
    if (existing) {
      subscription = (await this.repos.subscriptions.setStatus(existing.id, 'active')) ?? existing;
      await invalidateKeys({ repos: this.repos, bus: this.bus }, [existing.id]);
    } else {
      subscription = await this.createLive(user.id, plan, 'active');
    }
    await this.audit(actorId, 'subscription.grant', subscription.id, { userId: user.id, planCode: plan.code });
    return withPlan(subscription, plan);
  }

  /**
   * A customer's custom (enterprise) price and limits: a private plan made from one of the
   * product's custom plans (its entitlements and limits), granted at once. Setting terms again
   * for the same customer and base plan updates that plan, which reaches their keys at once.
   */
  async grantCustomTerms(actorId: string, body: CustomPlanBody): Promise<{ plan: Plan; subscription: SubscriptionWithPlan }> {
    const user = await this.repos.users.findByEmail(body.email);
    if (!user) throw notFound('User', body.email);
    const base = await this.requirePlan(body.basePlanCode);
    if (!base.isCustom || base.customerId !== null) {
      throw new AppError('invalid_request', `${base.code} is not a custom plan; custom terms start from one (e.g. smi-enterprise)`, { details: { field: 'basePlanCode' } });
    }
    const terms = {
      monthlyFeeMinor: body.monthlyFee === null ? null : exactMinor(body.monthlyFee, base.currency, 'monthlyFee'),
      perCallFeeMicros: body.perCallFee === undefined ? base.perCallFeeMicros : body.perCallFee === null ? null : exactMicros(body.perCallFee, 'perCallFee'),
      rateLimitPerMinute: body.rateLimit,
      burst: body.burstLimit,
      dailyCap: body.dailyCap ?? null,
      monthlyQuota: body.monthlyQuota ?? null,
    };
    const code = `${base.code}-${user.id.slice(user.id.indexOf('_') + 1, user.id.indexOf('_') + 9).toLowerCase()}`;
    const existing = await this.repos.catalog.findPlan(code);
    const plan = existing
      ? ((await this.repos.catalog.updatePlan(existing.id, terms)) as Plan)
      : await this.repos.catalog.createPlan({
          ...terms,
          productId: base.productId,
          code,
          name: base.name,
          description: `Custom terms for ${user.email}`,
          currency: base.currency,
          rateLimitAlgorithm: base.rateLimitAlgorithm,
          entitlements: base.entitlements,
          limits: base.limits,
          isCustom: true,
          customerId: user.id,
          isActive: true,
        });
    if (existing) await invalidatePlanKeys({ repos: this.repos, bus: this.bus }, plan.id);
    await this.audit(actorId, 'plan.custom_terms', plan.id, { userId: user.id, basePlanCode: base.code, ...terms });
    return { plan, subscription: await this.grant(actorId, user.email, plan.code) };
  }

  private async requireOwned(user: User, subscriptionId: string): Promise<Subscription> {
    const subscription = await this.repos.subscriptions.findById(subscriptionId);
    if (!subscription || subscription.userId !== user.id) throw notFound('Subscription', subscriptionId);
    return subscription;
  }

  private audit(actorId: string, action: string, subscriptionId: string, data: Record<string, unknown>) {
    return this.repos.audit.append({ actorId, action, resourceType: 'subscription', resourceId: subscriptionId, data });
  }

  private newSubscription(userId: string, plan: Plan, status: 'active' | 'pending_payment') {
    const now = this.clock.now();
    return { userId, planId: plan.id, status, currentPeriodStart: new Date(monthStartMs(now)), currentPeriodEnd: new Date(nextMonthStartMs(now)) };
  }

  private async createLive(userId: string, plan: Plan, status: 'active' | 'pending_payment'): Promise<Subscription> {
    try {
      return await this.repos.subscriptions.create(this.newSubscription(userId, plan, status));
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
