import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDunning, sendInvoiceEmails } from '@tollgate/jobs';
import { ManualClock, SmtpMailer } from '@tollgate/runtime';
import { pdfText, startSmtpServer } from '@tollgate/runtime/testing';
import { postgresAvailable, testUsageRecord } from '@tollgate/store/testing';
import { createTestApp, type TestApp } from '../testing/harness.ts';

/*
 * The billing flow through the HTTP API, on a clock moved by hand: the first invoice and its
 * payment, the monthly cycle (the blueprint's worked example), plan changes, dunning to
 * suspension and back, PDFs and emails. Everything is real: store, gateway, PDF, SMTP.
 */

const available = await postgresAvailable();
const silent = { info: () => undefined, error: () => undefined };
const at = (iso: string) => Date.parse(iso);
const ENV = { SESSION_TTL_HOURS: '8760', PUBLIC_URL: 'https://billing.example', SEED_DEMO: 'false' };
const SMTP_USER = 'tollgate';
const SMTP_PASSWORD = 'smtp-secret';

interface InvoiceBody {
  id: string;
  number: string;
  kind: string;
  status: string;
  currency: string;
  lineItems: { description: string; quantity: number; unitPrice: number; amount: number; currency: string }[];
  subtotal: number;
  vatRate: number;
  vatAmount: number;
  total: number;
  amountDue: number;
  amountPaid: number;
  billingPeriodStart: string;
  billingPeriodEnd: string;
  dueAt: string | null;
  paidAt: string | null;
  invoicePdfUrl: string;
}

