import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GatewayRequestError } from './gateway.ts';
import { PayfastGateway, payfastRequestSignature } from './payfast.ts';
import { callbackRejection, phpUrlencode, samplePaymentRequest } from './testing.ts';
import { startRecordingServer, type RecordingServer, type ReceivedRequest } from '../testing-http.ts';

const merchantId = '10000100';
const merchantKey = '46f0cd694581a';
const passphrase = 'jt7NOE43FZPn';
const payment = samplePaymentRequest({
  customerEmail: 'ada+billing@example.com',
  description: 'Invoice INV-2026-000042 (API usage)',
  notifyUrl: 'https://billing.example.com/callbacks/payfast',
});

/*
 * The signature as PayFast documents it, written out here independently of the adapter: values
 * URL-encoded like PHP's urlencode (space '+', upper-case hex, all but A-Za-z0-9-_. encoded),
 * name=value joined by '&', the passphrase appended, MD5.
 */
function documentedSignature(pairs: [string, string][], pass?: string): string {
  const text = pairs.map(([k, v]) => `${k}=${phpUrlencode(v)}`).join('&') + (pass ? `&passphrase=${phpUrlencode(pass)}` : '');
  return createHash('md5').update(text).digest('hex');
}

let validateAnswer: { status: number; body: string } = { status: 200, body: 'VALID' };
// PayFast's validate endpoint, stood in for by a real server on 127.0.0.1.
let payfast: RecordingServer;
let received: ReceivedRequest[];
let baseUrl: string;

beforeAll(async () => {
  payfast = await startRecordingServer((req, res) => {
    if (req.method === 'POST' && req.path === '/eng/query/validate') res.writeHead(validateAnswer.status, { 'content-type': 'text/plain' }).end(validateAnswer.body);
    else res.writeHead(404).end();
  });
  baseUrl = payfast.url;
  received = payfast.received;
});

afterAll(() => payfast.close());

beforeEach(() => {
  received.length = 0;
  validateAnswer = { status: 200, body: 'VALID' };
});

const gateway = (options: { passphrase?: string; validSourceIps?: string[] } = { passphrase }) =>
  new PayfastGateway({ merchantId, merchantKey, baseUrl, timeoutMs: 2_000, ...options });

/** An ITN as PayFast posts it: its fields in its order (empty ones included), signed, form-encoded. */
function itn(overrides: Record<string, string> = {}, options: { pass?: string; signature?: string } = { pass: passphrase }): { fields: [string, string][]; rawBody: Buffer } {
  const fields: [string, string][] = Object.entries({
    m_payment_id: 'pay_abc123',
    pf_payment_id: '1089250',
    payment_status: 'COMPLETE',
    item_name: 'Invoice INV-2026-000042 (API usage)',
    item_description: '',
    amount_gross: '123.45',
    amount_fee: '-2.83',
    amount_net: '120.62',
    custom_str1: 'inv_01J9Z',
    custom_str2: 'INV-2026-000042',
    custom_str3: '',
    custom_str4: '',
    custom_str5: '',
    custom_int1: '',
    custom_int2: '',
    custom_int3: '',
    custom_int4: '',
    custom_int5: '',
    name_first: 'Ada',
    name_last: "O'Brien",
    email_address: 'ada+billing@example.com',
    merchant_id: merchantId,
    ...overrides,
  });
  const signature = options.signature ?? documentedSignature(fields, options.pass);
  const all: [string, string][] = [...fields, ['signature', signature]];
  return { fields, rawBody: Buffer.from(all.map(([k, v]) => `${k}=${phpUrlencode(v)}`).join('&')) };
}

const callback = (rawBody: Buffer, remoteAddress = '127.0.0.1') => ({ headers: { 'content-type': 'application/x-www-form-urlencoded' }, rawBody, remoteAddress });

