import type { Clock, EventBus } from '@tollgate/core';
import type { MemoryAttemptLimiter } from '@tollgate/runtime';
import type { Repositories } from '@tollgate/store';
import { AccountService } from './accounts.ts';
import { BillingService, type BillingServiceOptions } from './billing.ts';
import { CatalogService } from './catalog.ts';
import { KeyService } from './keys.ts';
import { SubscriptionService } from './subscriptions.ts';
import { UsageService } from './usage.ts';
import { WebhookService, type WebhookServiceOptions } from './webhooks.ts';

export type Services = ReturnType<typeof createServices>;

export function createServices(input: {
  repos: Repositories;
  bus: EventBus;
  clock: Clock;
  loginLimiter: MemoryAttemptLimiter;
  sessionTtlMs: number;
  keyPrefix: string;
  webhooks: WebhookServiceOptions;
  billing: BillingServiceOptions;
}) {
  const { repos, bus, clock } = input;
  const billing = new BillingService(repos, bus, clock, input.billing);
  const subscriptions = new SubscriptionService(repos, bus, clock, billing);
  return {
    accounts: new AccountService(repos, clock, input.loginLimiter, input.sessionTtlMs),
    catalog: new CatalogService(repos, bus),
    subscriptions,
    keys: new KeyService(repos, subscriptions, bus, clock, input.keyPrefix),
    usage: new UsageService(repos, clock),
    webhooks: new WebhookService(repos, bus, clock, input.webhooks),
    billing,
  };
}
