import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, uniqueEmail, type TestApp } from '../testing/harness.ts';

const API = '/api/v1/api-marketplace';

describe('management API', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  const auth = (token: string) => ({ authorization: `Bearer ${token}` });

  describe('accounts', () => {
    it('signup answers a token and the user, and sets an HttpOnly session cookie', async () => {
      const email = uniqueEmail();
      const res = await t.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email, password: 'long-enough-pw' } });
      expect(res.statusCode).toBe(201);
      expect(res.json()).toMatchObject({ token: expect.stringMatching(/^tgs_/), user: { email, role: 'customer' } });
      const cookie = String(res.headers['set-cookie']);
      expect(cookie).toMatch(/tg_session=tgs_/);
      expect(cookie).toMatch(/HttpOnly/);
      const session = cookie.split(';')[0] as string;
      const me = await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { cookie: session } });
      expect(me.statusCode).toBe(200);
      expect(me.json().email).toBe(email);
    });

    it('409 for an email already taken, whatever its case', async () => {
      const email = uniqueEmail();
      await t.signup(email);
      const res = await t.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email: email.toUpperCase(), password: 'long-enough-pw' } });
      expect(res.statusCode).toBe(409);
      expect(res.json().error.code).toBe('conflict');
    });

    it('400 naming the field for a short password or a bad email', async () => {
      const short = await t.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email: uniqueEmail(), password: 'short' } });
      expect(short.statusCode).toBe(400);
      expect(short.json().error).toMatchObject({ code: 'invalid_request', details: { field: 'body.password' } });
      const email = await t.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email: 'not-an-email', password: 'long-enough-pw' } });
      expect(email.json().error.details.field).toBe('body.email');
      const extra = await t.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email: uniqueEmail(), password: 'long-enough-pw', role: 'admin' } });
      expect(extra.statusCode).toBe(400);
      expect(extra.json().error.details.field).toBe('body.role');
    });

    it('400 for malformed JSON, never a 500', async () => {
      const res = await t.inject({ method: 'POST', url: '/api/v1/auth/login', headers: { 'content-type': 'application/json' }, payload: '{"email": ' });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: { code: 'invalid_request', message: 'Body is not valid JSON' }, request_id: expect.stringMatching(/^req_/) });
    });

    it('login works with the right password, 401 with a wrong one, and logout ends the session', async () => {
      const { email } = await t.signup();
      const wrong = await t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: 'wrong-password' } });
      expect(wrong.statusCode).toBe(401);
      expect(wrong.json().error.code).toBe('invalid_credentials');
      const ok = await t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: 'correct-horse-battery' } });
      expect(ok.statusCode).toBe(200);
      const token = ok.json().token;
      expect((await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: auth(token) })).statusCode).toBe(200);
      expect((await t.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: auth(token) })).statusCode).toBe(204);
      const after = await t.inject({ method: 'GET', url: '/api/v1/auth/me', headers: auth(token) });
      expect(after.statusCode).toBe(401);
      expect(after.json().error.code).toBe('authentication_required');
    });

    it('repeated failed logins are slowed with 429 and Retry-After', async () => {
      const { email } = await t.signup();
      let last = await t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: 'wrong-password' } });
      for (let i = 0; i < t.config.authFailureBurst; i++) {
        last = await t.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: 'wrong-password' } });
      }
      expect(last.statusCode).toBe(429);
      expect(Number(last.headers['retry-after'])).toBeGreaterThan(0);
    });
  });

  describe('catalog', () => {
    it('lists both demo catalogs with plans embedded and pagination', async () => {
      const res = await t.inject({ method: 'GET', url: `${API}/products` });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      const slugs = body.products.map((p: { slug: string }) => p.slug);
      expect(slugs).toEqual(expect.arrayContaining(['smi-api', 'vts-feed', 'viralscore-api', 'sentiment-deception-api', 'cryptomeme-api']));
      expect(body.pagination).toMatchObject({ page: 1, limit: 50, total: body.products.length, pages: 1 });
      const smi = body.products.find((p: { slug: string }) => p.slug === 'smi-api');
      const starter = smi.plans.find((p: { code: string }) => p.code === 'smi-starter');
      expect(starter).toMatchObject({ monthlyFee: 890, currency: 'ZAR', rateLimit: 100, burstLimit: 150, quota: 10000, perCallFee: null });
      const vts = body.products.find((p: { slug: string }) => p.slug === 'vts-feed');
      expect(vts.plans.find((p: { code: string }) => p.code === 'vts-enterprise')).toMatchObject({ perCallFee: 0.5, isCustom: true, monthlyFee: null });
    });

    it('filters by category and paginates', async () => {
      const byCategory = await t.inject({ method: 'GET', url: `${API}/products?category=CryptoMeme` });
      expect(byCategory.json().products.map((p: { slug: string }) => p.slug)).toEqual(['cryptomeme-api']);
      const page2 = await t.inject({ method: 'GET', url: `${API}/products?limit=2&page=2` });
      expect(page2.json().products).toHaveLength(2);
      expect(page2.json().pagination).toMatchObject({ page: 2, limit: 2, pages: Math.ceil(page2.json().pagination.total / 2) });
      const bad = await t.inject({ method: 'GET', url: `${API}/products?limit=1000` });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().error.details.field).toBe('querystring.limit');
    });

    it('gets a product by slug, its plans, and 404 for an unknown one', async () => {
      const res = await t.inject({ method: 'GET', url: `${API}/products/cryptomeme-api` });
      expect(res.statusCode).toBe(200);
      const product = res.json();
      expect(product.plans.map((p: { code: string }) => p.code)).toEqual(['cm-free', 'cm-developer', 'cm-professional', 'cm-enterprise']);
      expect(product.plans[0]).toMatchObject({ rateLimit: 10, burstLimit: 20, dailyCap: 1000, limits: { historyDays: 7, webhookEndpoints: 0 } });
      const plans = await t.inject({ method: 'GET', url: `${API}/products/${product.id}/plans` });
      expect(plans.json()).toHaveLength(4);
      const all = await t.inject({ method: 'GET', url: `${API}/plans` });
      expect(all.json().length).toBeGreaterThanOrEqual(13);
      const missing = await t.inject({ method: 'GET', url: `${API}/products/nope` });
      expect(missing.statusCode).toBe(404);
      expect(missing.json().error.code).toBe('resource_not_found');
    });

    it('admin creates, updates and deactivates a product; customers get 403, anonymous 401', async () => {
      const admin = await t.adminToken();
      const customer = await t.signup();
      const body = { slug: `weather-${Date.now()}`, name: 'Weather API', category: 'Weather', currency: 'USD' };
      expect((await t.inject({ method: 'POST', url: `${API}/products`, payload: body })).statusCode).toBe(401);
      const forbidden = await t.inject({ method: 'POST', url: `${API}/products`, headers: auth(customer.token), payload: body });
      expect(forbidden.statusCode).toBe(403);
      expect(forbidden.json().error.code).toBe('forbidden');
      const created = await t.inject({ method: 'POST', url: `${API}/products`, headers: auth(admin), payload: body });
      expect(created.statusCode).toBe(201);
      const dup = await t.inject({ method: 'POST', url: `${API}/products`, headers: auth(admin), payload: body });
      expect(dup.statusCode).toBe(409);
      const updated = await t.inject({ method: 'PATCH', url: `${API}/products/${body.slug}`, headers: auth(admin), payload: { name: 'Weather API v2' } });
      expect(updated.json().name).toBe('Weather API v2');
      const deactivated = await t.inject({ method: 'POST', url: `${API}/products/${body.slug}/deactivate`, headers: auth(admin) });
      expect(deactivated.json().isActive).toBe(false);
      const active = await t.inject({ method: 'GET', url: `${API}/products?active=true&limit=100` });
      expect(active.json().products.map((p: { slug: string }) => p.slug)).not.toContain(body.slug);
    });

    it('admin adds plans and routes; a deactivated route stops serving', async () => {
      const admin = await t.adminToken();
      const slug = `maps-${Date.now()}`;
      await t.inject({ method: 'POST', url: `${API}/products`, headers: auth(admin), payload: { slug, name: 'Maps', category: 'Maps', currency: 'ZAR' } });
      const plan = await t.inject({ method: 'POST', url: `${API}/products/${slug}/plans`, headers: auth(admin), payload: { code: `${slug}-basic`, name: 'Basic', monthlyFee: 199.99, rateLimit: 60 } });
      expect(plan.statusCode).toBe(201);
      expect(plan.json()).toMatchObject({ monthlyFee: 199.99, burstLimit: 60, currency: 'ZAR', rateLimitAlgorithm: 'token-bucket' });
      const badPlan = await t.inject({ method: 'POST', url: `${API}/products/${slug}/plans`, headers: auth(admin), payload: { code: 'Bad Code', name: 'x', rateLimit: 0 } });
      expect(badPlan.statusCode).toBe(400);
      // Amounts the store cannot hold exactly are refused, naming the field, and nothing changes.
      const tenthOfACent = await t.inject({ method: 'POST', url: `${API}/products/${slug}/plans`, headers: auth(admin), payload: { code: `${slug}-odd`, name: 'Odd', monthlyFee: 199.999, rateLimit: 60 } });
      expect(tenthOfACent.statusCode).toBe(400);
      expect(tenthOfACent.json().error).toMatchObject({ code: 'invalid_request', details: { field: 'monthlyFee' } });
      const tinyFee = await t.inject({ method: 'PATCH', url: `${API}/plans/${plan.json().id}`, headers: auth(admin), payload: { perCallFee: 0.0000004 } });
      expect(tinyFee.statusCode).toBe(400);
      expect(tinyFee.json().error.details.field).toBe('perCallFee');
      const priced = await t.inject({ method: 'PATCH', url: `${API}/plans/${plan.json().id}`, headers: auth(admin), payload: { perCallFee: 0.0004 } });
      expect(priced.json()).toMatchObject({ monthlyFee: 199.99, perCallFee: 0.0004 });
      const route = await t.inject({ method: 'POST', url: `${API}/products/${slug}/routes`, headers: auth(admin), payload: { method: 'GET', path: '/v1/memes' } });
      expect(route.statusCode).toBe(409);
      const deact = await t.inject({ method: 'POST', url: `${API}/plans/${plan.json().id}/deactivate`, headers: auth(admin) });
      expect(deact.json().isActive).toBe(false);
    });
  });

  describe('subscriptions and keys', () => {
    it('a free plan key subscribes the customer; the key is shown once and stored as a hash', async () => {
      const user = await t.signup();
      const res = await t.inject({ method: 'POST', url: `${API}/keys`, headers: auth(user.token), payload: { planId: 'cm-free', label: 'bot', metadata: { team: 'quant' } } });
      expect(res.statusCode).toBe(201);
      const { key, apiKey } = res.json();
      expect(key).toMatch(/^tg_live_[0-9A-Za-z]{38}$/);
      expect(apiKey).toMatchObject({ label: 'bot', metadata: { team: 'quant' }, status: 'active', displayPrefix: key.slice(0, 12), lastFour: key.slice(-4) });
      const list = await t.inject({ method: 'GET', url: `${API}/keys`, headers: auth(user.token) });
      expect(JSON.stringify(list.json())).not.toContain(key);
      expect(list.json()[0].plan).toMatchObject({ code: 'cm-free', rateLimit: 10, quota: 1000 });
      const subs = await t.inject({ method: 'GET', url: `${API}/subscriptions`, headers: auth(user.token) });
      expect(subs.json()).toEqual([expect.objectContaining({ planCode: 'cm-free', status: 'active' })]);
    });

    it('402 payment_required for a paid plan without a subscription; a pending one still needs payment', async () => {
      const user = await t.signup();
      const res = await t.inject({ method: 'POST', url: `${API}/keys`, headers: auth(user.token), payload: { planId: 'smi-starter' } });
      expect(res.statusCode).toBe(402);
      expect(res.json().error.code).toBe('payment_required');
      const sub = await t.inject({ method: 'POST', url: `${API}/subscriptions`, headers: auth(user.token), payload: { planId: 'smi-starter' } });
      expect(sub.json().status).toBe('pending_payment');
      const again = await t.inject({ method: 'POST', url: `${API}/keys`, headers: auth(user.token), payload: { planId: 'smi-starter' } });
      expect(again.statusCode).toBe(402);
      expect(again.json().error.details.subscriptionStatus).toBe('pending_payment');
    });

    it('an admin grant activates a paid plan and its key calls the API', async () => {
      const user = await t.signup();
      await t.grant(user.email, 'smi-starter');
      const { key } = await t.createKey(user.token, { planId: 'smi-starter' });
      const res = await t.inject({ method: 'GET', url: '/smi/v1/score?symbol=V:GLB:POL:TRMPTAX', headers: { 'x-api-key': key } });
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-ratelimit-limit']).toBe('100');
      expect(res.headers['x-quota-limit']).toBe('10000');
    });

    it('custom plans cannot be self-subscribed', async () => {
      const user = await t.signup();
      const res = await t.inject({ method: 'POST', url: `${API}/subscriptions`, headers: auth(user.token), payload: { planId: 'cm-enterprise' } });
      expect(res.statusCode).toBe(403);
    });

    it('400 naming the entry for a bad CIDR or a past expiry', async () => {
      const user = await t.signup();
      const cidr = await t.inject({ method: 'POST', url: `${API}/keys`, headers: auth(user.token), payload: { planId: 'cm-free', ipWhitelist: ['10.0.0.0/8', '10.0.0.0/33'] } });
      expect(cidr.statusCode).toBe(400);
      expect(cidr.json().error.details.field).toBe('body.ipWhitelist[1]');
      const past = await t.inject({ method: 'POST', url: `${API}/keys`, headers: auth(user.token), payload: { planId: 'cm-free', expiresAt: '2000-01-01T00:00:00Z' } });
      expect(past.statusCode).toBe(400);
      expect(past.json().error.details.field).toBe('body.expiresAt');
      const plan = await t.inject({ method: 'POST', url: `${API}/keys`, headers: auth(user.token), payload: { planId: 'no-such-plan' } });
      expect(plan.statusCode).toBe(404);
    });

    it('updates label and allowlist; revoke is idempotent; a revoked key cannot rotate', async () => {
      const user = await t.signup();
      const { id } = await t.createKey(user.token, { planId: 'cm-free' });
      const patched = await t.inject({ method: 'PATCH', url: `${API}/keys/${id}`, headers: auth(user.token), payload: { label: 'renamed', ipWhitelist: ['::1'] } });
      expect(patched.json()).toMatchObject({ label: 'renamed', ipWhitelist: ['::1'] });
      const empty = await t.inject({ method: 'PATCH', url: `${API}/keys/${id}`, headers: auth(user.token), payload: {} });
      expect(empty.statusCode).toBe(400);
      for (let i = 0; i < 2; i++) {
        const revoked = await t.inject({ method: 'POST', url: `${API}/keys/${id}/revoke`, headers: auth(user.token) });
        expect(revoked.json()).toMatchObject({ status: 'revoked', revoked: true });
      }
      const rotate = await t.inject({ method: 'POST', url: `${API}/keys/${id}/rotate`, headers: auth(user.token) });
      expect(rotate.statusCode).toBe(409);
    });

    it("404 for another customer's key on every key route", async () => {
      const owner = await t.signup();
      const other = await t.signup();
      const { id } = await t.createKey(owner.token, { planId: 'cm-free' });
      const attempts = [
        t.inject({ method: 'GET', url: `${API}/keys/${id}`, headers: auth(other.token) }),
        t.inject({ method: 'PATCH', url: `${API}/keys/${id}`, headers: auth(other.token), payload: { label: 'mine now' } }),
        t.inject({ method: 'POST', url: `${API}/keys/${id}/revoke`, headers: auth(other.token) }),
        t.inject({ method: 'POST', url: `${API}/keys/${id}/rotate`, headers: auth(other.token) }),
      ];
      for (const res of await Promise.all(attempts)) expect(res.statusCode).toBe(404);
      const list = await t.inject({ method: 'GET', url: `${API}/keys`, headers: auth(other.token) });
      expect(list.json()).toEqual([]);
      const still = await t.inject({ method: 'GET', url: `${API}/keys/${id}`, headers: auth(owner.token) });
      expect(still.json()).toMatchObject({ status: 'active', label: null });
    });

    it('every key route needs a session; admin key routes need an admin', async () => {
      const customer = await t.signup();
      for (const [method, url] of [['GET', `${API}/keys`], ['POST', `${API}/keys`], ['GET', `${API}/usage`], ['GET', `${API}/subscriptions`]] as const) {
        const res = await t.inject({ method, url, ...(method === 'POST' ? { payload: { planId: 'cm-free' } } : {}) });
        expect(res.statusCode, `${method} ${url}`).toBe(401);
      }
      for (const url of ['/api/v1/admin/keys/key_x/suspend', '/api/v1/admin/subscriptions']) {
        const res = await t.inject({ method: 'POST', url, headers: auth(customer.token), payload: { email: customer.email, planCode: 'cm-free' } });
        expect(res.statusCode).toBe(403);
      }
    });
  });

  describe('admin key and route control', () => {
    it('an admin reads and revokes any key; a closed route stops serving at once', async () => {
      const admin = await t.adminToken();
      const user = await t.signup();
      const { id, key } = await t.createKey(user.token, { planId: 'cm-free' });
      const read = await t.inject({ method: 'GET', url: `/api/v1/admin/keys/${id}`, headers: auth(admin) });
      expect(read.json()).toMatchObject({ id, status: 'active' });
      expect((await t.inject({ method: 'GET', url: '/api/v1/admin/keys/key_nope', headers: auth(admin) })).statusCode).toBe(404);

      const product = (await t.inject({ method: 'GET', url: `${API}/products/cryptomeme-api` })).json();
      const wiki = product.routes.find((r: { path: string }) => r.path === '/v1/memes/{id}/wiki');
      expect((await t.inject({ method: 'GET', url: '/v1/memes/meme_0001/wiki', headers: { 'x-api-key': key } })).statusCode).toBe(200);
      const closed = await t.inject({ method: 'PATCH', url: `${API}/routes/${wiki.id}`, headers: auth(admin), payload: { isActive: false } });
      expect(closed.json().isActive).toBe(false);
      expect((await t.inject({ method: 'GET', url: '/v1/memes/meme_0001/wiki', headers: { 'x-api-key': key } })).statusCode).toBe(404);
      await t.inject({ method: 'PATCH', url: `${API}/routes/${wiki.id}`, headers: auth(admin), payload: { isActive: true } });
      expect((await t.inject({ method: 'GET', url: '/v1/memes/meme_0001/wiki', headers: { 'x-api-key': key } })).statusCode).toBe(200);

      const revoked = await t.inject({ method: 'POST', url: `/api/v1/admin/keys/${id}/revoke`, headers: auth(admin) });
      expect(revoked.json().status).toBe('revoked');
      expect((await t.inject({ method: 'GET', url: '/v1/memes', headers: { 'x-api-key': key } })).statusCode).toBe(401);
      const reactivate = await t.inject({ method: 'POST', url: `/api/v1/admin/keys/${id}/reactivate`, headers: auth(admin) });
      expect(reactivate.statusCode).toBe(409);
    });
  });

  describe('usage query', () => {
    it('400 for an inverted window or an unknown groupBy', async () => {
      const user = await t.signup();
      const inverted = await t.inject({ method: 'GET', url: `${API}/usage?startDate=2026-02-01&endDate=2026-01-01`, headers: auth(user.token) });
      expect(inverted.statusCode).toBe(400);
      const group = await t.inject({ method: 'GET', url: `${API}/usage?groupBy=week`, headers: auth(user.token) });
      expect(group.statusCode).toBe(400);
      expect(group.json().error.details.field).toBe('querystring.groupBy');
    });
  });

  describe('docs and health', () => {
    it('serves an OpenAPI 3.1 document of the management API and the interactive reference', async () => {
      const doc = await t.inject({ method: 'GET', url: '/openapi.json' });
      expect(doc.statusCode).toBe(200);
      const spec = doc.json();
      expect(spec.openapi).toBe('3.1.0');
      expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining([`${API}/products`, `${API}/keys`, `${API}/keys/{id}/rotate`, `${API}/usage`, '/api/v1/auth/signup']));
      expect(Object.keys(spec.paths)).not.toContain('/*');
      const ui = await t.inject({ method: 'GET', url: '/docs/' });
      expect(ui.statusCode).toBe(200);
      expect(ui.headers['content-type']).toMatch(/html/);
    });

    it('documents the data APIs: each catalog route under its product, called with an API key, updated as the catalog changes', async () => {
      const spec = (await t.inject({ method: 'GET', url: '/openapi.json' })).json();
      const memes = spec.paths['/v1/memes'].get;
      expect(memes.tags).toEqual(['cryptomeme-api']);
      expect(spec.tags).toEqual(expect.arrayContaining([{ name: 'cryptomeme-api', description: 'CryptoMeme Premium API' }]));
      // A product's docs link names its tag.
      const product = (await t.inject({ method: 'GET', url: `${API}/products/cryptomeme-api` })).json();
      expect(product.publicDocs).toBe('/docs#/cryptomeme-api');
      expect(memes.security).toEqual([{ apiKey: [] }, { apiKeyQuery: [] }]);
      expect(Object.keys(memes.responses)).toEqual(['200', '400', '401', '403', '429']);
      expect(spec.paths['/v1/tokens/{mint}/holders'].get.parameters).toEqual([{ name: 'mint', in: 'path', required: true, schema: { type: 'string' } }]);
      expect(spec.paths['/v1/tokens/{mint}/holders'].get.description).toContain('entitlement');
      expect(spec.paths['/sentiment/v1/analyze'].post.requestBody.content['application/json']).toBeDefined();
      expect(spec.components.securitySchemes.apiKeyQuery).toEqual({ type: 'apiKey', in: 'query', name: 'api_key' });
      // The management API keeps its own entries next to them.
      expect(spec.paths[`${API}/keys`]).toBeDefined();

      const admin = await t.adminToken();
      const slug = `tides-${Date.now()}`;
      await t.inject({ method: 'POST', url: `${API}/products`, headers: auth(admin), payload: { slug, name: 'Tides', category: 'Weather', currency: 'USD' } });
      const route = await t.inject({ method: 'POST', url: `${API}/products/${slug}/routes`, headers: auth(admin), payload: { method: 'GET', path: `/${slug}/v1/ports/{port}`, upstreamUrl: 'http://127.0.0.1:9' } });
      expect(route.statusCode, route.body).toBe(201);
      await expect.poll(async () => (await t.inject({ method: 'GET', url: '/docs/json' })).json().paths[`/${slug}/v1/ports/{port}`]?.get?.tags).toEqual([slug]);
    });

    it('health reports the database; ready is 200 once started', async () => {
      const health = await t.inject({ method: 'GET', url: '/health' });
      expect(health.statusCode).toBe(200);
      expect(health.json()).toMatchObject({ status: 'ok', database: { status: 'ok', kind: 'pglite' }, usage: { rollupsHeld: 0 } });
      expect((await t.inject({ method: 'GET', url: '/ready' })).statusCode).toBe(200);
    });

    it('unknown management paths answer 404 in the error shape', async () => {
      const res = await t.inject({ method: 'GET', url: '/api/v1/api-marketplace/nothing' });
      expect(res.statusCode).toBe(404);
      expect(res.json().error.code).toBe('resource_not_found');
    });
  });
});
