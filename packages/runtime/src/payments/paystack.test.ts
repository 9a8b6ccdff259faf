import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GatewayRequestError } from './gateway.ts';
import { PaystackGateway } from './paystack.ts';
import { callbackRejection, samplePaymentRequest, sendJson as json } from './testing.ts';
import { startRecordingServer, unreachableUrl, type RecordingServer, type ReceivedRequest } from '../testing-http.ts';

const secretKey = 'sk_test_4f9d2c0e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e';
const payment = samplePaymentRequest({ notifyUrl: 'https://billing.example.com/callbacks/paystack' });

/** What verify answers, by reference. */
let transactions: Record<string, unknown> = {};
let initializeAnswer: { status: number; body: unknown } | null = null;
let verifyStatus = 200;
// Paystack's API, stood in for by a real server on 127.0.0.1: initialize and verify.
let paystack: RecordingServer;
let received: ReceivedRequest[];
let baseUrl: string;
let closedBaseUrl: string;

beforeAll(async () => {
  paystack = await startRecordingServer((req, res) => {
    if (req.path.startsWith('/hang')) return; // never answers
    if (req.headers.authorization !== `Bearer ${secretKey}`) return json(res, 401, { status: false, message: 'Invalid key' });
    if (req.method === 'POST' && req.path === '/transaction/initialize') {
      if (initializeAnswer) return json(res, initializeAnswer.status, initializeAnswer.body);
      const reference = (JSON.parse(req.body) as { reference: string }).reference;
      return json(res, 200, {
        status: true,
        message: 'Authorization URL created',
        data: { authorization_url: 'https://checkout.paystack.com/0peioxfhpn', access_code: '0peioxfhpn', reference },
      });
    }
    if (req.method === 'POST' && req.path === '/transaction/charge_authorization') {
      const body = JSON.parse(req.body) as { reference: string; authorization_code: string; amount: string; currency: string };
      // Paystack's test card authorizations: AUTH_approve succeeds, anything else is declined.
      const approved = body.authorization_code === 'AUTH_approve';
      return json(res, 200, {
        status: true,
        message: 'Charge attempted',
        data: transaction(body.reference, { id: 4099260999, amount: Number(body.amount), currency: body.currency, status: approved ? 'success' : 'failed', gateway_response: approved ? 'Approved' : 'Insufficient Funds' }),
      });
    }
    const verify = /^\/transaction\/verify\/([^/]+)$/.exec(req.path);
    if (req.method === 'GET' && verify) {
      if (verifyStatus !== 200) return json(res, verifyStatus, { status: false, message: 'Something went wrong' });
      const transaction = transactions[decodeURIComponent(verify[1]!)];
      if (!transaction) return json(res, 400, { status: false, message: 'Transaction reference not found' });
      return json(res, 200, { status: true, message: 'Verification successful', data: transaction });
    }
    json(res, 404, { status: false, message: 'not found' });
  });
  baseUrl = paystack.url;
  received = paystack.received;
  closedBaseUrl = await unreachableUrl();
});

afterAll(() => paystack.close());

beforeEach(() => {
  received.length = 0;
  transactions = {};
  initializeAnswer = null;
  verifyStatus = 200;
});

const gateway = () => new PaystackGateway({ secretKey, baseUrl, timeoutMs: 2_000 });

/** Paystack's documented signature: HMAC-SHA512 of the raw body, keyed with the secret key, hex. */
function signed(body: string, key = secretKey): { headers: Record<string, string>; rawBody: Buffer } {
  return { headers: { 'content-type': 'application/json', 'x-paystack-signature': createHmac('sha512', key).update(body).digest('hex') }, rawBody: Buffer.from(body) };
}

function chargeSuccess(reference: string, amount = 12_345): string {
  return JSON.stringify({ event: 'charge.success', data: { id: 4099260516, status: 'success', reference, amount, currency: 'ZAR', gateway_response: 'Successful' } });
}

function transaction(reference: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: 4099260516, domain: 'test', status: 'success', reference, amount: 12_345, currency: 'ZAR', gateway_response: 'Successful', ...overrides };
}

