import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import {
  BillingProfileBodySchema,
  BillingProfileSchema,
  ChangePlanBodySchema,
  InvoiceListQuerySchema,
  InvoiceListSchema,
  InvoiceSchema,
  PayInvoiceBodySchema,
  PaymentSessionSchema,
  SavedPaymentMethodSchema,
  SubscriptionSchema,
  TestCheckoutBodySchema,
} from '@tollgate/contracts';
import type { InvoiceStatus } from '@tollgate/contracts';
import type { User } from '@tollgate/core';
import { formatMinorAmount, TEST_CHECKOUT_PATH } from '@tollgate/runtime';
import type { BillingService } from '../../services/billing.ts';

const testCheckoutPath = (reference: string) => `${TEST_CHECKOUT_PATH}${reference}`;
import { notFound } from '../app-error.ts';
import { currentUser } from '../authenticate.ts';
import { billingProfileView, invoiceView, subscriptionView } from '../views.ts';
import { errorResponses, IdParams, pagination } from './common.ts';
import type { App, RouteContext } from './types.ts';

const BASE = '/api/v1/api-marketplace/billing';

export function billingRoutes(app: App, { services, guards, config }: RouteContext): void {
  const { billing, subscriptions } = services;
  const customer = { onRequest: guards.requireUser };
  const tags = ['billing'];

  app.get(`${BASE}/profile`, {
    ...customer,
    schema: { tags, summary: 'Your billing profile (who invoices are addressed to; the country decides VAT)', response: { 200: BillingProfileSchema, ...errorResponses } },
  }, async (request) => {
    const profile = await billing.profile(currentUser(request).id);
    if (!profile) throw notFound('Billing profile');
    return billingProfileView(profile, billing.vatRateBpsFor(profile.country));
  });

  app.put(`${BASE}/profile`, {
    ...customer,
    schema: { tags, summary: 'Create or replace your billing profile; invoices issued from now on carry it', body: BillingProfileBodySchema, response: { 200: BillingProfileSchema, ...errorResponses } },
  }, async (request) => {
    const profile = await billing.saveProfile(currentUser(request).id, request.body);
    return billingProfileView(profile, billing.vatRateBpsFor(profile.country));
  });

  app.get(`${BASE}/invoices`, {
    ...customer,
    schema: { tags, summary: 'Your invoices, newest first', querystring: InvoiceListQuerySchema, response: { 200: InvoiceListSchema, ...errorResponses } },
  }, async (request) => invoicePage(billing, currentUser(request), request.query, false, config.publicUrl));

  app.get(`${BASE}/invoices/:id`, {
    ...customer,
    schema: { tags, summary: 'One invoice with its line items', params: IdParams, response: { 200: InvoiceSchema, ...errorResponses } },
  }, async (request) => {
    const { invoice, lines } = await billing.get(currentUser(request), request.params.id);
    return invoiceView(invoice, lines, config.publicUrl);
  });

  app.get(`${BASE}/invoices/:id/pdf`, {
    ...customer,
    schema: { tags, summary: 'The invoice as a PDF (its owner or an admin)', params: IdParams, produces: ['application/pdf'], response: { 200: Type.Unsafe({ type: 'string', format: 'binary' }), ...errorResponses } },
  }, async (request, reply) => {
    const { filename, content } = await billing.pdf(currentUser(request), request.params.id);
    reply.header('content-type', 'application/pdf').header('content-disposition', `inline; filename="${filename}"`);
    return reply.send(content);
  });

  app.post(`${BASE}/invoices/:id/pay`, {
    ...customer,
    schema: {
      tags,
      summary: 'Start paying an open or failed invoice: answers the provider page to send the customer to',
      params: IdParams,
      body: PayInvoiceBodySchema,
      response: { 200: PaymentSessionSchema, ...errorResponses, 502: errorResponses[400], 503: errorResponses[400] },
    },
  }, async (request) => billing.pay(currentUser(request), request.params.id, request.body.gateway));

  app.get(`${BASE}/payment-methods`, {
    ...customer,
    schema: { tags, summary: 'Your saved payment methods: dunning charges them when an invoice falls due or stays unpaid', response: { 200: Type.Object({ methods: Type.Array(SavedPaymentMethodSchema) }), ...errorResponses } },
  }, async (request) => ({ methods: await billing.savedMethods(currentUser(request)) }));

  // Provider callbacks: signatures are over the exact bytes sent, so these routes read raw bodies.
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    const raw = scope.withTypeProvider<TypeBoxTypeProvider>();
    raw.post(`${BASE}/callbacks/:gateway`, {
      schema: {
        tags,
        summary: "A payment provider's notification (Paystack, PayFast ITN, Ozow, Stripe); verified by its signature",
        security: [],
        params: Type.Object({ gateway: Type.String({ maxLength: 20 }) }),
        response: { 200: Type.Object({ received: Type.Boolean() }), ...errorResponses, 503: errorResponses[400] },
      },
    }, async (request) => {
      const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      await billing.callback(request.params.gateway, { headers: request.headers, rawBody, remoteAddress: request.ip });
      return { received: true };
    });
  });

  // The `test` gateway: a checkout page served here, completed as a provider's callback would be.
  app.get(`${TEST_CHECKOUT_PATH}:reference`, {
    schema: { hide: true, params: Type.Object({ reference: Type.String({ maxLength: 100 }) }) },
  }, async (request, reply) => {
    const { payment, invoice } = await billing.testCheckout(request.params.reference);
    reply.type('text/html; charset=utf-8');
    return checkoutPage({ reference: payment.reference, number: invoice.number ?? invoice.id, amount: formatMinorAmount(payment.amountMinor, payment.currency), status: payment.status });
  });

  app.post(`${TEST_CHECKOUT_PATH}:reference`, {
    schema: {
      tags,
      summary: 'Complete a payment on the test gateway ({"outcome":"success"|"failure"}, optionally saving a test card), as a provider callback would',
      security: [],
      params: Type.Object({ reference: Type.String({ maxLength: 100 }) }),
      body: TestCheckoutBodySchema,
      response: { 200: Type.Object({ reference: Type.String(), paymentStatus: Type.String(), invoiceStatus: Type.String() }), ...errorResponses },
    },
  }, async (request) => {
    const { payment, invoice } = await billing.completeTestPayment(request.params.reference, request.body.outcome, request.body.saveCard ?? null);
    return { reference: payment.reference, paymentStatus: payment.status, invoiceStatus: invoice.status };
  });

  // ---- plan changes (billing decides how they are charged) ----
  const SUBS = '/api/v1/api-marketplace/subscriptions';
  app.post(`${SUBS}/:id/change-plan`, {
    ...customer,
    schema: {
      tags: ['subscriptions'],
      summary: 'Upgrade (at once, prorated charge invoiced) or downgrade (at the period end) within the product',
      params: IdParams,
      body: ChangePlanBodySchema,
      response: { 200: Type.Object({ subscription: SubscriptionSchema, change: Type.Enum(['upgrade', 'downgrade', 'same']), invoiceId: Type.Union([Type.String(), Type.Null()]) }), ...errorResponses },
    },
  }, async (request) => {
    const result = await subscriptions.changePlan(currentUser(request), request.params.id, request.body.planId);
    return { ...result, subscription: subscriptionView(result.subscription) };
  });

  app.post(`${SUBS}/:id/cancel`, {
    ...customer,
    schema: { tags: ['subscriptions'], summary: 'Cancel at the period end (at once if it never started or is free)', params: IdParams, response: { 200: SubscriptionSchema, ...errorResponses } },
  }, async (request) => subscriptionView(await subscriptions.cancel(currentUser(request), request.params.id)));

  app.post(`${SUBS}/:id/resume`, {
    ...customer,
    schema: { tags: ['subscriptions'], summary: 'Take back a cancellation scheduled for the period end', params: IdParams, response: { 200: SubscriptionSchema, ...errorResponses } },
  }, async (request) => subscriptionView(await subscriptions.resume(currentUser(request), request.params.id)));
}

