import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GatewayRequestError } from './gateway.ts';
import { OZOW_REQUEST_HASH_ORDER, OzowGateway, ozowHash } from './ozow.ts';
import { callbackRejection, samplePaymentRequest, sendJson as json } from './testing.ts';
import { startRecordingServer, type RecordingServer, type ReceivedRequest } from '../testing-http.ts';

const siteCode = 'TSTSTE0001';
const privateKey = '215114531AFF7134A94C88CEEA48E';
const apiKey = 'EB5758F2C3B4DF3FF4F2669D5FF5B';
const payment = samplePaymentRequest({ notifyUrl: 'https://billing.example.com/callbacks/ozow' });

/** Ozow's documented hash, written out independently: values concatenated, key appended, lower-cased, SHA-512. */
function documentedHash(values: string[], key = privateKey): string {
  return createHash('sha512').update((values.join('') + key).toLowerCase()).digest('hex');
}

let answer: { status: number; body: unknown } | null = null;
// Ozow's API, stood in for by a real server on 127.0.0.1: PostPaymentRequest.
let ozow: RecordingServer;
let received: ReceivedRequest[];
let baseUrl: string;

beforeAll(async () => {
  ozow = await startRecordingServer((req, res) => {
    if (req.method !== 'POST' || req.path !== '/PostPaymentRequest') return json(res, 404, { message: 'not found' });
    if (req.headers['apikey'] !== apiKey) return json(res, 401, { message: 'Authorization has been denied for this request.' });
    if (answer) return json(res, answer.status, answer.body);
    json(res, 200, { paymentRequestId: '4c6d1e0a-7d3b-4f33-9a55-0b8c6a1f2e11', url: 'https://pay.ozow.com/4c6d1e0a-7d3b-4f33-9a55-0b8c6a1f2e11/Secure', errorMessage: null });
  });
  baseUrl = ozow.url;
  received = ozow.received;
});

afterAll(() => ozow.close());

beforeEach(() => {
  received.length = 0;
  answer = null;
});

const gateway = (options: { isTest?: boolean; apiKey?: string } = {}) => new OzowGateway({ siteCode, privateKey, apiKey, baseUrl, timeoutMs: 2_000, ...options });

const notificationOrder = ['SiteCode', 'TransactionId', 'TransactionReference', 'Amount', 'Status', 'Optional1', 'Optional2', 'Optional3', 'Optional4', 'Optional5', 'CurrencyCode', 'IsTest', 'StatusMessage'];

/** A notification as Ozow posts it: form-encoded, with the documented Hash. */
function notification(overrides: Record<string, string> = {}, key = privateKey): { fields: Record<string, string>; rawBody: Buffer } {
  const fields: Record<string, string> = {
    SiteCode: siteCode,
    TransactionId: '8b9a6a2c-2f0e-4d52-a3a4-5a0f2c9e1d10',
    TransactionReference: 'pay_abc123',
    Amount: '123.45',
    Status: 'Complete',
    Optional1: 'inv_01J9Z',
    Optional2: 'INV-2026-000042',
    Optional3: '',
    Optional4: '',
    Optional5: '',
    CurrencyCode: 'ZAR',
    IsTest: 'false',
    StatusMessage: '',
    ...overrides,
  };
  fields['Hash'] ??= documentedHash(notificationOrder.map((name) => fields[name] ?? ''), key);
  return { fields, rawBody: Buffer.from(new URLSearchParams(fields).toString()) };
}

const callback = (rawBody: Buffer) => ({ headers: { 'content-type': 'application/x-www-form-urlencoded' }, rawBody });

describe('ozowHash', () => {
  it("reproduces the hash check example in Ozow's documentation", () => {
    const example = {
      SiteCode: 'TSTSTE0001',
      CountryCode: 'ZA',
      CurrencyCode: 'ZAR',
      Amount: '25.00',
      TransactionReference: '123',
      BankReference: 'ABC123',
      CancelUrl: 'http://demo.ozow.com/cancel.aspx',
      ErrorUrl: 'http://demo.ozow.com/error.aspx',
      SuccessUrl: 'http://demo.ozow.com/success.aspx',
      NotifyUrl: 'http://demo.ozow.com/notify.aspx',
      IsTest: 'false',
    };
    expect(ozowHash(OZOW_REQUEST_HASH_ORDER, example, '215114531AFF7134A94C88CEEA48E')).toBe(
      'eedcba106cd8fef3ba6cec5ec80de7d7d7fc90343028bf95b908718c671d0fe885ca08b206d788de009d237a93c18e66edf6ede3f5ca7057e23474106465dcc6',
    );
  });
});

