import { createHash, createHmac } from 'node:crypto';
import { sql } from 'drizzle-orm';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatMinorAmount } from '@tollgate/runtime';
import { phpUrlencode, sendJson as json, startRecordingServer, type RecordingServer } from '@tollgate/runtime/testing';
import { queryRows } from '@tollgate/store';
import { createTestApp, type TestApp } from '../../testing/harness.ts';

/*
 * Paying an invoice through each provider, end to end: Tollgate's HTTP API on one side, a local
 * stand-in of the provider's API on 127.0.0.1 on the other. The callbacks are built and signed
 * here the way each provider documents it, written out independently of the adapters.
 */

const PUBLIC_URL = 'https://billing.tollgate.example';
const BILLING = '/api/v1/api-marketplace/billing';
const PLAN = 'smi-starter';

/** 12345 → "123.45", in integers. */
const major = (minor: number) => `${Math.trunc(minor / 100)}.${String(minor % 100).padStart(2, '0')}`;

const md5 = (text: string) => createHash('md5').update(text).digest('hex');
const sha512 = (text: string) => createHash('sha512').update(text).digest('hex');

// ---- what each provider does ------------------------------------------------------------------

/** One payment attempt, as the provider knows it. */
interface Bill {
  reference: string;
  invoiceId: string;
  invoiceNumber: string;
  amountMinor: number;
  email: string;
}

interface Notification {
  headers: Record<string, string>;
  body: string;
}

interface Provider {
  gateway: 'paystack' | 'payfast' | 'ozow' | 'stripe';
  standIn: RecordingServer;
  env: Record<string, string>;
  /** Checks what the provider was asked for when /pay started this payment. */
  expectAsked(bill: Bill, paymentUrl: string): Promise<void>;
  /** The provider's correctly signed notification that the bill was paid (its API then says so too). */
  paid(bill: Bill): Notification;
  /** A correctly signed failure the provider reports, when it reports failures at all. */
  failed: ((bill: Bill) => Notification) | null;
  /** Notifications that must be refused. */
  forgeries(bill: Bill): { tampered: Notification; wrongSecret: Notification; missingSignature: Notification };
  /** How many times Tollgate asked the provider to confirm a callback (Paystack verify, PayFast validate). */
  confirmations(): number;
}

const notifyUrl = (gateway: string) => `${PUBLIC_URL}${BILLING}/callbacks/${gateway}`;

/** Paystack: initialize → authorization_url; webhook signed with HMAC-SHA512 of the body; verify is the authority. */
async function paystack(): Promise<Provider & { setVerifiedAmount(reference: string, amountMinor: number): void }> {
  const secretKey = 'sk_test_4f9d2c0e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e';
  const transactions = new Map<string, { id: number; status: string; amount: number; currency: string }>();
  let nextId = 4_099_260_516;
  let base = '';
  const standIn = await startRecordingServer((req, res) => {
    if (req.headers.authorization !== `Bearer ${secretKey}`) return json(res, 401, { status: false, message: 'Invalid key' });
    if (req.method === 'POST' && req.path === '/transaction/initialize') {
      const body = JSON.parse(req.body) as { reference: string; amount: string; currency: string };
      if (transactions.has(body.reference)) return json(res, 400, { status: false, message: 'Duplicate Transaction Reference' });
      transactions.set(body.reference, { id: nextId++, status: 'ongoing', amount: Number(body.amount), currency: body.currency });
      const code = `ac_${transactions.size}`;
      return json(res, 200, { status: true, message: 'Authorization URL created', data: { authorization_url: `${base}/checkout/${code}`, access_code: code, reference: body.reference } });
    }
    const verify = /^\/transaction\/verify\/([^/?]+)$/.exec(req.path);
    if (req.method === 'GET' && verify) {
      const reference = decodeURIComponent(verify[1] as string);
      const tx = transactions.get(reference);
      if (!tx) return json(res, 400, { status: false, message: 'Transaction reference not found' });
      return json(res, 200, {
        status: true,
        message: 'Verification successful',
        data: { id: tx.id, domain: 'test', status: tx.status, reference, amount: tx.amount, currency: tx.currency, gateway_response: tx.status === 'success' ? 'Successful' : 'Declined' },
      });
    }
    json(res, 404, { status: false, message: 'not found' });
  });
  base = standIn.url;

  const event = (bill: Bill, amount = bill.amountMinor) =>
    JSON.stringify({ event: 'charge.success', data: { id: transactions.get(bill.reference)?.id ?? 1, status: 'success', reference: bill.reference, amount, currency: 'ZAR', gateway_response: 'Successful' } });
  const signed = (body: string, key = secretKey): Notification => ({
    headers: { 'content-type': 'application/json', 'x-paystack-signature': createHmac('sha512', key).update(body).digest('hex') },
    body,
  });

  return {
    gateway: 'paystack',
    standIn,
    env: { PAYSTACK_SECRET_KEY: secretKey, PAYSTACK_BASE_URL: standIn.url },
    async expectAsked(bill, paymentUrl) {
      const init = standIn.received.filter((r) => r.path === '/transaction/initialize').map((r) => JSON.parse(r.body) as Record<string, unknown>);
      const asked = init.find((b) => b.reference === bill.reference);
      expect(asked).toEqual({
        email: bill.email,
        amount: String(bill.amountMinor),
        currency: 'ZAR',
        reference: bill.reference,
        callback_url: `${PUBLIC_URL}/billing/return?reference=${bill.reference}`,
        metadata: { invoice_id: bill.invoiceId, invoice_number: bill.invoiceNumber, cancel_action: `${PUBLIC_URL}/billing/return?reference=${bill.reference}&cancelled=1` },
      });
      expect(paymentUrl).toMatch(new RegExp(`^${standIn.url}/checkout/ac_\\d+$`));
    },
    paid(bill) {
      // The customer paid: from now on Paystack's verify answers success.
      const tx = transactions.get(bill.reference);
      if (tx) tx.status = 'success';
      return signed(event(bill));
    },
    // Paystack sends no webhook for a failed charge (its event list has no charge.failed).
    failed: null,
    forgeries(bill) {
      const genuine = signed(event(bill));
      return {
        tampered: { headers: genuine.headers, body: event(bill, bill.amountMinor + 100) },
        wrongSecret: signed(event(bill), 'sk_test_someone_else_entirely_0000000000'),
        missingSignature: { headers: { 'content-type': 'application/json' }, body: event(bill) },
      };
    },
    confirmations: () => standIn.received.filter((r) => r.path.startsWith('/transaction/verify/')).length,
    setVerifiedAmount(reference, amountMinor) {
      const tx = transactions.get(reference);
      if (tx) tx.amount = amountMinor;
    },
  };
}