describe('billing on PGlite', () => {
  const clock = new ManualClock(at('2026-01-16T10:00:00Z'));
  let t: TestApp;
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let mailer: SmtpMailer;
  const auth = (token: string) => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    t = await createTestApp({ clock, env: ENV });
    smtp = await startSmtpServer({ user: SMTP_USER, password: SMTP_PASSWORD });
    mailer = new SmtpMailer({ url: smtp.url(SMTP_USER, SMTP_PASSWORD), from: 'Tollgate Billing <billing@tollgate.example>' });
  });
  afterAll(async () => {
    await mailer?.close();
    await smtp?.close();
    await t?.close();
  });

  // Dunning reads overdue invoices two at a time here, so its paging is exercised.
  const jobDeps = () => ({
    repos: t.deps.repos,
    bus: t.deps.bus,
    clock,
    log: silent,
    mailer,
    settings: t.config.billing,
    publicUrl: t.config.publicUrl,
    secretBox: t.deps.secretBox,
    gateways: t.deps.gateways,
  });
  const invoices = async (token: string) => {
    const res = await t.inject({ method: 'GET', url: '/api/v1/api-marketplace/billing/invoices', headers: auth(token) });
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as { invoices: InvoiceBody[]; pagination: { total: number } };
  };
  const invoice = async (token: string, id: string) => (await t.inject({ method: 'GET', url: `/api/v1/api-marketplace/billing/invoices/${id}`, headers: auth(token) })).json() as InvoiceBody;
  const subscriptions = async (token: string) =>
    (await t.inject({ method: 'GET', url: '/api/v1/api-marketplace/subscriptions', headers: auth(token) })).json() as { id: string; planCode: string; status: string; scheduledPlanId: string | null; cancelAtPeriodEnd: boolean }[];
  const subscribe = (token: string, planId: string) => t.inject({ method: 'POST', url: '/api/v1/api-marketplace/subscriptions', headers: auth(token), payload: { planId } });
  const profile = (token: string, body: Record<string, unknown>) => t.inject({ method: 'PUT', url: '/api/v1/api-marketplace/billing/profile', headers: auth(token), payload: body });
  async function payWithTestGateway(token: string, invoiceId: string, outcome: 'success' | 'failure', saveCard?: 'approve' | 'decline') {
    const pay = await t.inject({ method: 'POST', url: `/api/v1/api-marketplace/billing/invoices/${invoiceId}/pay`, headers: auth(token), payload: { gateway: 'test' } });
    expect(pay.statusCode, pay.body).toBe(200);
    const { paymentUrl, reference } = pay.json() as { paymentUrl: string; reference: string };
    const path = new URL(paymentUrl).pathname;
    const done = await t.inject({ method: 'POST', url: path, payload: { outcome, ...(saveCard ? { saveCard } : {}) } });
    expect(done.statusCode, done.body).toBe(200);
    return { paymentUrl, reference, path, result: done.json() as { paymentStatus: string; invoiceStatus: string } };
  }
  const eventCount = async (type: string, invoiceId: string) => {
    const { rows } = await t.deps.database.executeSql(`select count(*)::int as n from webhook_events where type = $1 and payload->>'invoiceId' = $2`, [type, invoiceId]);
    return (rows[0] as { n: number }).n;
  };
  const callData = (key: string) => t.inject({ method: 'GET', url: '/smi/v1/score?symbol=V:GLB:POL:TRMPTAX', headers: { 'x-api-key': key } });

  // Customers shared by the scenarios below, which run in order as the clock moves.
  let acme: { token: string; email: string; key?: string };
  let dev: { token: string; email: string };
  let enterprise: { token: string; email: string; keyId?: string };
  let downgrader: { token: string; email: string };
  let leaver: { token: string; email: string };

  it('keeps a billing profile whose country decides the VAT rate; bad input is refused in the one error shape', async () => {
    const user = await t.signup();
    acme = { token: user.token, email: user.email };
    expect((await t.inject({ method: 'GET', url: '/api/v1/api-marketplace/billing/profile', headers: auth(acme.token) })).statusCode).toBe(404);
    const bad = await profile(acme.token, { name: 'Acme', country: 'South Africa', email: 'accounts@acme.example' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('invalid_request');
    const saved = await profile(acme.token, {
      name: 'Thandi Mokoena',
      company: 'Acme Analytics (Pty) Ltd',
      vatNumber: '4123456789',
      country: 'za',
      email: 'accounts@acme.example',
      addressLines: ['1 Loop Street', 'Cape Town 8001'],
    });
    expect(saved.statusCode, saved.body).toBe(200);
    expect(saved.json()).toMatchObject({ country: 'ZA', vatRate: 0.15, company: 'Acme Analytics (Pty) Ltd' });
    const read = await t.inject({ method: 'GET', url: '/api/v1/api-marketplace/billing/profile', headers: auth(acme.token) });
    expect(read.json()).toMatchObject({ name: 'Thandi Mokoena', vatNumber: '4123456789', vatRate: 0.15 });
  });

  it('subscribing to a paid plan issues the prorated first invoice; the subscription starts when it is paid', async () => {
    const created = await subscribe(acme.token, 'smi-starter');
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json().status).toBe('pending_payment');

    const { invoices: list, pagination } = await invoices(acme.token);
    expect(pagination.total).toBe(1);
    const first = list[0] as InvoiceBody;
    // 16 January: 16 of 31 days of R890 = R459.35; VAT 15 % = R68.90 (68.9025 rounded half-up).
    expect(first).toMatchObject({ kind: 'subscription', status: 'open', currency: 'ZAR', subtotal: 459.35, vatRate: 0.15, vatAmount: 68.9, total: 528.25, amountDue: 528.25, amountPaid: 0 });
    expect(first.number).toMatch(/^INV-2026-\d{6}$/);
    expect(first.lineItems).toEqual([{ description: expect.stringContaining('Starter Plan - Social Mood Index API'), quantity: 1, unitPrice: 459.35, amount: 459.35, currency: 'ZAR' }]);
    expect(first.invoicePdfUrl).toBe(`https://billing.example/api/v1/api-marketplace/billing/invoices/${first.id}/pdf`);
    expect(await eventCount('invoice.created', first.id)).toBe(1);

    const refused = await t.inject({ method: 'POST', url: '/api/v1/api-marketplace/keys', headers: auth(acme.token), payload: { planId: 'smi-starter' } });
    expect(refused.statusCode).toBe(402);
    expect(refused.json().error.code).toBe('payment_required');

    // The test gateway's checkout page, then its outcome as a provider's callback would report it.
    const pay = await t.inject({ method: 'POST', url: `/api/v1/api-marketplace/billing/invoices/${first.id}/pay`, headers: auth(acme.token), payload: { gateway: 'test' } });
    const { paymentUrl, reference } = pay.json() as { paymentUrl: string; reference: string };
    expect(paymentUrl).toBe(`https://billing.example/billing/test-checkout/${reference}`);
    const page = await t.inject({ method: 'GET', url: new URL(paymentUrl).pathname });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.body).toContain(first.number);
    expect(page.body).toContain('R528.25');
    const done = await t.inject({ method: 'POST', url: new URL(paymentUrl).pathname, payload: { outcome: 'success' } });
    expect(done.json()).toEqual({ reference, paymentStatus: 'succeeded', invoiceStatus: 'paid' });
    // A callback delivered twice changes nothing twice.
    await t.inject({ method: 'POST', url: new URL(paymentUrl).pathname, payload: { outcome: 'success' } });

    const paid = await invoice(acme.token, first.id);
    expect(paid).toMatchObject({ status: 'paid', amountPaid: 528.25, paidAt: '2026-01-16T10:00:00.000Z' });
    expect(await eventCount('invoice.paid', first.id)).toBe(1);
    expect((await subscriptions(acme.token))[0]?.status).toBe('active');
    acme.key = (await t.createKey(acme.token, { planId: 'smi-starter' })).key;
    expect((await callData(acme.key)).statusCode).toBe(200);

    // Paying a paid invoice is a conflict; someone else's invoice does not exist for them.
    const again = await t.inject({ method: 'POST', url: `/api/v1/api-marketplace/billing/invoices/${first.id}/pay`, headers: auth(acme.token), payload: { gateway: 'test' } });
    expect(again.statusCode).toBe(409);
    const stranger = await t.signup();
    expect((await t.inject({ method: 'GET', url: `/api/v1/api-marketplace/billing/invoices/${first.id}`, headers: auth(stranger.token) })).statusCode).toBe(404);
    expect((await t.inject({ method: 'POST', url: `/api/v1/api-marketplace/billing/invoices/${first.id}/pay`, headers: auth(stranger.token), payload: { gateway: 'test' } })).statusCode).toBe(404);
  });

  it('a declined payment fails the invoice and emits invoice.failed; it can be paid again; no profile means no VAT', async () => {
    const user = await t.signup();
    dev = { token: user.token, email: user.email };
    expect((await subscribe(dev.token, 'cm-developer')).statusCode).toBe(201);
    const first = (await invoices(dev.token)).invoices[0] as InvoiceBody;
    // $49 × 16/31 = $25.29 (2529.03 cents), no VAT without a billing country.
    expect(first).toMatchObject({ currency: 'USD', subtotal: 25.29, vatRate: 0, vatAmount: 0, total: 25.29 });

    const declined = await payWithTestGateway(dev.token, first.id, 'failure');
    expect(declined.result).toMatchObject({ paymentStatus: 'failed', invoiceStatus: 'failed' });
    expect(await eventCount('invoice.failed', first.id)).toBe(1);
    expect((await subscriptions(dev.token))[0]?.status).toBe('pending_payment');

    // Two attempts open at once: one pays; the other's later decline changes nothing.
    const stale = await t.inject({ method: 'POST', url: `/api/v1/api-marketplace/billing/invoices/${first.id}/pay`, headers: auth(dev.token), payload: { gateway: 'test' } });
    const retried = await payWithTestGateway(dev.token, first.id, 'success');
    expect(retried.result).toMatchObject({ paymentStatus: 'succeeded', invoiceStatus: 'paid' });
    expect((await subscriptions(dev.token))[0]?.status).toBe('active');
    const late = await t.inject({ method: 'POST', url: new URL(stale.json().paymentUrl).pathname, payload: { outcome: 'failure' } });
    expect(late.json()).toMatchObject({ paymentStatus: 'failed', invoiceStatus: 'paid' });
    // A failure reported after the payment succeeded (a reversal) leaves the payment and invoice as they are.
    const reversal = await t.inject({ method: 'POST', url: retried.path, payload: { outcome: 'failure' } });
    expect(reversal.json()).toMatchObject({ paymentStatus: 'succeeded', invoiceStatus: 'paid' });
    expect(await eventCount('invoice.failed', first.id)).toBe(1);
  });

  it("an admin sets a customer's custom price and limits: a private plan, granted at once", async () => {
    const user = await t.signup();
    enterprise = { token: user.token, email: user.email };
    await profile(enterprise.token, { name: 'Broker One', company: 'Broker One (Pty) Ltd', vatNumber: '4987654321', country: 'ZA', email: 'finance@broker.example' });
    const admin = await t.adminToken();
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/admin/billing/custom-plans',
      headers: auth(admin),
      payload: { email: enterprise.email, basePlanCode: 'smi-enterprise', monthlyFee: 890, perCallFee: 0.5, rateLimit: 100, burstLimit: 150, monthlyQuota: 10_000 },
    });
    expect(res.statusCode, res.body).toBe(201);
    const { plan, subscription } = res.json() as { plan: { code: string; monthlyFee: number; perCallFee: number; quota: number }; subscription: { status: string } };
    expect(plan).toMatchObject({ monthlyFee: 890, perCallFee: 0.5, quota: 10_000 });
    expect(subscription.status).toBe('active');
    // Private: not in the public catalog, not open to anyone else.
    const catalog = await t.inject({ method: 'GET', url: '/api/v1/api-marketplace/plans' });
    expect((catalog.json() as { code: string }[]).some((p) => p.code === plan.code)).toBe(false);
    expect((await subscribe(acme.token, plan.code)).statusCode).toBe(404);
    const tooPrecise = await t.inject({ method: 'POST', url: '/api/v1/admin/billing/custom-plans', headers: auth(admin), payload: { email: enterprise.email, basePlanCode: 'smi-enterprise', monthlyFee: 890.005, rateLimit: 100, burstLimit: 150 } });
    expect(tooPrecise.statusCode).toBe(400);
    expect((await t.inject({ method: 'POST', url: '/api/v1/admin/billing/custom-plans', headers: auth(admin), payload: { email: enterprise.email, basePlanCode: 'smi-starter', monthlyFee: 1, rateLimit: 1, burstLimit: 1 } })).statusCode).toBe(400);

    const key = await t.createKey(enterprise.token, { planId: plan.code });
    enterprise.keyId = key.id;
    // January's calls as the gateway counted them: 15,000 admitted, 5,000 of them past the quota.
    // The last 10 are in the call log only, as a gateway holding their counters (up to a minute) left them.
    await t.deps.database.executeSql(`insert into usage_counters (api_key_id, period, count, overage) values ($1, 'month:2026-01', 14990, 4990)`, [key.id]);
    const lastSeconds = Array.from({ length: 10 }, (_, i) => testUsageRecord({ apiKeyId: key.id, createdAt: new Date(Date.UTC(2026, 0, 31, 23, 59, 50 + i)), overage: true }));
    await t.deps.repos.usage.writeBatch(lastSeconds, undefined, { deferRollups: true });
  });

  it('downgrades wait for the period end; cancellations end it', async () => {
    const a = await t.signup();
    downgrader = { token: a.token, email: a.email };
    await t.grant(downgrader.email, 'smi-pro');
    const sub = (await subscriptions(downgrader.token))[0] as { id: string };
    const down = await t.inject({ method: 'POST', url: `/api/v1/api-marketplace/subscriptions/${sub.id}/change-plan`, headers: auth(downgrader.token), payload: { planId: 'smi-starter' } });
    expect(down.statusCode, down.body).toBe(200);
    expect(down.json()).toMatchObject({ change: 'downgrade', invoiceId: null, subscription: { planCode: 'smi-pro', scheduledPlanId: expect.any(String) } });
    const other = await t.inject({ method: 'POST', url: `/api/v1/api-marketplace/subscriptions/${sub.id}/change-plan`, headers: auth(downgrader.token), payload: { planId: 'cm-developer' } });
    expect(other.statusCode).toBe(400);

    const b = await t.signup();
    leaver = { token: b.token, email: b.email };
    await t.grant(leaver.email, 'viralscore-starter');
    const leaving = (await subscriptions(leaver.token))[0] as { id: string };
    const cancel = await t.inject({ method: 'POST', url: `/api/v1/api-marketplace/subscriptions/${leaving.id}/cancel`, headers: auth(leaver.token) });
    expect(cancel.json()).toMatchObject({ status: 'active', cancelAtPeriodEnd: true });
  });

  let cycleInvoice: InvoiceBody;

  it("the monthly cycle bills the coming month's fees and last month's overage: the blueprint's R3,898.50", async () => {
    clock.set(at('2026-02-01T00:00:05Z'));
    const admin = await t.adminToken();
    const run = await t.inject({ method: 'POST', url: '/api/v1/admin/billing/run', headers: auth(admin), payload: { asOf: '2026-02-01T00:00:00Z' } });
    expect(run.statusCode, run.body).toBe(200);
    expect(run.json(), run.body).toMatchObject({ period: '2026-02', status: 'completed', invoicesIssued: 4 });

    const mine = (await invoices(enterprise.token)).invoices;
    expect(mine).toHaveLength(1);
    cycleInvoice = mine[0] as InvoiceBody;
    expect(cycleInvoice).toMatchObject({
      kind: 'cycle',
      status: 'open',
      currency: 'ZAR',
      billingPeriodStart: '2026-02-01T00:00:00.000Z',
      billingPeriodEnd: '2026-02-28T23:59:59Z',
      subtotal: 3390,
      vatRate: 0.15,
      vatAmount: 508.5,
      total: 3898.5,
      dueAt: '2026-02-08T00:00:05.000Z',
    });
    expect(cycleInvoice.lineItems).toEqual([
      { description: 'Enterprise Plan - Social Mood Index API', quantity: 1, unitPrice: 890, amount: 890, currency: 'ZAR' },
      { description: 'Overage fees - Social Mood Index API (5,000 calls)', quantity: 5000, unitPrice: 0.5, amount: 2500, currency: 'ZAR' },
    ]);

    // Acme: February's fee with VAT. Dev: $49, no VAT. The downgrade took effect: R890, not R8,990.
    expect((await invoices(acme.token)).invoices[0]).toMatchObject({ kind: 'cycle', total: 1023.5 });
    expect((await invoices(dev.token)).invoices[0]).toMatchObject({ kind: 'cycle', currency: 'USD', total: 49 });
    const downgraded = (await invoices(downgrader.token)).invoices;
    expect(downgraded.map((i) => i.lineItems.map((l) => l.description))).toEqual([['Starter Plan - Social Mood Index API']]);
    expect((await subscriptions(downgrader.token))[0]).toMatchObject({ planCode: 'smi-starter', scheduledPlanId: null });
    // The cancelled subscription ended, with nothing to bill.
    expect((await invoices(leaver.token)).invoices).toHaveLength(0);
    expect((await subscriptions(leaver.token))[0]?.status).toBe('cancelled');

    // Idempotent: a second run creates nothing; numbers have no gaps.
    const again = await t.inject({ method: 'POST', url: '/api/v1/admin/billing/run', headers: auth(admin), payload: { asOf: '2026-02-01T00:00:00Z' } });
    expect(again.json()).toMatchObject({ status: 'completed', invoicesIssued: 4 });
    const { rows } = await t.deps.database.executeSql(`select sequence::int as s, number from invoices where year = 2026 order by sequence`, []);
    const numbered = rows as { s: number; number: string }[];
    expect(numbered.map((r) => r.s)).toEqual(numbered.map((_, i) => i + 1));
    expect(numbered.at(-1)?.number).toBe(`INV-2026-${String(numbered.length).padStart(6, '0')}`);
    // The provider's books: every customer's invoices, filtered by status.
    const books = await t.inject({ method: 'GET', url: '/api/v1/admin/billing/invoices?status=open&limit=100', headers: auth(admin) });
    const open = books.json() as { invoices: InvoiceBody[]; pagination: { total: number } };
    expect(open.invoices.map((i) => i.id)).toEqual(expect.arrayContaining([cycleInvoice.id]));
    expect(open.invoices.every((i) => i.status === 'open')).toBe(true);
    expect(new Set(open.invoices.map((i) => i.currency))).toEqual(new Set(['ZAR', 'USD']));
    expect((await t.inject({ method: 'GET', url: '/api/v1/admin/billing/invoices', headers: auth(acme.token) })).statusCode).toBe(403);
    const runs = await t.inject({ method: 'GET', url: '/api/v1/admin/billing/runs', headers: auth(admin) });
    expect((runs.json() as { period: string }[])[0]?.period).toBe('2026-02');
    expect((await t.inject({ method: 'POST', url: '/api/v1/admin/billing/run', headers: auth(acme.token), payload: {} })).statusCode).toBe(403);
  });

  it('every invoice has a PDF with seller and buyer, VAT number, lines and totals, for its owner or an admin', async () => {
    const pdf = await t.inject({ method: 'GET', url: `/api/v1/api-marketplace/billing/invoices/${cycleInvoice.id}/pdf`, headers: auth(enterprise.token) });
    expect(pdf.statusCode).toBe(200);
    expect(pdf.headers['content-type']).toBe('application/pdf');
    const { text } = await pdfText(pdf.rawPayload);
    for (const expected of [cycleInvoice.number, 'Broker One (Pty) Ltd', '4987654321', 'Overage fees - Social Mood Index API (5,000 calls)', 'R2,500.00', 'R508.50', 'R3,898.50', '2026-02-08']) {
      expect(text).toContain(expected);
    }
    expect((await t.inject({ method: 'GET', url: `/api/v1/api-marketplace/billing/invoices/${cycleInvoice.id}/pdf`, headers: auth(acme.token) })).statusCode).toBe(404);
    expect((await t.inject({ method: 'GET', url: `/api/v1/api-marketplace/billing/invoices/${cycleInvoice.id}/pdf`, headers: auth(await t.adminToken()) })).statusCode).toBe(200);
  });

  it('emails every issued invoice once, with its PDF attached, through SMTP', async () => {
    const before = smtp.received.length;
    const { rows } = await t.deps.database.executeSql(`select count(*)::int as n from invoices where status <> 'draft'`, []);
    const issued = (rows[0] as { n: number }).n;
    const result = await sendInvoiceEmails(jobDeps());
    expect(result).toEqual({ sent: issued, refused: 0 });
    expect(await sendInvoiceEmails(jobDeps())).toEqual({ sent: 0, refused: 0 });
    const mails = await Promise.all(smtp.received.slice(before).map((m) => simpleParser(m.raw)));
    const toBroker = mails.find((m) => m.subject?.includes(cycleInvoice.number));
    expect(toBroker?.to && !Array.isArray(toBroker.to) ? toBroker.to.text : null).toBe('finance@broker.example');
    expect(toBroker?.text).toContain('R3,898.50');
    expect(toBroker?.attachments.map((a) => [a.filename, a.contentType])).toEqual([[`${cycleInvoice.number}.pdf`, 'application/pdf']]);
    expect((await pdfText(toBroker?.attachments[0]?.content as Buffer)).text).toContain('R3,898.50');
  });

  it('an upgrade takes effect at once with the prorated difference invoiced', async () => {
    clock.set(at('2026-02-22T09:00:00Z'));
    const sub = (await subscriptions(downgrader.token))[0] as { id: string };
    const { key } = await t.createKey(downgrader.token, { planId: 'smi-starter' });
    expect((await callData(key)).headers['x-ratelimit-limit']).toBe('100');
    const up = await t.inject({ method: 'POST', url: `/api/v1/api-marketplace/subscriptions/${sub.id}/change-plan`, headers: auth(downgrader.token), payload: { planId: 'smi-pro' } });
    expect(up.statusCode, up.body).toBe(200);
    expect(up.json()).toMatchObject({ change: 'upgrade', subscription: { planCode: 'smi-pro' } });
    // (R8,990 − R890) × 7/28 days = R2,025.00; no profile, no VAT.
    const charge = await invoice(downgrader.token, up.json().invoiceId);
    expect(charge).toMatchObject({ kind: 'upgrade', status: 'open', subtotal: 2025, total: 2025, dueAt: '2026-03-01T09:00:00.000Z' });
    // The key moved to the new plan at once.
    expect((await callData(key)).headers['x-ratelimit-limit']).toBe('5000');
  });

  it('dunning: past due on the due date, reminders on days 3, 7 and 14, then suspension (402) until paid', async () => {
    // Acme's February invoice (R1,023.50) fell due on 8 February; the key still serves while past due.
    const acmeInvoice = (await invoices(acme.token)).invoices.find((i) => i.kind === 'cycle') as InvoiceBody;
    clock.set(at('2026-02-08T01:00:00Z'));
    const reminders = smtp.received.length;
    expect((await runDunning(jobDeps(), { pageSize: 2 })).pastDue).toBeGreaterThanOrEqual(1);
    expect((await subscriptions(acme.token))[0]?.status).toBe('past_due');
    expect((await callData(acme.key as string)).statusCode).toBe(200);
    expect(smtp.received.length).toBe(reminders);

    clock.set(at('2026-02-11T01:00:00Z'));
    await runDunning(jobDeps(), { pageSize: 2 });
    clock.set(at('2026-02-15T01:00:00Z'));
    await runDunning(jobDeps(), { pageSize: 2 });
    const sent = await Promise.all(smtp.received.slice(reminders).map((m) => simpleParser(m.raw)));
    const toAcme = sent.filter((m) => m.subject?.includes(acmeInvoice.number));
    expect(toAcme.map((m) => m.subject)).toEqual([
      expect.stringMatching(/^Reminder: .* is 3 days overdue$/),
      expect.stringMatching(/^Reminder: .* is 7 days overdue$/),
    ]);
    expect((await callData(acme.key as string)).statusCode).toBe(200);

    clock.set(at('2026-02-22T01:00:00Z'));
    const final = await runDunning(jobDeps(), { pageSize: 2 });
    expect(final.suspended).toBeGreaterThanOrEqual(1);
    expect((await subscriptions(acme.token))[0]?.status).toBe('suspended');
    const refused = await callData(acme.key as string);
    expect(refused.statusCode).toBe(402);
    expect(refused.json().error.code).toBe('payment_required');
    // Running again sends nothing more.
    const count = smtp.received.length;
    await runDunning(jobDeps(), { pageSize: 2 });
    expect(smtp.received.length).toBe(count);

    await payWithTestGateway(acme.token, acmeInvoice.id, 'success');
    expect((await subscriptions(acme.token))[0]?.status).toBe('active');
    expect((await callData(acme.key as string)).statusCode).toBe(200);
  });

  it('a first invoice left unpaid 14 days is void and the subscription that never started expires', async () => {
    const user = await t.signup();
    expect((await subscribe(user.token, 'viralscore-starter')).statusCode).toBe(201);
    const first = (await invoices(user.token)).invoices[0] as InvoiceBody;
    clock.set(at('2026-03-08T10:00:00Z'));
    const report = await runDunning(jobDeps(), { pageSize: 2 });
    expect(report.expired).toBe(1);
    expect((await invoice(user.token, first.id)).status).toBe('void');
    expect((await subscriptions(user.token))[0]?.status).toBe('expired');
    expect((await subscribe(user.token, 'viralscore-starter')).json().status).toBe('pending_payment');
  });

  it('dunning charges a saved card at the due date and at each reminder; a decline is retried and told', async () => {
    async function withSavedCard(behaviour: 'approve' | 'decline') {
      const user = await t.signup();
      await subscribe(user.token, 'cm-developer');
      const first = (await invoices(user.token)).invoices[0] as InvoiceBody;
      await payWithTestGateway(user.token, first.id, 'success', behaviour);
      const sub = (await subscriptions(user.token))[0] as { id: string };
      const up = await t.inject({ method: 'POST', url: `/api/v1/api-marketplace/subscriptions/${sub.id}/change-plan`, headers: auth(user.token), payload: { planId: 'cm-professional' } });
      return { ...user, upgradeInvoice: up.json().invoiceId as string };
    }
    const payer = await withSavedCard('approve');
    const decliner = await withSavedCard('decline');
    const methods = await t.inject({ method: 'GET', url: '/api/v1/api-marketplace/billing/payment-methods', headers: auth(payer.token) });
    expect(methods.json().methods).toEqual([{ gateway: 'test', label: 'test card ending 4242', savedAt: expect.any(String) }]);
    // The upgrade invoices ($250 × 24/31) fall due on 15 March.
    expect((await invoice(payer.token, payer.upgradeInvoice)).dueAt).toBe('2026-03-15T10:00:00.000Z');

    const mails = smtp.received.length;
    clock.set(at('2026-03-15T11:00:00Z'));
    const due = await runDunning(jobDeps(), { pageSize: 2 });
    expect(due.charged).toBe(1);
    expect((await invoice(payer.token, payer.upgradeInvoice)).status).toBe('paid');
    expect((await subscriptions(payer.token))[0]?.status).toBe('active');
    expect((await invoice(decliner.token, decliner.upgradeInvoice)).status).toBe('failed');
    expect((await subscriptions(decliner.token))[0]?.status).toBe('past_due');
    // Passes within the same stage charge nothing again.
    await runDunning(jobDeps(), { pageSize: 2 });
    expect(await eventCount('invoice.failed', decliner.upgradeInvoice)).toBe(1);

    clock.set(at('2026-03-18T11:00:00Z'));
    await runDunning(jobDeps(), { pageSize: 2 });
    expect(await eventCount('invoice.failed', decliner.upgradeInvoice)).toBe(2);
    const sent = await Promise.all(smtp.received.slice(mails).map((m) => simpleParser(m.raw)));
    const declinedNumber = (await invoice(decliner.token, decliner.upgradeInvoice)).number;
    const reminder = sent.find((m) => m.subject?.startsWith('Reminder') && m.subject.includes(declinedNumber));
    expect(reminder?.text).toContain('We tried to charge your test card ending 0002 and it was declined.');
    expect(sent.every((m) => !(m.to && !Array.isArray(m.to) && m.to.text === payer.email))).toBe(true);
  });
});

