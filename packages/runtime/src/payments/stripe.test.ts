import Stripe from 'stripe';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GatewayRequestError } from './gateway.ts';
import { StripeGateway } from './stripe.ts';
import { callbackRejection, samplePaymentRequest } from './testing.ts';
import { startRecordingServer, unreachableUrl, type RecordingServer, type ReceivedRequest } from '../testing-http.ts';

const secretKey = 'sk_test_51Hx9kQ2eZvKYlo2C0aBcDeFgHiJkLmNoPqRsTuVwXyZ';
const webhookSecret = 'whsec_8c1f0e9b7a6d5c4b3a29180f7e6d5c4b';
const payment = samplePaymentRequest({ currency: 'USD', notifyUrl: 'https://billing.example.com/callbacks/stripe' });

// Stripe's API, stood in for by a real server on 127.0.0.1: POST /v1/checkout/sessions.
let answer: { status: number; body: unknown } | null = null;
let stripeApi: RecordingServer;
let received: ReceivedRequest[];
let apiBaseUrl: string;
let closedBaseUrl: string;

beforeAll(async () => {
  stripeApi = await startRecordingServer((req, res) => {
    const reply = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json', 'request-id': 'req_stand_in' }).end(JSON.stringify(body));
    const key = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    if (key !== secretKey) {
      // Stripe names the key it was given in this message; the adapter must not pass it on.
      return reply(401, { error: { type: 'invalid_request_error', message: `Invalid API Key provided: ${key}` } });
    }
    if (req.method !== 'POST' || req.path !== '/v1/checkout/sessions') return reply(404, { error: { type: 'invalid_request_error', message: 'Unrecognized request URL' } });
    if (answer) return reply(answer.status, answer.body);
    reply(200, {
      id: 'cs_test_a1B2c3D4',
      object: 'checkout.session',
      mode: 'payment',
      status: 'open',
      payment_status: 'unpaid',
      amount_total: 12_345,
      currency: 'usd',
      url: 'https://checkout.stripe.com/c/pay/cs_test_a1B2c3D4',
    });
  });
  apiBaseUrl = stripeApi.url;
  received = stripeApi.received;
  closedBaseUrl = await unreachableUrl();
});

afterAll(() => stripeApi.close());

beforeEach(() => {
  received.length = 0;
  answer = null;
});

const gateway = (options: { secretKey?: string; apiBaseUrl?: string } = {}) =>
  new StripeGateway({ secretKey, webhookSecret, apiBaseUrl, timeoutMs: 2_000, maxNetworkRetries: 0, ...options });

/** Signs like Stripe does, with the stripe package's own test helper. */
const webhooks = new Stripe('sk_test_only_for_signing').webhooks;
function signedEvent(event: unknown, options: { secret?: string; timestamp?: number } = {}): { headers: Record<string, string>; rawBody: Buffer } {
  const payload = typeof event === 'string' ? event : JSON.stringify(event);
  const header = webhooks.generateTestHeaderString({ payload, secret: options.secret ?? webhookSecret, ...(options.timestamp === undefined ? {} : { timestamp: options.timestamp }) });
  return { headers: { 'content-type': 'application/json', 'stripe-signature': header }, rawBody: Buffer.from(payload) };
}

function sessionEvent(type: string, session: Record<string, unknown> = {}, id = 'evt_1QxYz'): Record<string, unknown> {
  return {
    id,
    object: 'event',
    type,
    created: Math.floor(Date.now() / 1000),
    data: {
      object: {
        id: 'cs_test_a1B2c3D4',
        object: 'checkout.session',
        client_reference_id: 'pay_abc123',
        metadata: { reference: 'pay_abc123', invoiceId: 'inv_01J9Z' },
        amount_total: 12_345,
        currency: 'usd',
        payment_status: 'paid',
        ...session,
      },
    },
  };
}

