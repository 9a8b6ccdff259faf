import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { NewWebhookEvent } from '@tollgate/store';
import { createTestApp, type TestApp } from '../packages/server/src/testing/harness.ts';
import { startWorkers, type Workers } from '../packages/server/src/workers.ts';
import { hasTaskset, killAllChildren, pinSelf, procCpuSeconds, startServer, type RunningServer } from './lib/child.ts';
import { machine } from './lib/report.ts';
import type { ReceivedColumns } from './lib/webhooks-receiver.ts';
import { fixed, markdown, ms, pct, percentiles, thousands, type Percentiles } from './lib/webhooks-report.ts';

/*
 * `npm run bench:webhooks` (and the second half of `npm run bench`): webhook delivery, from an
 * event stored in the outbox to its receipt by the customer's server.
 *
 * The product is built in this process as the tests build it (createTestApp: fresh embedded
 * database, PGlite, demo seed; WEBHOOK_ALLOW_PRIVATE=true, every other webhook setting at its
 * default) with its workers (startWorkers: the job queue and the webhook deliverer). Customers
 * on cm-professional register endpoints through the API, each subscribed to `key.created`, and
 * the deliverer verifies them. The receiver (the tests' own, answering 200) runs in a child
 * process pinned to CPU 0. The product has the machine's two cores: its main thread runs the
 * database, the API and the deliverer, its sender thread (WEBHOOK_SENDER_THREADS, 1) signs and
 * sends, and its CPU figure counts both (so it can pass 100 %). With WEBHOOK_SENDER_THREADS=0
 * the product is pinned to CPU 1 instead, as before the sender thread existed.
 *
 * Events go straight into the outbox (`repos.webhooks.emit`, then the bus's
 * `webhooks.pending`, as the key service does), `key.created` for the endpoints' owners in
 * turn, so each event fans out to its owner's endpoints. An event's `occurredAt` is the moment
 * it is handed to the outbox; latency is the receiver's receipt time minus the body's
 * `timestamp` (that occurredAt, ms precision), per delivery. Two runs:
 *
 *  - rate: BENCH_WEBHOOK_RATE events/s (3000) for BENCH_WEBHOOK_DURATION s (10), in one batch
 *    per BENCH_WEBHOOK_TICK_MS (10; a producer that falls behind catches up in the next
 *    batch), timed until every delivery has arrived;
 *  - backlog: BENCH_WEBHOOK_BACKLOG events (20,000) stored at once (batches of 1,000 back to
 *    back), timed until every delivery has arrived.
 *
 * By default each customer has one endpoint, so an event is one delivery and events/s and
 * deliveries/s are the same figure; BENCH_WEBHOOK_FANOUT gives each customer more.
 *
 * Each run has a product of its own (a fresh database, customers and endpoints), so a run
 * starts with empty queues. A run ends when every delivery has arrived, or at the latest
 * BENCH_WEBHOOK_LIMIT s (30) after its last event was stored, which keeps a whole bench under
 * about two minutes when delivery falls behind; the workers are then stopped, which freezes the
 * queues. The run fails unless every delivery is accounted for exactly: each endpoint received
 * its owner's events exactly once (counted by `webhook-id` per endpoint), nothing else, in the
 * order they were stored, and what it did not receive by the end is still queued in the product
 * (pending, or its event not yet fanned out), never failed or lost. Latency percentiles count
 * the deliveries still queued as "more than the time since the last event was stored".
 *
 * Diagnostics printed with the results: where the latency of delivered events went (outbox,
 * dispatch and queue, sending; from the product's own tables), the wall time of the
 * deliverer's store calls, deliveries and events stored per second. `bench/lib/webhooks-costs.ts`
 * measures what each step costs alone.
 *
 * Env: BENCH_WEBHOOK_ENDPOINTS (20), BENCH_WEBHOOK_FANOUT (endpoints per customer, 1; at most
 * 10, the Professional plan's limit), BENCH_WEBHOOK_RATE, BENCH_WEBHOOK_DURATION,
 * BENCH_WEBHOOK_TICK_MS, BENCH_WEBHOOK_BACKLOG (0 skips the backlog run), BENCH_WEBHOOK_LIMIT
 * (0: wait for every delivery), BENCH_WEBHOOK_STALL (s without a receipt before a run fails,
 * 30), BENCH_PIN (0: no pinning), BENCH_CPU_PROF (1: write a V8 CPU profile of each run to
 * bench/results/profiles/; summarize with `npx tsx bench/profile-summary.ts <file>`; such a run
 * is not a reference). Diagnostics only: BENCH_WEBHOOK_DATABASE=postgres (the product on the
 * local PostgreSQL, TEST_DATABASE_URL, unpinned, instead of PGlite); WEBHOOK_CONCURRENCY and
 * WEBHOOK_POLL_INTERVAL_MS and WEBHOOK_SENDER_THREADS are passed to the product when set.
 * Method and figures: docs/benchmarks.md, "Webhook delivery".
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = path.join(ROOT, 'bench', 'results');
const EVENT = 'key.created';
const VERIFICATION = 'webhook.verification';

function envNumber(name: string, fallback: number, min: number, max = Number.POSITIVE_INFINITY): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw.replace(/_/g, ''));
  if (!Number.isFinite(value) || value < min || value > max) throw new Error(`${name} must be a number from ${min} to ${max}, got "${raw}"`);
  return value;
}

const settings = {
  endpoints: envNumber('BENCH_WEBHOOK_ENDPOINTS', 20, 1, 1_000),
  fanout: envNumber('BENCH_WEBHOOK_FANOUT', 1, 1, 10),
  rate: envNumber('BENCH_WEBHOOK_RATE', 3_000, 1),
  durationSec: envNumber('BENCH_WEBHOOK_DURATION', 10, 1),
  tickMs: envNumber('BENCH_WEBHOOK_TICK_MS', 10, 1, 1_000),
  backlog: envNumber('BENCH_WEBHOOK_BACKLOG', 20_000, 0),
  /** s after a run's last event was stored before it is cut off (0: none). */
  limitSec: envNumber('BENCH_WEBHOOK_LIMIT', 30, 0),
  stallSec: envNumber('BENCH_WEBHOOK_STALL', 30, 1),
  pin: process.env.BENCH_PIN !== '0' && hasTaskset(),
  cpuProfile: process.env.BENCH_CPU_PROF === '1',
  /** Product settings passed through for diagnostics; the reference runs set none. */
  productEnv: Object.fromEntries(
    ['WEBHOOK_CONCURRENCY', 'WEBHOOK_POLL_INTERVAL_MS', 'WEBHOOK_SENDER_THREADS'].flatMap((name) => (process.env[name] ? [[name, process.env[name] as string]] : [])),
  ) as Record<string, string>,
  database: (process.env.BENCH_WEBHOOK_DATABASE === 'postgres' ? 'postgres' : 'pglite') as 'pglite' | 'postgres',
  event: EVENT,
};
if (settings.endpoints % settings.fanout !== 0) throw new Error('BENCH_WEBHOOK_ENDPOINTS must be a multiple of BENCH_WEBHOOK_FANOUT');

