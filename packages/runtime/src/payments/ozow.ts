import { createHash } from 'node:crypto';
import {
  assertPayableAmount,
  CallbackRejectedError,
  constantTimeEqual,
  excerpt,
  formatMinorUnits,
  GatewayRequestError,
  parseFormFields,
  parseJson,
  parseMajorUnits,
  providerRequest,
  redact,
  type CallbackRequest,
  type PaymentGateway,
  type PaymentOutcome,
  type PaymentRequest,
  type PaymentSession,
} from './gateway.ts';

/*
 * Ozow, following Ozow's integration documentation (hub.ozow.com): "Step 1: Post from merchant
 * website" for the post variables, their order and the HashCheck ("Generate post hash check",
 * checked against its worked example), the PostPaymentRequest API for creating the request
 * server-side, and "Step 2: Process Ozow response" for the notification and its Hash.
 *
 * Both hashes: the values (not the names) of the listed fields, in the listed order, concatenated,
 * then the private key appended, the whole lower-cased, hashed with SHA-512 (hex).
 */

export interface OzowGatewayOptions {
  siteCode: string;
  /** Signs the HashCheck and the notifications' Hash. */
  privateKey: string;
  /** Sent as the ApiKey header. */
  apiKey: string;
  /** Default https://api.ozow.com */
  baseUrl?: string;
  /** Ozow's test mode (no money moves). A notification's IsTest must match it. */
  isTest?: boolean;
  /** Default 'ZA', the only country Ozow serves. */
  countryCode?: string;
  /** Per request to Ozow. Default 15_000. */
  timeoutMs?: number;
}

/** Ozow's documented order of the payment request's post variables that the HashCheck covers. */
export const OZOW_REQUEST_HASH_ORDER = [
  'SiteCode',
  'CountryCode',
  'CurrencyCode',
  'Amount',
  'TransactionReference',
  'BankReference',
  'Optional1',
  'Optional2',
  'Optional3',
  'Optional4',
  'Optional5',
  'Customer',
  'CancelUrl',
  'ErrorUrl',
  'SuccessUrl',
  'NotifyUrl',
  'IsTest',
] as const;

/** Ozow's documented order of the notification's response variables that its Hash covers. */
export const OZOW_NOTIFICATION_HASH_ORDER = [
  'SiteCode',
  'TransactionId',
  'TransactionReference',
  'Amount',
  'Status',
  'Optional1',
  'Optional2',
  'Optional3',
  'Optional4',
  'Optional5',
  'CurrencyCode',
  'IsTest',
  'StatusMessage',
] as const;

/** SHA-512 (hex) of the fields' values in the given order, the private key appended, lower-cased. Absent fields count as empty. */
export function ozowHash(order: readonly string[], fields: Record<string, string | undefined>, privateKey: string): string {
  const concatenated = order.map((name) => fields[name] ?? '').join('') + privateKey;
  return createHash('sha512').update(concatenated.toLowerCase(), 'utf8').digest('hex');
}

const outcomeByStatus: Record<string, PaymentOutcome['status']> = {
  Complete: 'succeeded',
  Cancelled: 'failed',
  Error: 'failed',
  Abandoned: 'failed',
  PendingInvestigation: 'pending',
  Pending: 'pending',
};

/** Ozow allows letters, digits, spaces and dashes in the bank reference, 20 at most. */
function bankReference(invoiceNumber: string): string {
  return invoiceNumber.replace(/[^A-Za-z0-9 -]/g, '').slice(0, 20).trim();
}

export class OzowGateway implements PaymentGateway {
  readonly name = 'ozow' as const;
  private readonly siteCode: string;
  private readonly privateKey: string;
  private readonly apiKey: string;
  private readonly baseUrl: string;
  private readonly isTest: boolean;
  private readonly countryCode: string;
  private readonly timeoutMs: number;

  constructor(options: OzowGatewayOptions) {
    if (!options.siteCode || !options.privateKey || !options.apiKey) throw new TypeError('OzowGateway needs a siteCode, a privateKey and an apiKey');
    this.siteCode = options.siteCode;
    this.privateKey = options.privateKey;
    this.apiKey = options.apiKey;
    this.baseUrl = (options.baseUrl ?? 'https://api.ozow.com').replace(/\/+$/, '');
    this.isTest = options.isTest ?? false;
    this.countryCode = options.countryCode ?? 'ZA';
    this.timeoutMs = options.timeoutMs ?? 15_000;
  }