describe.skipIf(!available)('the billing cycle on PostgreSQL', () => {
  const clock = new ManualClock(at('2026-05-20T12:00:00Z'));
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ database: 'postgres', clock, env: ENV });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('two concurrent runs bill every customer exactly once, numbered without gaps', async () => {
    const customers = 40;
    for (let i = 0; i < customers; i++) {
      const user = await t.signup();
      await t.grant(user.email, i % 4 === 0 ? 'cm-developer' : 'smi-starter');
    }
    const asOf = new Date('2026-06-01T00:00:00Z');
    clock.set(asOf.getTime());
    const billing = t.tollgate.services.billing;
    const [a, b] = await Promise.all([billing.runCycle(asOf), billing.runCycle(asOf)]);
    expect(a.status).toBe('completed');
    expect(b.status).toBe('completed');
    const { rows } = await t.deps.database.executeSql(
      `select user_id, count(*)::int as n, min(sequence)::int as s from invoices where kind = 'cycle' group by user_id order by s`,
      [],
    );
    const perCustomer = rows as { n: number; s: number }[];
    expect(perCustomer).toHaveLength(customers);
    expect(perCustomer.every((r) => r.n === 1)).toBe(true);
    expect(perCustomer.map((r) => r.s)).toEqual(perCustomer.map((_, i) => i + 1));
    const again = await billing.runCycle(asOf);
    expect(again.invoicesIssued).toBe(customers);
  });
});
