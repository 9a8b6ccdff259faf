import { signWebhook } from '@tollgate/core';
import { WebhookHttpClient } from '@tollgate/runtime';
import { schema, type AttemptRecord, type NewWebhookEvent } from '@tollgate/store';
import { sql } from 'drizzle-orm';
import { Agent, request } from 'undici';
import { createTestApp } from '../../packages/server/src/testing/harness.ts';
import { hasTaskset, killAllChildren, pinSelf, startServer } from './child.ts';

/*
 * Diagnostics for docs/benchmarks.md, "Webhook delivery": what each step of a delivery costs
 * the product's thread when it runs alone (no other work queued on the database), per event or
 * per delivery, with the store's own methods on a fresh product (createTestApp, PGlite), in the
 * sizes the deliverer uses. This process is pinned to CPU 1, the receiver (a child) to CPU 0,
 * as in the bench. Also, to size the proposals, the same work written differently (plain SQL
 * here, not product code): the outbox insert with `unnest`, and the parts of dispatch.
 *
 *   npx tsx bench/lib/webhooks-costs.ts
 */

const pinned = process.env.BENCH_PIN !== '0' && hasTaskset() && pinSelf(1);
const N = 2_000;
const t = await createTestApp({ env: { WEBHOOK_ALLOW_PRIVATE: 'true' } });
const receiver = await startServer({ script: 'bench/lib/webhooks-receiver.ts', cpu: pinned ? 0 : null });
const { repos } = t.deps;
const db = t.deps.database.db;

const user = await t.signup();
await t.grant(user.email, 'cm-professional');
const created = await t.inject({ method: 'POST', url: '/api/v1/api-marketplace/webhooks', headers: { authorization: `Bearer ${user.token}` }, payload: { url: receiver.url('/costs'), events: ['key.created'] } });
const endpointId = (created.json() as { webhook: { id: string } }).webhook.id;
// Verified by hand (no workers run here): its verification delivery out of the way.
await repos.webhooks.dispatch(1_000, new Date());
await db.execute(sql`update webhook_deliveries set status = 'succeeded' where endpoint_id = ${endpointId}`);
await repos.webhooks.updateEndpoint(endpointId, { status: 'active' });

const rows: string[][] = [];
let measuring = false;
/** Runs `fn` `times` times; `fn` answers how many items it handled. Notes wall and CPU µs per item. */
async function cost(label: string, times: number, fn: (i: number) => Promise<number>): Promise<void> {
  let items = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < times; i++) items += await fn(i);
  const wallUs = ((performance.now() - t0) * 1000) / items;
  const cpu = process.cpuUsage(cpu0);
  const cpuUs = (cpu.user + cpu.system) / items;
  if (!measuring) return;
  rows.push([label, wallUs.toFixed(0), cpuUs.toFixed(0)]);
  process.stderr.write(`${label}: ${wallUs.toFixed(0)} µs wall, ${cpuUs.toFixed(0)} µs CPU\n`);
}

let nextN = 0;
const events = (count: number): NewWebhookEvent[] =>
  Array.from({ length: count }, () => {
    const n = nextN++;
    return { type: 'key.created', userId: user.userId, payload: { apiKeyId: `key_bench${String(n).padStart(18, '0')}`, planId: 'cm-professional', label: `bench-${n}`, displayPrefix: 'tg_live_bnch', lastFour: '0000', isSandbox: false }, occurredAt: new Date() };
  });

const owner = 'wrk_costs';
const http = new WebhookHttpClient({ allowPrivate: true, timeoutMs: 10_000 });
const agent = new Agent();
const secret = `whsec_${Buffer.alloc(32, 3).toString('base64')}`;
const record = (d: { id: string }): AttemptRecord => {
  const now = new Date();
  return { deliveryId: d.id, endpointId, attempt: 1, startedAt: now, durationMs: 1, statusCode: 200, error: null, responseExcerpt: 'ok', delivery: { status: 'succeeded', nextAttemptAt: null }, endpoint: { status: 'active', pausedReason: null, consecutiveFailures: 0, verified: false }, leaseUntil: new Date(now.getTime() + 600_000) };
};
const exec = (text: string, values: unknown[] = []) => t.database.executeSql(text, values);

