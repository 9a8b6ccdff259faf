import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import {
  assertPayableAmount,
  CallbackRejectedError,
  constantTimeEqual,
  excerpt,
  formatMinorUnits,
  GatewayRequestError,
  parseFormFields,
  parseMajorUnits,
  providerRequest,
  type CallbackRequest,
  type PaymentGateway,
  type PaymentOutcome,
  type PaymentRequest,
  type PaymentSession,
} from './gateway.ts';

/*
 * PayFast, following PayFast's developer documentation for a custom integration: "Step 1: Create
 * the payment form" with "Step 2: Security signature", and "Step 4: Confirm payment is successful"
 * for the ITN (the four ITN security checks). The field order and the signature algorithm are
 * checked against the worked example in PayFast's own PHP SDK tests (payfast-php-sdk AuthTest).
 *
 * The signature: the non-empty fields, in the documented order, as name=value pairs joined by '&',
 * each value trimmed and URL-encoded the way PHP's urlencode does it (space as '+', upper-case
 * hex, everything but A-Z a-z 0-9 - _ . encoded), then '&passphrase=' and the passphrase when one
 * is set, hashed with MD5 (lower-case hex).
 */

export const PAYFAST_LIVE_URL = 'https://www.payfast.co.za';
export const PAYFAST_SANDBOX_URL = 'https://sandbox.payfast.co.za';

export interface PayfastGatewayOptions {
  merchantId: string;
  merchantKey: string;
  /** The passphrase set on the PayFast account, if any; it then signs every request and ITN. */
  passphrase?: string;
  /** PAYFAST_LIVE_URL (default) or PAYFAST_SANDBOX_URL; both /eng/process and /eng/query/validate hang off it. */
  baseUrl?: string;
  /** Addresses or CIDR ranges ITNs may come from (PayFast publishes its ranges); empty or absent skips the check. */
  validSourceIps?: string[];
  /** Per request to PayFast. Default 15_000. */
  timeoutMs?: number;
}

/** PayFast's documented order of the payment form's fields; the signature follows it. */
export const PAYFAST_FIELD_ORDER = [
  'merchant_id',
  'merchant_key',
  'return_url',
  'cancel_url',
  'notify_url',
  'notify_method',
  'name_first',
  'name_last',
  'email_address',
  'cell_number',
  'm_payment_id',
  'amount',
  'item_name',
  'item_description',
  'custom_int1',
  'custom_int2',
  'custom_int3',
  'custom_int4',
  'custom_int5',
  'custom_str1',
  'custom_str2',
  'custom_str3',
  'custom_str4',
  'custom_str5',
  'email_confirmation',
  'confirmation_address',
  'currency',
  'payment_method',
  'subscription_type',
  'billing_date',
  'recurring_amount',
  'frequency',
  'cycles',
  'subscription_notify_email',
  'subscription_notify_webhook',
  'subscription_notify_buyer',
] as const;

export type PayfastField = (typeof PAYFAST_FIELD_ORDER)[number];

