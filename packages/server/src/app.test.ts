import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './testing/harness.ts';

const PRICE = '/v1/tokens/V6FjH7P33dh7tVHHLHczC4hyG2NUA2YatLmXiDrKRgV7/price';

describe('gateway calls in front of Fastify', () => {
  let t: TestApp;
  const fastifySaw: string[] = [];
  let key: string;

  beforeAll(async () => {
    t = await createTestApp({
      beforeReady: (app) => {
        app.addHook('onRequest', (request, _reply, done) => {
          fastifySaw.push(`${request.method} ${request.url}`);
          done();
        });
      },
    });
    const user = await t.signup();
    ({ key } = await t.createKey(user.token, { planId: 'cm-free' }));
    fastifySaw.length = 0;
  });
  afterAll(() => t.close());

  it('a call without a body over a socket is answered without Fastify, as Fastify would answer it', async () => {
    const direct = await t.request({ method: 'GET', url: PRICE, headers: { 'x-api-key': key } });
    expect(direct.statusCode).toBe(200);
    expect(fastifySaw).toEqual([]);
    const routed = await t.inject({ method: 'GET', url: PRICE, headers: { 'x-api-key': key } });
    expect(fastifySaw).toEqual([`GET ${PRICE}`]);
    expect(Object.keys(direct.json())).toEqual(Object.keys(routed.json()));
    for (const name of ['x-ratelimit-limit', 'content-type']) expect(direct.headers[name]).toBe(routed.headers[name]);
    expect(direct.headers['x-request-id']).toMatch(/^req_/);
    expect(direct.headers['x-request-id']).not.toBe(routed.headers['x-request-id']);
  });

  it("a call with a body, and the product's own paths, go through Fastify", async () => {
    fastifySaw.length = 0;
    const posted = await t.request({ method: 'POST', url: '/v1/bulk/tokens', headers: { 'x-api-key': key }, payload: { mints: [] } });
    expect(posted.statusCode).toBe(403); // cm-free has no bulk access: the gateway answered
    expect((await t.request({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    expect(fastifySaw).toEqual(['POST /v1/bulk/tokens', 'GET /health']);
  });
});

describe("the product's own paths", () => {
  it('a route outside them is refused when it is added: a data API could take its calls', async () => {
    await expect(createTestApp({ seed: false, beforeReady: (app) => app.get('/status', async () => 'ok') })).rejects.toThrow(/\/status is not under the product's paths/);
  });

  it('a route under them is accepted', async () => {
    const t = await createTestApp({ seed: false, beforeReady: (app) => app.get('/api/v1/extra', async () => 'ok') });
    try {
      // Two first calls at once: the test app starts listening once, for both.
      const answers = await Promise.all([t.request({ method: 'GET', url: '/api/v1/extra' }), t.request({ method: 'GET', url: '/api/v1/extra' })]);
      expect(answers.map((res) => res.body)).toEqual(['ok', 'ok']);
    } finally {
      await t.close();
    }
  });
});
