import { Type } from 'typebox';
import { ApiKeySchema, BillingRunBodySchema, BillingRunSchema, CustomPlanBodySchema, GrantSubscriptionBodySchema, InvoiceListQuerySchema, InvoiceListSchema, PlanSchema, SubscriptionSchema } from '@tollgate/contracts';
import { currentUser } from '../authenticate.ts';
import { billingRunView, keyView, planView, subscriptionView } from '../views.ts';
import { invoicePage } from './billing.ts';
import { errorResponses, IdParams } from './common.ts';
import type { App, RouteContext } from './types.ts';

export function adminRoutes(app: App, { services, guards, clock, config }: RouteContext): void {
  const admin = { onRequest: guards.requireAdmin };

  app.post('/api/v1/admin/subscriptions', {
    ...admin,
    schema: { tags: ['admin'], summary: 'Grant a customer a plan without payment', body: GrantSubscriptionBodySchema, response: { 201: SubscriptionSchema, ...errorResponses } },
  }, async (request, reply) => {
    const subscription = await services.subscriptions.grant(currentUser(request).id, request.body.email, request.body.planCode);
    reply.code(201);
    return subscriptionView(subscription);
  });

  app.get('/api/v1/admin/keys/:id', {
    ...admin,
    schema: { tags: ['admin'], summary: 'Any API key', params: IdParams, response: { 200: ApiKeySchema, ...errorResponses } },
  }, async (request) => keyView(await services.keys.get(request.params.id), clock.now()));

  app.post('/api/v1/admin/keys/:id/suspend', {
    ...admin,
    schema: { tags: ['admin'], summary: 'Suspend a key (refused until reactivated)', params: IdParams, response: { 200: ApiKeySchema, ...errorResponses } },
  }, async (request) => keyView(await services.keys.setSuspended(request.params.id, currentUser(request).id, true), clock.now()));

  app.post('/api/v1/admin/keys/:id/reactivate', {
    ...admin,
    schema: { tags: ['admin'], summary: 'Reactivate a suspended key', params: IdParams, response: { 200: ApiKeySchema, ...errorResponses } },
  }, async (request) => keyView(await services.keys.setSuspended(request.params.id, currentUser(request).id, false), clock.now()));

  app.post('/api/v1/admin/keys/:id/revoke', {
    ...admin,
    schema: { tags: ['admin'], summary: 'Revoke any key', params: IdParams, response: { 200: ApiKeySchema, ...errorResponses } },
  }, async (request) => keyView(await services.keys.revoke(request.params.id, currentUser(request).id), clock.now()));

  app.post('/api/v1/admin/billing/run', {
    ...admin,
    schema: {
      tags: ['admin', 'billing'],
      summary: 'Run the monthly billing cycle for the month containing asOf (default now); idempotent, answers when done',
      body: BillingRunBodySchema,
      response: { 200: BillingRunSchema, ...errorResponses },
    },
  }, async (request) => {
    const asOf = request.body.asOf ? new Date(request.body.asOf) : new Date(clock.now());
    return billingRunView(await services.billing.runCycle(asOf, { actorId: currentUser(request).id }));
  });

  app.get('/api/v1/admin/billing/invoices', {
    ...admin,
    schema: { tags: ['admin', 'billing'], summary: "Every customer's invoices, newest first (status filter)", querystring: InvoiceListQuerySchema, response: { 200: InvoiceListSchema, ...errorResponses } },
  }, async (request) => invoicePage(services.billing, currentUser(request), request.query, true, config.publicUrl));

  app.get('/api/v1/admin/billing/runs', {
    ...admin,
    schema: { tags: ['admin', 'billing'], summary: 'Billing runs, newest period first, with their progress', response: { 200: Type.Array(BillingRunSchema), ...errorResponses } },
  }, async () => (await services.billing.runs()).map(billingRunView));

  app.post('/api/v1/admin/billing/custom-plans', {
    ...admin,
    schema: {
      tags: ['admin', 'billing'],
      summary: "Set a customer's custom (enterprise) price and limits: a private plan made from a custom plan, granted at once",
      body: CustomPlanBodySchema,
      response: { 201: Type.Object({ plan: PlanSchema, subscription: SubscriptionSchema }), ...errorResponses },
    },
  }, async (request, reply) => {
    const { plan, subscription } = await services.subscriptions.grantCustomTerms(currentUser(request).id, request.body);
    reply.code(201);
    return { plan: planView(plan), subscription: subscriptionView(subscription) };
  });
}
