import { DUNNING_FINAL_STAGE, nextDunningStep } from '@tollgate/core';
import { formatMinorAmount, GatewayRequestError, type Mailer, type PaymentGateway, type PaymentGatewayName } from '@tollgate/runtime';
import { UniqueViolationError, type Invoice, type Payment } from '@tollgate/store';
import type { JobDefinition, JobLog } from '../queue.ts';
import { invalidateKeys } from '../key-invalidation.ts';
import type { Buyer } from './invoicing.ts';
import { paymentRequestFor, settlePayment, type SettlementDeps } from './settlement.ts';

export const DUNNING_JOB = 'billing.dunning';

export interface DunningDeps extends SettlementDeps {
  mailer: Mailer;
  log: JobLog;
  publicUrl: string;
  /** Gateways that can charge a saved method (`chargeSaved`) retry with it. */
  gateways: Partial<Record<PaymentGatewayName, PaymentGateway>>;
}

export interface DunningReport {
  /** Invoices paid by charging a saved method. */
  charged: number;
  pastDue: number;
  reminders: number;
  suspended: number;
  expired: number;
}

/**
 * One pass over the unpaid invoices past their due date (core's `nextDunningStep` decides). At
 * the due date and at each reminder, a saved payment method is charged first (once per stage);
 * if that pays, nothing else happens. Otherwise subscriptions turn past_due, reminders go out on
 * days 3, 7 and 14, and with the last one the subscriptions are suspended, or, for a first
 * invoice, the invoice is void and the subscription that never started expires. A reminder is
 * sent before its stage is stored, so a relay that is down delays it rather than losing it.
 */
export async function runDunning(deps: DunningDeps, options: { pageSize?: number } = {}): Promise<DunningReport> {
  const report: DunningReport = { charged: 0, pastDue: 0, reminders: 0, suspended: 0, expired: 0 };
  const now = deps.clock.now();
  let after: { dueAt: Date; id: string } | null = null;
  for (;;) {
    const page = await deps.repos.billing.overdue(new Date(now), after, options.pageSize ?? 500);
    if (page.length === 0) return report;
    for (const invoice of page) await dunInvoice(deps, invoice, now, report);
    const last = page.at(-1) as Invoice;
    after = { dueAt: last.dueAt as Date, id: last.id };
  }
}

async function dunInvoice(deps: DunningDeps, invoice: Invoice, now: number, report: DunningReport): Promise<void> {
  const step = nextDunningStep({ dueAtMs: (invoice.dueAt as Date).getTime(), stage: invoice.dunningStage, nowMs: now });
  if (step.action === 'none') return;
  const charge = await chargeSavedMethod(deps, invoice, step.action === 'past_due' ? 0 : step.stage);
  if (charge.paid) {
    report.charged++;
    return;
  }
  const subscriptionIds = await deps.repos.billing.subscriptionIds(invoice.id);
  if (step.action === 'past_due') {
    report.pastDue += (await deps.repos.subscriptions.transition(subscriptionIds, ['active'], 'past_due')).length;
    return;
  }
  const firstInvoice = invoice.kind === 'subscription';
  await deps.mailer.send(reminder(deps, invoice, step.daysOverdue, step.final, firstInvoice, charge.declined));
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

/**
 * Charges the customer's most recently saved method that its gateway can charge, once per invoice
 * and stage (the payment reference is derived from both, so a second pass finds it taken).
 */
async function chargeSavedMethod(deps: DunningDeps, invoice: Invoice, stage: number): Promise<{ paid: boolean; declined: string | null }> {
  for (const method of await deps.repos.billing.savedMethods(invoice.userId)) {
    const gateway = deps.gateways[method.gateway as PaymentGatewayName];
    if (!gateway?.chargeSaved) continue;
    let payment: Payment;
    try {
      payment = await deps.repos.billing.createPayment({
        invoiceId: invoice.id,
        userId: invoice.userId,
        gateway: method.gateway,
        amountMinor: invoice.totalMinor - invoice.amountPaidMinor,
        currency: invoice.currency,
        reference: `pay_dunning_${invoice.id}_${stage}`,
      });
    } catch (error) {
      if (error instanceof UniqueViolationError) return { paid: false, declined: null };
      throw error;
    }
    const now = new Date(deps.clock.now());
    try {
      const outcome = await gateway.chargeSaved(paymentRequestFor(invoice, payment, deps.publicUrl, ''), deps.secretBox.open(method.tokenSealed));
      await settlePayment(deps, payment, outcome);
      if (outcome.status === 'succeeded') return { paid: (await deps.repos.billing.find(invoice.id))?.status === 'paid', declined: null };
      return { paid: false, declined: outcome.status === 'failed' ? method.label : null };
    } catch (error) {
      if (!(error instanceof GatewayRequestError)) throw error;
      await deps.repos.billing.completePayment(payment.id, 'failed', now, error.message);
      deps.log.error({ err: error, invoiceId: invoice.id, gateway: method.gateway }, 'charging the saved method failed');
      return { paid: false, declined: null };
    }
  }
  return { paid: false, declined: null };
}

function reminder(deps: DunningDeps, invoice: Invoice, daysOverdue: number, final: boolean, firstInvoice: boolean, declined: string | null) {
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
      ...(declined ? [`We tried to charge your ${declined} and it was declined.`] : []),
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
      if (report.charged + report.pastDue + report.reminders > 0) deps.log.info({ ...report }, 'dunning pass done');
    },
  };
}
