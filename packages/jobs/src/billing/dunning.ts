import { DUNNING_FINAL_STAGE, nextDunningStep, type Clock, type EventBus } from '@tollgate/core';
import { formatMinorAmount, type Mailer } from '@tollgate/runtime';
import type { Invoice, Repositories } from '@tollgate/store';
import type { JobDefinition, JobLog } from '../queue.ts';
import { invalidateKeys } from './cycle.ts';
import type { Buyer, BillingSettings } from './invoicing.ts';

export const DUNNING_JOB = 'billing.dunning';

export interface DunningDeps {
  repos: Repositories;
  bus: EventBus;
  mailer: Mailer;
  clock: Clock;
  log: JobLog;
  settings: BillingSettings;
  publicUrl: string;
}

export interface DunningReport {
  pastDue: number;
  reminders: number;
  suspended: number;
  expired: number;
}

/**
 * One pass over the unpaid invoices past their due date (core's `nextDunningStep` decides):
 * subscriptions turn past_due, reminders go out on days 3, 7 and 14, and with the last one the
 * subscriptions are suspended, or, for a first invoice, the invoice is void and the subscription
 * that never started expires. A reminder is sent before its stage is stored, so a relay that is
 * down delays it to the next pass rather than losing it.
 */
export async function runDunning(deps: DunningDeps): Promise<DunningReport> {
  const report: DunningReport = { pastDue: 0, reminders: 0, suspended: 0, expired: 0 };
  const now = deps.clock.now();
  const seen = new Set<string>();
  for (;;) {
    const page = (await deps.repos.billing.overdue(new Date(now), 500)).filter((i) => !seen.has(i.id));
    if (page.length === 0) return report;
    for (const invoice of page) {
      seen.add(invoice.id);
      await dunInvoice(deps, invoice, now, report);
    }
  }
}

async function dunInvoice(deps: DunningDeps, invoice: Invoice, now: number, report: DunningReport): Promise<void> {
  const step = nextDunningStep({ dueAtMs: (invoice.dueAt as Date).getTime(), stage: invoice.dunningStage, nowMs: now });
  if (step.action === 'none') return;
  const subscriptionIds = await deps.repos.billing.subscriptionIds(invoice.id);
  if (step.action === 'past_due') {
    report.pastDue += (await deps.repos.subscriptions.transition(subscriptionIds, ['active'], 'past_due')).length;
    return;
  }
  const firstInvoice = invoice.kind === 'subscription';
  await deps.mailer.send(reminder(deps, invoice, step.daysOverdue, step.final, firstInvoice));
  const changed = await deps.repos.transaction(async (tx) => {
    if (!(await tx.billing.advanceDunning(invoice.id, invoice.dunningStage, step.stage))) return [];
    report.reminders++;
    if (step.stage < DUNNING_FINAL_STAGE) return tx.subscriptions.transition(subscriptionIds, ['active'], 'past_due');
    if (firstInvoice) {
      await tx.billing.setStatus(invoice.id, 'void');
      const expired = await tx.subscriptions.transition(subscriptionIds, ['pending_payment'], 'expired');
      report.expired += expired.length;
      return expired;
    }
    const suspended = await tx.subscriptions.transition(subscriptionIds, ['active', 'past_due'], 'suspended');
    report.suspended += suspended.length;
    return suspended;
  });
  await invalidateKeys(deps, changed);
}

function reminder(deps: DunningDeps, invoice: Invoice, daysOverdue: number, final: boolean, firstInvoice: boolean) {
  const buyer = invoice.buyer as unknown as Buyer;
  const total = formatMinorAmount(invoice.totalMinor - invoice.amountPaidMinor, invoice.currency);
  const consequence = firstInvoice
    ? final
      ? 'The invoice is now void and the subscription was not started. Subscribe again whenever you like.'
      : 'Your subscription starts once it is paid.'
    : final
      ? 'Your subscription is now suspended: its API keys answer 402 payment_required until the invoice is paid.'
      : 'If it stays unpaid 14 days after its due date, your subscription will be suspended.';
  return {
    to: buyer.email,
    subject: `${final ? 'Final notice' : 'Reminder'}: invoice ${invoice.number} (${total}) is ${daysOverdue} days overdue`,
    text: [
      `Hello ${buyer.name},`,
      '',
      `Invoice ${invoice.number} for ${total} was due on ${(invoice.dueAt as Date).toISOString().slice(0, 10)} and is unpaid.`,
      consequence,
      `Pay it: sign in at ${deps.publicUrl}, or POST /api/v1/api-marketplace/billing/invoices/${invoice.id}/pay.`,
      '',
      deps.settings.seller.name,
    ].join('\n'),
  };
}

export function dunningJob(deps: DunningDeps): JobDefinition {
  return {
    name: DUNNING_JOB,
    // Hourly: reminders go out the hour they fall due, whenever the invoice was issued.
    cron: '17 * * * *',
    async handle() {
      const report = await runDunning(deps);
      if (report.pastDue + report.reminders > 0) deps.log.info({ ...report }, 'dunning pass done');
    },
  };
}
