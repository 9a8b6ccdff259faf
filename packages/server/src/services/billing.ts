import type { BillingProfileBody, InvoiceStatus, PaymentGatewayId } from '@tollgate/contracts';
import { proratedFeeLine, upgradeLine, vatRateBps, type Clock, type EventBus, type Plan, type SecretBox, type Subscription, type User } from '@tollgate/core';
import {
  dueDateFor,
  feeDescription,
  invoiceDocument,
  issueInvoice,
  paymentRequestFor,
  runBillingCycle,
  settlePayment,
  type BillingSettings,
  type SettlementDeps,
} from '@tollgate/jobs';
import {
  CallbackRejectedError,
  GatewayRequestError,
  renderInvoicePdf,
  type CallbackRequest,
  type PaymentGatewayName,
  type PaymentOutcome,
  type TestCardBehaviour,
  type TestGateway,
} from '@tollgate/runtime';
import type { BillingRun, Invoice, Payment, Repositories, StoredInvoiceLine } from '@tollgate/store';
import { AppError, notFound } from '../http/app-error.ts';
import type { PaymentGateways } from '../payments.ts';

export interface BillingServiceOptions {
  settings: BillingSettings;
  /** Base of links given to customers (payment pages, return URLs). */
  publicUrl: string;
  /** The configured providers (a provider without credentials is absent), `test` among them when enabled. */
  gateways: PaymentGateways;
  /** Seals saved payment methods. */
  secretBox: SecretBox;
}

export class BillingService {
  constructor(
    private readonly repos: Repositories,
    private readonly bus: EventBus,
    private readonly clock: Clock,
    private readonly options: BillingServiceOptions,
  ) {}

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
    return vatRateBps(country, this.options.settings.vatRates);
  }

  // ------------------------------------------------------------------------------------------
  // Invoices

  /** A customer's invoices, or with `everyone` (admins) every customer's: the provider's books. */
  list(user: User, query: { page: number; limit: number; status?: InvoiceStatus }, everyone = false) {
    if (everyone && user.role !== 'admin') throw new AppError('forbidden', 'Only administrators see every invoice');
    return this.repos.billing.list({ userId: everyone ? null : user.id, page: query.page, limit: query.limit, ...(query.status ? { status: query.status } : {}) });
  }

  /** The invoice with its lines, for its owner or an admin; anyone else is told it does not exist. */
  async get(user: User, id: string): Promise<{ invoice: Invoice; lines: StoredInvoiceLine[] }> {
    const invoice = await this.repos.billing.find(id);
    if (!invoice || (invoice.userId !== user.id && user.role !== 'admin') || invoice.status === 'draft') throw notFound('Invoice', id);
    return { invoice, lines: await this.repos.billing.lines(id) };
  }

  linesOf(invoices: readonly Invoice[]): Promise<Map<string, StoredInvoiceLine[]>> {
    return this.repos.billing.linesOf(invoices.map((i) => i.id));
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
    return issueInvoice(tx, this.options.settings, { user: input.user, kind: 'subscription', subscriptionId: input.subscription.id, lines: [line], now, dueAt: new Date(now) });
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
    return issueInvoice(tx, this.options.settings, { user: input.user, kind: 'upgrade', subscriptionId: input.subscription.id, lines: [line], now, dueAt: dueDateFor(new Date(now), this.options.settings) });
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
    const gateway = this.options.gateways[gatewayId];
    if (!gateway) {
      throw new AppError('invalid_request', `The ${gatewayId} gateway is not enabled on this server`, {
        details: { gateway: gatewayId, enabled: this.enabledGateways() },
      });
    }
    const amountMinor = invoice.totalMinor - invoice.amountPaidMinor;
    const payment = await this.repos.billing.createPayment({ invoiceId: invoice.id, userId: user.id, gateway: gatewayId, amountMinor, currency: invoice.currency });
    let session: { paymentUrl: string; providerReference: string };
    try {
      session = await gateway.createPayment(paymentRequestFor(invoice, payment, this.options.publicUrl, user.email));
    } catch (error) {
      await this.repos.billing.completePayment(payment.id, 'failed', new Date(this.clock.now()), (error as Error).message);
      if (error instanceof GatewayRequestError) {
        throw new AppError(error.retryable ? 'service_unavailable' : 'upstream_error', `${gatewayId} could not start the payment: ${error.message}`, { cause: error });
      }
      throw error;
    }
    await this.repos.billing.setPaymentSession(payment.id, session);
    return { paymentUrl: session.paymentUrl, reference: payment.reference };
  }

  enabledGateways(): PaymentGatewayId[] {
    return Object.keys(this.options.gateways) as PaymentGatewayId[];
  }

  /**
   * A provider's server-to-server notification: verified by the gateway (a forgery is refused with
   * 400 and changes nothing), then applied once per provider event id.
   */
  async callback(gatewayId: string, request: CallbackRequest): Promise<void> {
    const gateway = gatewayId === 'test' ? undefined : this.options.gateways[gatewayId as PaymentGatewayName];
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
    await settlePayment(this.settlementDeps(), payment, outcome);
  }

  /** The `test` gateway's page data: the payment and what it pays. */
  async testCheckout(reference: string): Promise<{ payment: Payment; invoice: Invoice }> {
    const payment = this.options.gateways.test ? await this.repos.billing.findPayment(reference) : null;
    if (!payment || payment.gateway !== 'test') throw notFound('Payment', reference);
    return { payment, invoice: (await this.repos.billing.find(payment.invoiceId)) as Invoice };
  }

  /**
   * Completes a `test` payment as a provider's callback would; repeating it changes nothing. With
   * `saveCard`, a successful payment also saves a test card that approves or declines later
   * charges, as a provider's reusable card authorization would (dunning retries with it).
   */
  async completeTestPayment(reference: string, outcome: 'success' | 'failure', saveCard: TestCardBehaviour | null = null): Promise<{ payment: Payment; invoice: Invoice }> {
    const { payment } = await this.testCheckout(reference);
    await settlePayment(this.settlementDeps(), payment, (this.options.gateways.test as TestGateway).outcome(reference, outcome, saveCard));
    return this.testCheckout(reference);
  }

  /** The customer's saved payment methods (never their tokens). */
  async savedMethods(user: User) {
    return (await this.repos.billing.savedMethods(user.id)).map((m) => ({ gateway: m.gateway, label: m.label, savedAt: m.updatedAt.toISOString() }));
  }

  private settlementDeps(): SettlementDeps {
    return { repos: this.repos, bus: this.bus, clock: this.clock, settings: this.options.settings, secretBox: this.options.secretBox };
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