/** PayFast: the browser carries a signed form to /eng/process; the ITN is a signed form, confirmed at /eng/query/validate. */
async function payfast(): Promise<Provider> {
  const merchantId = '10000100';
  const merchantKey = '46f0cd694581a';
  const passphrase = 'jt7NOE43FZPn';
  /** The ITNs "PayFast" sent: their parameter strings, which validate answers VALID for. */
  const sent = new Set<string>();
  const pfIds = new Map<string, string>();
  const standIn = await startRecordingServer((req, res) => {
    if (req.method === 'GET' && req.path.startsWith('/eng/process?')) {
      // PayFast checks the request's signature: the pairs as sent, the passphrase appended, MD5.
      const pairs = req.path.slice(req.path.indexOf('?') + 1).split('&');
      const signature = pairs.find((p) => p.startsWith('signature='))?.slice('signature='.length);
      const expected = md5(`${pairs.filter((p) => !p.startsWith('signature=')).join('&')}&passphrase=${phpUrlencode(passphrase)}`);
      if (signature !== expected) return res.writeHead(400, { 'content-type': 'text/plain' }).end('Generated signature does not match submitted signature.');
      return res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>PayFast checkout</body></html>');
    }
    if (req.method === 'POST' && req.path === '/eng/query/validate') {
      return res.writeHead(200, { 'content-type': 'text/plain' }).end(sent.has(req.body) ? 'VALID' : 'INVALID');
    }
    res.writeHead(404).end();
  });

  function itn(bill: Bill, status: string, options: { passphrase?: string; register?: boolean } = {}): { fields: [string, string][]; signature: string } {
    if (!pfIds.has(bill.reference)) pfIds.set(bill.reference, String(1_089_250 + pfIds.size));
    const fee = Math.round(bill.amountMinor * 0.035);
    const fields: [string, string][] = [
      ['m_payment_id', bill.reference],
      ['pf_payment_id', pfIds.get(bill.reference) as string],
      ['payment_status', status],
      ['item_name', `Invoice ${bill.invoiceNumber}`],
      ['item_description', ''],
      ['amount_gross', major(bill.amountMinor)],
      ['amount_fee', `-${major(fee)}`],
      ['amount_net', major(bill.amountMinor - fee)],
      ['custom_str1', bill.invoiceId],
      ['custom_str2', bill.invoiceNumber],
      ['custom_str3', ''],
      ['custom_str4', ''],
      ['custom_str5', ''],
      ['custom_int1', ''],
      ['custom_int2', ''],
      ['custom_int3', ''],
      ['custom_int4', ''],
      ['custom_int5', ''],
      ['name_first', 'Thandi'],
      ['name_last', 'Nkosi'],
      ['email_address', bill.email],
      ['merchant_id', merchantId],
    ];
    const parameters = fields.map(([k, v]) => `${k}=${phpUrlencode(v)}`).join('&');
    if (options.register ?? true) sent.add(parameters);
    return { fields, signature: md5(`${parameters}&passphrase=${phpUrlencode(options.passphrase ?? passphrase)}`) };
  }
  const form = (fields: [string, string][], signature?: string): Notification => ({
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: [...fields, ...(signature === undefined ? [] : [['signature', signature] as [string, string]])].map(([k, v]) => `${k}=${phpUrlencode(v)}`).join('&'),
  });
  const signedItn = (bill: Bill, status: string) => {
    const { fields, signature } = itn(bill, status);
    return form(fields, signature);
  };

  return {
    gateway: 'payfast',
    standIn,
    env: {
      PAYFAST_MERCHANT_ID: merchantId,
      PAYFAST_MERCHANT_KEY: merchantKey,
      PAYFAST_PASSPHRASE: passphrase,
      PAYFAST_BASE_URL: standIn.url,
      // app.inject's requests come from 127.0.0.1: the allowlist is checked and passes.
      PAYFAST_VALID_IPS: '127.0.0.1,197.97.145.144/28',
    },
    async expectAsked(bill, paymentUrl) {
      const url = new URL(paymentUrl);
      expect(`${url.origin}${url.pathname}`).toBe(`${standIn.url}/eng/process`);
      expect(Object.fromEntries(url.searchParams)).toEqual({
        merchant_id: merchantId,
        merchant_key: merchantKey,
        return_url: `${PUBLIC_URL}/billing/return?reference=${bill.reference}`,
        cancel_url: `${PUBLIC_URL}/billing/return?reference=${bill.reference}&cancelled=1`,
        notify_url: notifyUrl('payfast'),
        email_address: bill.email,
        m_payment_id: bill.reference,
        amount: major(bill.amountMinor),
        item_name: `Invoice ${bill.invoiceNumber}`,
        custom_str1: bill.invoiceId,
        custom_str2: bill.invoiceNumber,
        signature: expect.stringMatching(/^[0-9a-f]{32}$/),
      });
      // The customer's browser takes the form to PayFast, which checks its signature.
      const res = await fetch(paymentUrl);
      expect(res.status, await res.clone().text()).toBe(200);
      expect(await res.text()).toContain('PayFast checkout');
      expect(standIn.received.at(-1)?.path).toBe(`${url.pathname}${url.search}`);
    },
    paid: (bill) => signedItn(bill, 'COMPLETE'),
    failed: (bill) => signedItn(bill, 'FAILED'),
    forgeries(bill) {
      const { fields, signature } = itn(bill, 'COMPLETE');
      const cheaper = fields.map(([k, v]): [string, string] => [k, k === 'amount_gross' ? '1.00' : v]);
      const other = itn(bill, 'COMPLETE', { passphrase: 'not-our-passphrase', register: false });
      return {
        tampered: form(cheaper, signature),
        wrongSecret: form(other.fields, other.signature),
        missingSignature: form(fields),
      };
    },
    confirmations: () => standIn.received.filter((r) => r.path === '/eng/query/validate').length,
  };
}