/** PHP's urlencode, which PayFast's signature is defined by (encodeURIComponent leaves !'()*~ alone). */
export function payfastEncode(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

/**
 * The signature of a payment request: the non-empty fields in PayFast's order (fields PayFast does
 * not list are not signed), then the passphrase.
 */
export function payfastRequestSignature(fields: Partial<Record<PayfastField, string>>, passphrase?: string): string {
  const pairs: string[] = [];
  for (const name of PAYFAST_FIELD_ORDER) {
    const value = fields[name]?.trim();
    if (value) pairs.push(`${name}=${payfastEncode(value)}`);
  }
  return md5(withPassphrase(pairs.join('&'), passphrase));
}

/** The string an ITN's signature covers: every received field but the signature, as received. */
function itnParameterString(fields: [string, string][]): string {
  return fields
    .filter(([name]) => name !== 'signature')
    .map(([name, value]) => `${name}=${payfastEncode(value)}`)
    .join('&');
}

function withPassphrase(parameters: string, passphrase: string | undefined): string {
  const trimmed = passphrase?.trim();
  return trimmed ? `${parameters}&passphrase=${payfastEncode(trimmed)}` : parameters;
}

function md5(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}

const outcomeByStatus: Record<string, Pick<PaymentOutcome, 'status' | 'failureReason'>> = {
  COMPLETE: { status: 'succeeded', failureReason: null },
  FAILED: { status: 'failed', failureReason: 'failed' },
  CANCELLED: { status: 'failed', failureReason: 'cancelled' },
  PENDING: { status: 'pending', failureReason: null },
};

export class PayfastGateway implements PaymentGateway {
  readonly name = 'payfast' as const;
  private readonly merchantId: string;
  private readonly merchantKey: string;
  private readonly passphrase: string | undefined;
  private readonly baseUrl: string;
  private readonly allowedSources: [ipaddr.IPv4 | ipaddr.IPv6, number][];
  private readonly timeoutMs: number;

  constructor(options: PayfastGatewayOptions) {
    if (!options.merchantId || !options.merchantKey) throw new TypeError('PayfastGateway needs a merchantId and a merchantKey');
    this.merchantId = options.merchantId;
    this.merchantKey = options.merchantKey;
    this.passphrase = options.passphrase;
    this.baseUrl = (options.baseUrl ?? PAYFAST_LIVE_URL).replace(/\/+$/, '');
    this.allowedSources = (options.validSourceIps ?? []).map(parseSource);
    this.timeoutMs = options.timeoutMs ?? 15_000;
  }

  async createPayment(payment: PaymentRequest): Promise<PaymentSession> {
    assertPayableAmount(payment.amountMinor);
    // PayFast settles in rand only; another currency would be charged as if it were rand.
    if (payment.currency !== 'ZAR') throw new GatewayRequestError(`PayFast takes ZAR only, not ${payment.currency}`, { retryable: false });
    const fields: Partial<Record<PayfastField, string>> = {
      merchant_id: this.merchantId,
      merchant_key: this.merchantKey,
      return_url: payment.returnUrl,
      cancel_url: payment.cancelUrl,
      notify_url: payment.notifyUrl,
      email_address: payment.customerEmail,
      m_payment_id: payment.reference,
      amount: formatMinorUnits(payment.amountMinor),
      item_name: payment.description.slice(0, 100), // PayFast's limit
      custom_str1: payment.invoiceId,
      custom_str2: payment.invoiceNumber,
    };
    const query = PAYFAST_FIELD_ORDER.flatMap((name) => {
      const value = fields[name]?.trim();
      return value ? [`${name}=${payfastEncode(value)}`] : [];
    });
    query.push(`signature=${payfastRequestSignature(fields, this.passphrase)}`);
    // PayFast assigns its pf_payment_id only when the buyer pays; until then our reference is the handle.
    return { paymentUrl: `${this.baseUrl}/eng/process?${query.join('&')}`, providerReference: payment.reference };
  }

  async parseCallback(callback: CallbackRequest): Promise<PaymentOutcome | null> {
    // The cheap local checks first, so a forged ITN never makes us call PayFast.
    this.checkSource(callback.remoteAddress);
    const fields = parseFormFields(callback.rawBody);
    const values = new Map(fields);
    const signature = values.get('signature');
    if (signature === undefined || !/^[0-9a-f]{32}$/i.test(signature)) throw new CallbackRejectedError('bad_signature', 'the ITN has no MD5 signature');
    const parameters = itnParameterString(fields);
    if (!constantTimeEqual(md5(withPassphrase(parameters, this.passphrase)), signature.toLowerCase())) {
      throw new CallbackRejectedError('bad_signature', 'the ITN signature does not match its fields');
    }
    if (values.get('merchant_id') !== this.merchantId) throw new CallbackRejectedError('validation_failed', 'the ITN is for another merchant account');

    const reference = values.get('m_payment_id');
    const paymentId = values.get('pf_payment_id');
    const paymentStatus = values.get('payment_status');
    if (!reference || !paymentId || !paymentStatus) throw new CallbackRejectedError('invalid_payload', 'the ITN lacks m_payment_id, pf_payment_id or payment_status');
    const grossText = values.get('amount_gross');
    const amountMinor = grossText === undefined ? null : parseMajorUnits(grossText);
    if (grossText !== undefined && amountMinor === null) throw new CallbackRejectedError('invalid_payload', `the ITN's amount_gross "${grossText}" is not an amount`);

    await this.confirmWithPayfast(parameters);

    const mapped = outcomeByStatus[paymentStatus];
    if (!mapped) return null;
    return {
      reference,
      // With the status: an EFT payment can be reported PENDING first and COMPLETE later.
      providerEventId: `${paymentId}:${paymentStatus}`,
      ...mapped,
      amountMinor,
      currency: amountMinor === null ? null : 'ZAR',
    };
  }

  private checkSource(remoteAddress: string | undefined): void {
    if (this.allowedSources.length === 0) return;
    const address = remoteAddress === undefined ? null : parseAddress(remoteAddress);
    const allowed = address !== null && this.allowedSources.some(([range, bits]) => range.kind() === address.kind() && address.match(range, bits));
    if (!allowed) throw new CallbackRejectedError('untrusted_source', `ITNs are not accepted from ${remoteAddress ?? 'an unknown address'}`);
  }

  /** PayFast's server confirmation: it answers VALID only for an ITN it sent. */
  private async confirmWithPayfast(parameters: string): Promise<void> {
    const response = await providerRequest('PayFast', `${this.baseUrl}/eng/query/validate`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: parameters,
      timeoutMs: this.timeoutMs,
    });
    if (response.statusCode < 200 || response.statusCode >= 300) {
      throw new GatewayRequestError(`PayFast's ITN validation answered HTTP ${response.statusCode}: ${excerpt(response.body)}`, { statusCode: response.statusCode });
    }
    const answer = response.body.trim();
    if (answer !== 'VALID') throw new CallbackRejectedError('validation_failed', `PayFast did not confirm the ITN (it answered "${excerpt(answer)}")`);
  }
}

/** '::ffff:41.74.179.194' (an IPv4 client on a dual-stack socket) is read as 41.74.179.194. */
function parseAddress(text: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  try {
    return ipaddr.process(text);
  } catch {
    return null;
  }
}

function parseSource(entry: string): [ipaddr.IPv4 | ipaddr.IPv6, number] {
  try {
    if (entry.includes('/')) return ipaddr.parseCIDR(entry);
    const address = ipaddr.process(entry);
    return [address, address.kind() === 'ipv4' ? 32 : 128];
  } catch {
    throw new TypeError(`validSourceIps: ${entry} is not an IP address or CIDR range`);
  }
}
