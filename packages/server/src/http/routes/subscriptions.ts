import { Type } from 'typebox';
import { CreateSubscriptionBodySchema, SubscriptionSchema } from '@tollgate/contracts';
import { currentUser } from '../authenticate.ts';
import { subscriptionView } from '../views.ts';
import { errorResponses } from './common.ts';
import type { App, RouteContext } from './types.ts';

export function subscriptionRoutes(app: App, { services, guards }: RouteContext): void {
  app.get('/api/v1/api-marketplace/subscriptions', {
    onRequest: guards.requireUser,
    schema: { tags: ['subscriptions'], summary: 'Your subscriptions', response: { 200: Type.Array(SubscriptionSchema), ...errorResponses } },
  }, async (request) => (await services.subscriptions.list(currentUser(request).id)).map(subscriptionView));

  app.post('/api/v1/api-marketplace/subscriptions', {
    onRequest: guards.requireUser,
    schema: {
      tags: ['subscriptions'],
      summary: 'Subscribe to a plan: free plans start at once, paid plans wait for payment',
      body: CreateSubscriptionBodySchema,
      response: { 201: SubscriptionSchema, ...errorResponses },
    },
  }, async (request, reply) => {
    const subscription = await services.subscriptions.subscribe(currentUser(request).id, request.body.planId);
    reply.code(201);
    return subscriptionView(subscription);
  });
}