const OZOW_REQUEST_ORDER = ['SiteCode', 'CountryCode', 'CurrencyCode', 'Amount', 'TransactionReference', 'BankReference', 'Optional1', 'Optional2', 'Optional3', 'Optional4', 'Optional5', 'Customer', 'CancelUrl', 'ErrorUrl', 'SuccessUrl', 'NotifyUrl', 'IsTest'];
const OZOW_NOTIFICATION_ORDER = ['SiteCode', 'TransactionId', 'TransactionReference', 'Amount', 'Status', 'Optional1', 'Optional2', 'Optional3', 'Optional4', 'Optional5', 'CurrencyCode', 'IsTest', 'StatusMessage'];
/** Ozow's documented hash: the values in order, the private key appended, lower-cased, SHA-512. */
const ozowHash = (order: string[], fields: Record<string, unknown>, key: string) => sha512((order.map((name) => String(fields[name] ?? '')).join('') + key).toLowerCase());

/** Ozow: PostPaymentRequest with a HashCheck → url; the notification is a form with a SHA-512 Hash. */
async function ozow(): Promise<Provider> {
  const siteCode = 'TSTSTE0001';
  const privateKey = '215114531AFF7134A94C88CEEA48E';
  const apiKey = 'EB5758F2C3B4DF3FF4F2669D5FF5B';
  const requests = new Map<string, { paymentRequestId: string; transactionId: string }>();
  let base = '';
  const standIn = await startRecordingServer((req, res) => {
    if (req.method !== 'POST' || req.path !== '/PostPaymentRequest') return json(res, 404, { message: 'not found' });
    if (req.headers['apikey'] !== apiKey) return json(res, 401, { message: 'Authorization has been denied for this request.' });
    const body = JSON.parse(req.body) as Record<string, unknown>;
    if (body['HashCheck'] !== ozowHash(OZOW_REQUEST_ORDER, body, privateKey)) return json(res, 200, { paymentRequestId: null, url: null, errorMessage: 'Invalid hash check' });
    const n = requests.size + 1;
    const paymentRequestId = `4c6d1e0a-7d3b-4f33-9a55-${String(n).padStart(12, '0')}`;
    requests.set(body['TransactionReference'] as string, { paymentRequestId, transactionId: `8b9a6a2c-2f0e-4d52-a3a4-${String(n).padStart(12, '0')}` });
    json(res, 200, { paymentRequestId, url: `${base}/${paymentRequestId}/Secure`, errorMessage: null });
  });
  base = standIn.url;

  function notification(bill: Bill, status: string, options: { key?: string; hash?: boolean; amount?: string } = {}): Notification {
    const fields: Record<string, string> = {
      SiteCode: siteCode,
      TransactionId: requests.get(bill.reference)?.transactionId ?? 'unknown',
      TransactionReference: bill.reference,
      Amount: major(bill.amountMinor),
      Status: status,
      Optional1: bill.invoiceId,
      Optional2: bill.invoiceNumber,
      Optional3: '',
      Optional4: '',
      Optional5: '',
      CurrencyCode: 'ZAR',
      IsTest: 'true',
      StatusMessage: status === 'Complete' ? '' : 'Customer cancelled',
    };
    const hash = ozowHash(OZOW_NOTIFICATION_ORDER, fields, options.key ?? privateKey);
    if (options.amount !== undefined) fields['Amount'] = options.amount;
    if (options.hash ?? true) fields['Hash'] = hash;
    return { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() };
  }

  return {
    gateway: 'ozow',
    standIn,
    env: { OZOW_SITE_CODE: siteCode, OZOW_PRIVATE_KEY: privateKey, OZOW_API_KEY: apiKey, OZOW_BASE_URL: standIn.url, OZOW_TEST_MODE: 'true' },
    async expectAsked(bill, paymentUrl) {
      const asked = standIn.received.filter((r) => r.path === '/PostPaymentRequest').map((r) => JSON.parse(r.body) as Record<string, unknown>);
      const body = asked.find((b) => b['TransactionReference'] === bill.reference);
      const returnUrl = `${PUBLIC_URL}/billing/return?reference=${bill.reference}`;
      expect(body).toEqual({
        SiteCode: siteCode,
        CountryCode: 'ZA',
        CurrencyCode: 'ZAR',
        Amount: major(bill.amountMinor),
        TransactionReference: bill.reference,
        BankReference: bill.invoiceNumber.slice(0, 20),
        Optional1: bill.invoiceId,
        Optional2: bill.invoiceNumber,
        Customer: bill.email,
        CancelUrl: `${returnUrl}&cancelled=1`,
        ErrorUrl: `${returnUrl}&cancelled=1`,
        SuccessUrl: returnUrl,
        NotifyUrl: notifyUrl('ozow'),
        IsTest: true,
        HashCheck: expect.stringMatching(/^[0-9a-f]{128}$/),
      });
      // The stand-in checked the HashCheck and issued this payment request's URL.
      expect(paymentUrl).toBe(`${standIn.url}/${requests.get(bill.reference)?.paymentRequestId}/Secure`);
    },
    paid: (bill) => notification(bill, 'Complete'),
    failed: (bill) => notification(bill, 'Cancelled'),
    forgeries: (bill) => ({
      tampered: notification(bill, 'Complete', { amount: '1.00' }),
      wrongSecret: notification(bill, 'Complete', { key: 'SOMEONE-ELSES-PRIVATE-KEY' }),
      missingSignature: notification(bill, 'Complete', { hash: false }),
    }),
    // Ozow's notification is trusted on its Hash alone.
    confirmations: () => 0,
  };
}