describe('PaystackGateway.createPayment', () => {
  it('initializes a transaction with the amount in the subunit and returns the authorization URL', async () => {
    const session = await gateway().createPayment(payment);

    expect(session).toEqual({ paymentUrl: 'https://checkout.paystack.com/0peioxfhpn', providerReference: '0peioxfhpn' });
    expect(received).toHaveLength(1);
    const [call] = received;
    expect(call!.method).toBe('POST');
    expect(call!.path).toBe('/transaction/initialize');
    expect(call!.headers.authorization).toBe(`Bearer ${secretKey}`);
    expect(call!.headers['content-type']).toBe('application/json');
    expect(JSON.parse(call!.body)).toEqual({
      email: 'ada@example.com',
      amount: '12345', // R123.45 in cents
      currency: 'ZAR',
      reference: 'pay_abc123',
      callback_url: payment.returnUrl,
      metadata: { invoice_id: 'inv_01J9Z', invoice_number: 'INV-2026-000042', cancel_action: payment.cancelUrl },
    });
  });

  it('reports a refusal as a GatewayRequestError with Paystack\'s message and status, never the key', async () => {
    initializeAnswer = { status: 400, body: { status: false, message: 'Duplicate Transaction Reference' } };
    const error = await gateway().createPayment(payment).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(GatewayRequestError);
    expect((error as GatewayRequestError).statusCode).toBe(400);
    expect((error as GatewayRequestError).retryable).toBe(false);
    expect((error as Error).message).toContain('Duplicate Transaction Reference');
    expect((error as Error).message).not.toContain(secretKey);
  });

  it('treats status false as a refusal even with a 200', async () => {
    initializeAnswer = { status: 200, body: { status: false, message: 'Invalid Email Address Passed' } };
    await expect(gateway().createPayment(payment)).rejects.toThrow(/Invalid Email Address Passed/);
  });

  it('reports a wrong key as a GatewayRequestError', async () => {
    const error = await new PaystackGateway({ secretKey: 'sk_test_wrong', baseUrl }).createPayment(payment).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GatewayRequestError);
    expect((error as GatewayRequestError).statusCode).toBe(401);
    expect((error as Error).message).not.toContain('sk_test_wrong');
  });

  it('reports an unreachable Paystack as a retryable GatewayRequestError', async () => {
    const error = await new PaystackGateway({ secretKey, baseUrl: closedBaseUrl, timeoutMs: 2_000 }).createPayment(payment).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GatewayRequestError);
    expect((error as GatewayRequestError).retryable).toBe(true);
    expect((error as Error).message).toMatch(/could not be reached/);
  });

  it('gives up after timeoutMs when Paystack does not answer', async () => {
    const started = Date.now();
    // The stand-in never answers anything under /hang.
    const slow = new PaystackGateway({ secretKey, baseUrl: `${baseUrl}/hang`, timeoutMs: 300 });
    const error = await slow.createPayment(payment).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GatewayRequestError);
    expect((error as Error).message).toBe('Paystack did not answer within 300 ms');
    expect((error as GatewayRequestError).retryable).toBe(true);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('refuses amounts that are not positive integers before calling Paystack', async () => {
    await expect(gateway().createPayment({ ...payment, amountMinor: 123.45 })).rejects.toThrow(RangeError);
    await expect(gateway().createPayment({ ...payment, amountMinor: 0 })).rejects.toThrow(RangeError);
    expect(received).toHaveLength(0);
  });
});

