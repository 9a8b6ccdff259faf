import Stripe from 'stripe';
import {
  assertPayableAmount,
  CallbackRejectedError,
  GatewayRequestError,
  redact,
  singleHeader,
  type CallbackRequest,
  type PaymentGateway,
  type PaymentOutcome,
  type PaymentRequest,
  type PaymentSession,
} from './gateway.ts';

/*
 * Stripe, through the official stripe package, following Stripe's documentation for Checkout
 * Sessions ("Create a Checkout Session", mode payment, price_data line items), idempotent requests
 * (Idempotency-Key), and webhook signatures ("Verify webhook signatures": the Stripe-Signature
 * header checked by stripe.webhooks.constructEvent, which also refuses timestamps older than five
 * minutes, Stripe's replay tolerance).
 */

export interface StripeGatewayOptions {
  /** sk_live_… or sk_test_… (a restricted key with Checkout Sessions write access works too). */
  secretKey: string;
  /** whsec_… of the webhook endpoint that points at our callback. */
  webhookSecret: string;
  /** Default https://api.stripe.com; another base (a local stand-in) for tests. */
  apiBaseUrl?: string;
  /** Per request to Stripe. Default 15_000. */
  timeoutMs?: number;
  /** Retries of a failed request (connection errors, 409, 429, 5xx), with backoff. Default 2. */
  maxNetworkRetries?: number;
}

export class StripeGateway implements PaymentGateway {
  readonly name = 'stripe' as const;
  private readonly stripe: Stripe;
  private readonly secretKey: string;
  private readonly webhookSecret: string;

  constructor(options: StripeGatewayOptions) {
    if (!options.secretKey || !options.webhookSecret) throw new TypeError('StripeGateway needs a secretKey and a webhookSecret');
    this.secretKey = options.secretKey;
    this.webhookSecret = options.webhookSecret;
    const base = new URL(options.apiBaseUrl ?? 'https://api.stripe.com');
    if (base.protocol !== 'https:' && base.protocol !== 'http:') throw new TypeError(`apiBaseUrl must be http or https, not ${base.protocol}`);
    const protocol = base.protocol === 'https:' ? 'https' : 'http';
    this.stripe = new Stripe(options.secretKey, {
      host: base.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: base.port || (protocol === 'https' ? 443 : 80),
      protocol,
      timeout: options.timeoutMs ?? 15_000,
      // The idempotency key makes a retried create return the same session, so retries are safe.
      maxNetworkRetries: options.maxNetworkRetries ?? 2,
      telemetry: false,
    });
  }

  async createPayment(payment: PaymentRequest): Promise<PaymentSession> {
    assertPayableAmount(payment.amountMinor);
    let session: Stripe.Checkout.Session;
    try {
      session = await this.stripe.checkout.sessions.create(
        {
          mode: 'payment',
          line_items: [
            {
              quantity: 1,
              price_data: {
                currency: payment.currency.toLowerCase(),
                unit_amount: payment.amountMinor,
                product_data: { name: payment.description },
              },
            },
          ],
          client_reference_id: payment.reference,
          metadata: { reference: payment.reference, invoiceId: payment.invoiceId, invoiceNumber: payment.invoiceNumber },
          customer_email: payment.customerEmail,
          success_url: payment.returnUrl,
          cancel_url: payment.cancelUrl,
        },
        { idempotencyKey: payment.reference },
      );
    } catch (error) {
      throw this.requestError(error);
    }
    if (!session.url) throw new GatewayRequestError(`Stripe created checkout session ${session.id} without a url`, { retryable: false });
    return { paymentUrl: session.url, providerReference: session.id };
  }

  async parseCallback(callback: CallbackRequest): Promise<PaymentOutcome | null> {
    const signature = singleHeader(callback.headers, 'stripe-signature');
    if (signature === undefined) throw new CallbackRejectedError('bad_signature', 'the Stripe-Signature header is missing');
    let event: Stripe.Event;
    try {
      event = this.stripe.webhooks.constructEvent(callback.rawBody, signature, this.webhookSecret);
    } catch (error) {
      if (error instanceof Stripe.errors.StripeSignatureVerificationError) {
        throw new CallbackRejectedError('bad_signature', `the Stripe signature was refused: ${error.message}`);
      }
      // constructEvent checks the signature before parsing, so this is a signed body that is not JSON.
      throw new CallbackRejectedError('invalid_payload', 'the Stripe event is not JSON');
    }

    switch (event.type) {
      case 'checkout.session.completed':
        // 'unpaid' is an asynchronous method (a bank debit) still under way: its outcome comes later.
        if (event.data.object.payment_status === 'paid') return outcome(event, event.data.object, 'succeeded', null);
        if (event.data.object.payment_status === 'unpaid') return outcome(event, event.data.object, 'pending', null);
        return null;
      case 'checkout.session.async_payment_succeeded':
        return outcome(event, event.data.object, 'succeeded', null);
      case 'checkout.session.async_payment_failed':
        return outcome(event, event.data.object, 'failed', 'the payment failed');
      case 'checkout.session.expired':
        return outcome(event, event.data.object, 'failed', 'the checkout session expired');
      default:
        return null;
    }
  }

  private requestError(error: unknown): GatewayRequestError {
    if (error instanceof Stripe.errors.StripeError) {
      const statusCode = error.statusCode;
      const connection = error instanceof Stripe.errors.StripeConnectionError;
      const message = connection
        ? `Stripe could not be reached: ${error.message}`
        : `Stripe refused the checkout session (HTTP ${statusCode ?? 'unknown'}, ${error.type}): ${error.message}`;
      return new GatewayRequestError(redact(message, this.secretKey), {
        statusCode,
        retryable: connection || statusCode === undefined || statusCode >= 500 || statusCode === 429,
      });
    }
    return new GatewayRequestError(`Stripe request failed: ${error instanceof Error ? error.message : String(error)}`, { retryable: true });
  }
}

function outcome(event: Stripe.Event, session: Stripe.Checkout.Session, status: PaymentOutcome['status'], failureReason: string | null): PaymentOutcome | null {
  const reference = session.client_reference_id ?? session.metadata?.['reference'];
  // A session without our reference was created by something else on the same Stripe account.
  if (!reference) return null;
  return {
    reference,
    providerEventId: event.id,
    status,
    amountMinor: session.amount_total ?? null,
    currency: session.currency ? session.currency.toUpperCase() : null,
    failureReason,
  };
}
