import {
  computeInvoice,
  monthStartMs,
  nextMonthStartMs,
  proratedFeeLine,
  type Clock,
  type EventBus,
  type InvoiceLine,
  type SecretBox,
  type User,
} from '@tollgate/core';
import type { PaymentOutcome, PaymentRequest } from '@tollgate/runtime';
import type { Invoice, IssuedInvoice, Payment, Repositories } from '@tollgate/store';
import { invalidateKeys } from '../key-invalidation.ts';
import { buyerOf, dueDateFor, feeDescription, invoiceEvent, toNewInvoice, vatRateFor, type BillingSettings } from './invoicing.ts';

/*
 * What happens to invoices outside the monthly cycle: issuing one on its own (a first or an
 * upgrade invoice), and applying a payment's outcome, whichever way it arrived (a provider's
 * callback, the test checkout page, or dunning charging a saved card).
 */

export interface SettlementDeps {
  repos: Repositories;
  bus: EventBus;
  clock: Clock;
  settings: BillingSettings;
  /** Seals the saved payment methods' tokens. */
  secretBox: SecretBox;
}

export const issuedInvoice = (invoice: Invoice): IssuedInvoice => ({
  id: invoice.id,
  userId: invoice.userId,
  number: invoice.number as string,
  status: invoice.status,
  currency: invoice.currency,
  totalMinor: invoice.totalMinor,
});

/**
 * Issues a one-off invoice (numbered, open) for one subscription's lines and stores
 * `invoice.created`. Call it inside the transaction of the change it bills.
 */
export async function issueInvoice(
  tx: Repositories,
  settings: BillingSettings,
  input: { user: User; kind: 'subscription' | 'upgrade'; subscriptionId: string; lines: InvoiceLine[]; now: number; dueAt: Date },
): Promise<Invoice> {
  const buyer = buyerOf(await tx.billing.profile(input.user.id), input.user.email, settings);
  const currency = (input.lines[0] as InvoiceLine).currency;
  const amounts = computeInvoice({ currency, lines: input.lines, vatRateBps: vatRateFor(buyer, settings) });
  const invoice = await tx.billing.issue(
    toNewInvoice({
      userId: input.user.id,
      kind: input.kind,
      periodStart: new Date(input.now),
      periodEnd: new Date(nextMonthStartMs(input.now)),
      amounts,
      buyer,
      dueAt: input.dueAt,
      subscriptionOfLine: () => input.subscriptionId,
    }),
    new Date(input.now),
  );
  await tx.webhooks.emit([invoiceEvent('invoice.created', issuedInvoice(invoice), new Date(input.now))]);
  return invoice;
}

/**
 * Applies a provider's outcome once per provider event: a success marks the invoice paid, starts
 * or reinstates the subscriptions it bills, stores `invoice.paid`, and keeps a reusable method the
 * provider returned; a failure marks an open invoice failed (it can be paid again) and stores
 * `invoice.failed`. A success for another amount or currency than asked is recorded as a failure
 * for the team to look at, never as payment.
 */
export async function settlePayment(deps: SettlementDeps, payment: Payment, outcome: PaymentOutcome): Promise<void> {
  const now = new Date(deps.clock.now());
  const mismatch =
    outcome.status === 'succeeded' &&
    ((outcome.amountMinor !== null && outcome.amountMinor !== payment.amountMinor) || (outcome.currency !== null && outcome.currency !== payment.currency));
  const status = mismatch ? 'failed' : outcome.status;
  if (status === 'pending') return;
  const changed = await deps.repos.transaction(async (tx) => {
    if (!(await tx.billing.recordPaymentEvent(payment.gateway, outcome.providerEventId, payment.id, status))) return [];
    const invoice = (await tx.billing.findForUpdate(payment.invoiceId)) as Invoice;
    if (status === 'failed') {
      // A failure reported after this payment succeeded (a reversal) is recorded above and
      // changes nothing here; so does a stale attempt's decline once the invoice is settled.
      const current = (await tx.billing.findPayment(payment.reference)) as Payment;
      if (current.status === 'succeeded') return [];
      const reason = mismatch
        ? `paid ${outcome.amountMinor} ${outcome.currency}, expected ${payment.amountMinor} ${payment.currency}`
        : (outcome.failureReason ?? 'declined');
      await tx.billing.completePayment(payment.id, 'failed', now, reason);
      if (invoice.status !== 'open' && invoice.status !== 'failed') return [];
      const failed = invoice.status === 'open' ? ((await tx.billing.setStatus(invoice.id, 'failed')) as Invoice) : invoice;
      await tx.webhooks.emit([invoiceEvent('invoice.failed', issuedInvoice(failed), now, payment.id)]);
      return [];
    }
    await tx.billing.completePayment(payment.id, 'succeeded', now, null);
    if (outcome.savedMethod) {
      await tx.billing.saveMethod(payment.userId, payment.gateway, deps.secretBox.seal(outcome.savedMethod.token), outcome.savedMethod.label);
    }
    // Paid twice (two gateways, or after a void): the money is recorded on the payment; the invoice stays as it is.
    if (invoice.status !== 'open' && invoice.status !== 'failed') return [];
    const paid = (await tx.billing.setStatus(invoice.id, 'paid', { paidAt: now, amountPaidMinor: invoice.totalMinor })) as Invoice;
    await tx.webhooks.emit([invoiceEvent('invoice.paid', issuedInvoice(paid), now)]);
    return reinstate(tx, deps.settings, paid, now);
  });
  await invalidateKeys(deps, changed);
  await deps.bus.publish({ topic: 'webhooks.pending' });
}

