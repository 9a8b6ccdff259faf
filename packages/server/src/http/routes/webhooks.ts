import { Type } from 'typebox';
import {
  CreateWebhookBodySchema,
  DeliveryListSchema,
  DeliveryQuerySchema,
  DeliverySchema,
  UpdateWebhookBodySchema,
  WebhookEventInfoSchema,
  WebhookSchema,
  WebhookWithSecretSchema,
} from '@tollgate/contracts';
import { currentUser } from '../authenticate.ts';
import { deliveryView, webhookView } from '../views.ts';
import { errorResponses, IdParams, pagination } from './common.ts';
import type { App, RouteContext } from './types.ts';

const BASE = '/api/v1/api-marketplace/webhooks';

export function webhookRoutes(app: App, { services, guards }: RouteContext): void {
  const { webhooks } = services;
  const customer = { onRequest: guards.requireUser };
  const tags = ['webhooks'];

  app.get(`${BASE}/events`, {
    schema: { tags, summary: 'The event catalog: every event type with the JSON schema of its payload', security: [], response: { 200: Type.Object({ events: Type.Array(WebhookEventInfoSchema) }) } },
  }, async () => ({ events: webhooks.catalog() }));

  app.post(BASE, {
    ...customer,
    schema: {
      tags,
      summary: 'Register an endpoint (pending until it answers the verification event with 2xx); the secret is shown this once',
      body: CreateWebhookBodySchema,
      response: { 201: WebhookWithSecretSchema, ...errorResponses },
    },
  }, async (request, reply) => {
    const created = await webhooks.create(currentUser(request).id, request.body);
    reply.code(201);
    return { webhook: webhookView(created.endpoint), secret: created.secret };
  });

  app.get(BASE, {
    ...customer,
    schema: { tags, summary: 'Your webhook endpoints', response: { 200: Type.Array(WebhookSchema), ...errorResponses } },
  }, async (request) => (await webhooks.list(currentUser(request).id)).map(webhookView));

  app.get(`${BASE}/:id`, {
    ...customer,
    schema: { tags, summary: 'One of your webhook endpoints', params: IdParams, response: { 200: WebhookSchema, ...errorResponses } },
  }, async (request) => webhookView(await webhooks.get(request.params.id, currentUser(request).id)));

  app.patch(`${BASE}/:id`, {
    ...customer,
    schema: {
      tags,
      summary: 'Change URL (verified again), events or description; isActive false pauses, true resumes and delivers the backlog',
      params: IdParams,
      body: UpdateWebhookBodySchema,
      response: { 200: WebhookSchema, ...errorResponses },
    },
  }, async (request) => webhookView(await webhooks.update(request.params.id, currentUser(request).id, request.body)));

  app.delete(`${BASE}/:id`, {
    ...customer,
    schema: { tags, summary: 'Delete an endpoint: nothing more is sent to it', params: IdParams, response: { 204: Type.Null(), ...errorResponses } },
  }, async (request, reply) => {
    await webhooks.remove(request.params.id, currentUser(request).id);
    reply.code(204);
    return null;
  });

  app.post(`${BASE}/:id/test`, {
    ...customer,
    schema: {
      tags,
      summary: 'Send a signed test event to this endpoint (the verification event again while it is pending)',
      params: IdParams,
      response: { 202: Type.Object({ eventId: Type.String(), event: Type.String() }), ...errorResponses },
    },
  }, async (request, reply) => {
    const queued = await webhooks.test(request.params.id, currentUser(request).id);
    reply.code(202);
    return queued;
  });

  app.post(`${BASE}/:id/rotate-secret`, {
    ...customer,
    schema: {
      tags,
      summary: 'Replace the signing secret (shown this once); the old one keeps signing alongside for 24 hours',
      params: IdParams,
      response: { 200: WebhookWithSecretSchema, ...errorResponses },
    },
  }, async (request) => {
    const rotated = await webhooks.rotateSecret(request.params.id, currentUser(request).id);
    return { webhook: webhookView(rotated.endpoint), secret: rotated.secret };
  });

  app.get(`${BASE}/:id/deliveries`, {
    ...customer,
    schema: {
      tags,
      summary: "The endpoint's deliveries, newest first, each with its attempts (status codes, timings, response excerpt)",
      params: IdParams,
      querystring: DeliveryQuerySchema,
      response: { 200: DeliveryListSchema, ...errorResponses },
    },
  }, async (request) => {
    const { page = 1, limit = 50, status } = request.query;
    const found = await webhooks.deliveries(request.params.id, currentUser(request).id, { page, limit, ...(status ? { status } : {}) });
    return { deliveries: found.deliveries.map(deliveryView), pagination: pagination(page, limit, found.total) };
  });

  app.post(`${BASE}/deliveries/:id/replay`, {
    ...customer,
    schema: { tags, summary: 'Send a delivery again now, with a fresh retry budget', params: IdParams, response: { 202: DeliverySchema, ...errorResponses } },
  }, async (request, reply) => {
    const delivery = await webhooks.replay(request.params.id, currentUser(request).id);
    reply.code(202);
    return deliveryView(delivery);
  });
}
