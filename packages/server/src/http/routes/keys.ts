import { Type } from 'typebox';
import { ApiKeySchema, CreateKeyBodySchema, CreatedKeySchema, UpdateKeyBodySchema } from '@tollgate/contracts';
import { currentUser } from '../authenticate.ts';
import { keyView } from '../views.ts';
import { errorResponses, IdParams } from './common.ts';
import type { App, RouteContext } from './types.ts';

const BASE = '/api/v1/api-marketplace/keys';

export function keyRoutes(app: App, { services, guards, clock }: RouteContext): void {
  const { keys } = services;
  const customer = { onRequest: guards.requireUser };

  app.post(BASE, {
    ...customer,
    schema: {
      tags: ['keys'],
      summary: 'Create an API key (the key is shown this once)',
      body: CreateKeyBodySchema,
      response: { 201: CreatedKeySchema, ...errorResponses },
    },
  }, async (request, reply) => {
    const issued = await keys.create(currentUser(request).id, request.body);
    reply.code(201);
    return { key: issued.key, apiKey: keyView(issued.record, clock.now()) };
  });

  app.get(BASE, {
    ...customer,
    schema: { tags: ['keys'], summary: 'Your API keys', response: { 200: Type.Array(ApiKeySchema), ...errorResponses } },
  }, async (request) => {
    const now = clock.now();
    return (await keys.list(currentUser(request).id)).map((k) => keyView(k, now));
  });

  app.get(`${BASE}/:id`, {
    ...customer,
    schema: { tags: ['keys'], summary: 'One of your API keys', params: IdParams, response: { 200: ApiKeySchema, ...errorResponses } },
  }, async (request) => keyView(await keys.get(request.params.id, currentUser(request).id), clock.now()));

  app.patch(`${BASE}/:id`, {
    ...customer,
    schema: { tags: ['keys'], summary: 'Change label, IP allowlist, metadata, scopes or expiry', params: IdParams, body: UpdateKeyBodySchema, response: { 200: ApiKeySchema, ...errorResponses } },
  }, async (request) => keyView(await keys.update(request.params.id, currentUser(request).id, request.body), clock.now()));

  app.post(`${BASE}/:id/revoke`, {
    ...customer,
    schema: { tags: ['keys'], summary: 'Revoke a key: refused from its next call on', params: IdParams, response: { 200: ApiKeySchema, ...errorResponses } },
  }, async (request) => {
    const user = currentUser(request);
    return keyView(await keys.revoke(request.params.id, user.id, user.id), clock.now());
  });

  app.post(`${BASE}/:id/rotate`, {
    ...customer,
    schema: { tags: ['keys'], summary: 'Replace a key with a new one; the old one stops at once', params: IdParams, response: { 201: CreatedKeySchema, ...errorResponses } },
  }, async (request, reply) => {
    const issued = await keys.rotate(request.params.id, currentUser(request).id);
    reply.code(201);
    return { key: issued.key, apiKey: keyView(issued.record, clock.now()) };
  });
}
