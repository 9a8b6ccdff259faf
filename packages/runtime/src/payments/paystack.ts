import { createHmac, timingSafeEqual } from 'node:crypto';
import {
  assertPayableAmount,
  CallbackRejectedError,
  excerpt,
  GatewayRequestError,
  parseJson,
  providerRequest,
  redact,
  singleHeader,
  type CallbackRequest,
  type PaymentGateway,
  type PaymentOutcome,
  type PaymentRequest,
  type PaymentSession,
  type SavedMethod,
} from './gateway.ts';

/*
 * Paystack, following Paystack's API reference (Transactions: "Initialize Transaction" and
 * "Verify Transaction") and its webhooks guide ("Verify event origin": x-paystack-signature is
 * the HMAC-SHA512, hex, of the raw request body keyed with the secret key).
 *
 * A webhook is only a hint: its signature proves Paystack sent it, but the verify endpoint is the
 * authority on what was paid, so a charge.success is confirmed there before it becomes an outcome.
 */

export interface PaystackGatewayOptions {
  /** sk_live_… or sk_test_…; signs webhooks too. */
  secretKey: string;
  /** Default https://api.paystack.co */
  baseUrl?: string;
  /** Per request to Paystack. Default 15_000. */
  timeoutMs?: number;
}

interface PaystackEnvelope {
  status?: unknown;
  message?: unknown;
  data?: unknown;
}

interface PaystackTransaction {
  authorization?: { authorization_code?: unknown; reusable?: unknown; last4?: unknown; brand?: unknown; card_type?: unknown };
  id?: unknown;
  status?: unknown;
  reference?: unknown;
  amount?: unknown;
  currency?: unknown;
  gateway_response?: unknown;
}

/** Verify statuses that are final and not a success. */
const failedStatuses = new Set(['failed', 'abandoned', 'reversed']);

export class PaystackGateway implements PaymentGateway {
  readonly name = 'paystack' as const;
  private readonly secretKey: string;
  private readonly baseUrl: string;
  private readonly timeoutMs: number;

  constructor(options: PaystackGatewayOptions) {
    if (!options.secretKey) throw new TypeError('PaystackGateway needs a secretKey');
    this.secretKey = options.secretKey;
    this.baseUrl = (options.baseUrl ?? 'https://api.paystack.co').replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 15_000;
  }

  async createPayment(payment: PaymentRequest): Promise<PaymentSession> {
    assertPayableAmount(payment.amountMinor);
    const body = {
      email: payment.customerEmail,
      // Paystack takes the amount in the currency's subunit (kobo, cents), as a string of digits.
      amount: String(payment.amountMinor),
      currency: payment.currency,
      reference: payment.reference,
      callback_url: payment.returnUrl,
      metadata: {
        invoice_id: payment.invoiceId,
        invoice_number: payment.invoiceNumber,
        // Paystack's checkout sends the customer here when they press cancel.
        cancel_action: payment.cancelUrl,
      },
    };
    const response = await this.call('POST', '/transaction/initialize', JSON.stringify(body));
    const data = response.data as { authorization_url?: unknown; access_code?: unknown } | undefined;
    if (typeof data?.authorization_url !== 'string' || typeof data.access_code !== 'string') {
      throw new GatewayRequestError('Paystack answered the initialize request without an authorization_url', { retryable: false });
    }
    return { paymentUrl: data.authorization_url, providerReference: data.access_code };
  }

  async parseCallback(callback: CallbackRequest): Promise<PaymentOutcome | null> {
    this.verifySignature(callback);
    const event = parseJson(callback.rawBody.toString('utf8')) as { event?: unknown; data?: { reference?: unknown } } | undefined;
    if (typeof event?.event !== 'string' || typeof event.data !== 'object' || event.data === null) {
      throw new CallbackRejectedError('invalid_payload', 'the Paystack event is not a JSON object with event and data');
    }
    // Paystack's documented events have no charge.failed: a failed charge sends no webhook at all,
    // so charge.success is the one we act on and every other event is not ours.
    if (event.event !== 'charge.success') return null;
    const reference = event.data.reference;
    if (typeof reference !== 'string' || reference === '') throw new CallbackRejectedError('invalid_payload', 'the charge.success event has no reference');
    return this.verifyTransaction(reference);
  }

