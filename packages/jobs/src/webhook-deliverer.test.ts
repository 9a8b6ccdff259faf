import { afterAll, beforeAll, expect, it } from 'vitest';
import { createSecretBox } from '@tollgate/core';
import { createRepositories, type Repositories } from '@tollgate/store';
import { openTestPglite, type TestDatabase } from '@tollgate/store/testing';
import { WebhookDeliverer } from './webhook-deliverer.ts';

let database: TestDatabase;
beforeAll(async () => {
  database = await openTestPglite();
});
afterAll(() => database.close());

it('gathers wake-ups: rounds start at most every roundGapMs however often it is woken', async () => {
  const real = createRepositories(database.db);
  let rounds = 0;
  const webhooks = Object.create(real.webhooks) as Repositories['webhooks'];
  webhooks.dispatch = (limit, now) => {
    rounds++;
    return real.webhooks.dispatch(limit, now);
  };
  const deliverer = new WebhookDeliverer({ ...real, webhooks }, {
    workerId: 'wrk_gap',
    transport: { sendRun: () => Promise.reject(new Error('nothing is due')) },
    secretBox: createSecretBox('11'.repeat(32)),
    clock: { now: () => Date.now() },
    log: { info: () => undefined, error: () => undefined },
    retrySchedule: [1_000],
    maxAttempts: 3,
    pollIntervalMs: 5_000,
    roundGapMs: 100,
  });
  deliverer.start();
  const started = performance.now();
  // Woken every 2 ms for 600 ms, as by a stream of stored events.
  while (performance.now() - started < 600) {
    deliverer.wake();
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await deliverer.stop();
  const elapsed = performance.now() - started;
  expect(rounds).toBeGreaterThanOrEqual(2); // the wake-ups do start rounds (the poll alone would start one)
  expect(rounds).toBeLessThanOrEqual(Math.ceil(elapsed / 100) + 1);
});
