import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { quotaResetJob, webhookCleanupJob } from '@tollgate/jobs';
import { monthStartMs } from '@tollgate/core';
import { postgresAvailable, testUsageRecord } from '@tollgate/store/testing';
import { demoDataEventsJob } from '../demo/data-events-job.ts';
import { demoEventsBetween } from '../demo-upstream/event-stream.ts';
import { createTestApp, type TestApp } from '../testing/harness.ts';
import { startWebhookReceiver, type ReceivedWebhook } from '../testing/webhook-receiver.ts';
import { startWorkers, type Workers } from '../workers.ts';

const silent = { info: () => undefined, error: () => undefined };
const available = await postgresAvailable();

const WEBHOOK_ENV = {
  WEBHOOK_ALLOW_PRIVATE: 'true',
  WEBHOOK_RETRY_SCHEDULE: '40ms',
  WEBHOOK_MAX_ATTEMPTS: '20',
  WEBHOOK_POLL_INTERVAL_MS: '20',
  // The catalogs are seeded by the harness; this keeps the workers' minutely demo data events
  // (real time) out of the tests, which run that job with their own clock.
  SEED_DEMO: 'false',
};

type Receiver = Awaited<ReturnType<typeof startWebhookReceiver>>;
const isVerification = (hook: ReceivedWebhook) => JSON.parse(hook.body).event === 'webhook.verification';

