import type { BillingProfileBody, InvoiceStatus, PaymentGatewayId } from '@tollgate/contracts';
import {
  computeInvoice,
  monthStartMs,
  nextMonthStartMs,
  proratedFeeLine,
  upgradeLine,
  type Clock,
  type EventBus,
  type Plan,
  type Subscription,
  type User,
} from '@tollgate/core';
import {
  buyerOf,
  dueDateFor,
  feeDescription,
  invalidateKeys,
  invoiceDocument,
  invoiceEvent,
  runBillingCycle,
  toNewInvoice,
  vatRateFor,
  type BillingSettings,
} from '@tollgate/jobs';
import {
  CallbackRejectedError,
  GatewayRequestError,
  renderInvoicePdf,
  type CallbackRequest,
  type PaymentGateway,
  type PaymentGatewayName,
  type PaymentOutcome,
} from '@tollgate/runtime';
import type { BillingRun, Invoice, IssuedInvoice, Payment, Repositories, StoredInvoiceLine } from '@tollgate/store';
import { AppError, notFound } from '../http/app-error.ts';

export interface BillingServiceOptions {
  settings: BillingSettings;
  /** Base of links given to customers (payment pages, return URLs). */
  publicUrl: string;
  /** The configured providers; a provider without credentials is absent. */
  gateways: Partial<Record<PaymentGatewayName, PaymentGateway>>;
  /** The `test` gateway: payments completed on a page Tollgate serves (demo, development). */
  testGateway: boolean;
}

/** The path of the `test` gateway's checkout page for a payment. */
export const testCheckoutPath = (reference: string) => `/billing/test-checkout/${reference}`;

const issued = (invoice: Invoice): IssuedInvoice => ({
  id: invoice.id,
  userId: invoice.userId,
  number: invoice.number as string,
  status: invoice.status,
  currency: invoice.currency,
  totalMinor: invoice.totalMinor,
});

export class BillingService {
  constructor(
    private readonly repos: Repositories,
    private readonly bus: EventBus,
    private readonly clock: Clock,
    private readonly options: BillingServiceOptions,
  ) {}

  get settings(): BillingSettings {
    return this.options.settings;
  }

  // ------------------------------------------------------------------------------------------
  // Profile

  profile(userId: string) {
    return this.repos.billing.profile(userId);
  }

  saveProfile(userId: string, body: BillingProfileBody) {
    return this.repos.billing.saveProfile(userId, {
      name: body.name.trim(),
      company: body.company?.trim() || null,
      vatNumber: body.vatNumber?.trim() || null,
      country: body.country.toUpperCase(),
      email: body.email,
      addressLines: body.addressLines ?? [],
    });
  }

  vatRateBpsFor(country: string | null): number {
    return vatRateFor({ country } as Parameters<typeof vatRateFor>[0], this.options.settings);
  }

  // ------------------------------------------------------------------------------------------
  // Invoices

  list(user: User, query: { page: number; limit: number; status?: InvoiceStatus }) {
    return this.repos.billing.list({ userId: user.id, page: query.page, limit: query.limit, ...(query.status ? { status: query.status } : {}) });
  }

  /** The invoice with its lines, for its owner or an admin; anyone else is told it does not exist. */
  async get(user: User, id: string): Promise<{ invoice: Invoice; lines: StoredInvoiceLine[] }> {
    const invoice = await this.repos.billing.find(id);
    if (!invoice || (invoice.userId !== user.id && user.role !== 'admin') || invoice.status === 'draft') throw notFound('Invoice', id);
    return { invoice, lines: await this.repos.billing.lines(id) };
  }

  async linesOf(invoices: readonly Invoice[]): Promise<Map<string, StoredInvoiceLine[]>> {
    const entries = await Promise.all(invoices.map(async (i) => [i.id, await this.repos.billing.lines(i.id)] as const));
    return new Map(entries);
  }