/** Stripe: a Checkout Session through the stripe package; events signed in the Stripe-Signature header. */
async function stripe(): Promise<Provider> {
  const secretKey = 'sk_test_51Hx9kQ2eZvKYlo2C0aBcDeFgHiJkLmNoPqRsTuVwXyZ';
  const webhookSecret = 'whsec_8c1f0e9b7a6d5c4b3a29180f7e6d5c4b';
  const sessions = new Map<string, Record<string, unknown>>();
  let base = '';
  let events = 0;
  const standIn = await startRecordingServer((req, res) => {
    if (req.headers.authorization !== `Bearer ${secretKey}`) return json(res, 401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } });
    if (req.method !== 'POST' || req.path !== '/v1/checkout/sessions') return json(res, 404, { error: { type: 'invalid_request_error', message: 'Unrecognized request URL' } });
    const form = Object.fromEntries(new URLSearchParams(req.body));
    const reference = form['client_reference_id'] as string;
    const id = `cs_test_${String(sessions.size + 1).padStart(8, '0')}`;
    const session = {
      id,
      object: 'checkout.session',
      mode: 'payment',
      status: 'open',
      payment_status: 'unpaid',
      amount_total: Number(form['line_items[0][price_data][unit_amount]']) * Number(form['line_items[0][quantity]']),
      currency: form['line_items[0][price_data][currency]'],
      client_reference_id: reference,
      metadata: { reference: form['metadata[reference]'], invoiceId: form['metadata[invoiceId]'], invoiceNumber: form['metadata[invoiceNumber]'] },
      url: `${base}/c/pay/${id}`,
    };
    sessions.set(reference, session);
    json(res, 200, session);
  });
  base = standIn.url;

  const signer = new Stripe('sk_test_only_for_signing').webhooks;
  const eventBody = (bill: Bill, type: string, paymentStatus: string, overrides: Record<string, unknown> = {}) =>
    JSON.stringify({
      id: `evt_${String(++events).padStart(10, '0')}`,
      object: 'event',
      api_version: '2025-09-30.clover',
      created: Math.floor(Date.now() / 1000),
      livemode: false,
      type,
      data: { object: { ...sessions.get(bill.reference), status: paymentStatus === 'paid' ? 'complete' : 'open', payment_status: paymentStatus, ...overrides } },
    });
  const signed = (payload: string, secret = webhookSecret): Notification => ({
    headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': signer.generateTestHeaderString({ payload, secret }) },
    body: payload,
  });

  return {
    gateway: 'stripe',
    standIn,
    env: { STRIPE_SECRET_KEY: secretKey, STRIPE_WEBHOOK_SECRET: webhookSecret, STRIPE_API_BASE_URL: standIn.url },
    async expectAsked(bill, paymentUrl) {
      const calls = standIn.received.filter((r) => r.path === '/v1/checkout/sessions' && new URLSearchParams(r.body).get('client_reference_id') === bill.reference);
      expect(calls).toHaveLength(1);
      expect(calls[0]?.headers['idempotency-key']).toBe(bill.reference);
      const returnUrl = `${PUBLIC_URL}/billing/return?reference=${bill.reference}`;
      expect(Object.fromEntries(new URLSearchParams(calls[0]?.body))).toEqual({
        mode: 'payment',
        'line_items[0][quantity]': '1',
        'line_items[0][price_data][currency]': 'zar',
        'line_items[0][price_data][unit_amount]': String(bill.amountMinor),
        'line_items[0][price_data][product_data][name]': `Invoice ${bill.invoiceNumber}`,
        client_reference_id: bill.reference,
        'metadata[reference]': bill.reference,
        'metadata[invoiceId]': bill.invoiceId,
        'metadata[invoiceNumber]': bill.invoiceNumber,
        customer_email: bill.email,
        success_url: returnUrl,
        cancel_url: `${returnUrl}&cancelled=1`,
      });
      expect(paymentUrl).toBe(sessions.get(bill.reference)?.['url']);
    },
    paid: (bill) => signed(eventBody(bill, 'checkout.session.completed', 'paid')),
    failed: (bill) => signed(eventBody(bill, 'checkout.session.async_payment_failed', 'unpaid')),
    forgeries(bill) {
      const genuine = signed(eventBody(bill, 'checkout.session.completed', 'paid'));
      const parsed = JSON.parse(genuine.body) as { data: { object: Record<string, unknown> } };
      parsed.data.object['amount_total'] = 100;
      return {
        tampered: { headers: genuine.headers, body: JSON.stringify(parsed) },
        wrongSecret: signed(eventBody(bill, 'checkout.session.completed', 'paid'), 'whsec_someone_elses_endpoint_secret'),
        missingSignature: { headers: { 'content-type': 'application/json; charset=utf-8' }, body: eventBody(bill, 'checkout.session.completed', 'paid') },
      };
    },
    // Stripe events are checked on their signature alone.
    confirmations: () => 0,
  };
}