/** A page of invoices in the blueprint's `{invoices, pagination}` shape: the customer's, or with `everyone` (admins) all. */
export async function invoicePage(
  billing: BillingService,
  user: User,
  query: { page?: number; limit?: number; status?: InvoiceStatus },
  everyone: boolean,
  publicUrl: string,
) {
  const { page = 1, limit = 20, status } = query;
  const { invoices, total } = await billing.list(user, { page, limit, ...(status ? { status } : {}) }, everyone);
  const lines = await billing.linesOf(invoices);
  return { invoices: invoices.map((i) => invoiceView(i, lines.get(i.id) ?? [], publicUrl)), pagination: pagination(page, limit, total) };
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function checkoutPage(p: { reference: string; number: string; amount: string; status: string }): string {
  const action = escapeHtml(testCheckoutPath(p.reference));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test checkout – ${escapeHtml(p.number)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}button{font-size:1rem;padding:.6rem 1.2rem;margin-right:.5rem}</style></head>
<body><h1>Test checkout</h1>
<p>Invoice <strong>${escapeHtml(p.number)}</strong>: <strong>${escapeHtml(p.amount)}</strong>. Payment ${escapeHtml(p.reference)} is <strong id="status">${escapeHtml(p.status)}</strong>.</p>
<p>This is Tollgate's test gateway: no money moves. Choose what the provider would report.</p>
<p><label>On success, save a test card that <select id="save"><option value="">(do not save)</option><option value="approve">approves</option><option value="decline">declines</option></select> later charges</label></p>
<button data-outcome="success">Pay (success)</button><button data-outcome="failure">Decline (failure)</button>
<script>
for (const button of document.querySelectorAll('button')) button.addEventListener('click', async () => {
  const res = await fetch(${JSON.stringify(testCheckoutPath(p.reference))}, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ outcome: button.dataset.outcome, ...(document.getElementById('save').value ? { saveCard: document.getElementById('save').value } : {}) }) });
  const body = await res.json();
  document.getElementById('status').textContent = res.ok ? body.paymentStatus + ' (invoice ' + body.invoiceStatus + ')' : body.error.message;
});
</script>
</body></html>`;
}