  async pdf(user: User, id: string): Promise<{ filename: string; content: Buffer }> {
    const { invoice, lines } = await this.get(user, id);
    const content = await renderInvoicePdf(invoiceDocument(invoice, lines, this.options.settings.seller));
    return { filename: `${invoice.number ?? invoice.id}.pdf`, content };
  }

  /**
   * A paid plan's first invoice: the fee prorated to the end of the month, due at once (the
   * subscription starts when it is paid). Call inside the transaction that creates the subscription.
   */
  async issueFirstInvoice(tx: Repositories, input: { user: User; subscription: Subscription; plan: Plan; productName: string }): Promise<Invoice> {
    const now = this.clock.now();
    const line = proratedFeeLine({
      description: `${feeDescription(input.plan.name, input.productName)} (${new Date(now).toISOString().slice(0, 10)} to month end)`,
      feeMinor: input.plan.monthlyFeeMinor ?? 0,
      currency: input.plan.currency,
      atMs: now,
    });
    return this.issueSingle(tx, input.user, 'subscription', input.subscription.id, [line], now, new Date(now));
  }

  /** An upgrade's prorated charge, due on the usual terms; null when there is nothing to charge. */
  async issueUpgradeInvoice(tx: Repositories, input: { user: User; subscription: Subscription; from: Plan; to: Plan; productName: string }): Promise<Invoice | null> {
    const now = this.clock.now();
    const line = upgradeLine({
      description: `Upgrade ${input.from.name} → ${input.to.name} - ${input.productName} (rest of month)`,
      oldFeeMinor: input.from.monthlyFeeMinor ?? 0,
      newFeeMinor: input.to.monthlyFeeMinor ?? 0,
      currency: input.to.currency,
      atMs: now,
    });
    if (!line) return null;
    return this.issueSingle(tx, input.user, 'upgrade', input.subscription.id, [line], now, dueDateFor(new Date(now), this.options.settings));
  }

  private async issueSingle(
    tx: Repositories,
    user: User,
    kind: 'subscription' | 'upgrade',
    subscriptionId: string,
    lines: Parameters<typeof computeInvoice>[0]['lines'],
    now: number,
    dueAt: Date,
  ): Promise<Invoice> {
    const buyer = buyerOf(await tx.billing.profile(user.id), user.email, this.options.settings);
    const currency = (lines[0] as { currency: string }).currency;
    const amounts = computeInvoice({ currency, lines, vatRateBps: vatRateFor(buyer, this.options.settings) });
    const invoice = await tx.billing.issue(
      toNewInvoice({
        userId: user.id,
        kind,
        periodStart: new Date(now),
        periodEnd: new Date(nextMonthStartMs(now)),
        amounts,
        buyer,
        dueAt,
        subscriptionOfLine: () => subscriptionId,
      }),
      new Date(now),
    );
    await tx.webhooks.emit([invoiceEvent('invoice.created', issued(invoice), new Date(now))]);
    return invoice;
  }

  // ------------------------------------------------------------------------------------------
  // Paying