describe('payfastRequestSignature', () => {
  it("reproduces the worked example in PayFast's PHP SDK tests, whatever order the fields come in", () => {
    // payfast-php-sdk tests/unit/AuthTest.php: shuffled fields, passphrase 'payfastsandbox' → 3441682c5d8a65486f5b7cc8ce41d146.
    const b64 = (text: string) => Buffer.from(text).toString('base64').replace(/=+$/, '');
    const example = {
      notify_url: 'https://test.com/payfast/webhook',
      cycles: '0',
      subscription_type: '1',
      item_name: 'Test',
      merchant_key: '4hjoenwbwnuso',
      custom_str2: b64('Another Test String'),
      m_payment_id: '5',
      amount: '5.00',
      recurring_amount: '5',
      billing_date: '2023-01-01',
      frequency: '3',
      custom_str1: b64('Some Test String'),
      custom_int1: '1',
      custom_int2: '1',
      name_last: 'Test',
      name_first: 'Test',
      email_address: 'test@test.com',
      confirmation_address: 'test@test.test',
      email_confirmation: '1',
      return_url: 'https://test.com/billing/success',
      cancel_url: 'https://test.com/billing/cancel',
      merchant_id: '10028084',
    };
    expect(payfastRequestSignature(example, 'payfastsandbox')).toBe('3441682c5d8a65486f5b7cc8ce41d146');
  });
});

