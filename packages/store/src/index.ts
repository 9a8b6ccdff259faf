export * from './accounts.ts';
export * from './audit.ts';
export * from './billing.ts';
export * from './catalog.ts';
export * from './database.ts';
export * from './errors.ts';
export * from './ids.ts';
export * from './keys.ts';
export * from './settings.ts';
export * from './subscriptions.ts';
export * from './usage.ts';
export * from './webhooks.ts';
export * as schema from './schema.ts';

import type { Db } from './database.ts';
import { UserRepository, SessionRepository } from './accounts.ts';
import { AuditRepository } from './audit.ts';
import { BillingRepository } from './billing.ts';
import { CatalogRepository } from './catalog.ts';
import { KeyRepository } from './keys.ts';
import { SettingsRepository } from './settings.ts';
import { SubscriptionRepository } from './subscriptions.ts';
import { UsageRepository } from './usage.ts';
import { WebhookRepository } from './webhooks.ts';

export interface Repositories {
  users: UserRepository;
  sessions: SessionRepository;
  catalog: CatalogRepository;
  subscriptions: SubscriptionRepository;
  keys: KeyRepository;
  usage: UsageRepository;
  audit: AuditRepository;
  settings: SettingsRepository;
  webhooks: WebhookRepository;
  billing: BillingRepository;
  /**
   * Runs `work` in one transaction with repositories bound to it: a change and the webhook
   * events it causes are stored together or not at all.
   */
  transaction<T>(work: (tx: Repositories) => Promise<T>): Promise<T>;
}

export function createRepositories(db: Db): Repositories {
  return {
    users: new UserRepository(db),
    sessions: new SessionRepository(db),
    catalog: new CatalogRepository(db),
    subscriptions: new SubscriptionRepository(db),
    keys: new KeyRepository(db),
    usage: new UsageRepository(db),
    audit: new AuditRepository(db),
    settings: new SettingsRepository(db),
    webhooks: new WebhookRepository(db),
    billing: new BillingRepository(db),
    transaction: (work) => db.transaction((tx) => work(createRepositories(tx as unknown as Db))),
  };
}