// ---- Tollgate's side ----------------------------------------------------------------------------

interface InvoiceJson {
  id: string;
  number: string;
  status: string;
  kind: string;
  total: number;
  amountPaid: number;
  currency: string;
  paidAt: string | null;
}

interface Customer {
  token: string;
  userId: string;
  billingEmail: string;
  auth: { authorization: string };
  invoice: InvoiceJson;
  totalMinor: number;
  subscriptionId: string;
}

function tollgate(get: () => TestApp) {
  const t = get;

  /** A customer with a ZA billing profile, subscribed to a paid plan: one open invoice, no live keys yet. */
  async function customerWithInvoice(): Promise<Customer> {
    const user = await t().signup();
    const auth = { authorization: `Bearer ${user.token}` };
    const billingEmail = `accounts-${user.email}`;
    const profile = await t().inject({ method: 'PUT', url: `${BILLING}/profile`, headers: auth, payload: { name: 'Thandi Nkosi', company: 'Nkosi Data (Pty) Ltd', country: 'ZA', email: billingEmail, addressLines: ['12 Long Street', 'Cape Town'] } });
    expect(profile.statusCode, profile.body).toBe(200);
    expect(profile.json()).toMatchObject({ country: 'ZA', vatRate: 0.15 });

    const subscribed = await t().inject({ method: 'POST', url: '/api/v1/api-marketplace/subscriptions', headers: auth, payload: { planId: PLAN } });
    expect(subscribed.statusCode, subscribed.body).toBe(201);
    expect(subscribed.json()).toMatchObject({ planCode: PLAN, status: 'pending_payment' });

    const list = await t().inject({ method: 'GET', url: `${BILLING}/invoices`, headers: auth });
    expect(list.statusCode, list.body).toBe(200);
    const invoices = (list.json() as { invoices: InvoiceJson[] }).invoices;
    expect(invoices).toHaveLength(1);
    const invoice = invoices[0] as InvoiceJson;
    expect(invoice).toMatchObject({ status: 'open', kind: 'subscription', currency: 'ZAR', amountPaid: 0, paidAt: null });
    expect(invoice.number).toMatch(/^INV-\d{4}-\d+$/);
    const stored = await t().deps.repos.billing.find(invoice.id);
    const totalMinor = stored?.totalMinor as number;
    expect(totalMinor).toBeGreaterThan(0);
    expect(invoice.total).toBe(totalMinor / 100);

    const key = await t().inject({ method: 'POST', url: '/api/v1/api-marketplace/keys', headers: auth, payload: { planId: PLAN } });
    expect(key.statusCode, key.body).toBe(402);
    expect(key.json().error.code).toBe('payment_required');
    return { ...user, auth, billingEmail, invoice, totalMinor, subscriptionId: (subscribed.json() as { id: string }).id };
  }

  const pay = (c: Customer, gateway: string, token = c.token) =>
    t().inject({ method: 'POST', url: `${BILLING}/invoices/${c.invoice.id}/pay`, headers: { authorization: `Bearer ${token}` }, payload: { gateway } });

  async function startPayment(c: Customer, gateway: string): Promise<{ paymentUrl: string; bill: Bill }> {
    const res = await pay(c, gateway);
    expect(res.statusCode, res.body).toBe(200);
    const session = res.json() as { paymentUrl: string; reference: string };
    expect(session).toEqual({ paymentUrl: expect.any(String), reference: expect.any(String) });
    return {
      paymentUrl: session.paymentUrl,
      bill: { reference: session.reference, invoiceId: c.invoice.id, invoiceNumber: c.invoice.number, amountMinor: c.totalMinor, email: c.billingEmail },
    };
  }

  const callback = (gateway: string, n: Notification, remoteAddress?: string) =>
    t().inject({ method: 'POST', url: `${BILLING}/callbacks/${gateway}`, headers: n.headers, payload: n.body, ...(remoteAddress ? { remoteAddress } : {}) });

  async function invoiceOf(c: Customer): Promise<InvoiceJson> {
    const res = await t().inject({ method: 'GET', url: `${BILLING}/invoices/${c.invoice.id}`, headers: c.auth });
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as InvoiceJson;
  }

  async function subscriptionStatus(c: Customer): Promise<string | undefined> {
    const res = await t().inject({ method: 'GET', url: '/api/v1/api-marketplace/subscriptions', headers: c.auth });
    expect(res.statusCode, res.body).toBe(200);
    return (res.json() as { id: string; status: string }[]).find((s) => s.id === c.subscriptionId)?.status;
  }

  const createKey = (c: Customer) => t().inject({ method: 'POST', url: '/api/v1/api-marketplace/keys', headers: c.auth, payload: { planId: PLAN } });

  async function count(query: ReturnType<typeof sql>): Promise<number> {
    const [row] = await queryRows<{ n: number | string }>(t().deps.database.db, query);
    return Number(row?.n ?? 0);
  }
  const outbox = (type: string, invoiceId: string) => count(sql`select count(*) as n from webhook_events where type = ${type} and payload->>'invoiceId' = ${invoiceId}`);
  const paymentsOf = async (c: Customer) => (await t().deps.repos.billing.paymentsOf(c.invoice.id)).map((p) => ({ reference: p.reference, status: p.status, amountMinor: p.amountMinor }));
  const paymentEventsOf = (reference: string) =>
    count(sql`select count(*) as n from payment_events e join payments p on p.id = e.payment_id where p.reference = ${reference}`);

  /** Paid once: the invoice in full, the subscription active, live keys issued. */
  async function expectPaid(c: Customer) {
    const invoice = await invoiceOf(c);
    expect(invoice).toMatchObject({ status: 'paid', total: c.totalMinor / 100, amountPaid: c.totalMinor / 100 });
    expect(invoice.paidAt).not.toBeNull();
    expect(await subscriptionStatus(c)).toBe('active');
    return invoice;
  }

  /** Nothing happened: the invoice open and unpaid, the subscription waiting, no live keys. */
  async function expectUnpaid(c: Customer, status: 'open' | 'failed' = 'open') {
    expect(await invoiceOf(c)).toMatchObject({ status, amountPaid: 0, paidAt: null });
    expect(await subscriptionStatus(c)).toBe('pending_payment');
    expect((await createKey(c)).statusCode).toBe(402);
    expect(await outbox('invoice.paid', c.invoice.id)).toBe(0);
  }

  return { customerWithInvoice, pay, startPayment, callback, invoiceOf, subscriptionStatus, createKey, outbox, paymentsOf, paymentEventsOf, expectPaid, expectUnpaid };
}

