import { randomUUID } from 'node:crypto';
import path from 'node:path';
import {
  billingCycleJob,
  dunningJob,
  invoiceMailJob,
  JobQueue,
  quotaResetJob,
  usageCompactionJob,
  usageRetentionJob,
  webhookCleanupJob,
  WebhookDeliverer,
  type JobLog,
} from '@tollgate/jobs';
import { createMailer, createWebhookSender } from '@tollgate/runtime';
import type { Config } from './config.ts';
import type { Deps } from './deps.ts';
import { demoDataEventsJob } from './demo/data-events-job.ts';

/** pg-boss's schema: beside the application's, one per DATABASE_SCHEMA. */
export function jobSchema(config: Config): string {
  return `${config.databaseSchema ?? 'tollgate'}_jobs`;
}

export interface Workers {
  deliverer: WebhookDeliverer;
  stop(): Promise<void>;
}

/**
 * Starts the background work on the application's database: the scheduled jobs on the job
 * queue, and the webhook deliverer (woken by the bus when an instance stores events).
 */
export async function startWorkers(config: Config, deps: Deps, log: JobLog): Promise<Workers> {
  const queue = await JobQueue.start(deps.database, { schema: jobSchema(config), log });
  // Without SMTP_URL, emails are written as .eml files a demo user can open.
  const mailer = createMailer({ smtpUrl: config.mail.smtpUrl, from: config.mail.from, fileDir: path.join(config.dataDir, 'mail') });
  const billing = {
    repos: deps.repos,
    bus: deps.bus,
    clock: deps.clock,
    log,
    mailer,
    settings: config.billing,
    publicUrl: config.publicUrl,
    secretBox: deps.secretBox,
    // Dunning charges saved payment methods through them.
    gateways: deps.gateways,
  };
  await queue.run([
    billingCycleJob(billing),
    dunningJob(billing),
    invoiceMailJob(billing),
    usageRetentionJob(deps.repos, deps.clock, config.usageRetentionDays),
    usageCompactionJob(deps.repos, deps.clock),
    quotaResetJob(deps.repos, deps.clock, deps.bus),
    webhookCleanupJob(deps.repos, deps.clock),
    // The demo upstream's data events, for its demo catalog only.
    ...(config.seedDemo ? [demoDataEventsJob(deps.repos, deps.clock, deps.bus)] : []),
  ]);
  const sender = createWebhookSender({ threads: config.webhooks.senderThreads, allowPrivate: config.webhooks.allowPrivate, timeoutMs: config.webhooks.timeoutMs });
  const deliverer = new WebhookDeliverer(deps.repos, {
    workerId: `wrk_${randomUUID()}`,
    transport: sender,
    secretBox: deps.secretBox,
    clock: deps.clock,
    log,
    retrySchedule: config.webhooks.retrySchedule,
    maxAttempts: config.webhooks.maxAttempts,
    pollIntervalMs: config.webhooks.pollIntervalMs,
    idlePollMaxMs: config.webhooks.idlePollMaxMs,
    concurrency: config.webhooks.concurrency,
    // Renewed with every attempt stored; it must outlast the slowest attempt.
    leaseMs: Math.max(60_000, config.webhooks.timeoutMs * 3),
  });
  const unsubscribe = deps.bus.subscribe((message) => {
    if (message.topic === 'webhooks.pending') deliverer.wake();
  });
  deliverer.start();
  return {
    deliverer,
    async stop() {
      unsubscribe();
      await Promise.all([deliverer.stop(), queue.stop()]);
      await Promise.all([sender.close(), mailer.close?.()]);
    },
  };
}
