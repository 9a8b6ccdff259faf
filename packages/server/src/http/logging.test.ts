import { afterAll, beforeAll, expect, it } from 'vitest';
import { capturedLog } from '../testing/captured-log.ts';
import { createTestApp, type TestApp } from '../testing/harness.ts';

// The product logs what goes wrong, not every request: an access log line per call would cost
// the gateway a third of its throughput.
const { lines: logged, log } = capturedLog('info');
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ log });
});
afterAll(async () => {
  await t.close();
});

it('answers calls without logging them, at the info level too', async () => {
  const user = await t.signup();
  const { key } = await t.createKey(user.token, { planId: 'cm-free' });
  const call = await t.inject({ method: 'GET', url: '/v1/tokens/V6FjH7P33dh7tVHHLHczC4hyG2NUA2YatLmXiDrKRgV7/price', headers: { 'x-api-key': key } });
  expect(call.statusCode).toBe(200);
  expect((await t.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
  await new Promise((resolve) => setImmediate(resolve));
  expect(logged.filter((line) => 'reqId' in line)).toEqual([]);
});