describe('OzowGateway.createPayment', () => {
  it('posts the payment request with the documented HashCheck and returns Ozow\'s URL', async () => {
    const session = await gateway({ isTest: true }).createPayment(payment);

    expect(session).toEqual({ paymentUrl: 'https://pay.ozow.com/4c6d1e0a-7d3b-4f33-9a55-0b8c6a1f2e11/Secure', providerReference: '4c6d1e0a-7d3b-4f33-9a55-0b8c6a1f2e11' });
    expect(received).toHaveLength(1);
    const [call] = received;
    expect(call!.method).toBe('POST');
    expect(call!.path).toBe('/PostPaymentRequest');
    expect(call!.headers['apikey']).toBe(apiKey);
    expect(call!.headers.accept).toBe('application/json');
    const body = JSON.parse(call!.body) as Record<string, unknown>;
    expect(body).toEqual({
      SiteCode: siteCode,
      CountryCode: 'ZA',
      CurrencyCode: 'ZAR',
      Amount: '123.45',
      TransactionReference: 'pay_abc123',
      BankReference: 'INV-2026-000042',
      Optional1: 'inv_01J9Z',
      Optional2: 'INV-2026-000042',
      Customer: 'ada@example.com',
      CancelUrl: payment.cancelUrl,
      ErrorUrl: payment.cancelUrl,
      SuccessUrl: payment.returnUrl,
      NotifyUrl: payment.notifyUrl,
      IsTest: true,
      HashCheck: documentedHash([
        siteCode,
        'ZA',
        'ZAR',
        '123.45',
        'pay_abc123',
        'INV-2026-000042',
        'inv_01J9Z',
        'INV-2026-000042',
        'ada@example.com',
        payment.cancelUrl,
        payment.cancelUrl,
        payment.returnUrl,
        payment.notifyUrl,
        'true',
      ]),
    });
  });

  it('keeps the bank reference within 20 letters, digits, spaces and dashes', async () => {
    await gateway().createPayment({ ...payment, invoiceNumber: 'INV/2026/000042#ACME-EXTRA-LONG' });
    const body = JSON.parse(received[0]!.body) as { BankReference: string };
    expect(body.BankReference).toBe('INV2026000042ACME-EX');
  });

  it('reports an errorMessage as a GatewayRequestError, even with a 200', async () => {
    answer = { status: 200, body: { paymentRequestId: null, url: null, errorMessage: 'Invalid hash check' } };
    const error = await gateway().createPayment(payment).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GatewayRequestError);
    expect((error as Error).message).toContain('Invalid hash check');
    expect((error as GatewayRequestError).retryable).toBe(false);
  });

  it('reports a refused API key as a GatewayRequestError without leaking the keys', async () => {
    const error = await gateway({ apiKey: 'WRONG0API0KEY' }).createPayment(payment).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GatewayRequestError);
    expect((error as GatewayRequestError).statusCode).toBe(401);
    expect((error as Error).message).not.toContain('WRONG0API0KEY');
    expect((error as Error).message).not.toContain(privateKey);
  });

  it('reports an Ozow outage as retryable', async () => {
    answer = { status: 503, body: { message: 'Service Unavailable' } };
    const error = await gateway().createPayment(payment).catch((e: unknown) => e);
    expect((error as GatewayRequestError).retryable).toBe(true);
  });

  it('refuses currencies other than ZAR without calling Ozow', async () => {
    await expect(gateway().createPayment({ ...payment, currency: 'USD' })).rejects.toBeInstanceOf(GatewayRequestError);
    expect(received).toHaveLength(0);
  });
});