/**
 * After a payment: the invoice's subscriptions that wait for it start (pending_payment) or come
 * back (past_due, suspended), unless another of their invoices is still overdue. A first invoice
 * paid after its month ended starts the subscription in the current month, with that month's
 * prorated fee invoiced on the usual terms.
 */
async function reinstate(tx: Repositories, settings: BillingSettings, invoice: Invoice, now: Date): Promise<string[]> {
  const ids = await tx.billing.subscriptionIds(invoice.id);
  const stillOverdue = new Set<string>();
  for (const otherId of await tx.billing.unpaidInvoicesOf(ids, invoice.id)) {
    const other = await tx.billing.find(otherId);
    if (other?.dueAt && other.dueAt.getTime() <= now.getTime()) for (const id of await tx.billing.subscriptionIds(otherId)) stillOverdue.add(id);
  }
  const ready = ids.filter((id) => !stillOverdue.has(id));
  const started = await tx.subscriptions.transition(ready, ['pending_payment'], 'active');
  const back = await tx.subscriptions.transition(ready, ['past_due', 'suspended'], 'active');
  if (invoice.kind === 'subscription' && now.getTime() >= invoice.periodEnd.getTime()) {
    for (const id of started) await startLate(tx, settings, id, invoice.userId, now);
  }
  return [...started, ...back];
}

async function startLate(tx: Repositories, settings: BillingSettings, subscriptionId: string, userId: string, now: Date): Promise<void> {
  const subscription = await tx.subscriptions.update(subscriptionId, {
    currentPeriodStart: new Date(monthStartMs(now.getTime())),
    currentPeriodEnd: new Date(nextMonthStartMs(now.getTime())),
  });
  const plan = subscription && (await tx.catalog.findPlan(subscription.planId));
  const user = await tx.users.findById(userId);
  if (!subscription || !plan || !user || !plan.monthlyFeeMinor) return;
  const product = await tx.catalog.findProduct(plan.productId);
  const line = proratedFeeLine({ description: feeDescription(plan.name, product?.name ?? plan.code), feeMinor: plan.monthlyFeeMinor, currency: plan.currency, atMs: now.getTime() });
  await issueInvoice(tx, settings, { user, kind: 'subscription', subscriptionId, lines: [line], now: now.getTime(), dueAt: dueDateFor(now, settings) });
}

/** What a gateway is asked to collect for an invoice, and where it sends the customer and its notifications. */
export function paymentRequestFor(invoice: Invoice, payment: Payment, publicUrl: string, accountEmail: string): PaymentRequest {
  return {
    reference: payment.reference,
    invoiceId: invoice.id,
    invoiceNumber: invoice.number as string,
    amountMinor: payment.amountMinor,
    currency: invoice.currency,
    customerEmail: (invoice.buyer as { email?: string }).email ?? accountEmail,
    description: `Invoice ${invoice.number}`,
    returnUrl: `${publicUrl}/billing/return?reference=${payment.reference}`,
    cancelUrl: `${publicUrl}/billing/return?reference=${payment.reference}&cancelled=1`,
    notifyUrl: `${publicUrl}/api/v1/api-marketplace/billing/callbacks/${payment.gateway}`,
  };
}
