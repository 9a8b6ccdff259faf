import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createSecretBox } from '@tollgate/core';
import { InProcessWebhookSender } from '@tollgate/runtime';
import { createRepositories, type Repositories } from '@tollgate/store';
import { openTestPglite, type TestDatabase } from '@tollgate/store/testing';
import { WebhookDeliverer } from './webhook-deliverer.ts';

let database: TestDatabase;
const secretBox = createSecretBox('11'.repeat(32));
/** The deliverer's settings both tests share: the system clock, no logs, one retry delay. */
const common = {
  secretBox,
  clock: { now: () => Date.now() },
  log: { info: () => undefined, error: () => undefined },
  retrySchedule: [1_000],
  maxAttempts: 3,
};
beforeAll(async () => {
  database = await openTestPglite();
});
afterAll(() => database.close());

/** A customer with an active endpoint on `receiver`, subscribed to `key.created`. */
async function endpointOn(repos: Repositories, email: string, receiver: Server) {
  const user = await repos.users.create({ email, passwordHash: 'h', role: 'customer' });
  const endpoint = await repos.webhooks.createEndpoint({
    userId: user.id,
    url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`,
    description: null,
    events: ['key.created'],
    secretSealed: secretBox.seal(`whsec_${Buffer.alloc(32, 9).toString('base64')}`),
    status: 'active',
    pausedReason: null,
  });
  return { user, endpoint };
}

/**
 * A deliverer with nothing to send, on a store that notes when each round starts (its dispatch),
 * with these options.
 */
function idleDeliverer(workerId: string, options: { pollIntervalMs: number; roundGapMs?: number; idlePollMaxMs?: number }) {
  const real = createRepositories(database.db);
  const rounds: number[] = [];
  const webhooks = Object.create(real.webhooks) as Repositories['webhooks'];
  webhooks.dispatch = (limit, now) => {
    rounds.push(performance.now());
    return real.webhooks.dispatch(limit, now);
  };
  const deliverer = new WebhookDeliverer({ ...real, webhooks }, {
    workerId,
    transport: { sendRun: () => Promise.reject(new Error('nothing is due')) },
    ...common,
    ...options,
  });
  return { deliverer, rounds };
}

it('gathers wake-ups: rounds start at most every roundGapMs however often it is woken', async () => {
  const { deliverer, rounds } = idleDeliverer('wrk_gap', { pollIntervalMs: 5_000, roundGapMs: 100 });
  deliverer.start();
  const started = performance.now();
  // Woken every 2 ms for 600 ms, as by a stream of stored events.
  while (performance.now() - started < 600) {
    deliverer.wake();
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await deliverer.stop();
  const elapsed = performance.now() - started;
  expect(rounds.length).toBeGreaterThanOrEqual(2); // the wake-ups do start rounds (the poll alone would start one)
  expect(rounds.length).toBeLessThanOrEqual(Math.ceil(elapsed / 100) + 1);
});

it('stores a run that outlasts half the lease in parts, renewing the lease, and sends every delivery once, in order', async () => {
  // A receiver that takes 30 ms for each delivery.
  const received: string[] = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      received.push((JSON.parse(body) as { payload: { n: number } }).payload.n.toString());
      setTimeout(() => res.end('ok'), 30);
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const sender = new InProcessWebhookSender({ allowPrivate: true, timeoutMs: 5_000 });
  try {
    const real = createRepositories(database.db);
    const stores: number[] = [];
    const webhooks = Object.create(real.webhooks) as Repositories['webhooks'];
    webhooks.recordAttempts = (owner, fromStatus, records) => {
      if (records.length > 0) stores.push(records.length);
      return real.webhooks.recordAttempts(owner, fromStatus, records);
    };
    const { user, endpoint } = await endpointOn(real, 'lease@example.test', receiver);
    await real.webhooks.emit(Array.from({ length: 8 }, (_, n) => ({ type: 'key.created', userId: user.id, payload: { n }, occurredAt: new Date() })));

    // A 200 ms lease: a run may last 100 ms, about three deliveries here.
    const deliverer = new WebhookDeliverer({ ...real, webhooks }, {
      workerId: 'wrk_lease',
      transport: sender,
      ...common,
      leaseMs: 200,
    });
    await deliverer.runOnce();

    expect(received).toEqual(['0', '1', '2', '3', '4', '5', '6', '7']);
    expect(stores.length).toBeGreaterThanOrEqual(3);
    expect(stores.reduce((a, b) => a + b, 0)).toBe(8);
    const log = await real.webhooks.listDeliveries(endpoint.id, { page: 1, limit: 20 });
    expect(log.deliveries.map((d) => d.status)).toEqual(Array.from({ length: 8 }, () => 'succeeded'));
  } finally {
    await sender.close();
    receiver.closeAllConnections();
    await new Promise((resolve) => receiver.close(resolve));
  }
});

it('waits longer while idle, up to idlePollMaxMs, and a wake-up brings it back at once', async () => {
  const { deliverer, rounds } = idleDeliverer('wrk_idle', { pollIntervalMs: 20, idlePollMaxMs: 160 });
  deliverer.start();
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const idle = rounds.length;
  // At a steady 20 ms poll this would be ~75 rounds; doubling to 160 ms: 20, 40, 80, then 160 each.
  expect(idle).toBeGreaterThanOrEqual(5);
  expect(idle).toBeLessThanOrEqual(20);
  const gaps = rounds.slice(1).map((at, i) => at - (rounds[i] as number));
  expect(Math.max(...gaps)).toBeLessThan(400); // the wait stops growing at idlePollMaxMs
  const woken = performance.now();
  deliverer.wake();
  await new Promise((resolve) => setTimeout(resolve, 60));
  await deliverer.stop();
  expect(rounds.some((at) => at >= woken && at - woken < 60)).toBe(true);
});

it('wakes up when a retry it stored falls due, however long the idle poll', async () => {
  const attempts: number[] = [];
  const receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      attempts.push(performance.now());
      res.statusCode = attempts.length === 1 ? 503 : 200;
      res.end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const sender = new InProcessWebhookSender({ allowPrivate: true, timeoutMs: 5_000 });
  try {
    const repos = createRepositories(database.db);
    const { user } = await endpointOn(repos, 'retry-wake@example.test', receiver);
    await repos.webhooks.emit([{ type: 'key.created', userId: user.id, payload: { n: 1 }, occurredAt: new Date() }]);
    // Polls 30 s apart: only the reminder of the retry (300 ms ± 20 %) can bring the second attempt sooner.
    const deliverer = new WebhookDeliverer(repos, {
      workerId: 'wrk_retry_wake',
      transport: sender,
      ...common,
      retrySchedule: [300],
      pollIntervalMs: 30_000,
      idlePollMaxMs: 30_000,
    });
    deliverer.start();
    const deadline = performance.now() + 5_000;
    while (attempts.length < 2 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    await deliverer.stop();
    expect(attempts).toHaveLength(2);
    expect((attempts[1] as number) - (attempts[0] as number)).toBeGreaterThanOrEqual(200);
  } finally {
    await sender.close();
    receiver.closeAllConnections();
    await new Promise((resolve) => receiver.close(resolve));
  }
});