function deliveryContract(database: 'pglite' | 'postgres') {
  describe(`webhook delivery on ${database}`, () => {
    let t: TestApp;
    let receiver: Receiver;
    let workers: Workers;
    // Per path: how the receiver answers (200 unless a test says otherwise).
    const responders = new Map<string, (hook: ReceivedWebhook) => number>();

    beforeAll(async () => {
      t = await createTestApp({ database, env: WEBHOOK_ENV });
      receiver = await startWebhookReceiver((hook) => responders.get(hook.path)?.(hook) ?? 200);
      workers = await startWorkers(t.config, t.deps, silent);
    });
    afterAll(async () => {
      await workers?.stop();
      await receiver?.close();
      await t?.close();
    });

    const auth = (token: string) => ({ authorization: `Bearer ${token}` });
    /** Counts the bus's `webhooks.pending` messages (wake-ups of the delivery workers) until stopped. */
    function pendingWakes() {
      const wakes = { count: 0, stop: () => undefined as void };
      wakes.stop = t.deps.bus.subscribe((message) => {
        if (message.topic === 'webhooks.pending') wakes.count++;
      });
      return wakes;
    }
    async function professional() {
      const user = await t.signup();
      await t.grant(user.email, 'cm-professional');
      return user;
    }
    async function register(token: string, path: string, events: string[], extra: Record<string, unknown> = {}) {
      const res = await t.inject({ method: 'POST', url: '/api/v1/api-marketplace/webhooks', headers: auth(token), payload: { url: receiver.url(path), events, ...extra } });
      expect(res.statusCode, res.body).toBe(201);
      return res.json() as { webhook: { id: string; status: string }; secret: string };
    }
    const endpointOf = async (token: string, id: string) => (await t.inject({ method: 'GET', url: `/api/v1/api-marketplace/webhooks/${id}`, headers: auth(token) })).json();
    const deliveriesOf = async (token: string, id: string) =>
      (await t.inject({ method: 'GET', url: `/api/v1/api-marketplace/webhooks/${id}/deliveries`, headers: auth(token) })).json().deliveries as {
        id: string;
        event: string;
        status: string;
        attempts: number;
        attemptLog: { statusCode: number | null; responseExcerpt: string | null }[];
      }[];
    async function activeEndpoint(token: string, path: string, events: string[]) {
      const created = await register(token, path, events);
      await expect.poll(async () => (await endpointOf(token, created.webhook.id)).status, { timeout: 10_000 }).toBe('active');
      return created;
    }

    it('verifies a new endpoint, then delivers key events in order, signed per Standard Webhooks and the specs', async () => {
      const user = await professional();
      const { webhook, secret } = await register(user.token, '/signed', ['key.created', 'key.revoked']);
      expect(webhook.status).toBe('pending');
      expect(secret).toMatch(/^whsec_/);
      await expect.poll(async () => (await endpointOf(user.token, webhook.id)).status, { timeout: 10_000 }).toBe('active');
      expect((await endpointOf(user.token, webhook.id)).verifiedAt).not.toBeNull();

      const key = await t.createKey(user.token, { planId: 'cm-professional', label: 'signed' });
      await t.inject({ method: 'POST', url: `/api/v1/api-marketplace/keys/${key.id}/revoke`, headers: auth(user.token) });
      await expect.poll(() => receiver.bodies('/signed').length, { timeout: 10_000 }).toBe(3);

      const hooks = receiver.received.filter((r) => r.path === '/signed');
      expect(hooks.map((h) => JSON.parse(h.body).event)).toEqual(['webhook.verification', 'key.created', 'key.revoked']);
      const created = JSON.parse(hooks[1]?.body ?? '{}');
      expect(created).toMatchObject({ webhookId: webhook.id, event: 'key.created', payload: { apiKeyId: key.id, label: 'signed', isSandbox: false } });
      expect(created.eventId).toMatch(/^evt_/);
      for (const hook of hooks) {
        // The official Standard Webhooks verifier accepts every delivery...
        const headers = { 'webhook-id': String(hook.headers['webhook-id']), 'webhook-timestamp': String(hook.headers['webhook-timestamp']), 'webhook-signature': String(hook.headers['webhook-signature']) };
        expect(() => new Webhook(secret).verify(hook.body, headers)).not.toThrow();
        expect(() => new Webhook(`whsec_${Buffer.alloc(32, 7).toString('base64')}`).verify(hook.body, headers)).toThrow();
        // ...and the specs' own check: sha256 HMAC of the body with the secret.
        expect(hook.headers['x-webhook-signature']).toBe(`sha256=${createHmac('sha256', secret).update(hook.body).digest('hex')}`);
        expect(hook.headers['x-webhook-id']).toBe(JSON.parse(hook.body).eventId);
      }
    });

    it('retries a failing delivery until it succeeds, and logs every attempt', async () => {
      const user = await professional();
      let failures = 0;
      responders.set('/flaky', (hook) => (isVerification(hook) || failures++ >= 2 ? 200 : 500));
      const { webhook } = await activeEndpoint(user.token, '/flaky', ['key.created']);
      await t.createKey(user.token, { planId: 'cm-professional' });
      await expect.poll(async () => (await deliveriesOf(user.token, webhook.id)).find((d) => d.event === 'key.created')?.status, { timeout: 10_000 }).toBe('succeeded');
      const delivery = (await deliveriesOf(user.token, webhook.id)).find((d) => d.event === 'key.created');
      expect(delivery?.attempts).toBe(3);
      expect(delivery?.attemptLog.map((a) => a.statusCode)).toEqual([500, 500, 200]);
      expect(delivery?.attemptLog[0]?.responseExcerpt).toBe('failing with 500');
      // Retries carry the same webhook-id, so the receiver can tell them apart from new events.
      const ids = receiver.received.filter((r) => r.path === '/flaky' && !isVerification(r)).map((r) => r.headers['webhook-id']);
      expect(new Set(ids).size).toBe(1);
    });

    it('pauses an endpoint after 10 failures in a row and delivers its backlog in order when resumed', async () => {
      const user = await professional();
      responders.set('/breaker', (hook) => (isVerification(hook) ? 200 : 503));
      const { webhook } = await activeEndpoint(user.token, '/breaker', ['key.created']);
      const keys = [];
      for (let i = 0; i < 3; i++) keys.push((await t.createKey(user.token, { planId: 'cm-professional', label: `k${i}` })).id);
      await expect.poll(async () => (await endpointOf(user.token, webhook.id)).status, { timeout: 10_000 }).toBe('paused');
      const paused = await endpointOf(user.token, webhook.id);
      expect(paused).toMatchObject({ pausedReason: 'failures', consecutiveFailures: 10, isActive: false });
      const tried = receiver.received.filter((r) => r.path === '/breaker' && !isVerification(r));
      expect(tried.length).toBe(10);
      // Head of line: only the first event was tried while it kept failing.
      expect(new Set(tried.map((r) => JSON.parse(r.body).payload.apiKeyId))).toEqual(new Set([keys[0]]));
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(receiver.received.filter((r) => r.path === '/breaker' && !isVerification(r)).length).toBe(10); // paused: nothing sent

      responders.set('/breaker', () => 200);
      const resumed = await t.inject({ method: 'PATCH', url: `/api/v1/api-marketplace/webhooks/${webhook.id}`, headers: auth(user.token), payload: { isActive: true } });
      expect(resumed.json()).toMatchObject({ status: 'active', pausedReason: null, consecutiveFailures: 0 });
      await expect.poll(async () => (await deliveriesOf(user.token, webhook.id)).filter((d) => d.status === 'succeeded').length, { timeout: 10_000 }).toBe(4);
      const delivered = receiver.received.filter((r) => r.path === '/breaker' && !isVerification(r)).slice(10);
      expect(delivered.map((r) => JSON.parse(r.body).payload.apiKeyId)).toEqual(keys);
    });

    it('a new URL is verified first, then gets the events that waited, in order', async () => {
      const user = await professional();
      const { webhook } = await activeEndpoint(user.token, '/old-url', ['key.created']);
      await t.inject({ method: 'PATCH', url: `/api/v1/api-marketplace/webhooks/${webhook.id}`, headers: auth(user.token), payload: { isActive: false } });
      const keys = [];
      for (let i = 0; i < 2; i++) keys.push((await t.createKey(user.token, { planId: 'cm-professional' })).id);
      await new Promise((resolve) => setTimeout(resolve, 150));
      const moved = await t.inject({ method: 'PATCH', url: `/api/v1/api-marketplace/webhooks/${webhook.id}`, headers: auth(user.token), payload: { url: receiver.url('/new-url') } });
      expect(moved.json()).toMatchObject({ status: 'pending', url: receiver.url('/new-url') });
      await expect.poll(() => receiver.bodies('/new-url').length, { timeout: 10_000 }).toBe(3);
      expect(receiver.bodies('/new-url').map((b) => (b.event === 'key.created' ? b.payload.apiKeyId : b.event))).toEqual(['webhook.verification', ...keys]);
      expect(receiver.bodies('/old-url').map((b) => b.event)).toEqual(['webhook.verification']);
      expect((await endpointOf(user.token, webhook.id)).status).toBe('active');
    });

    it("an owner's pause made while a worker delivers wins over the worker's results", async () => {
      const user = await professional();
      const repos = t.deps.repos;
      const endpoint = await repos.webhooks.createEndpoint({ userId: user.userId, url: receiver.url('/raced'), description: null, events: ['key.created'], secretSealed: t.deps.secretBox.seal('x'), status: 'active', pausedReason: null });
      await t.database.executeSql('update webhook_endpoints set lease_owner = $1 where id = $2', ['wrk_test', endpoint.id]);
      await repos.webhooks.updateEndpoint(endpoint.id, { status: 'paused', pausedReason: 'owner' });
      const record = {
        deliveryId: 'whd_none', endpointId: endpoint.id, attempt: 1, startedAt: new Date(), durationMs: 1, statusCode: 500, error: 'HTTP 500', responseExcerpt: null,
        delivery: { status: 'pending' as const, nextAttemptAt: new Date() },
        endpoint: { status: 'active' as const, pausedReason: null, consecutiveFailures: 1, verified: false },
        leaseUntil: new Date(Date.now() + 60_000),
      };
      expect(await repos.webhooks.recordAttempts('wrk_test', 'active', [record])).toBe(false);
      expect(await repos.webhooks.findEndpoint(endpoint.id)).toMatchObject({ status: 'paused', pausedReason: 'owner', consecutiveFailures: 1 });
      // Another worker's results are not stored at all.
      expect(await repos.webhooks.recordAttempts('wrk_other', 'paused', [record])).toBe(false);
    });

    it('disables an endpoint that answers 410 Gone', async () => {
      const user = await professional();
      responders.set('/gone', (hook) => (isVerification(hook) ? 200 : 410));
      const { webhook } = await activeEndpoint(user.token, '/gone', ['key.created']);
      await t.createKey(user.token, { planId: 'cm-professional' });
      await expect.poll(async () => (await endpointOf(user.token, webhook.id)).pausedReason, { timeout: 10_000 }).toBe('gone');
      expect(receiver.received.filter((r) => r.path === '/gone' && !isVerification(r)).length).toBe(1);
    });

    it('replays a delivery with the same webhook-id, and sends a test event on request', async () => {
      const user = await professional();
      const { webhook, secret } = await activeEndpoint(user.token, '/replay', ['key.revoked']);
      const test = await t.inject({ method: 'POST', url: `/api/v1/api-marketplace/webhooks/${webhook.id}/test`, headers: auth(user.token) });
      expect(test.statusCode).toBe(202);
      expect(test.json()).toMatchObject({ event: 'webhook.test', eventId: expect.stringMatching(/^evt_/) });
      await expect.poll(() => receiver.bodies('/replay').filter((b) => b.event === 'webhook.test').length, { timeout: 10_000 }).toBe(1);
      const [delivery] = (await deliveriesOf(user.token, webhook.id)).filter((d) => d.event === 'webhook.test');
      const replay = await t.inject({ method: 'POST', url: `/api/v1/api-marketplace/webhooks/deliveries/${delivery?.id}/replay`, headers: auth(user.token) });
      expect(replay.statusCode).toBe(202);
      await expect.poll(() => receiver.bodies('/replay').filter((b) => b.event === 'webhook.test').length, { timeout: 10_000 }).toBe(2);
      const sent = receiver.received.filter((r) => r.path === '/replay' && JSON.parse(r.body).event === 'webhook.test');
      expect(sent[1]?.headers['webhook-id']).toBe(sent[0]?.headers['webhook-id']);
      expect(() => new Webhook(secret).verify(sent[1]?.body ?? '', sent[1]?.headers as Record<string, string>)).not.toThrow();
      const other = await t.signup();
      const foreign = await t.inject({ method: 'POST', url: `/api/v1/api-marketplace/webhooks/deliveries/${delivery?.id}/replay`, headers: auth(other.token) });
      expect(foreign.statusCode).toBe(404);
    });

    it('after a secret rotation, both secrets sign for 24 hours', async () => {
      const user = await professional();
      const { webhook, secret: old } = await activeEndpoint(user.token, '/rotate', ['key.created']);
      const rotated = await t.inject({ method: 'POST', url: `/api/v1/api-marketplace/webhooks/${webhook.id}/rotate-secret`, headers: auth(user.token) });
      expect(rotated.statusCode).toBe(200);
      const fresh = rotated.json().secret as string;
      expect(fresh).not.toBe(old);
      expect(Date.parse(rotated.json().webhook.previousSecretExpiresAt) - Date.now()).toBeGreaterThan(23.9 * 3_600_000);
      await t.createKey(user.token, { planId: 'cm-professional' });
      await expect.poll(() => receiver.bodies('/rotate').filter((b) => b.event === 'key.created').length, { timeout: 10_000 }).toBe(1);
      const hook = receiver.received.filter((r) => r.path === '/rotate').at(-1) as ReceivedWebhook;
      for (const secret of [fresh, old]) expect(() => new Webhook(secret).verify(hook.body, hook.headers as Record<string, string>)).not.toThrow();
      expect(String(hook.headers['x-webhook-signature']).split(',')).toEqual([
        `sha256=${createHmac('sha256', fresh).update(hook.body).digest('hex')}`,
        `sha256=${createHmac('sha256', old).update(hook.body).digest('hex')}`,
      ]);
    });

    it('announces usage.threshold at 90 % and quota.exceeded once per key and period', async () => {
      const user = await professional();
      const admin = await t.adminToken();
      const plan = await t.inject({
        method: 'POST', url: '/api/v1/api-marketplace/products/cryptomeme-api/plans', headers: auth(admin),
        payload: { code: `cm-small-${Date.now()}`, name: 'Small', monthlyFee: 0, rateLimit: 1000, burstLimit: 1000, quota: 10, entitlements: ['memes:basic'] },
      });
      expect(plan.statusCode, plan.body).toBe(201);
      const { webhook } = await activeEndpoint(user.token, '/quota', ['usage.threshold', 'quota.exceeded']);
      const { key, id } = await t.createKey(user.token, { planId: plan.json().id });
      const statuses = [];
      for (let i = 0; i < 13; i++) statuses.push((await t.inject({ method: 'GET', url: '/v1/memes', headers: { 'x-api-key': key } })).statusCode);
      expect(statuses.filter((s) => s === 200).length).toBe(10);
      await t.flushUsage();
      await expect.poll(() => receiver.bodies('/quota').filter((b) => b.event !== 'webhook.verification').length, { timeout: 10_000 }).toBe(2);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const events = receiver.bodies('/quota').filter((b) => b.event !== 'webhook.verification');
      const month = new Date().toISOString().slice(0, 7);
      expect(events.map((e) => [e.event, e.payload])).toEqual([
        ['usage.threshold', { apiKeyId: id, period: 'month', periodStart: month, usage: 9, quota: 10, percentage: 90, threshold: 90 }],
        ['quota.exceeded', { apiKeyId: id, period: 'month', periodStart: month, usage: 10, quota: 10, overage: false }],
      ]);
      expect((await deliveriesOf(user.token, webhook.id)).length).toBe(3);
    });

    it('quota.reset goes once a month to keys whose owners subscribed to it', async () => {
      const user = await professional();
      await activeEndpoint(user.token, '/reset', ['quota.reset']);
      const { id } = await t.createKey(user.token, { planId: 'cm-professional' });
      // Last month's last calls, in the call log only, as a gateway holding their counters (up to a minute) left them.
      const lastMonth = new Date(monthStartMs(t.deps.clock.now()) - 1_000);
      await t.deps.repos.usage.writeBatch([testUsageRecord({ apiKeyId: id, createdAt: lastMonth }), testUsageRecord({ apiKeyId: id, createdAt: lastMonth })], undefined, { deferRollups: true });
      const job = quotaResetJob(t.deps.repos, t.deps.clock, t.deps.bus);
      expect(job.cron).toBe('0 0 1 * *');
      const wakes = pendingWakes();
      await job.handle({});
      expect(wakes.count).toBe(1); // the delivery workers look at once, not at their next poll
      await job.handle({});
      expect(wakes.count).toBe(1); // nothing new stored: no wake-up
      wakes.stop();
      await expect.poll(() => receiver.bodies('/reset').filter((b) => b.event === 'quota.reset').length, { timeout: 10_000 }).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const [reset] = receiver.bodies('/reset').filter((b) => b.event === 'quota.reset');
      expect(reset?.payload).toEqual({ apiKeyId: id, periodStart: new Date().toISOString().slice(0, 7), quota: 500_000, previousUsage: 2 });
    });

    it("delivers the demo upstream's data events to CryptoMeme subscribers, each once", async () => {
      const user = await professional();
      await activeEndpoint(user.token, '/data', ['meme.created', 'token.rug_detected']);
      const clock = { now: () => Date.UTC(2026, 10, 23, 12, 0, 30) };
      const job = demoDataEventsJob(t.deps.repos, clock, t.deps.bus);
      const wakes = pendingWakes();
      await job.handle({});
      expect(wakes.count).toBe(1); // the delivery workers look at once, not at their next poll
      await job.handle({}); // overlapping runs store nothing twice
      expect(wakes.count).toBe(1);
      wakes.stop();
      const expected = demoEventsBetween(clock.now() - 10 * 60_000, clock.now()).filter((e) => e.type === 'meme.created' || e.type === 'token.rug_detected');
      expect(expected.length).toBeGreaterThan(0);
      await expect.poll(() => receiver.bodies('/data').filter((b) => b.event !== 'webhook.verification').length, { timeout: 10_000 }).toBe(expected.length);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const received = receiver.bodies('/data').filter((b) => b.event !== 'webhook.verification');
      expect(received.map((b) => [b.event, b.timestamp, b.payload])).toEqual(expected.map((e) => [e.type, e.occurredAt.toISOString(), e.payload]));

      // Without an active CryptoMeme subscription, the data events stop.
      for (const sub of await t.deps.repos.subscriptions.listByUser(user.userId)) await t.deps.repos.subscriptions.setStatus(sub.id, 'suspended');
      const later = clock.now() + 30 * 60_000;
      expect(demoEventsBetween(later - 10 * 60_000, later).some((e) => e.type === 'meme.created')).toBe(true);
      await demoDataEventsJob(t.deps.repos, { now: () => later }, t.deps.bus).handle({});
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(receiver.bodies('/data').length).toBe(received.length + 1);
    });

    it('continues a retry after a restart of the workers', async () => {
      const user = await professional();
      let failing = true;
      responders.set('/restart', (hook) => (isVerification(hook) || !failing ? 200 : 500));
      const { webhook } = await activeEndpoint(user.token, '/restart', ['key.created']);
      await t.createKey(user.token, { planId: 'cm-professional' });
      await expect.poll(() => receiver.received.filter((r) => r.path === '/restart' && !isVerification(r)).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
      await workers.stop();
      const triedBefore = (await deliveriesOf(user.token, webhook.id)).find((d) => d.event === 'key.created')?.attempts ?? 0;
      expect(triedBefore).toBeGreaterThanOrEqual(2);
      failing = false;
      workers = await startWorkers(t.config, t.deps, silent);
      await expect.poll(async () => (await deliveriesOf(user.token, webhook.id)).find((d) => d.event === 'key.created')?.status, { timeout: 10_000 }).toBe('succeeded');
      const delivery = (await deliveriesOf(user.token, webhook.id)).find((d) => d.event === 'key.created');
      expect(delivery?.attemptLog.at(-1)?.statusCode).toBe(200);
      expect(delivery?.attempts).toBe(delivery?.attemptLog.length);
      expect(delivery?.attempts).toBeGreaterThan(triedBefore);
    });
  });
}

deliveryContract('pglite');
describe.skipIf(!available)('PostgreSQL', () => {
  deliveryContract('postgres');

  it('two workers on one database never send one attempt twice', async () => {
    const t = await createTestApp({ database: 'postgres', env: WEBHOOK_ENV });
    const receiver = await startWebhookReceiver(async () => {
      await new Promise((resolve) => setTimeout(resolve, 2)); // slow enough for the workers to overlap
      return 200;
    });
    const pool = [await startWorkers(t.config, t.deps, silent), await startWorkers(t.config, t.deps, silent)];
    try {
      const endpoints = [];
      const user = await t.signup();
      await t.grant(user.email, 'cm-professional');
      for (let i = 0; i < 4; i++) {
        const res = await t.inject({ method: 'POST', url: '/api/v1/api-marketplace/webhooks', headers: { authorization: `Bearer ${user.token}` }, payload: { url: receiver.url(`/w${i}`), events: ['key.created'] } });
        endpoints.push(res.json().webhook.id as string);
      }
      const keys: string[] = [];
      for (let i = 0; i < 30; i++) keys.push((await t.createKey(user.token, { planId: 'cm-professional' })).id);
      await expect.poll(() => receiver.received.length, { timeout: 20_000 }).toBe(4 * 31);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(receiver.received.length).toBe(4 * 31);
      for (let i = 0; i < 4; i++) {
        const bodies = receiver.bodies(`/w${i}`);
        expect(new Set(bodies.map((b) => b.eventId)).size).toBe(31);
        expect(bodies.filter((b) => b.event === 'key.created').map((b) => b.payload.apiKeyId)).toEqual(keys);
      }
    } finally {
      await Promise.all(pool.map((w) => w.stop()));
      await receiver.close();
      await t.close();
    }
  });
});

describe('webhook endpoints API', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { WEBHOOK_REQUIRE_HTTPS: 'false' } });
  });
  afterAll(async () => {
    await t?.close();
  });
  const auth = (token: string) => ({ authorization: `Bearer ${token}` });
  const create = (token: string, payload: Record<string, unknown>) => t.inject({ method: 'POST', url: '/api/v1/api-marketplace/webhooks', headers: auth(token), payload });

  it('serves the event catalog, with a JSON schema per payload, without signing in', async () => {
    const res = await t.inject({ method: 'GET', url: '/api/v1/api-marketplace/webhooks/events' });
    expect(res.statusCode).toBe(200);
    const types = (res.json().events as { type: string; payloadSchema: { type: string; properties: object } }[]);
    expect(types.map((e) => e.type)).toEqual(expect.arrayContaining(['key.created', 'key.revoked', 'key.rotated', 'usage.threshold', 'quota.exceeded', 'quota.reset', 'invoice.created', 'invoice.paid', 'invoice.failed', 'meme.created', 'meme.verified', 'token.security_changed', 'token.rug_detected']));
    expect(types.find((e) => e.type === 'usage.threshold')?.payloadSchema).toMatchObject({ type: 'object', properties: { usage: { type: 'integer' }, quota: { type: 'integer' } } });
  });

  it('allows endpoints up to the highest limit among active plans: none on Free, 10 on Professional', async () => {
    const user = await t.signup();
    await t.createKey(user.token, { planId: 'cm-free' });
    const free = await create(user.token, { url: 'https://93.184.216.34/hooks', events: ['key.created'] });
    expect(free.statusCode).toBe(403);
    expect(free.json().error).toMatchObject({ code: 'insufficient_tier', details: { limit: 0, current: 0 } });

    await t.grant(user.email, 'cm-professional');
    for (let i = 0; i < 10; i++) expect((await create(user.token, { url: `https://93.184.216.34/hooks/${i}`, events: ['key.created'] })).statusCode).toBe(201);
    const eleventh = await create(user.token, { url: 'https://93.184.216.34/hooks/10', events: ['key.created'] });
    expect(eleventh.statusCode).toBe(403);
    expect(eleventh.json().error.details).toEqual({ limit: 10, current: 10 });
  });

  it('data events need a CryptoMeme plan with webhooks; ViralFX plans allow account events', async () => {
    const user = await t.signup();
    await t.grant(user.email, 'smi-starter');
    const data = await create(user.token, { url: 'https://93.184.216.34/data', events: ['meme.created'] });
    expect(data.statusCode).toBe(403);
    expect(data.json().error).toMatchObject({ code: 'insufficient_tier', details: { events: ['meme.created'] } });
    expect((await create(user.token, { url: 'https://93.184.216.34/account', events: ['usage.threshold'] })).statusCode).toBe(201);
  });

  it('refuses bad input naming the field, and stores nothing', async () => {
    const user = await t.signup();
    await t.grant(user.email, 'cm-professional');
    const cases: [Record<string, unknown>, string][] = [
      [{ url: 'https://93.184.216.34/h', events: ['key.created', 'key.exploded'] }, 'events[1]'],
      [{ url: 'https://127.0.0.1/h', events: ['key.created'] }, 'url'],
      [{ url: 'https://169.254.169.254/latest', events: ['key.created'] }, 'url'],
      [{ url: 'ftp://example.com/h', events: ['key.created'] }, 'url'],
      [{ url: 'https://93.184.216.34/h', events: ['key.created'], secret: 'whsec_short' }, 'secret'],
    ];
    for (const [payload, field] of cases) {
      const res = await create(user.token, payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().error).toMatchObject({ code: 'invalid_request', details: { field } });
    }
    expect((await create(user.token, { url: 'https://93.184.216.34/h', events: [] })).statusCode).toBe(400);
    expect((await t.inject({ method: 'GET', url: '/api/v1/api-marketplace/webhooks', headers: auth(user.token) })).json()).toEqual([]);
  });

  it('a customer sees and changes only their own endpoints; a given secret is kept', async () => {
    const owner = await t.signup();
    await t.grant(owner.email, 'cm-professional');
    const secret = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
    const created = await create(owner.token, { url: 'https://93.184.216.34/mine', events: ['key.created'], secret, description: 'mine' });
    expect(created.json()).toMatchObject({ secret, webhook: { status: 'pending', isActive: true, description: 'mine' } });
    const id = created.json().webhook.id as string;
    const other = await t.signup();
    for (const [method, url] of [['GET', ''], ['PATCH', ''], ['DELETE', ''], ['POST', '/test'], ['POST', '/rotate-secret'], ['GET', '/deliveries']] as const) {
      const res = await t.inject({ method, url: `/api/v1/api-marketplace/webhooks/${id}${url}`, headers: auth(other.token), ...(method === 'PATCH' ? { payload: { description: 'theirs' } } : {}) });
      expect(res.statusCode, `${method} ${url}`).toBe(404);
    }
    const paused = await t.inject({ method: 'PATCH', url: `/api/v1/api-marketplace/webhooks/${id}`, headers: auth(owner.token), payload: { isActive: false, events: ['key.created', 'key.revoked'] } });
    expect(paused.json()).toMatchObject({ status: 'paused', pausedReason: 'owner', isActive: false, events: ['key.created', 'key.revoked'] });
    expect((await t.inject({ method: 'DELETE', url: `/api/v1/api-marketplace/webhooks/${id}`, headers: auth(owner.token) })).statusCode).toBe(204);
    expect((await t.inject({ method: 'GET', url: `/api/v1/api-marketplace/webhooks/${id}`, headers: auth(owner.token) })).statusCode).toBe(404);
  });

  it('deletes endpoints paused by failures after 7 days; endpoints their owner paused stay', async () => {
    const user = await t.signup();
    await t.grant(user.email, 'cm-professional');
    const abandoned = (await create(user.token, { url: 'https://93.184.216.34/abandoned', events: ['key.created'] })).json().webhook.id as string;
    const ownerPaused = (await create(user.token, { url: 'https://93.184.216.34/resting', events: ['key.created'], isActive: false })).json().webhook.id as string;
    await t.deps.repos.webhooks.updateEndpoint(abandoned, { status: 'paused', pausedReason: 'failures' });
    const statusOf = async (id: string) => (await t.inject({ method: 'GET', url: `/api/v1/api-marketplace/webhooks/${id}`, headers: auth(user.token) })).statusCode;
    await webhookCleanupJob(t.deps.repos, { now: () => Date.now() + 6 * 86_400_000 }).handle({});
    expect(await statusOf(abandoned)).toBe(200);
    await webhookCleanupJob(t.deps.repos, { now: () => Date.now() + 8 * 86_400_000 }).handle({});
    expect(await statusOf(abandoned)).toBe(404);
    expect(await statusOf(ownerPaused)).toBe(200);
  });
});