const refused = (reason: string) => ({
  error: { code: 'invalid_request', message: expect.stringMatching(/^Callback refused: /), details: { reason } },
  request_id: expect.any(String),
});

// ---- the four providers -------------------------------------------------------------------------

interface ContractOptions<P> {
  /** false for a provider that never notifies a failure (Paystack). */
  reportsFailures?: boolean;
  /** The provider's own further tests. */
  extras?: (ctx: () => { t: TestApp; p: P; api: ReturnType<typeof tollgate> }) => void;
}

function providerContract<P extends Provider>(start: () => Promise<P>, { reportsFailures = true, extras }: ContractOptions<P> = {}) {
  let t: TestApp;
  let p: P;
  const api = tollgate(() => t);

  beforeAll(async () => {
    p = await start();
    t = await createTestApp({ env: { PUBLIC_URL, ...p.env } });
  });
  afterAll(async () => {
    await t?.close();
    await p?.standIn.close();
  });

  it('asks the provider for the exact amount, and a signed callback pays the invoice once', async () => {
    const c = await api.customerWithInvoice();
    const { paymentUrl, bill } = await api.startPayment(c, p.gateway);
    await p.expectAsked(bill, paymentUrl);
    expect(await api.paymentsOf(c)).toEqual([{ reference: bill.reference, status: 'pending', amountMinor: c.totalMinor }]);

    const notification = p.paid(bill);
    const res = await api.callback(p.gateway, notification);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ received: true });
    const paid = await api.expectPaid(c);
    expect((await api.createKey(c)).statusCode).toBe(201);

    // The provider delivers the same notification again: nothing changes twice.
    const confirmationsBefore = p.confirmations();
    const again = await api.callback(p.gateway, notification);
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json()).toEqual({ received: true });
    expect(await api.expectPaid(c)).toEqual(paid);
    expect(p.confirmations()).toBeLessThanOrEqual(confirmationsBefore + 1);
    expect(await api.paymentsOf(c)).toEqual([{ reference: bill.reference, status: 'succeeded', amountMinor: c.totalMinor }]);
    expect(await api.paymentEventsOf(bill.reference)).toBe(1);
    expect(await api.outbox('invoice.paid', c.invoice.id)).toBe(1);
    const invoices = await t.inject({ method: 'GET', url: `${BILLING}/invoices`, headers: c.auth });
    expect((invoices.json() as { invoices: InvoiceJson[] }).invoices.map((i) => [i.id, i.status])).toEqual([[c.invoice.id, 'paid']]);
  });

  it('refuses a tampered body, a wrong secret and a missing signature with 400, changing nothing', async () => {
    const c = await api.customerWithInvoice();
    const { bill } = await api.startPayment(c, p.gateway);
    const confirmationsBefore = p.confirmations();

    for (const [name, forged] of Object.entries(p.forgeries(bill))) {
      const res = await api.callback(p.gateway, forged);
      expect(res.statusCode, `${name}: ${res.body}`).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.json(), name).toEqual(refused('bad_signature'));
    }
    // A forgery never makes us ask the provider.
    expect(p.confirmations()).toBe(confirmationsBefore);
    await api.expectUnpaid(c);
    expect(await api.paymentsOf(c)).toEqual([{ reference: bill.reference, status: 'pending', amountMinor: c.totalMinor }]);
    expect(await api.paymentEventsOf(bill.reference)).toBe(0);

    // The genuine notification still counts.
    const res = await api.callback(p.gateway, p.paid(bill));
    expect(res.statusCode, res.body).toBe(200);
    await api.expectPaid(c);
  });

  if (reportsFailures) it('marks the invoice failed on a reported failure, and it can then be paid again', async () => {
    if (!p.failed) throw new Error(`${p.gateway} has no failure notification`);
    const c = await api.customerWithInvoice();
    const first = await api.startPayment(c, p.gateway);

    const res = await api.callback(p.gateway, p.failed(first.bill));
    expect(res.statusCode, res.body).toBe(200);
    await api.expectUnpaid(c, 'failed');
    expect(await api.outbox('invoice.failed', c.invoice.id)).toBe(1);
    expect(await api.paymentsOf(c)).toEqual([{ reference: first.bill.reference, status: 'failed', amountMinor: c.totalMinor }]);

    const second = await api.startPayment(c, p.gateway);
    expect(second.bill.reference).not.toBe(first.bill.reference);
    await p.expectAsked(second.bill, second.paymentUrl);
    const paid = await api.callback(p.gateway, p.paid(second.bill));
    expect(paid.statusCode, paid.body).toBe(200);
    await api.expectPaid(c);
    expect((await api.createKey(c)).statusCode).toBe(201);
    expect((await api.paymentsOf(c)).map((x) => x.status)).toEqual(['failed', 'succeeded']);
    expect(await api.outbox('invoice.paid', c.invoice.id)).toBe(1);
  });

  extras?.(() => ({ t, p, api }));
}