/** The aim of the issue: ten times the HLD's 1,000,000 events an hour, p95 under 5 s. */
const AIM = { eventsPerSecond: 10_000_000 / 3600, p95Ms: 5_000 };
const PRODUCT_CPU = 1;
const RECEIVER_CPU = 0;
const BACKLOG_BATCH = 1_000;

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}
const sleep = (msToWait: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, msToWait)));

interface Endpoint {
  id: string;
  path: string;
  ownerIndex: number;
}

/** An event as the bench remembers it: its sequence number (in the label), owner, and when it was stored. */
interface Emitted {
  n: number;
  owner: number;
  at: number;
}

// ---------------------------------------------------------------------------------------------
// Timing of the deliverer's store calls (wall time of each call, waiting for the database
// included: PGlite answers one query at a time, so concurrent calls queue behind each other).
// The wrapper only reads the clock around the call.

interface OpStats {
  calls: number;
  totalMs: number;
  maxMs: number;
  /** dispatch: events fanned out; claimEndpoints: endpoints leased; queuedDeliveries: rows; recordAttempts: attempts stored. */
  items: number;
}
// recordAttempt (one attempt a transaction) and recordAttempts (a batch): whichever the store has.
const OPS = ['emit', 'dispatch', 'claimEndpoints', 'queuedDeliveries', 'recordAttempt', 'recordAttempts', 'release'] as const;
type Op = (typeof OPS)[number];
const opStats = new Map<Op, OpStats>();
function resetOps(): void {
  for (const op of OPS) opStats.set(op, { calls: 0, totalMs: 0, maxMs: 0, items: 0 });
}
function instrument(t: TestApp): void {
  resetOps();
  const target = t.deps.repos.webhooks as unknown as Partial<Record<Op, (...args: unknown[]) => Promise<unknown>>>;
  for (const op of OPS) {
    const method = target[op];
    if (typeof method !== 'function') continue;
    const original = method.bind(target);
    target[op] = async (...args: unknown[]) => {
      const started = performance.now();
      try {
        const result = await original(...args);
        const s = opStats.get(op) as OpStats;
        if (op === 'recordAttempts') s.items += Array.isArray(args[2]) ? args[2].length : 0;
        else if (typeof result === 'number') s.items += result;
        else if (Array.isArray(result)) s.items += result.length;
        return result;
      } finally {
        const elapsed = performance.now() - started;
        const s = opStats.get(op) as OpStats;
        s.calls++;
        s.totalMs += elapsed;
        if (elapsed > s.maxMs) s.maxMs = elapsed;
      }
    };
  }
}
function snapshotOps(): Record<Op, OpStats> {
  return Object.fromEntries(OPS.map((op) => [op, { ...(opStats.get(op) as OpStats) }])) as Record<Op, OpStats>;
}

// ---------------------------------------------------------------------------------------------

interface Bench {
  t: TestApp;
  workers: Workers;
  workersStopped: boolean;
  receiver: RunningServer;
  endpoints: Endpoint[];
  owners: { userId: string }[];
  /** Receipts so far (the receiver's count), verifications and earlier runs included. */
  receivedSoFar: number;
  nextN: number;
  workerErrors: string[];
  setupSec: number;
}