describe('PaystackGateway.parseCallback', () => {
  it('accepts a correctly signed charge.success and trusts the verify answer over the webhook', async () => {
    // The webhook claims 99 999 cents; Paystack's verify endpoint says 12 345 were paid.
    transactions['pay_abc123'] = transaction('pay_abc123');
    const outcome = await gateway().parseCallback(signed(chargeSuccess('pay_abc123', 99_999)));

    expect(outcome).toEqual({
      reference: 'pay_abc123',
      providerEventId: '4099260516:success',
      status: 'succeeded',
      amountMinor: 12_345,
      currency: 'ZAR',
      failureReason: null,
      savedMethod: null,
    });
    expect(received.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /transaction/verify/pay_abc123']);
    expect(received[0]!.headers.authorization).toBe(`Bearer ${secretKey}`);
  });

  it('keeps a reusable card authorization from a successful charge, and never a single-use one', async () => {
    const authorization = { authorization_code: 'AUTH_8dfhjjdt', reusable: true, last4: '4081', brand: 'visa', card_type: 'visa ' };
    transactions['pay_abc123'] = transaction('pay_abc123', { authorization });
    expect((await gateway().parseCallback(signed(chargeSuccess('pay_abc123'))))?.savedMethod).toEqual({ token: 'AUTH_8dfhjjdt', label: 'visa ending 4081' });
    transactions['pay_abc123'] = transaction('pay_abc123', { authorization: { ...authorization, reusable: false } });
    expect((await gateway().parseCallback(signed(chargeSuccess('pay_abc123'))))?.savedMethod).toBeNull();
  });

  it('maps a charge that verify reports as failed or abandoned to a failed outcome', async () => {
    transactions['pay_abc123'] = transaction('pay_abc123', { status: 'failed', gateway_response: 'Declined' });
    expect(await gateway().parseCallback(signed(chargeSuccess('pay_abc123')))).toMatchObject({ status: 'failed', failureReason: 'Declined', providerEventId: '4099260516:failed' });

    transactions['pay_abc123'] = transaction('pay_abc123', { status: 'abandoned', gateway_response: '' });
    expect(await gateway().parseCallback(signed(chargeSuccess('pay_abc123')))).toMatchObject({ status: 'failed', failureReason: 'abandoned' });
  });

  it('maps a charge still under way to pending', async () => {
    transactions['pay_abc123'] = transaction('pay_abc123', { status: 'ongoing' });
    expect(await gateway().parseCallback(signed(chargeSuccess('pay_abc123')))).toMatchObject({ status: 'pending', failureReason: null });
  });

  it('returns null for events it does not act on, without calling Paystack', async () => {
    const transfer = JSON.stringify({ event: 'transfer.success', data: { reference: 'trf_1', amount: 100 } });
    expect(await gateway().parseCallback(signed(transfer))).toBeNull();
    // Not in Paystack's event list: a failed charge sends no webhook.
    const chargeFailed = JSON.stringify({ event: 'charge.failed', data: { reference: 'pay_abc123' } });
    expect(await gateway().parseCallback(signed(chargeFailed))).toBeNull();
    expect(received).toHaveLength(0);
  });

  it('rejects a tampered body', async () => {
    const original = signed(chargeSuccess('pay_abc123'));
    const tampered = { headers: original.headers, rawBody: Buffer.from(chargeSuccess('pay_abc124')) };
    expect((await callbackRejection(gateway().parseCallback(tampered))).reason).toBe('bad_signature');
    expect(received).toHaveLength(0);
  });

  it('rejects a body signed with another secret', async () => {
    expect((await callbackRejection(gateway().parseCallback(signed(chargeSuccess('pay_abc123'), 'sk_test_someone_else')))).reason).toBe('bad_signature');
  });

  it('rejects a missing, repeated or malformed signature header', async () => {
    const body = chargeSuccess('pay_abc123');
    const good = signed(body).headers['x-paystack-signature']!;
    for (const headers of [{}, { 'x-paystack-signature': 'not-hex' }, { 'x-paystack-signature': good.slice(0, 64) }, { 'x-paystack-signature': [good, good] }]) {
      expect((await callbackRejection(gateway().parseCallback({ headers, rawBody: Buffer.from(body) }))).reason).toBe('bad_signature');
    }
    expect(received).toHaveLength(0);
  });

  it('accepts the signature header in any letter case', async () => {
    transactions['pay_abc123'] = transaction('pay_abc123');
    const { headers, rawBody } = signed(chargeSuccess('pay_abc123'));
    const outcome = await gateway().parseCallback({ headers: { 'X-Paystack-Signature': headers['x-paystack-signature']!.toUpperCase() }, rawBody });
    expect(outcome?.status).toBe('succeeded');
  });

  it('rejects a correctly signed body that is not a Paystack event', async () => {
    expect((await callbackRejection(gateway().parseCallback(signed('not json')))).reason).toBe('invalid_payload');
    expect((await callbackRejection(gateway().parseCallback(signed(JSON.stringify({ event: 'charge.success', data: {} }))))).reason).toBe('invalid_payload');
  });

  it('rejects a verify answer for another reference', async () => {
    transactions['pay_abc123'] = transaction('pay_other');
    expect((await callbackRejection(gateway().parseCallback(signed(chargeSuccess('pay_abc123'))))).reason).toBe('validation_failed');
  });

  it('reports a failing verify call as a retryable GatewayRequestError, so the webhook is retried', async () => {
    verifyStatus = 503;
    const error = await gateway().parseCallback(signed(chargeSuccess('pay_abc123'))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GatewayRequestError);
    expect((error as GatewayRequestError).retryable).toBe(true);
    expect((error as GatewayRequestError).statusCode).toBe(503);
  });
});

describe('PaystackGateway.chargeSaved', () => {
  it('charges a saved authorization for the amount in the subunit and reads the answer as the outcome', async () => {
    const outcome = await gateway().chargeSaved(payment, 'AUTH_approve');
    expect(outcome).toMatchObject({ reference: payment.reference, status: 'succeeded', amountMinor: payment.amountMinor, currency: 'ZAR', providerEventId: '4099260999:success' });
    const call = received.find((r) => r.path === '/transaction/charge_authorization');
    expect(JSON.parse(call!.body)).toMatchObject({ authorization_code: 'AUTH_approve', amount: String(payment.amountMinor), currency: 'ZAR', reference: payment.reference, email: payment.customerEmail });
  });

  it('a declined charge is a failed outcome with the reason Paystack gives', async () => {
    expect(await gateway().chargeSaved(payment, 'AUTH_expired')).toMatchObject({ status: 'failed', failureReason: 'Insufficient Funds', savedMethod: null });
  });
});