describe('paying with Paystack', () => {
  providerContract(paystack, {
    reportsFailures: false,
    extras: (ctx) => {
      it("trusts Paystack's verify answer: a charge verified for another amount is recorded as failed, never as paid", async () => {
        const { p, api } = ctx();
        const c = await api.customerWithInvoice();
        const { bill } = await api.startPayment(c, 'paystack');
        // The webhook claims the full amount; verify (the authority) says one rand less was paid.
        const notification = p.paid(bill);
        p.setVerifiedAmount(bill.reference, c.totalMinor - 100);
        const res = await api.callback('paystack', notification);
        expect(res.statusCode, res.body).toBe(200);
        await api.expectUnpaid(c, 'failed');
        const [payment] = await ctx().t.deps.repos.billing.paymentsOf(c.invoice.id);
        expect(payment?.status).toBe('failed');
        expect(payment?.failureReason).toBe(`paid ${c.totalMinor - 100} ZAR, expected ${c.totalMinor} ZAR`);
      });
    },
  });
});

describe('paying with PayFast', () => {
  providerContract(payfast, {
    extras: (ctx) => {
      it('refuses an ITN from an address outside PAYFAST_VALID_IPS without asking PayFast', async () => {
        const { p, api } = ctx();
        const c = await api.customerWithInvoice();
        const { bill } = await api.startPayment(c, 'payfast');
        const before = p.confirmations();
        const res = await api.callback('payfast', p.paid(bill), '203.0.113.9');
        expect(res.statusCode, res.body).toBe(400);
        expect(res.json()).toEqual(refused('untrusted_source'));
        expect(p.confirmations()).toBe(before);
        await api.expectUnpaid(c);
      });
    },
  });
});

describe('paying with Ozow', () => {
  providerContract(ozow);
});