  async createPayment(payment: PaymentRequest): Promise<PaymentSession> {
    assertPayableAmount(payment.amountMinor);
    if (payment.currency !== 'ZAR') throw new GatewayRequestError(`Ozow takes ZAR only, not ${payment.currency}`, { retryable: false });
    const fields = {
      SiteCode: this.siteCode,
      CountryCode: this.countryCode,
      CurrencyCode: payment.currency,
      Amount: formatMinorUnits(payment.amountMinor),
      TransactionReference: payment.reference,
      BankReference: bankReference(payment.invoiceNumber),
      Optional1: payment.invoiceId,
      Optional2: payment.invoiceNumber,
      Customer: payment.customerEmail,
      CancelUrl: payment.cancelUrl,
      // We have no separate error page: a failed payment lands where a cancelled one does.
      ErrorUrl: payment.cancelUrl,
      SuccessUrl: payment.returnUrl,
      NotifyUrl: payment.notifyUrl,
      IsTest: String(this.isTest),
    };
    const body = { ...fields, IsTest: this.isTest, HashCheck: ozowHash(OZOW_REQUEST_HASH_ORDER, fields, this.privateKey) };
    const response = await providerRequest('Ozow', `${this.baseUrl}/PostPaymentRequest`, {
      method: 'POST',
      headers: { apikey: this.apiKey, accept: 'application/json', 'content-type': 'application/json' },
      body: JSON.stringify(body),
      timeoutMs: this.timeoutMs,
    });
    const answer = parseJson(response.body) as { url?: unknown; paymentRequestId?: unknown; errorMessage?: unknown } | undefined;
    const refused = typeof answer?.errorMessage === 'string' && answer.errorMessage !== '' ? answer.errorMessage : null;
    if (response.statusCode < 200 || response.statusCode >= 300 || refused !== null) {
      const said = refused ?? excerpt(response.body);
      throw new GatewayRequestError(redact(`Ozow refused the payment request (HTTP ${response.statusCode}): ${said}`, this.apiKey, this.privateKey), {
        statusCode: response.statusCode,
        // Ozow reports a refused request in errorMessage, sometimes with a 200.
        retryable: response.statusCode >= 500,
      });
    }
    if (typeof answer?.url !== 'string' || answer.url === '') {
      throw new GatewayRequestError('Ozow answered the payment request without a url', { statusCode: response.statusCode, retryable: false });
    }
    const requestId = typeof answer.paymentRequestId === 'string' && answer.paymentRequestId !== '' ? answer.paymentRequestId : payment.reference;
    return { paymentUrl: answer.url, providerReference: requestId };
  }

  async parseCallback(callback: CallbackRequest): Promise<PaymentOutcome | null> {
    const values = Object.fromEntries(parseFormFields(callback.rawBody)) as Record<string, string | undefined>;
    const received = values['Hash']?.trim().toLowerCase();
    if (!received || !/^[0-9a-f]{1,128}$/.test(received)) throw new CallbackRejectedError('bad_signature', 'the notification has no SHA-512 Hash');
    const expected = ozowHash(OZOW_NOTIFICATION_HASH_ORDER, values, this.privateKey);
    // A hash written out as a number loses its leading zeros; padding them back changes nothing else.
    if (!constantTimeEqual(expected, received.padStart(128, '0'))) {
      throw new CallbackRejectedError('bad_signature', 'the notification Hash does not match its fields');
    }
    if (values['SiteCode']?.toLowerCase() !== this.siteCode.toLowerCase()) throw new CallbackRejectedError('validation_failed', 'the notification is for another Ozow site');
    // A test transaction moves no money: in live mode it must never mark an invoice paid.
    if ((values['IsTest']?.toLowerCase() === 'true') !== this.isTest) {
      throw new CallbackRejectedError('validation_failed', `a ${this.isTest ? 'live' : 'test'} notification reached a ${this.isTest ? 'test' : 'live'} gateway`);
    }

    const reference = values['TransactionReference'];
    const transactionId = values['TransactionId'];
    const status = values['Status'];
    if (!reference || !transactionId || !status) throw new CallbackRejectedError('invalid_payload', 'the notification lacks TransactionReference, TransactionId or Status');
    const amountText = values['Amount'];
    const amountMinor = amountText === undefined || amountText === '' ? null : parseMajorUnits(amountText);
    if (amountText && amountMinor === null) throw new CallbackRejectedError('invalid_payload', `the notification's Amount "${amountText}" is not an amount`);

    const mapped = outcomeByStatus[status];
    if (!mapped) return null;
    const message = values['StatusMessage'] || null;
    return {
      reference,
      // With the status: Ozow posts again when a Pending transaction reaches its final status.
      providerEventId: `${transactionId}:${status}`,
      status: mapped,
      amountMinor,
      currency: values['CurrencyCode'] || null,
      failureReason: mapped === 'failed' ? (message ?? status.toLowerCase()) : null,
    };
  }
}