/** A product of its own for one run: fresh database, customers, verified endpoints, workers. */
async function setup(receiver: RunningServer, run: string): Promise<Bench> {
  const started = performance.now();
  const t = await createTestApp({ database: settings.database, env: { WEBHOOK_ALLOW_PRIVATE: 'true', ...settings.productEnv }, seed: true });
  const workerErrors: string[] = [];
  const workers = await startWorkers(t.config, t.deps, {
    info: () => undefined,
    error: (object: object, message: string) => {
      const err = (object as { err?: unknown } | null)?.err;
      workerErrors.push(`${message}${err instanceof Error ? `: ${err.message}` : ''}`);
      if (workerErrors.length <= 5) log(`worker error: ${workerErrors.at(-1)}`);
    },
  });
  instrument(t);
  const receivedBefore = await receivedTotal(receiver);

  const owners: { userId: string; token: string }[] = [];
  const endpoints: Endpoint[] = [];
  for (let c = 0; c < settings.endpoints / settings.fanout; c++) {
    const user = await t.signup();
    await t.grant(user.email, 'cm-professional');
    owners.push({ userId: user.userId, token: user.token });
    for (let k = 0; k < settings.fanout; k++) {
      const endpointPath = `/${run}/e${endpoints.length}`;
      const res = await t.inject({
        method: 'POST',
        url: '/api/v1/api-marketplace/webhooks',
        headers: { authorization: `Bearer ${user.token}` },
        payload: { url: receiver.url(endpointPath), events: [EVENT] },
      });
      if (res.statusCode !== 201) throw new Error(`endpoint registration answered ${res.statusCode}: ${res.body}`);
      endpoints.push({ id: (res.json() as { webhook: { id: string } }).webhook.id, path: endpointPath, ownerIndex: c });
    }
  }
  // The deliverer verifies each new endpoint first; only active endpoints receive events.
  const deadline = Date.now() + 60_000;
  for (const endpoint of endpoints) {
    for (;;) {
      const found = await t.deps.repos.webhooks.findEndpoint(endpoint.id);
      if (found?.status === 'active') break;
      if (Date.now() > deadline) throw new Error(`endpoint ${endpoint.id} is still ${found?.status} after 60 s`);
      await sleep(50);
    }
  }
  const verifications = await takeReceived(receiver);
  const others = verifications.event.filter((e) => e !== VERIFICATION).length;
  if (verifications.event.length !== endpoints.length || others > 0) {
    throw new Error(`expected ${endpoints.length} verification requests, received ${verifications.event.length} (${others} of other events)`);
  }
  const setupSec = (performance.now() - started) / 1000;
  log(`${run}: product set up in ${setupSec.toFixed(1)} s: ${owners.length} customers on cm-professional, ${endpoints.length} endpoints verified`);
  return { t, workers, workersStopped: false, receiver, endpoints, owners, receivedSoFar: receivedBefore + verifications.event.length, nextN: 0, workerErrors, setupSec };
}

async function teardown(b: Bench): Promise<void> {
  if (!b.workersStopped) await b.workers.stop();
  b.workersStopped = true;
  await b.t.close();
}

async function takeReceived(receiver: RunningServer): Promise<ReceivedColumns> {
  const stats = await receiver.stats(true);
  if (!stats) throw new Error('the receiver did not answer');
  return stats.received as ReceivedColumns;
}
async function receivedTotal(receiver: RunningServer): Promise<number> {
  const stats = await receiver.stats(false);
  if (!stats) throw new Error('the receiver did not answer');
  return stats.total as number;
}

/** `count` events for the owners in turn, stored as one batch now. */
async function emitBatch(b: Bench, count: number, emitted: Emitted[]): Promise<void> {
  const occurredAt = new Date();
  const events: NewWebhookEvent[] = [];
  for (let i = 0; i < count; i++) {
    const n = b.nextN++;
    const owner = n % b.owners.length;
    // The payload a real key.created carries; the label holds the bench's sequence number.
    events.push({
      type: EVENT,
      userId: (b.owners[owner] as { userId: string }).userId,
      payload: { apiKeyId: `key_bench${String(n).padStart(18, '0')}`, planId: 'cm-professional', label: `bench-${n}`, displayPrefix: 'tg_live_bnch', lastFour: String(n % 10_000).padStart(4, '0'), isSandbox: false },
      occurredAt,
    });
    emitted.push({ n, owner, at: occurredAt.getTime() });
  }
  const ids = await b.t.deps.repos.webhooks.emit(events);
  if (ids.length !== count) throw new Error(`the outbox stored ${ids.length} of ${count} events`);
  await b.t.deps.bus.publish({ topic: 'webhooks.pending' });
}

/**
 * Waits until `expected` more requests than before have arrived (then a little longer, for
 * late duplicates), or until `cutoffAt` (epoch ms; null: no cut-off). Then stops the workers,
 * which waits for the attempts in flight, so the queues stand still for the accounting.
 */
async function waitForDeliveries(b: Bench, expected: number, cutoffAt: number | null): Promise<{ drained: boolean; stoppedAt: number }> {
  const target = b.receivedSoFar + expected;
  let last = -1;
  let lastChange = Date.now();
  let drained = false;
  for (;;) {
    const total = await receivedTotal(b.receiver);
    if (total >= target) {
      drained = true;
      break;
    }
    if (cutoffAt !== null && Date.now() >= cutoffAt) break;
    if (total !== last) {
      last = total;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > settings.stallSec * 1000) {
      throw new Error(`deliveries stalled: ${total - b.receivedSoFar} of ${expected} received, none for ${settings.stallSec} s (worker errors: ${b.workerErrors.length})`);
    }
    await sleep(50);
  }
  const stoppedAt = Date.now();
  // Late duplicates (a retry of something already received) would arrive now.
  if (drained) await sleep(500);
  await b.workers.stop();
  b.workersStopped = true;
  b.receivedSoFar = await receivedTotal(b.receiver);
  return { drained, stoppedAt };
}