  private verifySignature(callback: CallbackRequest): void {
    const signature = singleHeader(callback.headers, 'x-paystack-signature');
    if (signature === undefined) throw new CallbackRejectedError('bad_signature', 'the x-paystack-signature header is missing');
    if (!/^[0-9a-f]{128}$/i.test(signature)) throw new CallbackRejectedError('bad_signature', 'the x-paystack-signature header is not an HMAC-SHA512 hex digest');
    const expected = createHmac('sha512', this.secretKey).update(callback.rawBody).digest();
    // Both are 64 bytes (the pattern above guarantees it), as timingSafeEqual requires.
    if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) {
      throw new CallbackRejectedError('bad_signature', 'the x-paystack-signature does not match the body');
    }
  }

  /** Reads the transaction's state from Paystack itself: the webhook's own fields are not trusted. */
  private async verifyTransaction(reference: string): Promise<PaymentOutcome> {
    const response = await this.call('GET', `/transaction/verify/${encodeURIComponent(reference)}`);
    return this.outcomeOf(reference, response.data as PaystackTransaction | undefined);
  }

  /**
   * Charges a card authorization saved from an earlier payment (Paystack's "charge authorization").
   * Paystack answers with the transaction, final for cards; a pending answer is settled by the webhook.
   */
  async chargeSaved(payment: PaymentRequest, authorizationCode: string): Promise<PaymentOutcome> {
    assertPayableAmount(payment.amountMinor);
    const body = {
      email: payment.customerEmail,
      amount: String(payment.amountMinor),
      currency: payment.currency,
      authorization_code: authorizationCode,
      reference: payment.reference,
      metadata: { invoice_id: payment.invoiceId, invoice_number: payment.invoiceNumber },
    };
    const response = await this.call('POST', '/transaction/charge_authorization', JSON.stringify(body));
    return this.outcomeOf(payment.reference, response.data as PaystackTransaction | undefined);
  }

  private outcomeOf(reference: string, transaction: PaystackTransaction | undefined): PaymentOutcome {
    if (typeof transaction !== 'object' || transaction === null || typeof transaction.status !== 'string') {
      throw new GatewayRequestError('Paystack answered the verify request without a transaction status', { retryable: false });
    }
    if (transaction.reference !== reference) {
      throw new CallbackRejectedError('validation_failed', `Paystack's verify answer is for another reference than ${reference}`);
    }
    if (typeof transaction.id !== 'number' && typeof transaction.id !== 'string') {
      throw new GatewayRequestError('Paystack answered the verify request without a transaction id', { retryable: false });
    }
    const status = transaction.status === 'success' ? 'succeeded' : failedStatuses.has(transaction.status) ? 'failed' : 'pending';
    const gatewayResponse = typeof transaction.gateway_response === 'string' && transaction.gateway_response !== '' ? transaction.gateway_response : null;
    return {
      reference,
      // The status is part of the id: a charge verified as pending now and as success later is two events.
      providerEventId: `${transaction.id}:${transaction.status}`,
      status,
      amountMinor: Number.isSafeInteger(transaction.amount) ? (transaction.amount as number) : null,
      currency: typeof transaction.currency === 'string' ? transaction.currency : null,
      failureReason: status === 'failed' ? (gatewayResponse ?? transaction.status) : null,
      savedMethod: status === 'succeeded' ? savedMethodOf(transaction) : null,
    };
  }

  /** Calls the API; anything but a 2xx answer with status true becomes a GatewayRequestError. */
  private async call(method: 'GET' | 'POST', path: string, body?: string): Promise<PaystackEnvelope> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.secretKey}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await providerRequest('Paystack', `${this.baseUrl}${path}`, { method, headers, body, timeoutMs: this.timeoutMs });
    const envelope = parseJson(response.body) as PaystackEnvelope | undefined;
    const ok = response.statusCode >= 200 && response.statusCode < 300 && envelope?.status === true;
    if (!ok) {
      const said = typeof envelope?.message === 'string' ? envelope.message : excerpt(response.body);
      throw new GatewayRequestError(redact(`Paystack refused ${method} ${path} (HTTP ${response.statusCode}): ${said}`, this.secretKey), {
        statusCode: response.statusCode,
      });
    }
    return envelope;
  }
}

/** A reusable card authorization from a successful transaction, or null (bank transfers, USSD, single-use cards). */
function savedMethodOf(transaction: PaystackTransaction): SavedMethod | null {
  const auth = transaction.authorization;
  if (!auth || auth.reusable !== true || typeof auth.authorization_code !== 'string' || auth.authorization_code === '') return null;
  const brand = typeof auth.brand === 'string' ? auth.brand : typeof auth.card_type === 'string' ? auth.card_type.trim() : 'card';
  return { token: auth.authorization_code, label: typeof auth.last4 === 'string' ? `${brand} ending ${auth.last4}` : brand };
}