describe('paying with Stripe', () => {
  providerContract(stripe);
});

// ---- the test gateway ---------------------------------------------------------------------------

describe('paying with the test gateway', () => {
  let t: TestApp;
  const api = tollgate(() => t);

  beforeAll(async () => {
    // No provider credentials: only the test gateway (on outside production) is enabled.
    t = await createTestApp({ env: { PUBLIC_URL } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('serves a checkout page; a decline fails the invoice, a new attempt pays it', async () => {
    const c = await api.customerWithInvoice();
    const first = await api.startPayment(c, 'test');
    expect(first.paymentUrl).toBe(`${PUBLIC_URL}/billing/test-checkout/${first.bill.reference}`);
    const path = new URL(first.paymentUrl).pathname;

    const page = await t.inject({ method: 'GET', url: path });
    expect(page.statusCode, page.body).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain(c.invoice.number);
    expect(page.body).toContain(formatMinorAmount(c.totalMinor, 'ZAR'));
    expect(page.body).toContain(major(c.totalMinor));
    expect(page.body).toContain(first.bill.reference);

    const declined = await t.inject({ method: 'POST', url: path, payload: { outcome: 'failure' } });
    expect(declined.statusCode, declined.body).toBe(200);
    expect(declined.json()).toEqual({ reference: first.bill.reference, paymentStatus: 'failed', invoiceStatus: 'failed' });
    await api.expectUnpaid(c, 'failed');
    expect(await api.outbox('invoice.failed', c.invoice.id)).toBe(1);

    const second = await api.startPayment(c, 'test');
    expect(second.bill.reference).not.toBe(first.bill.reference);
    const secondPath = `/billing/test-checkout/${second.bill.reference}`;
    expect(second.paymentUrl).toBe(`${PUBLIC_URL}${secondPath}`);
    const paid = await t.inject({ method: 'POST', url: secondPath, payload: { outcome: 'success' } });
    expect(paid.statusCode, paid.body).toBe(200);
    expect(paid.json()).toEqual({ reference: second.bill.reference, paymentStatus: 'succeeded', invoiceStatus: 'paid' });
    const invoice = await api.expectPaid(c);
    expect((await api.createKey(c)).statusCode).toBe(201);

    // Pressing the button again changes nothing.
    const again = await t.inject({ method: 'POST', url: secondPath, payload: { outcome: 'success' } });
    expect(again.statusCode, again.body).toBe(200);
    expect(await api.expectPaid(c)).toEqual(invoice);
    expect(await api.outbox('invoice.paid', c.invoice.id)).toBe(1);
    expect((await api.paymentsOf(c)).map((x) => x.status)).toEqual(['failed', 'succeeded']);
  });

  it('refuses a gateway that is not configured, naming the enabled ones', async () => {
    const c = await api.customerWithInvoice();
    for (const gateway of ['paystack', 'payfast', 'ozow', 'stripe']) {
      const res = await api.pay(c, gateway);
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json()).toEqual({
        error: { code: 'invalid_request', message: `The ${gateway} gateway is not enabled on this server`, details: { gateway, enabled: ['test'] } },
        request_id: expect.any(String),
      });
    }
    const unknown = await api.pay(c, 'bitcoin');
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error.code).toBe('invalid_request');
    expect(await api.paymentsOf(c)).toEqual([]);
    await api.expectUnpaid(c);
  });

  it('refuses to pay a paid invoice (409) and hides my invoice from another customer (404)', async () => {
    const c = await api.customerWithInvoice();
    const stranger = await t.signup();
    const theirs = await api.pay(c, 'test', stranger.token);
    expect(theirs.statusCode, theirs.body).toBe(404);
    expect(theirs.json()).toEqual({ error: { code: 'resource_not_found', message: expect.any(String) }, request_id: expect.any(String) });

    const { bill } = await api.startPayment(c, 'test');
    expect((await t.inject({ method: 'POST', url: `/billing/test-checkout/${bill.reference}`, payload: { outcome: 'success' } })).statusCode).toBe(200);
    await api.expectPaid(c);

    const twice = await api.pay(c, 'test');
    expect(twice.statusCode, twice.body).toBe(409);
    expect(twice.json()).toEqual({ error: { code: 'conflict', message: expect.stringContaining('is paid'), details: { status: 'paid' } }, request_id: expect.any(String) });
    expect((await api.pay(c, 'test', stranger.token)).statusCode).toBe(404);
    expect(await api.paymentsOf(c)).toHaveLength(1);
  });

  it('answers 404 to callbacks for a gateway that is not configured, and to unknown test references', async () => {
    const res = await t.inject({ method: 'POST', url: `${BILLING}/callbacks/paystack`, headers: { 'content-type': 'application/json' }, payload: '{"event":"charge.success","data":{"reference":"x"}}' });
    expect(res.statusCode, res.body).toBe(404);
    expect(res.json().error.code).toBe('resource_not_found');
    expect((await t.inject({ method: 'GET', url: '/billing/test-checkout/pay_does_not_exist' })).statusCode).toBe(404);
    expect((await t.inject({ method: 'POST', url: '/billing/test-checkout/pay_does_not_exist', payload: { outcome: 'success' } })).statusCode).toBe(404);
  });
});