  /**
   * Starts a payment of an open (or failed) invoice with a gateway: stores the attempt under our
   * reference, asks the provider for its payment page, and answers where to send the customer.
   */
  async pay(user: User, invoiceId: string, gatewayId: PaymentGatewayId): Promise<{ paymentUrl: string; reference: string }> {
    const { invoice } = await this.get(user, invoiceId);
    if (invoice.userId !== user.id) throw new AppError('forbidden', 'Only the customer an invoice is addressed to can pay it');
    if (invoice.status !== 'open' && invoice.status !== 'failed') {
      throw new AppError('conflict', `Invoice ${invoice.number} is ${invoice.status}; only open or failed invoices can be paid`, { details: { status: invoice.status } });
    }
    const gateway = gatewayId === 'test' ? null : this.options.gateways[gatewayId];
    if (gatewayId === 'test' ? !this.options.testGateway : !gateway) {
      throw new AppError('invalid_request', `The ${gatewayId} gateway is not enabled on this server`, {
        details: { gateway: gatewayId, enabled: this.enabledGateways() },
      });
    }
    const amountMinor = invoice.totalMinor - invoice.amountPaidMinor;
    const payment = await this.repos.billing.createPayment({ invoiceId: invoice.id, userId: user.id, gateway: gatewayId, amountMinor, currency: invoice.currency });
    const base = this.options.publicUrl;
    let session: { paymentUrl: string; providerReference: string };
    if (!gateway) {
      session = { paymentUrl: `${base}${testCheckoutPath(payment.reference)}`, providerReference: payment.reference };
    } else {
      try {
        session = await gateway.createPayment({
          reference: payment.reference,
          invoiceId: invoice.id,
          invoiceNumber: invoice.number as string,
          amountMinor,
          currency: invoice.currency,
          customerEmail: (invoice.buyer as { email?: string }).email ?? user.email,
          description: `Invoice ${invoice.number}`,
          returnUrl: `${base}/billing/return?reference=${payment.reference}`,
          cancelUrl: `${base}/billing/return?reference=${payment.reference}&cancelled=1`,
          notifyUrl: `${base}/api/v1/api-marketplace/billing/callbacks/${gatewayId}`,
        });
      } catch (error) {
        await this.repos.billing.completePayment(payment.id, 'failed', new Date(this.clock.now()), (error as Error).message);
        if (error instanceof GatewayRequestError) {
          throw new AppError(error.retryable ? 'service_unavailable' : 'upstream_error', `${gatewayId} could not start the payment: ${error.message}`, { cause: error });
        }
        throw error;
      }
    }
    await this.repos.billing.setPaymentSession(payment.id, session);
    return { paymentUrl: session.paymentUrl, reference: payment.reference };
  }

  enabledGateways(): PaymentGatewayId[] {
    return [...(Object.keys(this.options.gateways) as PaymentGatewayId[]), ...(this.options.testGateway ? (['test'] as const) : [])];
  }

  /**
   * A provider's server-to-server notification: verified by the gateway (a forgery is refused with
   * 400 and changes nothing), then applied once per provider event id.
   */
  async callback(gatewayId: string, request: CallbackRequest): Promise<void> {
    const gateway = this.options.gateways[gatewayId as PaymentGatewayName];
    if (!gateway) throw notFound('Payment gateway', gatewayId);
    let outcome: PaymentOutcome | null;
    try {
      outcome = await gateway.parseCallback(request);
    } catch (error) {
      if (error instanceof CallbackRejectedError) {
        throw new AppError('invalid_request', `Callback refused: ${error.message}`, { details: { reason: error.reason }, cause: error });
      }
      if (error instanceof GatewayRequestError) {
        // The provider retries a notification we could not confirm.
        throw new AppError('service_unavailable', `Could not confirm the callback with ${gatewayId}: ${error.message}`, { cause: error });
      }
      throw error;
    }
    if (!outcome) return;
    const payment = await this.repos.billing.findPayment(outcome.reference);
    if (!payment || payment.gateway !== gatewayId) throw notFound('Payment', outcome.reference);
    await this.settle(payment, outcome);
  }

  /** The `test` gateway's page data: the payment and what it pays. */
  async testCheckout(reference: string): Promise<{ payment: Payment; invoice: Invoice }> {
    if (!this.options.testGateway) throw notFound('Payment', reference);
    const payment = await this.repos.billing.findPayment(reference);
    if (!payment || payment.gateway !== 'test') throw notFound('Payment', reference);
    return { payment, invoice: (await this.repos.billing.find(payment.invoiceId)) as Invoice };
  }

  /** Completes a `test` payment as a provider's callback would. Repeating it changes nothing. */
  async completeTestPayment(reference: string, outcome: 'success' | 'failure'): Promise<{ payment: Payment; invoice: Invoice }> {
    const { payment } = await this.testCheckout(reference);
    await this.settle(payment, {
      reference,
      // Like providers that report each status change of a payment as its own notification.
      providerEventId: `${reference}:${outcome}`,
      status: outcome === 'success' ? 'succeeded' : 'failed',
      amountMinor: payment.amountMinor,
      currency: payment.currency,
      failureReason: outcome === 'success' ? null : 'declined on the test checkout page',
    });
    return this.testCheckout(reference);
  }