/** What the product's tables say about the run's deliveries once the workers have stopped. */
interface Accounting {
  /** key.created deliveries by status. */
  deliveries: Record<string, number>;
  /** key.created events not yet fanned out. */
  undispatchedEvents: number;
  /** Attempts that did not end in 2xx. */
  failedAttempts: number;
}

async function accounting(b: Bench): Promise<Accounting> {
  const sqlRows = (text: string) => b.t.database.executeSql(text).then((r) => r.rows);
  const byStatus = await sqlRows(`select status, count(*)::int as n from webhook_deliveries where event_type = '${EVENT}' group by status`);
  const [undispatched] = await sqlRows(`select count(*)::int as n from webhook_events where type = '${EVENT}' and dispatched_at is null`);
  // A delivery's latest attempt is on its row; webhook_attempts holds the earlier ones.
  const [failed] = await sqlRows(
    `select (select count(*) from webhook_attempts where status_code is null or status_code not between 200 and 299)
          + (select count(*) from webhook_deliveries where last_attempt_at is not null and (last_status_code is null or last_status_code not between 200 and 299)) as n`,
  );
  return {
    deliveries: Object.fromEntries(byStatus.map((r) => [String(r.status), Number(r.n)])),
    undispatchedEvents: Number(undispatched?.n ?? 0),
    failedAttempts: Number(failed?.n ?? 0),
  };
}

interface Verified {
  latenciesMs: number[];
  occurredAt: number[];
  receivedAt: number[];
  eventIds: string[];
  /** Deliveries not received by the end of the run, still queued in the product. */
  queued: number;
}

/**
 * Every emitted event exactly once at every endpoint of its owner (by `webhook-id` per
 * endpoint), nothing else, each endpoint's events in the order they were stored; what did not
 * arrive is the tail of each endpoint's queue and still queued in the product. Throws otherwise.
 */
