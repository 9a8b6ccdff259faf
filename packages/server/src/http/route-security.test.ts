import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../testing/harness.ts';

/*
 * One security suite over every management route, read from the OpenAPI document so that a new
 * route is covered the day it is added: no credentials → 401, a customer on an admin route → 403,
 * a forged token → 401; each in the one error shape.
 */

const PUBLIC = new Set([
  'GET /api/v1/api-marketplace/products',
  'GET /api/v1/api-marketplace/products/{slug}',
  'GET /api/v1/api-marketplace/plans',
  'GET /api/v1/api-marketplace/products/{productId}/plans',
  'POST /api/v1/auth/signup',
  'POST /api/v1/auth/login',
  'POST /api/v1/auth/logout',
  'GET /api/v1/api-marketplace/webhooks/events',
  // Authenticated by the provider's signature, and by the unguessable payment reference.
  'POST /api/v1/api-marketplace/billing/callbacks/{gateway}',
  'POST /billing/test-checkout/{reference}',
  'GET /health',
  'GET /ready',
  'GET /live',
]);

interface Operation {
  method: string;
  path: string;
  admin: boolean;
}

describe('every management route', () => {
  let t: TestApp;
  let operations: Operation[];
  let customer: string;

  beforeAll(async () => {
    t = await createTestApp();
    const spec = (await t.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, { tags?: string[]; security?: Record<string, unknown>[] }>>;
    };
    // The data APIs in the document are the gateway's (called with an API key), not management routes.
    const isDataApi = (op: { security?: Record<string, unknown>[] }) => op.security?.some((scheme) => 'apiKey' in scheme) ?? false;
    operations = Object.entries(spec.paths).flatMap(([path, methods]) =>
      Object.entries(methods)
        .filter(([, op]) => !isDataApi(op))
        .map(([method, op]) => ({ method: method.toUpperCase(), path, admin: op.tags?.includes('admin') ?? false })),
    );
    customer = (await t.signup()).token;
  });
  afterAll(() => t.close());

  const url = (path: string) => path.replace(/\{[^}]+\}/g, 'prod_doesnotexist');
  const send = (op: Operation, headers: Record<string, string>) =>
    t.inject({ method: op.method as 'GET', url: url(op.path), headers, ...(op.method === 'GET' ? {} : { payload: {} }) });

  it('the document lists the management API', () => {
    expect(operations.length).toBeGreaterThan(20);
  });

  it('401 authentication_required without credentials on every non-public route', async () => {
    const guarded = operations.filter((op) => !PUBLIC.has(`${op.method} ${op.path}`));
    expect(guarded.length).toBeGreaterThan(10);
    for (const op of guarded) {
      const res = await send(op, {});
      expect(res.statusCode, `${op.method} ${op.path}`).toBe(401);
      expect(res.json()).toMatchObject({ error: { code: 'authentication_required' }, request_id: expect.stringMatching(/^req_/) });
    }
  });

  it('401 for a forged bearer token', async () => {
    for (const op of operations.filter((o) => !PUBLIC.has(`${o.method} ${o.path}`))) {
      const res = await send(op, { authorization: 'Bearer tgs_forged000000000000000000000000000000000000' });
      expect(res.statusCode, `${op.method} ${op.path}`).toBe(401);
    }
  });

  it('403 forbidden for a customer on every admin route', async () => {
    const adminOps = operations.filter((op) => op.admin);
    expect(adminOps.length).toBeGreaterThanOrEqual(10);
    for (const op of adminOps) {
      const res = await send(op, { authorization: `Bearer ${customer}` });
      expect(res.statusCode, `${op.method} ${op.path}`).toBe(403);
      expect(res.json().error.code).toBe('forbidden');
    }
  });
});