  /**
   * Applies a provider's outcome once: a success marks the invoice paid, starts or reinstates
   * the subscriptions it bills and stores `invoice.paid`; a failure marks an open invoice failed
   * (it can be paid again) and stores `invoice.failed`. A success for a different amount or
   * currency than asked is recorded as a failure for the team to look at, never as payment.
   */
  private async settle(payment: Payment, outcome: PaymentOutcome): Promise<void> {
    const now = new Date(this.clock.now());
    const mismatch =
      outcome.status === 'succeeded' &&
      ((outcome.amountMinor !== null && outcome.amountMinor !== payment.amountMinor) || (outcome.currency !== null && outcome.currency !== payment.currency));
    const status = mismatch ? 'failed' : outcome.status;
    const changed = await this.repos.transaction(async (tx) => {
      if (status === 'pending') return [];
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
        await tx.webhooks.emit([invoiceEvent('invoice.failed', issued(failed), now, payment.id)]);
        return [];
      }
      await tx.billing.completePayment(payment.id, 'succeeded', now, null);
      // Paid twice (two gateways, or after a void): the money is recorded on the payment; the invoice stays as it is.
      if (invoice.status !== 'open' && invoice.status !== 'failed') return [];
      const paid = (await tx.billing.setStatus(invoice.id, 'paid', { paidAt: now, amountPaidMinor: invoice.totalMinor })) as Invoice;
      await tx.webhooks.emit([invoiceEvent('invoice.paid', issued(paid), now)]);
      return this.reinstate(tx, paid, now);
    });
    await invalidateKeys({ repos: this.repos, bus: this.bus }, changed);
    await this.bus.publish({ topic: 'webhooks.pending' });
  }

  /**
   * After a payment: the invoice's subscriptions that wait for it start (pending_payment) or come
   * back (past_due, suspended), unless another of their invoices is still overdue. A first invoice
   * paid after its month ended starts the subscription in the current month, with that month's
   * prorated fee invoiced on the usual terms.
   */
  private async reinstate(tx: Repositories, invoice: Invoice, now: Date): Promise<string[]> {
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
      for (const id of started) await this.startLate(tx, id, invoice.userId, now);
    }
    return [...started, ...back];
  }

  private async startLate(tx: Repositories, subscriptionId: string, userId: string, now: Date): Promise<void> {
    const subscription = await tx.subscriptions.update(subscriptionId, {
      currentPeriodStart: new Date(monthStartMs(now.getTime())),
      currentPeriodEnd: new Date(nextMonthStartMs(now.getTime())),
    });
    const plan = subscription && (await tx.catalog.findPlan(subscription.planId));
    const user = await tx.users.findById(userId);
    if (!subscription || !plan || !user || !plan.monthlyFeeMinor) return;
    const product = await tx.catalog.findProduct(plan.productId);
    const line = proratedFeeLine({ description: feeDescription(plan.name, product?.name ?? plan.code), feeMinor: plan.monthlyFeeMinor, currency: plan.currency, atMs: now.getTime() });
    await this.issueSingle(tx, user, 'subscription', subscriptionId, [line], now.getTime(), dueDateFor(now, this.options.settings));
  }

  // ------------------------------------------------------------------------------------------
  // The cycle

  /** Runs the monthly cycle for the month containing `asOf` and answers the finished run. */
  runCycle(asOf: Date, options: { actorId?: string; onProgress?: (run: BillingRun) => void } = {}): Promise<BillingRun> {
    return runBillingCycle({ repos: this.repos, bus: this.bus, clock: this.clock, settings: this.options.settings }, { asOf, ...options });
  }

  runs(): Promise<BillingRun[]> {
    return this.repos.billing.runs(24);
  }
}