describe('OzowGateway.parseCallback', () => {
  it('accepts a notification with the documented Hash', async () => {
    const outcome = await gateway().parseCallback(callback(notification().rawBody));
    expect(outcome).toEqual({
      reference: 'pay_abc123',
      providerEventId: '8b9a6a2c-2f0e-4d52-a3a4-5a0f2c9e1d10:Complete',
      status: 'succeeded',
      amountMinor: 12_345,
      currency: 'ZAR',
      failureReason: null,
    });
  });

  it('maps Cancelled, Error and Abandoned to failed, and the pending statuses to pending', async () => {
    expect(await gateway().parseCallback(callback(notification({ Status: 'Cancelled', StatusMessage: 'Customer cancelled' }).rawBody))).toMatchObject({
      status: 'failed',
      failureReason: 'Customer cancelled',
      providerEventId: '8b9a6a2c-2f0e-4d52-a3a4-5a0f2c9e1d10:Cancelled',
    });
    expect(await gateway().parseCallback(callback(notification({ Status: 'Error' }).rawBody))).toMatchObject({ status: 'failed', failureReason: 'error' });
    expect(await gateway().parseCallback(callback(notification({ Status: 'Abandoned' }).rawBody))).toMatchObject({ status: 'failed', failureReason: 'abandoned' });
    expect(await gateway().parseCallback(callback(notification({ Status: 'PendingInvestigation' }).rawBody))).toMatchObject({ status: 'pending', failureReason: null });
    expect(await gateway().parseCallback(callback(notification({ Status: 'Pending' }).rawBody))).toMatchObject({ status: 'pending' });
  });

  it('returns null for a status it does not know', async () => {
    expect(await gateway().parseCallback(callback(notification({ Status: 'SomethingNew' }).rawBody))).toBeNull();
  });

  it('rejects a tampered notification', async () => {
    const { fields } = notification();
    const tampered = Buffer.from(new URLSearchParams({ ...fields, Amount: '1.00' }).toString());
    expect((await callbackRejection(gateway().parseCallback(callback(tampered)))).reason).toBe('bad_signature');
  });

  it('rejects a notification hashed with another private key', async () => {
    expect((await callbackRejection(gateway().parseCallback(callback(notification({}, 'SOMEONE-ELSES-KEY').rawBody)))).reason).toBe('bad_signature');
  });

  it('rejects a notification without a Hash', async () => {
    const { fields } = notification();
    delete fields['Hash'];
    expect((await callbackRejection(gateway().parseCallback(callback(Buffer.from(new URLSearchParams(fields).toString())))))).toMatchObject({ reason: 'bad_signature' });
  });

  it('accepts the Hash in upper case and with its leading zeros dropped', async () => {
    // Find a transaction whose hash starts with a zero (one in sixteen do).
    let found: { fields: Record<string, string> } | null = null;
    for (let i = 0; found === null; i++) {
      const candidate = notification({ TransactionId: `txn-${i}` });
      if (candidate.fields['Hash']!.startsWith('0')) found = candidate;
    }
    const trimmed = { ...found.fields, Hash: found.fields['Hash']!.replace(/^0+/, '').toUpperCase() };
    expect(await gateway().parseCallback(callback(Buffer.from(new URLSearchParams(trimmed).toString())))).toMatchObject({ status: 'succeeded' });
  });

  it('rejects a notification for another site', async () => {
    expect((await callbackRejection(gateway().parseCallback(callback(notification({ SiteCode: 'OTHER0001' }).rawBody))))).toMatchObject({ reason: 'validation_failed' });
  });

  it('rejects a test notification at a live gateway, and a live one at a test gateway', async () => {
    expect((await callbackRejection(gateway().parseCallback(callback(notification({ IsTest: 'true' }).rawBody)))).reason).toBe('validation_failed');
    expect((await callbackRejection(gateway({ isTest: true }).parseCallback(callback(notification({ IsTest: 'false' }).rawBody)))).reason).toBe('validation_failed');
    expect(await gateway({ isTest: true }).parseCallback(callback(notification({ IsTest: 'true' }).rawBody))).toMatchObject({ status: 'succeeded' });
  });
});