describe('StripeGateway.createPayment', () => {
  it('creates a Checkout Session with one price_data line item and our reference as the idempotency key', async () => {
    const session = await gateway().createPayment(payment);

    expect(session).toEqual({ paymentUrl: 'https://checkout.stripe.com/c/pay/cs_test_a1B2c3D4', providerReference: 'cs_test_a1B2c3D4' });
    expect(received).toHaveLength(1);
    const [call] = received;
    expect(call!.method).toBe('POST');
    expect(call!.path).toBe('/v1/checkout/sessions');
    expect(call!.headers.authorization).toBe(`Bearer ${secretKey}`);
    expect(call!.headers['idempotency-key']).toBe('pay_abc123');
    expect(Object.fromEntries(new URLSearchParams(call!.body))).toEqual({
      mode: 'payment',
      'line_items[0][quantity]': '1',
      'line_items[0][price_data][currency]': 'usd',
      'line_items[0][price_data][unit_amount]': '12345',
      'line_items[0][price_data][product_data][name]': 'Invoice INV-2026-000042',
      client_reference_id: 'pay_abc123',
      'metadata[reference]': 'pay_abc123',
      'metadata[invoiceId]': 'inv_01J9Z',
      'metadata[invoiceNumber]': 'INV-2026-000042',
      customer_email: 'ada@example.com',
      success_url: payment.returnUrl,
      cancel_url: payment.cancelUrl,
    });
  });

  it('reports a refusal as a GatewayRequestError with the status and Stripe\'s message', async () => {
    answer = { status: 400, body: { error: { type: 'invalid_request_error', message: 'Invalid currency: xyz', param: 'line_items[0][price_data][currency]' } } };
    const error = await gateway().createPayment({ ...payment, currency: 'XYZ' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GatewayRequestError);
    expect((error as GatewayRequestError).statusCode).toBe(400);
    expect((error as GatewayRequestError).retryable).toBe(false);
    expect((error as Error).message).toContain('Invalid currency: xyz');
  });

  it('never passes the secret key on in an error', async () => {
    const wrongKey = 'sk_test_someone_elses_key_0123456789';
    const error = await gateway({ secretKey: wrongKey }).createPayment(payment).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GatewayRequestError);
    expect((error as GatewayRequestError).statusCode).toBe(401);
    expect((error as Error).message).not.toContain(wrongKey);
  });

  it('reports an unreachable Stripe as a retryable GatewayRequestError', async () => {
    const error = await gateway({ apiBaseUrl: closedBaseUrl }).createPayment(payment).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GatewayRequestError);
    expect((error as GatewayRequestError).retryable).toBe(true);
    expect((error as GatewayRequestError).statusCode).toBeUndefined();
  });

  it('reports a session without a url as a GatewayRequestError', async () => {
    answer = { status: 200, body: { id: 'cs_test_nourl', object: 'checkout.session', url: null } };
    await expect(gateway().createPayment(payment)).rejects.toBeInstanceOf(GatewayRequestError);
  });
});

describe('StripeGateway.parseCallback', () => {
  it('accepts a correctly signed checkout.session.completed that is paid', async () => {
    const outcome = await gateway().parseCallback(signedEvent(sessionEvent('checkout.session.completed')));
    expect(outcome).toEqual({
      reference: 'pay_abc123',
      providerEventId: 'evt_1QxYz',
      status: 'succeeded',
      amountMinor: 12_345,
      currency: 'USD',
      failureReason: null,
    });
    expect(received).toHaveLength(0); // the signature is checked locally
  });

  it('maps the asynchronous and expiry events', async () => {
    const g = gateway();
    expect(await g.parseCallback(signedEvent(sessionEvent('checkout.session.completed', { payment_status: 'unpaid' })))).toMatchObject({ status: 'pending' });
    expect(await g.parseCallback(signedEvent(sessionEvent('checkout.session.async_payment_succeeded')))).toMatchObject({ status: 'succeeded', failureReason: null });
    expect(await g.parseCallback(signedEvent(sessionEvent('checkout.session.async_payment_failed', { payment_status: 'unpaid' })))).toMatchObject({
      status: 'failed',
      failureReason: 'the payment failed',
    });
    expect(await g.parseCallback(signedEvent(sessionEvent('checkout.session.expired', { payment_status: 'unpaid', status: 'expired' })))).toMatchObject({
      status: 'failed',
      failureReason: 'the checkout session expired',
    });
  });

  it('returns null for other events and for sessions that are not ours', async () => {
    const g = gateway();
    expect(await g.parseCallback(signedEvent({ id: 'evt_2', object: 'event', type: 'payment_intent.succeeded', data: { object: { id: 'pi_1', object: 'payment_intent' } } }))).toBeNull();
    expect(await g.parseCallback(signedEvent(sessionEvent('checkout.session.completed', { client_reference_id: null, metadata: {} })))).toBeNull();
  });

  it('rejects a tampered body', async () => {
    const { headers } = signedEvent(sessionEvent('checkout.session.completed'));
    const tampered = Buffer.from(JSON.stringify(sessionEvent('checkout.session.completed', { amount_total: 1 })));
    expect((await callbackRejection(gateway().parseCallback({ headers, rawBody: tampered }))).reason).toBe('bad_signature');
  });

  it('rejects an event signed with another endpoint secret', async () => {
    expect((await callbackRejection(gateway().parseCallback(signedEvent(sessionEvent('checkout.session.completed'), { secret: 'whsec_other' })))).reason).toBe('bad_signature');
  });

  it('rejects a missing Stripe-Signature header', async () => {
    const { rawBody } = signedEvent(sessionEvent('checkout.session.completed'));
    expect((await callbackRejection(gateway().parseCallback({ headers: {}, rawBody }))).reason).toBe('bad_signature');
  });

  it('rejects a replayed event whose signature timestamp is too old', async () => {
    const tenMinutesAgo = Math.floor(Date.now() / 1000) - 600;
    const error = await callbackRejection(gateway().parseCallback(signedEvent(sessionEvent('checkout.session.completed'), { timestamp: tenMinutesAgo })));
    expect(error.reason).toBe('bad_signature');
    expect(error.message).toMatch(/tolerance/);
  });

  it('rejects a correctly signed body that is not JSON', async () => {
    expect((await callbackRejection(gateway().parseCallback(signedEvent('this is not json')))).reason).toBe('invalid_payload');
  });
});