/** Every step once; the first pass warms up (JIT, caches) and is not reported. */
async function pass(): Promise<void> {
  await cost('a trivial query (select 1)', 300, () => db.execute(sql`select 1`).then(() => 1));
  await cost('an empty transaction', 300, () => db.transaction(async () => undefined).then(() => 1));
  await cost('emit, batches of 30 (per event)', 20, () => repos.webhooks.emit(events(30)).then((ids) => ids.length));
  await cost('emit, batches of 1,000 (per event)', 2, () => repos.webhooks.emit(events(1_000)).then((ids) => ids.length));
  await cost('dispatch, 1,000 events a call, fan-out 1 (per delivery)', 2, () => repos.webhooks.dispatch(1_000, new Date()));
  await cost('dispatch, 600 events, fan-out 1 (per delivery)', 1, () => repos.webhooks.dispatch(1_000, new Date()));
  await cost('dispatch, nothing waiting (per call)', 50, () => repos.webhooks.dispatch(1_000, new Date()).then(() => 1));
  await cost('claimEndpoints, one endpoint due (per call)', 1, async () => {
    const claimed = await repos.webhooks.claimEndpoints(owner, new Date(), 600_000, 32, 'webhook.verification');
    if (claimed.length !== 1) throw new Error('the endpoint was not claimed');
    return 1;
  });
  let queue = await repos.webhooks.queuedDeliveries(endpointId, 100);
  await cost('queuedDeliveries, 100 (per delivery)', 5, async () => {
    queue = await repos.webhooks.queuedDeliveries(endpointId, 100);
    return queue.length;
  });
  const bodies = queue.map((d) => JSON.stringify({ webhookId: endpointId, eventId: d.eventId, event: d.eventType, timestamp: d.occurredAt.toISOString(), payload: d.payload }));
  await cost('sign (Standard Webhooks + sha256 headers)', 1_000, (i) => {
    signWebhook({ messageId: queue[i % queue.length]?.eventId ?? 'evt_x', timestampSec: Math.floor(Date.now() / 1000), body: bodies[i % bodies.length] as string, secrets: [secret] });
    return Promise.resolve(1);
  });
  const post = (i: number) => http.post(receiver.url('/costs'), { 'webhook-id': `evt_${i}` }, bodies[i % bodies.length] as string);
  await cost('POST to the receiver, one at a time (per delivery)', 500, (i) => post(i).then(() => 1));
  await cost('POST to the receiver, 20 at once (per delivery)', 50, (i) => Promise.all(Array.from({ length: 20 }, (_, k) => post(i * 20 + k))).then((r) => r.length));
  // The HTTP client's own work: the same POST with undici alone (one keep-alive Agent, no timer, abort signal or decoder).
  const rawPost = (i: number) =>
    request(receiver.url('/costs'), { dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/json', 'webhook-id': `evt_${i}` }, body: bodies[i % bodies.length] as string }).then((r) => r.body.text());
  await cost('what-if: POST with undici alone, 20 at once (per delivery)', 50, (i) => Promise.all(Array.from({ length: 20 }, (_, k) => rawPost(i * 20 + k))).then((r) => r.length));
  await cost('queuedDeliveries + recordAttempts, 100 successes (per delivery)', 5, async () => {
    const batch = await repos.webhooks.queuedDeliveries(endpointId, 100);
    if (batch.length < 100) throw new Error('queue ran dry');
    if (!(await repos.webhooks.recordAttempts(owner, 'active', batch.map(record)))) throw new Error('lease lost');
    return batch.length;
  });
  await cost('release (per call)', 1, () => repos.webhooks.release(endpointId, owner).then(() => 1));

  // recordAttempts' two writes apart, on pending deliveries read beforehand (not timed).
  const pending = await repos.webhooks.queuedDeliveries(endpointId, 300);
  const chunk = (i: number) => pending.slice(i * 100, i * 100 + 100);
  await cost("what-if: recordAttempts' webhook_attempts insert alone, 100 (per delivery)", 3, async (i) => {
    await db.insert(schema.webhookAttempts).values(chunk(i).map((d) => ({ deliveryId: d.id, attempt: 1, startedAt: new Date(), durationMs: 1, statusCode: 200, error: null, responseExcerpt: 'ok' })));
    return chunk(i).length;
  });
  await cost("what-if: recordAttempts' webhook_deliveries update alone, 100 (per delivery)", 3, async (i) => {
    const now = new Date().toISOString();
    await exec(
      `update webhook_deliveries d set status = v.status, attempts = v.attempts, last_status_code = v.code, next_attempt_at = v.next, delivered_at = coalesce(v.delivered, d.delivered_at)
       from unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::timestamptz[], $6::timestamptz[]) as v(id, status, attempts, code, next, delivered) where d.id = v.id`,
      [chunk(i).map((d) => d.id), chunk(i).map(() => 'succeeded'), chunk(i).map(() => 1), chunk(i).map(() => 200), chunk(i).map(() => null), chunk(i).map(() => now)],
    );
    return chunk(i).length;
  });

  // The same work written differently, to size the proposals (not what the product does).
  await cost('what-if: outbox insert with unnest, 1,000 (per event)', 2, () => {
    const batch = events(1_000);
    return exec(
      `insert into webhook_events (id, type, user_id, payload, occurred_at)
       select 'evt_' || md5(random()::text || u.label), 'key.created', u.user_id, u.payload, u.at
       from unnest($1::text[], $2::jsonb[], $3::timestamptz[], $4::text[]) as u(user_id, payload, at, label)`,
      [batch.map((e) => e.userId), batch.map((e) => JSON.stringify(e.payload)), batch.map((e) => e.occurredAt.toISOString()), batch.map((e) => String(e.payload.label))],
    ).then(() => 1_000);
  });
  await exec(`update webhook_events set dispatched_at = now() where dispatched_at is null`);
  await repos.webhooks.emit(events(1_000));
  await cost("what-if: dispatch's insert alone, 1,000 (per delivery)", 1, () =>
    exec(`insert into webhook_deliveries (id, endpoint_id, event_id, event_type, next_attempt_at)
          select 'whd_' || substr(md5(ev.id || '/' || e.id), 1, 22), e.id, ev.id, ev.type, now()
          from webhook_events ev join webhook_endpoints e on e.status <> 'deleted' and e.events @> jsonb_build_array(ev.type) and e.user_id = ev.user_id
          where ev.dispatched_at is null order by ev.seq, e.id on conflict (endpoint_id, event_id) do nothing`).then(() => 1_000),
  );
  await cost("what-if: dispatch's update of dispatched_at alone, 1,000 (per event)", 1, () => exec(`update webhook_events set dispatched_at = now() where dispatched_at is null`).then(() => 1_000));
}

await pass();
measuring = true;
await pass();

await http.close();
await agent.close();
await receiver.stop();
await t.close();
const width = Math.max(...rows.map((r) => (r[0] as string).length));
console.log(`\nper item, alone on the product's thread (pinned: ${pinned}); PGlite, fresh database\n`);
console.log(`| ${'step'.padEnd(width)} | wall µs | CPU µs |\n|${'-'.repeat(width + 2)}|--------:|-------:|`);
for (const [label, wall, cpu] of rows) console.log(`| ${(label as string).padEnd(width)} | ${(wall as string).padStart(7)} | ${(cpu as string).padStart(6)} |`);
killAllChildren();
process.exit(0);