function verify(b: Bench, emitted: Emitted[], got: ReceivedColumns, drained: boolean, account: Accounting): Verified {
  const byPath = new Map(b.endpoints.map((e) => [e.path, e]));
  const problems: string[] = [];
  const problem = (message: string) => {
    if (problems.length < 10) problems.push(message);
  };
  // Each endpoint's events in the order they were stored (n increases with the outbox's order).
  const expectedByEndpoint = new Map<string, number[]>(b.endpoints.map((e) => [e.path, []]));
  for (const event of emitted) for (const e of b.endpoints) if (e.ownerIndex === event.owner) expectedByEndpoint.get(e.path)?.push(event.n);

  const seen = new Map<string, Set<string>>(b.endpoints.map((e) => [e.path, new Set<string>()]));
  const position = new Map<string, number>(b.endpoints.map((e) => [e.path, 0]));
  const nOfEvent = new Map<string, number>();
  const out: Verified = { latenciesMs: [], occurredAt: [], receivedAt: [], eventIds: [], queued: 0 };
  for (let i = 0; i < got.path.length; i++) {
    const p = got.path[i] as string;
    const endpoint = byPath.get(p);
    const id = got.webhookIdHeader[i] as string;
    const n = got.n[i] as number;
    if (!endpoint) {
      problem(`a request to unknown path ${p}`);
      continue;
    }
    if (got.event[i] !== EVENT) {
      problem(`${p} received a ${got.event[i]} event`);
      continue;
    }
    if (got.endpointId[i] !== endpoint.id) problem(`${p} received a body for endpoint ${got.endpointId[i]}`);
    if (got.eventId[i] !== id) problem(`${p}: webhook-id ${id} differs from the body's eventId ${got.eventId[i]}`);
    const ids = seen.get(p) as Set<string>;
    if (ids.has(id)) problem(`${p} received ${id} more than once`);
    ids.add(id);
    // In order and without gaps: the k-th receipt of an endpoint is its k-th event.
    const k = position.get(p) as number;
    const want = (expectedByEndpoint.get(p) as number[])[k];
    if (want !== n) problem(`${p}: receipt ${k + 1} is event n=${n}, expected n=${want ?? '(none: nothing more was sent to it)'}`);
    position.set(p, k + 1);
    const known = nOfEvent.get(id);
    if (known === undefined) nOfEvent.set(id, n);
    else if (known !== n) problem(`event ${id} came with n=${known} and n=${n}`);
    out.latenciesMs.push((got.receivedAt[i] as number) - (got.occurredAt[i] as number));
    out.occurredAt.push(got.occurredAt[i] as number);
    out.receivedAt.push(got.receivedAt[i] as number);
    out.eventIds.push(id);
  }
  const expected = emitted.length * settings.fanout;
  const received = out.latenciesMs.length;
  out.queued = expected - received;
  const { deliveries, undispatchedEvents, failedAttempts } = account;
  const pending = deliveries.pending ?? 0;
  const succeeded = deliveries.succeeded ?? 0;
  const other = Object.entries(deliveries).filter(([status]) => status !== 'pending' && status !== 'succeeded');
  if (drained && received !== expected) problem(`${received} deliveries, expected ${expected}`);
  if (succeeded !== received) problem(`the product recorded ${succeeded} deliveries as succeeded, the receiver got ${received}`);
  if (pending + undispatchedEvents * settings.fanout !== out.queued) {
    problem(`${out.queued} deliveries not received, but the product holds ${pending} pending and ${undispatchedEvents} events not fanned out`);
  }
  if (other.length > 0) problem(`deliveries in other states: ${JSON.stringify(Object.fromEntries(other))}`);
  if (failedAttempts > 0) problem(`${failedAttempts} attempts did not end in 2xx`);
  if (problems.length > 0) throw new Error(`deliveries are not accounted for exactly:\n  ${problems.join('\n  ')}`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Where the latency goes, from the product's own tables: the event's occurredAt, the dispatch
// that fanned it out (dispatched_at: the deliverer's clock when that round began), the attempt's
// start and duration (the delivery's latest attempt, on its row), and the receipt.

interface Stages {
  /** occurredAt → dispatched_at: waiting in the outbox for the dispatcher. */
  outboxMs: Percentiles;
  /** dispatched_at → attempt started: the dispatch itself, then waiting for the endpoint's turn. */
  queueMs: Percentiles;
  /** attempt started → received (the POST until the receiver has the body). */
  sendMs: Percentiles;
  /** The attempt's recorded duration (the whole HTTP exchange). */
  attemptMs: Percentiles;
  attempts: number;
}

async function stages(b: Bench, verified: Verified): Promise<Stages> {
  const { rows } = await b.t.database.executeSql(
    `select d.event_id, d.endpoint_id,
            extract(epoch from ev.occurred_at) * 1000 as occurred,
            extract(epoch from ev.dispatched_at) * 1000 as dispatched,
            extract(epoch from d.last_attempt_at) * 1000 as started,
            d.last_duration_ms as duration_ms
       from webhook_deliveries d
       join webhook_events ev on ev.id = d.event_id
      where d.event_type = $1 and d.last_attempt_at is not null`,
    [EVENT],
  );
  // With a fan-out above 1 an event has several receipts; "POST to receipt" then takes the last.
  const receivedAt = new Map<string, number>();
  for (let i = 0; i < verified.eventIds.length; i++) receivedAt.set(verified.eventIds[i] as string, verified.receivedAt[i] as number);
  const outbox: number[] = [];
  const queue: number[] = [];
  const send: number[] = [];
  const attempt: number[] = [];
  for (const row of rows) {
    const occurred = Number(row.occurred);
    const dispatched = Number(row.dispatched);
    const started = Number(row.started);
    outbox.push(dispatched - occurred);
    queue.push(started - dispatched);
    attempt.push(Number(row.duration_ms));
    const received = receivedAt.get(String(row.event_id));
    if (received !== undefined) send.push(received - started);
  }
  return { outboxMs: percentiles(outbox), queueMs: percentiles(queue), sendMs: percentiles(send), attemptMs: percentiles(attempt), attempts: rows.length };
}

// ---------------------------------------------------------------------------------------------

interface RunResult {
  name: 'rate' | 'backlog';
  label: string;
  setupSec: number;
  events: number;
  /** Deliveries received (all of them unless the run was cut off). */
  deliveries: number;
  /** Deliveries still queued in the product when the run was cut off. */
  queued: number;
  drained: boolean;
  /** Events stored per second while the producer ran. */
  offeredEventsPerSec: number;
  produceSec: number;
  /** First event stored → last delivery received. */
  wallSec: number;
  /** Deliveries received while the producer ran, per second of it. */
  deliveredDuringRunPerSec: number;
  /** Deliveries received per second, first event stored → last delivery received. */
  deliveriesPerSec: number;
  /** Last event stored → last delivery received. */
  drainSec: number;
  /** Over received deliveries only. */
  latencyMs: Percentiles;
  /**
   * Over every delivery of the run, the ones still queued counted as longer than
   * `censoredAboveMs` (the time from the last event stored to the cut-off); a percentile that
   * falls among them is null here ("more than censoredAboveMs").
   */
  latencyAllMs: { p50: number | null; p95: number | null; p99: number | null; censoredAboveMs: number | null };
  productCpu: number;
  receiverCpu: number | null;
  loopDelayMs: { p99: number; max: number };
  ops: Record<Op, OpStats>;
  stages: Stages;
  accounting: Accounting;
  rssMb: number;
  /** Per second from the first event stored: events stored, deliveries received. */
  timeline: { stored: number[]; delivered: number[] };
}

async function measured<T>(b: Bench, name: string, fn: () => Promise<T>) {
  const profile = settings.cpuProfile ? new Session() : null;
  if (profile) {
    profile.connect();
    await profile.post('Profiler.enable');
    await profile.post('Profiler.setSamplingInterval', { interval: 200 });
    await profile.post('Profiler.start');
  }
  resetOps();
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const cpu0 = process.cpuUsage();
  const receiver0 = procCpuSeconds(b.receiver.pid);
  const wall0 = performance.now();
  const value = await fn();
  const wallSec = (performance.now() - wall0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const receiver1 = procCpuSeconds(b.receiver.pid);
  delay.disable();
  const ops = snapshotOps();
  if (profile) {
    const { profile: data } = await profile.post('Profiler.stop');
    const file = path.join(RESULTS, 'profiles', `webhooks-${name}.cpuprofile`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(data));
    profile.disconnect();
    log(`CPU profile: ${path.relative(ROOT, file)}`);
  }
  return {
    value,
    productCpu: (cpu.user + cpu.system) / 1e6 / wallSec,
    receiverCpu: receiver0 === null || receiver1 === null ? null : (receiver1 - receiver0) / wallSec,
    loopDelayMs: { p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 },
    ops,
  };
}

/** Percentiles over all of the run's deliveries, the `queued` ones counted as the slowest. */
function censored(latencies: number[], queued: number, censoredAboveMs: number | null): RunResult['latencyAllMs'] {
  const sorted = Float64Array.from(latencies).sort();
  const total = sorted.length + queued;
  const at = (q: number) => {
    const rank = Math.max(1, Math.ceil(q * total));
    return rank <= sorted.length ? (sorted[rank - 1] as number) : null;
  };
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), censoredAboveMs: queued > 0 ? censoredAboveMs : null };
}

async function finish(
  b: Bench,
  name: RunResult['name'],
  label: string,
  emitted: Emitted[],
  times: { start: number; produced: number },
  m: Awaited<ReturnType<typeof measured<{ drained: boolean; stoppedAt: number }>>>,
): Promise<RunResult> {
  const { drained, stoppedAt } = m.value;
  const got = await takeReceived(b.receiver);
  const account = await accounting(b);
  const verified = verify(b, emitted, got, drained, account);
  const lastReceived = verified.receivedAt.reduce((a, v) => Math.max(a, v), times.start);
  const produceSec = (times.produced - times.start) / 1000;
  const wallSec = (lastReceived - times.start) / 1000;
  const deliveries = verified.latenciesMs.length;
  const result: RunResult = {
    name,
    label,
    setupSec: b.setupSec,
    events: emitted.length,
    deliveries,
    queued: verified.queued,
    drained,
    offeredEventsPerSec: emitted.length / Math.max(produceSec, 0.001),
    produceSec,
    wallSec,
    deliveredDuringRunPerSec: verified.receivedAt.filter((r) => r <= times.produced).length / Math.max(produceSec, 0.001),
    deliveriesPerSec: deliveries / wallSec,
    drainSec: Math.max(0, (lastReceived - times.produced) / 1000),
    latencyMs: percentiles(verified.latenciesMs),
    latencyAllMs: censored(verified.latenciesMs, verified.queued, stoppedAt - times.produced),
    productCpu: m.productCpu,
    receiverCpu: m.receiverCpu,
    loopDelayMs: m.loopDelayMs,
    ops: m.ops,
    stages: await stages(b, verified),
    accounting: account,
    rssMb: Math.round(process.memoryUsage().rss / 1e6),
    timeline: { stored: perSecond(emitted.map((e) => e.at), times.start), delivered: perSecond(verified.receivedAt, times.start) },
  };
  log(
    `${label}: ${thousands(deliveries)} deliveries exactly once, in order${drained ? '' : `, ${thousands(result.queued)} still queued at the cut-off (accounted for)`}; ` +
      `${thousands(result.deliveriesPerSec)}/s; latency p50 ${latencyCell(result, 'p50')} ms, p95 ${latencyCell(result, 'p95')} ms; product CPU ${pct(result.productCpu)}`,
  );
  return result;
}

/** The offered load: `rate` events a second for `durationSec`, one batch per tick. */
async function rateRun(b: Bench): Promise<RunResult> {
  const total = Math.round(settings.rate * settings.durationSec);
  const label = `rate: ${thousands(settings.rate)} events/s for ${settings.durationSec} s`;
  log(`${label} (${thousands(total)} events, one batch every ${settings.tickMs} ms)`);
  const emitted: Emitted[] = [];
  const times = { start: 0, produced: 0 };
  const m = await measured(b, 'rate', async () => {
    times.start = Date.now();
    const start = performance.now();
    for (let tick = 1; emitted.length < total; tick++) {
      const elapsedMs = performance.now() - start;
      const due = Math.min(total, Math.floor((settings.rate * elapsedMs) / 1000)) - emitted.length;
      if (due > 0) await emitBatch(b, due, emitted);
      if (emitted.length < total) await sleep(start + tick * settings.tickMs - performance.now());
    }
    times.produced = Date.now();
    return waitForDeliveries(b, total * settings.fanout, settings.limitSec > 0 ? times.produced + settings.limitSec * 1000 : null);
  });
  return finish(b, 'rate', label, emitted, times, m);
}

/** A backlog stored at once, timed until its last delivery arrives. */
async function backlogRun(b: Bench): Promise<RunResult> {
  const label = `backlog: ${thousands(settings.backlog)} events at once`;
  log(label);
  const emitted: Emitted[] = [];
  const times = { start: 0, produced: 0 };
  const m = await measured(b, 'backlog', async () => {
    times.start = Date.now();
    while (emitted.length < settings.backlog) await emitBatch(b, Math.min(BACKLOG_BATCH, settings.backlog - emitted.length), emitted);
    times.produced = Date.now();
    return waitForDeliveries(b, settings.backlog * settings.fanout, settings.limitSec > 0 ? times.produced + settings.limitSec * 1000 : null);
  });
  return finish(b, 'backlog', label, emitted, times, m);
}

function perSecond(times: number[], start: number): number[] {
  const counts: number[] = [];
  for (const t of times) {
    const second = Math.max(0, Math.floor((t - start) / 1000));
    while (counts.length <= second) counts.push(0);
    counts[second] = (counts[second] ?? 0) + 1;
  }
  return counts;
}

/** The commit measured, and whether the product's sources differ from it. */
function codeState(): { commit: string | null; productChanged: string[] } {
  const git = (...args: string[]) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' });
  const head = git('rev-parse', '--short', 'HEAD');
  const status = git('status', '--porcelain', '--', 'packages');
  return { commit: head.status === 0 ? head.stdout.trim() : null, productChanged: status.status === 0 ? status.stdout.split('\n').filter(Boolean).map((l) => l.slice(3)) : [] };
}

/** A latency percentile over all deliveries; "> N s" when it falls among those still queued. */
function latencyCell(r: RunResult, q: 'p50' | 'p95' | 'p99'): string {
  const value = r.latencyAllMs[q];
  if (value !== null) return ms(value);
  return `> ${ms(r.latencyAllMs.censoredAboveMs ?? 0)}`;
}

// ---------------------------------------------------------------------------------------------

function resultsTable(runs: RunResult[]): string {
  return markdown(
    ['run', 'events', 'delivered', 'still queued', 'offered ev/s', 'deliveries/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms (delivered)', 'product CPU', 'receiver CPU'],
    runs.map((r) => [
      r.label,
      thousands(r.events),
      thousands(r.deliveries),
      thousands(r.queued),
      thousands(r.offeredEventsPerSec),
      thousands(r.deliveriesPerSec),
      latencyCell(r, 'p50'),
      latencyCell(r, 'p95'),
      latencyCell(r, 'p99'),
      ms(r.latencyMs.max),
      pct(r.productCpu),
      pct(r.receiverCpu),
    ]),
  );
}

function stagesTable(runs: RunResult[]): string {
  const cell = (p: Percentiles) => `${fixed(p.p50, 0)} / ${fixed(p.p95, 0)}`;
  return markdown(
    ['delivered (p50 / p95 ms)', 'in the outbox', 'dispatch + endpoint queue', 'POST to receipt', 'attempt (recorded)'],
    runs.map((r) => [r.name, cell(r.stages.outboxMs), cell(r.stages.queueMs), cell(r.stages.sendMs), cell(r.stages.attemptMs)]),
  );
}

function opsTable(runs: RunResult[]): string {
  const rows: string[][] = [];
  for (const r of runs) {
    const deliveries = Math.max(1, r.deliveries);
    for (const op of OPS) {
      const s = r.ops[op];
      if (s.calls === 0) continue;
      rows.push([`${r.name}: ${op}`, thousands(s.calls), fixed(s.totalMs / s.calls, 2), fixed(s.maxMs, 1), fixed(s.totalMs / 1000, 1), fixed((s.totalMs * 1000) / deliveries, 0), s.items > 0 ? fixed(s.items / s.calls, 1) : '']);
    }
  }
  return markdown(['store call', 'calls', 'mean ms', 'max ms', 'total s', 'µs per delivery', 'items per call'], rows);
}

async function main(): Promise<void> {
  const started = Date.now();
  const code = codeState();
  const loadBefore = os.loadavg();
  // Sending on its own thread, the product is held to one core; with a sender thread it has both.
  const pinned = settings.pin && settings.productEnv.WEBHOOK_SENDER_THREADS === '0' && pinSelf(PRODUCT_CPU);
  const info = machine();
  log(
    `${info.cpuModel}, ${info.cores} cores, Node ${info.node}; ${settings.database}; ${settings.endpoints} endpoints (${settings.fanout} per customer), ` +
      `receiver ${settings.pin ? `pinned to CPU ${RECEIVER_CPU}` : 'not pinned'}, product ${pinned ? `pinned to CPU ${PRODUCT_CPU}` : 'on both CPUs'}${settings.cpuProfile ? '; CPU profiling on (not a reference run)' : ''}`,
  );
  if (info.cores < 2) log('warning: fewer than 2 cores, the product and the receiver share one');

  const receiver = await startServer({ script: 'bench/lib/webhooks-receiver.ts', cpu: settings.pin ? RECEIVER_CPU : null });
  const runs: RunResult[] = [];
  const workerErrors: string[] = [];
  try {
    const scenarios: [RunResult['name'], (b: Bench) => Promise<RunResult>][] = [['rate', rateRun]];
    if (settings.backlog > 0) scenarios.push(['backlog', backlogRun]);
    for (const [name, run] of scenarios) {
      const b = await setup(receiver, name);
      try {
        runs.push(await run(b));
      } finally {
        workerErrors.push(...b.workerErrors);
        await teardown(b);
      }
    }
  } finally {
    await receiver.stop();
  }
  if (workerErrors.length > 0) throw new Error(`the workers logged ${workerErrors.length} errors, e.g. ${workerErrors[0]}`);

  const totalSec = (Date.now() - started) / 1000;
  const loadAfter = os.loadavg();
  const rate = runs.find((r) => r.name === 'rate');
  const backlog = runs.find((r) => r.name === 'backlog');
  const productEnv = Object.entries(settings.productEnv).map(([k, v]) => `, ${k}=${v}`).join('');
  const out = [
    '',
    `Tollgate webhook delivery benchmark — ${new Date(started).toISOString()}`,
    `machine: ${info.cpuModel}, ${info.cores} cores, ${info.memoryGb} GB, ${info.platform}, Node ${info.node}`,
    `code: commit ${code.commit ?? '?'}${code.productChanged.length > 0 ? ` with uncommitted changes to ${code.productChanged.join(', ')}` : ''}`,
    `product: createTestApp (${settings.database}, demo seed, WEBHOOK_ALLOW_PRIVATE=true${productEnv}) + startWorkers, fresh for each run, in this process${pinned ? ` pinned to CPU ${PRODUCT_CPU}` : ''}; receiver in a child process${settings.pin ? ` pinned to CPU ${RECEIVER_CPU}` : ''}`,
    `endpoints: ${settings.endpoints} (${settings.endpoints / settings.fanout} customers × ${settings.fanout}), each subscribed to ${EVENT}; events emitted into the outbox, one batch every ${settings.tickMs} ms in the rate run, ${BACKLOG_BATCH} per batch in the backlog run; a run is cut off ${settings.limitSec > 0 ? `${settings.limitSec} s after its last event was stored` : 'never'}`,
    `load average before ${loadBefore.map((n) => n.toFixed(2)).join(' ')}, after ${loadAfter.map((n) => n.toFixed(2)).join(' ')}; total ${totalSec.toFixed(0)} s`,
    '',
    resultsTable(runs),
    '',
    "Where the latency goes (per delivered delivery, from the product's tables and the receipt):",
    '',
    stagesTable(runs),
    '',
    "The deliverer's store calls (wall time per call, waiting for the database included):",
    '',
    opsTable(runs),
    '',
    `aim: ${thousands(AIM.eventsPerSecond)} events/s (10 × the HLD's 1,000,000 an hour) with p95 under ${AIM.p95Ms / 1000} s.`,
  ];
  const p95Met = (r: RunResult) => r.latencyAllMs.p95 !== null && r.latencyAllMs.p95 < AIM.p95Ms;
  if (rate) {
    // Kept up: the last delivery arrived within 2 s of the last event stored.
    const keptUp = rate.drained && rate.drainSec <= 2;
    const rateMet = rate.offeredEventsPerSec >= AIM.eventsPerSecond * 0.99 && keptUp;
    const drained = rate.drained ? `the last delivery ${rate.drainSec.toFixed(1)} s after the last event` : `${thousands(rate.queued)} still queued ${settings.limitSec} s after the last event`;
    out.push(
      `  rate run: offered ${thousands(rate.offeredEventsPerSec)} events/s, delivered ${thousands(rate.deliveriesPerSec)}/s (${thousands(rate.deliveredDuringRunPerSec)}/s while events were being stored); ` +
        `${keptUp ? 'kept up' : 'fell behind'} (${drained}). ` +
        `Rate aim ${rateMet ? 'met' : 'MISSED'}; p95 ${latencyCell(rate, 'p95')} ms: aim ${p95Met(rate) ? 'met' : 'MISSED'}.`,
    );
  }
  if (backlog) {
    const eventsPerSec = backlog.deliveriesPerSec / settings.fanout;
    out.push(
      `  backlog run: ${thousands(eventsPerSec)} events/s (${thousands(backlog.deliveriesPerSec)} deliveries/s) at saturation: rate aim ${eventsPerSec >= AIM.eventsPerSecond ? 'met' : 'MISSED'}; ` +
        `${backlog.drained ? `all delivered ${backlog.wallSec.toFixed(1)} s after the first event was stored` : `${thousands(backlog.queued)} still queued at the cut-off`}; storing the backlog took ${backlog.produceSec.toFixed(1)} s.`,
    );
  }
  for (const r of runs) {
    out.push(`  ${r.name}, per second from the first event: stored ${r.timeline.stored.join(' ')}; delivered ${r.timeline.delivered.join(' ')}`);
    out.push(`  ${r.name}: set-up ${r.setupSec.toFixed(1)} s; event-loop delay p99 ${fixed(r.loopDelayMs.p99, 0)} ms, max ${fixed(r.loopDelayMs.max, 0)} ms; RSS ${r.rssMb} MB; deliveries in the product at the end: ${JSON.stringify(r.accounting.deliveries)}, events not fanned out: ${r.accounting.undispatchedEvents}`);
  }
  console.log(out.join('\n'));

  mkdirSync(RESULTS, { recursive: true });
  const file = path.join(RESULTS, 'webhooks-latest.json');
  writeFileSync(
    file,
    JSON.stringify({ startedAt: new Date(started).toISOString(), totalSec, code, machine: info, loadAverage: { before: loadBefore, after: loadAfter }, settings: { ...settings, pinned }, aim: AIM, runs }, null, 2) + '\n',
  );
  console.log(`\nresults: ${path.relative(ROOT, file)}`);
}

process.on('SIGINT', () => {
  killAllChildren();
  process.exit(130);
});
try {
  await main();
} catch (error) {
  killAllChildren();
  console.error(error);
  process.exit(1);
}
killAllChildren();
// The job queue and the database may leave timers behind; the bench is done.
process.exit(0);