describe('PayfastGateway.createPayment', () => {
  it('builds the process URL with the ordered fields and the documented signature', async () => {
    const session = await gateway().createPayment(payment);

    const url = new URL(session.paymentUrl);
    expect(`${url.origin}${url.pathname}`).toBe(`${baseUrl}/eng/process`);
    const query = session.paymentUrl.slice(session.paymentUrl.indexOf('?') + 1).split('&');
    const expectedPairs: [string, string][] = [
      ['merchant_id', merchantId],
      ['merchant_key', merchantKey],
      ['return_url', payment.returnUrl],
      ['cancel_url', payment.cancelUrl],
      ['notify_url', payment.notifyUrl],
      ['email_address', 'ada+billing@example.com'],
      ['m_payment_id', 'pay_abc123'],
      ['amount', '123.45'],
      ['item_name', 'Invoice INV-2026-000042 (API usage)'],
      ['custom_str1', 'inv_01J9Z'],
      ['custom_str2', 'INV-2026-000042'],
    ];
    expect(query).toEqual([...expectedPairs.map(([k, v]) => `${k}=${phpUrlencode(v)}`), `signature=${documentedSignature(expectedPairs, passphrase)}`]);
    // PayFast's encoding rules, spelled out: '+' for spaces, upper-case escapes, parentheses escaped.
    expect(session.paymentUrl).toContain('return_url=https%3A%2F%2Fbilling.example.com%2Fpay%2Fpay_abc123%2Fdone');
    expect(session.paymentUrl).toContain('item_name=Invoice+INV-2026-000042+%28API+usage%29');
    expect(session.paymentUrl).toContain('email_address=ada%2Bbilling%40example.com');
    expect(session.providerReference).toBe('pay_abc123');
    expect(received).toHaveLength(0); // nothing to call: the browser carries the request
  });

  it('signs without a passphrase when none is set', async () => {
    const session = await gateway({}).createPayment(payment);
    const params = new URLSearchParams(session.paymentUrl.slice(session.paymentUrl.indexOf('?') + 1));
    const pairs = [...params.entries()].filter(([k]) => k !== 'signature');
    expect(params.get('signature')).toBe(documentedSignature(pairs));
  });

  it('formats amounts from minor units without floating point', async () => {
    for (const [minor, text] of [
      [29, '0.29'],
      [100, '1.00'],
      [1_000_005, '10000.05'],
    ] as const) {
      const session = await gateway().createPayment({ ...payment, amountMinor: minor });
      expect(new URL(session.paymentUrl).searchParams.get('amount')).toBe(text);
    }
  });

  it('refuses currencies other than ZAR', async () => {
    const error = await gateway().createPayment({ ...payment, currency: 'USD' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GatewayRequestError);
    expect((error as GatewayRequestError).retryable).toBe(false);
  });
});

describe('PayfastGateway.parseCallback', () => {
  it('accepts a correctly signed ITN that PayFast confirms, and confirms it with the received parameters', async () => {
    const { fields, rawBody } = itn();
    const outcome = await gateway().parseCallback(callback(rawBody));

    expect(outcome).toEqual({
      reference: 'pay_abc123',
      providerEventId: '1089250:COMPLETE',
      status: 'succeeded',
      amountMinor: 12_345,
      currency: 'ZAR',
      failureReason: null,
    });
    expect(received).toHaveLength(1);
    expect(received[0]!.path).toBe('/eng/query/validate');
    expect(received[0]!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    // Everything PayFast sent but the signature, in its order, and never our passphrase.
    expect(received[0]!.body).toBe(fields.map(([k, v]) => `${k}=${phpUrlencode(v)}`).join('&'));
    expect(received[0]!.body).not.toContain(passphrase);
  });

  it('maps FAILED, CANCELLED and PENDING', async () => {
    expect(await gateway().parseCallback(callback(itn({ payment_status: 'FAILED' }).rawBody))).toMatchObject({ status: 'failed', failureReason: 'failed', providerEventId: '1089250:FAILED' });
    expect(await gateway().parseCallback(callback(itn({ payment_status: 'CANCELLED' }).rawBody))).toMatchObject({ status: 'failed', failureReason: 'cancelled' });
    expect(await gateway().parseCallback(callback(itn({ payment_status: 'PENDING' }).rawBody))).toMatchObject({ status: 'pending', failureReason: null });
  });

  it('verifies an ITN without a passphrase when none is set', async () => {
    expect(await gateway({}).parseCallback(callback(itn({}, {}).rawBody))).toMatchObject({ status: 'succeeded' });
  });

  it('rejects a tampered ITN without asking PayFast', async () => {
    const { rawBody } = itn();
    const tampered = Buffer.from(rawBody.toString().replace('amount_gross=123.45', 'amount_gross=1.00'));
    expect((await callbackRejection(gateway().parseCallback(callback(tampered)))).reason).toBe('bad_signature');
    expect(received).toHaveLength(0);
  });

  it('rejects an ITN signed with another passphrase', async () => {
    expect((await callbackRejection(gateway().parseCallback(callback(itn({}, { pass: 'not-our-passphrase' }).rawBody))))).toMatchObject({ reason: 'bad_signature' });
  });

  it('rejects an ITN without a signature', async () => {
    const unsigned = Buffer.from(itn().rawBody.toString().replace(/&signature=[0-9a-f]+$/, ''));
    expect((await callbackRejection(gateway().parseCallback(callback(unsigned)))).reason).toBe('bad_signature');
  });

  it('rejects an ITN that PayFast answers INVALID for', async () => {
    validateAnswer = { status: 200, body: 'INVALID' };
    expect((await callbackRejection(gateway().parseCallback(callback(itn().rawBody)))).reason).toBe('validation_failed');
    expect(received).toHaveLength(1);
  });

  it('reports a failing validate call as a retryable GatewayRequestError', async () => {
    validateAnswer = { status: 502, body: 'Bad gateway' };
    const error = await gateway().parseCallback(callback(itn().rawBody)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GatewayRequestError);
    expect((error as GatewayRequestError).retryable).toBe(true);
  });

  it('rejects an ITN for another merchant, even when correctly signed', async () => {
    expect((await callbackRejection(gateway().parseCallback(callback(itn({ merchant_id: '10000999' }).rawBody)))).reason).toBe('validation_failed');
  });

  it('rejects a field sent twice', async () => {
    const doubled = Buffer.from(`payment_status=COMPLETE&${itn({ payment_status: 'FAILED' }).rawBody.toString()}`);
    expect((await callbackRejection(gateway().parseCallback(callback(doubled)))).reason).toBe('invalid_payload');
  });

  it('checks the source address when an allowlist is configured', async () => {
    const guarded = gateway({ passphrase, validSourceIps: ['197.97.145.144/28', '41.74.179.194'] });
    expect((await callbackRejection(guarded.parseCallback(callback(itn().rawBody, '203.0.113.9')))).reason).toBe('untrusted_source');
    expect((await callbackRejection(guarded.parseCallback({ headers: {}, rawBody: itn().rawBody })))).toMatchObject({ reason: 'untrusted_source' });
    expect(received).toHaveLength(0);

    expect(await guarded.parseCallback(callback(itn().rawBody, '197.97.145.150'))).toMatchObject({ status: 'succeeded' });
    // An IPv4 client on a dual-stack socket.
    expect(await guarded.parseCallback(callback(itn().rawBody, '::ffff:41.74.179.194'))).toMatchObject({ status: 'succeeded' });
  });
});
