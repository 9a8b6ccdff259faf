import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { InjectOptions } from 'fastify';
import { createTestApp, ManualClock, uniqueEmail, type CallResponse, type TestApp } from '../testing/harness.ts';

const MINT = '7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU';
const START = Date.UTC(2026, 10, 23, 10, 0, 0);

/*
 * Every call twice: through Fastify's routes (`inject`), and over a socket, where the calls
 * without a body are served in front of Fastify (direct-calls.ts) and the others by Fastify.
 */
describe.each(['inject', 'socket'] as const)('gateway (%s)', (transport) => {
  let t: TestApp;
  const clock = new ManualClock(START);
  const send = (app: TestApp, options: InjectOptions & { url: string }): Promise<CallResponse> => (transport === 'inject' ? app.inject(options) : app.request(options));

  beforeAll(async () => {
    t = await createTestApp({ clock, env: { TRUST_PROXY: '127.0.0.1' } });
  });
  afterAll(() => t.close());
  afterEach(() => clock.set(START));

  const call = (key: string | null, url: string, init: { method?: 'GET' | 'POST'; ip?: string; payload?: unknown; headers?: Record<string, string> } = {}) =>
    send(t, {
      method: init.method ?? 'GET',
      url,
      headers: { ...(key ? { 'x-api-key': key } : {}), ...(init.ip ? { 'x-forwarded-for': init.ip } : {}), ...init.headers },
      ...(init.payload !== undefined ? { payload: init.payload as object } : {}),
    });

  async function freeKey(body: Record<string, unknown> = {}) {
    const user = await t.signup();
    const created = await t.createKey(user.token, { planId: 'cm-free', ...body });
    return { ...user, ...created };
  }

  describe('authentication', () => {
    it('401 without a key, in the error shape with a request id', async () => {
      const res = await call(null, '/v1/memes', { ip: '203.0.113.1' });
      expect(res.statusCode).toBe(401);
      const body = res.json();
      expect(body.error.code).toBe('invalid_api_key');
      expect(body.request_id).toMatch(/^req_/);
      expect(res.headers['x-request-id']).toBe(body.request_id);
    });

    it('401 for a key with a typo, refused by its checksum', async () => {
      const { key } = await freeKey();
      const typo = key.slice(0, 12) + (key[12] === 'a' ? 'b' : 'a') + key.slice(13);
      const res = await call(typo, '/v1/memes', { ip: '203.0.113.2' });
      expect(res.statusCode).toBe(401);
      expect(res.json().error.message).toMatch(/malformed/);
    });

    it('a malformed key or a typo is refused without asking the store; a well-formed key not cached is looked up', async () => {
      const { key } = await freeKey();
      const lookups = vi.spyOn(t.deps.repos.keys, 'findManyForGateway');
      try {
        const typo = key.slice(0, 12) + (key[12] === 'a' ? 'b' : 'a') + key.slice(13);
        expect((await call(typo, '/v1/memes', { ip: '203.0.113.3' })).json().error.message).toMatch(/malformed/);
        expect((await call('tg_live_short', '/v1/memes', { ip: '203.0.113.3' })).json().error.message).toMatch(/malformed/);
        expect(lookups).not.toHaveBeenCalled();
        const other = await freeKey();
        await t.inject({ method: 'POST', url: `/api/v1/api-marketplace/keys/${other.id}/revoke`, headers: { authorization: `Bearer ${other.token}` } });
        expect((await call(other.key, '/v1/memes', { ip: '203.0.113.4' })).statusCode).toBe(401);
        expect(lookups).toHaveBeenCalledTimes(1);
      } finally {
        lookups.mockRestore();
      }
    });

    it('accepts the key in the api_key query parameter', async () => {
      const { key } = await freeKey();
      const res = await call(null, `/v1/memes?api_key=${key}`);
      expect(res.statusCode).toBe(200);
    });

    it('slows an address that keeps failing: 429 after the failure burst, even with a good key', async () => {
      const { key } = await freeKey();
      const ip = '198.51.100.77';
      for (let i = 0; i < t.config.authFailureBurst; i++) {
        expect((await call('tg_live_notarealkeyatallxxxxxxxxxxxxxxxxxxxxxx', '/v1/memes', { ip })).statusCode).toBe(401);
      }
      const blocked = await call(key, '/v1/memes', { ip });
      expect(blocked.statusCode).toBe(429);
      expect(blocked.json().error.details.reason).toBe('failed_authentications');
      expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
      expect((await call(key, '/v1/memes', { ip: '198.51.100.78' })).statusCode).toBe(200);
    });
  });

  describe('key lifecycle takes effect on the next call', () => {
    it('a revoked key is refused', async () => {
      const { key, id, token } = await freeKey();
      expect((await call(key, '/v1/memes')).statusCode).toBe(200);
      await t.inject({ method: 'POST', url: `/api/v1/api-marketplace/keys/${id}/revoke`, headers: { authorization: `Bearer ${token}` } });
      const res = await call(key, '/v1/memes');
      expect(res.statusCode).toBe(401);
      expect(res.json().error.message).toMatch(/revoked/);
    });

    it('rotation: the old key stops, the new one works', async () => {
      const { key, id, token } = await freeKey();
      expect((await call(key, '/v1/memes')).statusCode).toBe(200);
      const res = await t.inject({ method: 'POST', url: `/api/v1/api-marketplace/keys/${id}/rotate`, headers: { authorization: `Bearer ${token}` } });
      expect(res.statusCode).toBe(201);
      const fresh = res.json().key as string;
      expect(fresh).not.toBe(key);
      expect((await call(key, '/v1/memes')).statusCode).toBe(401);
      expect((await call(fresh, '/v1/memes')).statusCode).toBe(200);
    });

    it('admin suspend refuses the key; reactivate restores it', async () => {
      const { key, id } = await freeKey();
      const admin = await t.adminToken();
      expect((await call(key, '/v1/memes')).statusCode).toBe(200);
      await t.inject({ method: 'POST', url: `/api/v1/admin/keys/${id}/suspend`, headers: { authorization: `Bearer ${admin}` } });
      const refused = await call(key, '/v1/memes');
      expect(refused.statusCode).toBe(401);
      expect(refused.json().error.message).toMatch(/suspended/);
      await t.inject({ method: 'POST', url: `/api/v1/admin/keys/${id}/reactivate`, headers: { authorization: `Bearer ${admin}` } });
      expect((await call(key, '/v1/memes')).statusCode).toBe(200);
    });

    it('an expired key is refused once its expiry passes', async () => {
      const { key } = await freeKey({ expiresAt: new Date(START + 60_000).toISOString() });
      expect((await call(key, '/v1/memes')).statusCode).toBe(200);
      clock.advance(61_000);
      const res = await call(key, '/v1/memes');
      expect(res.statusCode).toBe(401);
      expect(res.json().error.message).toMatch(/expired/);
    });

    it('a plan change reaches warm keys: lowering the burst refuses sooner', async () => {
      const admin = await t.adminToken();
      const product = 'cryptomeme-api';
      const plan = await t.inject({
        method: 'POST', url: `/api/v1/api-marketplace/products/${product}/plans`, headers: { authorization: `Bearer ${admin}` },
        payload: { code: `cm-tiny-${Date.now()}`, name: 'Tiny', monthlyFee: 0, rateLimit: 60, burstLimit: 10, entitlements: ['memes:basic'] },
      });
      expect(plan.statusCode).toBe(201);
      const { key } = await freeKey({ planId: plan.json().id });
      expect((await call(key, '/v1/memes')).statusCode).toBe(200);
      await t.inject({ method: 'PATCH', url: `/api/v1/api-marketplace/plans/${plan.json().id}`, headers: { authorization: `Bearer ${admin}` }, payload: { burstLimit: 1, rateLimit: 1 } });
      // The bucket now holds at most 1 token: one more call, then refusal for a minute.
      const next = await call(key, '/v1/memes');
      expect(next.statusCode).toBe(200);
      expect(next.headers['x-ratelimit-limit']).toBe('1');
      const res = await call(key, '/v1/memes');
      expect(res.statusCode).toBe(429);
      expect(res.headers['retry-after']).toBe('60');
    });
  });

  describe('IP allowlist', () => {
    it('admits an address inside an IPv4 or IPv6 block and refuses others with 403', async () => {
      const { key } = await freeKey({ ipWhitelist: ['10.1.0.0/16', '2001:db8::/32'] });
      expect((await call(key, '/v1/memes', { ip: '10.1.2.3' })).statusCode).toBe(200);
      expect((await call(key, '/v1/memes', { ip: '2001:db8::1' })).statusCode).toBe(200);
      const refused = await call(key, '/v1/memes', { ip: '10.2.0.1' });
      expect(refused.statusCode).toBe(403);
      expect(refused.json().error.code).toBe('ip_not_allowed');
    });

    it('ignores X-Forwarded-For from an untrusted proxy', async () => {
      const strict = await createTestApp({ seed: true });
      try {
        const user = await strict.signup();
        const { key } = await strict.createKey(user.token, { planId: 'cm-free', ipWhitelist: ['10.1.0.0/16'] });
        const res = await send(strict, { method: 'GET', url: '/v1/memes', headers: { 'x-api-key': key, 'x-forwarded-for': '10.1.2.3' } });
        expect(res.statusCode).toBe(403);
      } finally {
        await strict.close();
      }
    });
  });

  describe('tiers', () => {
    it('403 insufficient_tier for a Developer+ endpoint on Free', async () => {
      const { key } = await freeKey();
      const res = await call(key, `/v1/tokens/${MINT}/security`);
      expect(res.statusCode).toBe(403);
      expect(res.json().error).toMatchObject({ code: 'insufficient_tier', details: { requiredEntitlement: 'tokens:security' } });
      expect(res.headers['x-ratelimit-limit']).toBeUndefined();
    });

    it('Free gets basic memes, Professional gets full memes and bulk', async () => {
      const free = await freeKey();
      const basic = await call(free.key, '/v1/memes');
      expect(basic.json().detail).toBe('basic');
      const pro = await t.signup();
      await t.grant(pro.email, 'cm-professional');
      const { key } = await t.createKey(pro.token, { planId: 'cm-professional' });
      expect((await call(key, '/v1/memes')).json().detail).toBe('full');
      const bulk = await call(key, '/v1/bulk/tokens', { method: 'POST', payload: { mints: [MINT] } });
      expect(bulk.statusCode).toBe(200);
      expect((await call(free.key, '/v1/bulk/tokens', { method: 'POST', payload: { mints: [MINT] } })).statusCode).toBe(403);
    });

    it('lists carry the HLD pagination headers: X-Total-Count, X-Page, X-Per-Page and Link', async () => {
      const { key } = await freeKey();
      const res = await call(key, '/v1/memes?page=2&limit=50&sort=market_cap');
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-total-count']).toBe('200');
      expect(res.headers['x-page']).toBe('2');
      expect(res.headers['x-per-page']).toBe('50');
      expect(res.headers.link).toBe(
        ['</v1/memes?sort=market_cap&page=1&limit=50>; rel="first"', '</v1/memes?sort=market_cap&page=1&limit=50>; rel="prev"',
          '</v1/memes?sort=market_cap&page=3&limit=50>; rel="next"', '</v1/memes?sort=market_cap&page=4&limit=50>; rel="last"'].join(', '),
      );
      expect((await call(key, '/v1/tokens/So11111111111111111111111111111111111111112/price')).headers['x-total-count']).toBeUndefined();
    });

    it('a key of one product cannot call another product', async () => {
      const { key } = await freeKey();
      const res = await call(key, '/smi/v1/score?symbol=V:GLB:POL:TRMPTAX');
      expect(res.statusCode).toBe(403);
      expect(res.json().error.message).toMatch(/another product/);
    });

    it('history beyond the plan window is refused; within it is served', async () => {
      const { key } = await freeKey();
      const eightDaysAgo = new Date(START - 8 * 86_400_000).toISOString();
      const sixDaysAgo = new Date(START - 6 * 86_400_000).toISOString();
      const refused = await call(key, `/v1/tokens/${MINT}/history?from=${eightDaysAgo}&interval=1d`);
      expect(refused.statusCode).toBe(403);
      expect(refused.json().error.details.historyDays).toBe(7);
      expect((await call(key, `/v1/tokens/${MINT}/history?from=${sixDaysAgo}&interval=1d`)).statusCode).toBe(200);
    });
  });

  describe('rate limits and quotas', () => {
    it('10/min with burst 20: 20 pass at once, the 21st gets 429 with Retry-After 6', async () => {
      const { key } = await freeKey();
      const remaining: number[] = [];
      for (let i = 0; i < 20; i++) {
        const res = await call(key, '/v1/memes');
        expect(res.statusCode).toBe(200);
        remaining.push(Number(res.headers['x-ratelimit-remaining']));
        expect(res.headers['x-ratelimit-limit']).toBe('10');
        expect(Number(res.headers['x-ratelimit-reset'])).toBeGreaterThanOrEqual(Math.floor(START / 1000));
      }
      expect(remaining[0]).toBe(19);
      expect(remaining[19]).toBe(0);
      const refused = await call(key, '/v1/memes');
      expect(refused.statusCode).toBe(429);
      expect(refused.headers['retry-after']).toBe('6');
      expect(refused.json().error.code).toBe('rate_limit_exceeded');
      clock.advance(6_000);
      expect((await call(key, '/v1/memes')).statusCode).toBe(200);
    });

    it('is exact under concurrency: 100 parallel calls admit exactly the burst', async () => {
      const { key } = await freeKey();
      const results = await Promise.all(Array.from({ length: 100 }, () => call(key, '/v1/memes')));
      expect(results.filter((r) => r.statusCode === 200)).toHaveLength(20);
      expect(results.filter((r) => r.statusCode === 429)).toHaveLength(80);
    });

    it('daily cap: 429 quota_exceeded once reached, served again the next UTC day', async () => {
      const admin = await t.adminToken();
      const code = `cm-capped-${Date.now()}`;
      const plan = await t.inject({
        method: 'POST', url: '/api/v1/api-marketplace/products/cryptomeme-api/plans', headers: { authorization: `Bearer ${admin}` },
        payload: { code, name: 'Capped', monthlyFee: 0, rateLimit: 1000, burstLimit: 1000, dailyCap: 3, quota: 5, entitlements: ['memes:basic'] },
      });
      const { key } = await freeKey({ planId: plan.json().id });
      for (let i = 0; i < 3; i++) expect((await call(key, '/v1/memes')).statusCode).toBe(200);
      const capped = await call(key, '/v1/memes');
      expect(capped.statusCode).toBe(429);
      expect(capped.json().error).toMatchObject({ code: 'quota_exceeded', details: { limit: 'daily', cap: 3 } });
      expect(Number(capped.headers['retry-after'])).toBe(14 * 3600);
      clock.set(Date.UTC(2026, 10, 24, 0, 0, 1));
      expect((await call(key, '/v1/memes')).statusCode).toBe(200);
      expect((await call(key, '/v1/memes')).statusCode).toBe(200);
      const monthly = await call(key, '/v1/memes');
      expect(monthly.json().error.details.limit).toBe('monthly');
      expect(monthly.headers['x-quota-remaining']).toBeUndefined();
    });

    it('a plan with a per-call fee goes on past its quota', async () => {
      const admin = await t.adminToken();
      const plan = await t.inject({
        method: 'POST', url: '/api/v1/api-marketplace/products/cryptomeme-api/plans', headers: { authorization: `Bearer ${admin}` },
        payload: { code: `cm-metered-${Date.now()}`, name: 'Metered', monthlyFee: 0, perCallFee: 0.001, rateLimit: 1000, quota: 2, entitlements: ['memes:basic'] },
      });
      const user = await t.signup();
      await t.grant(user.email, plan.json().code);
      const { key } = await t.createKey(user.token, { planId: plan.json().id });
      for (let i = 0; i < 4; i++) expect((await call(key, '/v1/memes')).statusCode).toBe(200);
    });

    it('sandbox keys on a paid plan are capped to the free tier', async () => {
      const user = await t.signup();
      const { key } = await t.createKey(user.token, { planId: 'cm-professional', isSandbox: true });
      expect(key).toMatch(/^tg_test_/);
      const first = await call(key, `/v1/sentiment/${MINT}`);
      expect(first.statusCode).toBe(200);
      expect(first.json().sandbox).toBe(true);
      expect(first.headers['x-ratelimit-limit']).toBe('10');
    });
  });

  describe('usage', () => {
    it('records admitted and refused calls and reports them to their owner only', async () => {
      const { key, token, id } = await freeKey();
      for (let i = 0; i < 21; i++) await call(key, '/v1/memes');
      await call(key, `/v1/tokens/${MINT}/security`);
      await t.flushUsage();
      const res = await t.inject({ method: 'GET', url: `/api/v1/api-marketplace/usage?apiKeyId=${id}&startDate=2026-11-23&endDate=2026-11-23&groupBy=hour`, headers: { authorization: `Bearer ${token}` } });
      expect(res.statusCode).toBe(200);
      const stats = res.json();
      expect(stats.totalRequests).toBe(22);
      expect(stats.statusCodeDistribution).toEqual({ '200': 20, '403': 1, '429': 1 });
      expect(stats.topEndpoints[0]).toEqual({ path: '/v1/memes', count: 21 });
      expect(stats.requestsByHour).toEqual([{ hour: '2026-11-23T10:00:00Z', count: 22 }]);
      expect(stats.errorRate).toBeCloseTo((2 / 22) * 100, 1);

      const keyView = await t.inject({ method: 'GET', url: `/api/v1/api-marketplace/keys/${id}`, headers: { authorization: `Bearer ${token}` } });
      expect(keyView.json().usageCount).toBe(22);
      expect(keyView.json().lastUsedAt).toBe(new Date(START).toISOString());

      const other = await t.signup();
      const foreign = await t.inject({ method: 'GET', url: `/api/v1/api-marketplace/usage?apiKeyId=${id}`, headers: { authorization: `Bearer ${other.token}` } });
      expect(foreign.statusCode).toBe(404);
      const own = await t.inject({ method: 'GET', url: '/api/v1/api-marketplace/usage?startDate=2026-11-01', headers: { authorization: `Bearer ${other.token}` } });
      expect(own.json().totalRequests).toBe(0);
    });

    it('quota counts survive a restart', async () => {
      let local = await createTestApp({ clock });
      try {
        const user = await local.signup();
        const admin = await local.adminToken();
        const plan = await local.inject({
          method: 'POST', url: '/api/v1/api-marketplace/products/cryptomeme-api/plans', headers: { authorization: `Bearer ${admin}` },
          payload: { code: 'cm-restart', name: 'Restart', monthlyFee: 0, rateLimit: 1000, dailyCap: 3, entitlements: ['memes:basic'] },
        });
        const { key } = await local.createKey(user.token, { planId: plan.json().id });
        const get = () => send(local, { method: 'GET', url: '/v1/memes', headers: { 'x-api-key': key } });
        expect((await get()).statusCode).toBe(200);
        expect((await get()).statusCode).toBe(200);
        local = await local.restart(); // closing flushes the buffered usage
        expect((await get()).statusCode).toBe(200);
        expect((await get()).statusCode).toBe(429);
      } finally {
        await local.close();
      }
    });
  });

  describe('upstreams', () => {
    let upstream: Server;
    let base: string;
    const seen: { url?: string; headers?: Record<string, unknown>; body?: string }[] = [];

    beforeAll(async () => {
      upstream = createServer((req, res) => {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          seen.push({ url: req.url, headers: req.headers, body });
          if (req.url?.startsWith('/slow')) return setTimeout(() => res.end('late'), 2_000);
          res.writeHead(201, { 'content-type': 'application/json', 'x-upstream': 'yes' });
          res.end(JSON.stringify({ echoed: body ? JSON.parse(body) : null }));
        });
      });
      await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((resolve) => upstream.close(() => resolve())));

    async function productWithUpstream(url: string, path: string, timeoutApp = t) {
      const admin = await timeoutApp.adminToken();
      const auth = { authorization: `Bearer ${admin}` };
      const slug = `ext-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
      await timeoutApp.inject({ method: 'POST', url: '/api/v1/api-marketplace/products', headers: auth, payload: { slug, name: 'External', category: 'Ext', currency: 'USD' } });
      await timeoutApp.inject({ method: 'POST', url: `/api/v1/api-marketplace/products/${slug}/routes`, headers: auth, payload: { method: 'POST', path, upstreamUrl: url } });
      const plan = await timeoutApp.inject({ method: 'POST', url: `/api/v1/api-marketplace/products/${slug}/plans`, headers: auth, payload: { code: `${slug}-free`, name: 'Free', monthlyFee: 0, rateLimit: 100 } });
      const user = await timeoutApp.signup();
      return timeoutApp.createKey(user.token, { planId: plan.json().id });
    }

    it('forwards the call with its body, without the key, with Tollgate headers', async () => {
      const path = `/ext${Date.now()}/echo`;
      const { key } = await productWithUpstream(base, path);
      const res = await call(null, `${path}?api_key=${key}&x=1`, { method: 'POST', payload: { hello: 'world' } });
      expect(res.statusCode).toBe(201);
      expect(res.json()).toEqual({ echoed: { hello: 'world' } });
      expect(res.headers['x-upstream']).toBe('yes');
      expect(res.headers['x-ratelimit-limit']).toBe('100');
      const last = seen.at(-1);
      expect(last?.url).toBe(`${path}?x=1`);
      expect(last?.headers?.['x-api-key']).toBeUndefined();
      expect(last?.headers?.['x-tollgate-plan']).toMatch(/-free$/);
    });

    it('502 upstream_error when the upstream is down', async () => {
      const path = `/down${Date.now()}`;
      const { key } = await productWithUpstream('http://127.0.0.1:9', path);
      const res = await call(key, path, { method: 'POST', payload: {} });
      expect(res.statusCode).toBe(502);
      expect(res.json().error.code).toBe('upstream_error');
    });

    it('504 upstream_timeout when the upstream is too slow', async () => {
      const slowApp = await createTestApp({ env: { UPSTREAM_TIMEOUT_MS: '200' } });
      try {
        const { key } = await productWithUpstream(base, '/slow', slowApp);
        const res = await send(slowApp, { method: 'POST', url: '/slow', headers: { 'x-api-key': key }, payload: {} });
        expect(res.statusCode).toBe(504);
        expect(res.json().error.code).toBe('upstream_timeout');
      } finally {
        await slowApp.close();
      }
    });
  });

  it('413 in the error shape for a body over the limit', async () => {
    const small = await createTestApp({ env: { BODY_LIMIT: '1024' } });
    try {
      const user = await small.signup(uniqueEmail());
      const res = await send(small, { method: 'POST', url: '/api/v1/auth/login', payload: { email: user.email, password: 'x'.repeat(5000) } });
      expect(res.statusCode).toBe(413);
      expect(res.json().error.code).toBe('payload_too_large');
    } finally {
      await small.close();
    }
  });

  it('405 with Allow for a known path called with the wrong method', async () => {
    const res = await call(null, '/v1/memes', { method: 'POST', payload: {} });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('GET');
    expect(res.json().error.code).toBe('method_not_allowed');
  });

  it('404 resource_not_found for a path no product serves', async () => {
    const res = await call(null, '/v9/nothing-here');
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('resource_not_found');
  });
});
