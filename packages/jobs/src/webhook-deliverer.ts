import { decideAfterAttempt, VERIFICATION_EVENT, type Clock, type SecretBox } from '@tollgate/core';
import type { AttemptRecord, ClaimedEndpoint, DeliveryToSend, Repositories } from '@tollgate/store';
import type { JobLog } from './queue.ts';

/** Deliveries read from an endpoint's queue at a time, and the most results stored in one transaction. */
const BATCH = 100;
/** Events fanned out per transaction. */
const DISPATCH_BATCH = 1_000;
/** Retry times a worker remembers to wake up for; past this many, the idle poll finds the rest. */
const REMINDERS = 1_000;

/**
 * What the deliverer needs of an HTTP sender (the runtime's WebhookSender): send an endpoint's
 * deliveries in order, each signed as it goes out, stopping after the first that fails or once
 * the deadline (ms since the epoch) has passed; at least one is attempted.
 */
export interface WebhookTransport {
  sendRun(url: string, secrets: readonly string[], requests: readonly { messageId: string; body: string }[], deadline: number): Promise<{
    ok: boolean;
    statusCode: number | null;
    durationMs: number;
    responseExcerpt: string | null;
    error: { code: string; message: string } | null;
    /** ms since the epoch */
    startedAt: number;
  }[]>;
}

type AttemptResult = Awaited<ReturnType<WebhookTransport['sendRun']>>[number];

export interface WebhookDelivererOptions {
  /** Names this worker's endpoint leases; unique per process. */
  workerId: string;
  transport: WebhookTransport;
  secretBox: SecretBox;
  clock: Clock;
  log: JobLog;
  /** Delays before each retry (ms); past the end the last one repeats. */
  retrySchedule: readonly number[];
  /** Attempts a delivery gets in all before it is marked failed. */
  maxAttempts: number;
  /** How often an idle worker looks for due deliveries. */
  pollIntervalMs?: number;
  /**
   * The longest wait between rounds while nothing happens: each round that finds no work doubles
   * the wait from pollIntervalMs up to this. Wake-ups (events stored) and the retries this
   * worker stored end a wait early; the poll finds what other workers left (a crashed worker's
   * retries, expired leases).
   */
  idlePollMaxMs?: number;
  /** The least time between the starts of two rounds (dispatch and claim), however often woken. */
  roundGapMs?: number;
  /** Endpoints served at once (each one's deliveries go one after another). */
  concurrency?: number;
  /** How long a claimed endpoint stays this worker's without being released. */
  leaseMs?: number;
  random?: () => number;
}

/**
 * Sends webhook deliveries: fans new outbox events out to the endpoints' queues, then leases
 * endpoints whose next delivery is due and sends each one's queue in order, signing every
 * attempt. Many workers (processes) may run at once: the dispatcher runs in one of them at a
 * time, and an endpoint is leased by one worker at a time, so no attempt is sent twice at once
 * and each endpoint receives its events in order. State lives in the database, so a restart
 * continues where the last attempt was stored.
 */
export class WebhookDeliverer {
  private readonly inFlight = new Map<string, Promise<void>>();
  private running = false;
  private stopping = false;
  private loop: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  private readonly pollIntervalMs: number;
  private readonly idlePollMaxMs: number;
  /** Rounds in a row that found nothing to do. */
  private idleRounds = 0;
  /** When retries this worker stored fall due (ms, by the clock), to wake up for them. */
  private reminders: number[] = [];
  /** When the last round looked for due endpoints (ms, by the clock): it took what was due then. */
  private lastRoundAt = -Infinity;
  private readonly roundGapMs: number;
  private readonly concurrency: number;
  private readonly leaseMs: number;
  private readonly random: () => number;

  constructor(
    private readonly repos: Repositories,
    private readonly options: WebhookDelivererOptions,
  ) {
    this.pollIntervalMs = options.pollIntervalMs ?? 250;
    this.idlePollMaxMs = Math.max(this.pollIntervalMs, options.idlePollMaxMs ?? 5_000);
    this.roundGapMs = Math.min(options.roundGapMs ?? 50, this.pollIntervalMs);
    this.concurrency = options.concurrency ?? 32;
    this.leaseMs = options.leaseMs ?? 60_000;
    this.random = options.random ?? Math.random;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Looks for work now instead of at the next poll (an event was just stored). */
  wake(): void {
    this.idleRounds = 0;
    this.wakeUp?.();
  }

  /**
   * Stops taking work and waits (up to `waitMs`) for the attempts in flight to be stored. An
   * attempt still running then is sent again by whichever worker next takes the endpoint: a
   * receiver gets every event at least once, and dedupes by `webhook-id`.
   */
  async stop(waitMs = 5_000): Promise<void> {
    this.running = false;
    this.stopping = true;
    this.wake();
    await this.loop;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(this.inFlight.values()),
      new Promise((resolve) => {
        timer = setTimeout(resolve, waitMs);
      }),
    ]);
    clearTimeout(timer);
  }

  /**
   * One round: dispatch new events, then serve every endpoint that is due, up to the
   * concurrency. Resolves when the endpoints it started are done (tests drive it directly).
   */
  async runOnce(): Promise<void> {
    await this.tick();
    await Promise.allSettled(this.inFlight.values());
  }

  private async run(): Promise<void> {
    while (this.running) {
      const began = performance.now();
      let round = { backlog: false, idle: true };
      try {
        round = await this.tick();
      } catch (error) {
        this.options.log.error({ err: error }, 'webhook delivery round failed; retrying');
      }
      if (!this.running) break;
      this.idleRounds = round.idle && this.inFlight.size === 0 ? this.idleRounds + 1 : 0;
      // More events than one dispatch takes: go on at once. Otherwise wait for the poll, or for a
      // wake-up (events stored, an endpoint released): each round costs a few queries, and
      // spinning on them would take the CPU the deliveries need. While idle the wait grows: four
      // rounds a second cost an idle process ~1.6 % of a core on PGlite (docs/benchmarks.md).
      if (!round.backlog) await this.pause(this.idleWaitMs(), true);
      // Rounds start at most every roundGapMs, so a busy stream's wake-ups (every event stored,
      // every endpoint released) gather into fewer, larger dispatches and claims.
      const gap = this.roundGapMs - (performance.now() - began);
      if (gap > 0 && this.running) await this.pause(gap, false);
    }
  }

  /** The poll's wait, doubled for each idle round in a row up to idlePollMaxMs, or less if a retry falls due before. */
  private idleWaitMs(): number {
    const doublings = Math.min(Math.max(0, this.idleRounds - 1), 20);
    const poll = Math.min(this.idlePollMaxMs, this.pollIntervalMs * 2 ** doublings);
    // A reminder due after the last round started is still to be looked at, at once if already due.
    this.reminders = this.reminders.filter((at) => at > this.lastRoundAt);
    if (this.reminders.length === 0) return poll;
    return Math.min(poll, Math.max(0, Math.min(...this.reminders) - this.options.clock.now()));
  }

  /** Wakes this worker when a retry it stored falls due. */
  private remindAt(at: Date | null): void {
    if (at !== null && this.reminders.length < REMINDERS) this.reminders.push(at.getTime());
  }

  /** Waits `ms`; a wake-up ends the wait early when `wakeable`, and always when stopping. */
  private async pause(ms: number, wakeable: boolean): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeUp = () => {
        if (!wakeable && this.running) return;
        clearTimeout(timer);
        resolve();
      };
    });
    this.wakeUp = null;
  }

  /** Answers whether events are left to dispatch, and whether the round found nothing to do. */
  private async tick(): Promise<{ backlog: boolean; idle: boolean }> {
    const now = new Date(this.options.clock.now());
    this.lastRoundAt = now.getTime();
    const dispatched = await this.repos.webhooks.dispatch(DISPATCH_BATCH, now);
    const backlog = dispatched === DISPATCH_BATCH;
    const free = this.concurrency - this.inFlight.size;
    if (free <= 0) return { backlog, idle: false };
    const claimed = await this.repos.webhooks.claimEndpoints(this.options.workerId, now, this.leaseMs, free, VERIFICATION_EVENT);
    for (const endpoint of claimed) {
      const task = this.serve(endpoint)
        .catch((error) => this.options.log.error({ err: error, webhookId: endpoint.id }, 'webhook endpoint round failed'))
        .finally(() => {
          this.inFlight.delete(endpoint.id);
          this.wake();
        });
      this.inFlight.set(endpoint.id, task);
    }
    return { backlog, idle: dispatched === 0 && claimed.length === 0 };
  }

  /**
   * Sends the endpoint's due deliveries in order until one must wait, then releases it. Results
   * are stored in batches: a run of successes in one transaction, and at once whenever an
   * attempt failed or changed the endpoint's state. A worker that dies before storing a batch
   * leaves those deliveries to be sent again (at least once; receivers dedupe by webhook-id).
   */
  private async serve(endpoint: ClaimedEndpoint): Promise<void> {
    const { repos, options } = this;
    let state = { status: endpoint.status, consecutiveFailures: endpoint.consecutiveFailures };
    let stored = endpoint.status; // the endpoint's status as last stored
    const unstored: AttemptRecord[] = [];
    const store = async (): Promise<boolean> => {
      const goOn = await repos.webhooks.recordAttempts(options.workerId, stored, unstored.splice(0));
      stored = state.status;
      return goOn;
    };
    try {
      const secrets = this.secretsOf(endpoint);
      // Bounded, so one busy endpoint cannot hold a worker slot for ever.
      for (let round = 0; round < 10 && !this.stopping; round++) {
        // A pending endpoint is sent its verification first, ahead of what waits for it.
        const verifying = state.status === 'pending';
        if (!verifying && state.status !== 'active') return;
        const queue = await repos.webhooks.queuedDeliveries(endpoint.id, BATCH, verifying ? VERIFICATION_EVENT : undefined);
        const now = options.clock.now();
        const firstNotDue = queue.findIndex((d) => d.nextAttemptAt.getTime() > now);
        let due = firstNotDue < 0 ? queue : queue.slice(0, firstNotDue);
        while (due.length > 0) {
          const results = await this.send(endpoint, secrets, due);
          for (const [index, result] of results.entries()) {
            const before = state.status;
            const record = this.recordOf(endpoint, due[index] as DeliveryToSend, result, state);
            unstored.push(record);
            state = { status: record.endpoint.status, consecutiveFailures: record.endpoint.consecutiveFailures };
            if (record.delivery.status === 'succeeded' && state.status === before) continue;
            if (!(await store())) return; // the lease was lost, or someone else changed the endpoint
            if (state.status === 'paused') options.log.info({ webhookId: endpoint.id, reason: record.endpoint.pausedReason }, 'webhook endpoint paused');
            if (record.delivery.status === 'pending') {
              this.remindAt(record.delivery.nextAttemptAt);
              return; // it waits for its retry, and so does the queue behind it
            }
            if (state.status !== 'active' && state.status !== 'pending') return;
          }
          if (results.length === 0) return; // a transport that attempted nothing: never spin on it
          // The run stopped at its deadline, or at a delivery that gave up for good: the rest goes
          // on, after storing what was sent, which renews the lease.
          due = due.slice(results.length);
          if (due.length > 0 && !(await store())) return;
        }
        if (!(await store())) return;
        if (verifying && state.status === 'active') continue; // verified: now the rest of its queue
        if (queue.length < BATCH || firstNotDue >= 0) return;
      }
    } finally {
      await store().catch((error) => options.log.error({ err: error, webhookId: endpoint.id }, 'webhook attempts could not be stored; they will be sent again'));
      await repos.webhooks.release(endpoint.id, options.workerId).catch(() => undefined);
    }
  }

  /** Sends a run of the endpoint's deliveries (see WebhookTransport). */
  private send(endpoint: ClaimedEndpoint, secrets: string[] | Error, deliveries: readonly DeliveryToSend[]): Promise<AttemptResult[]> {
    if (secrets instanceof Error) {
      const failure = { ok: false, statusCode: null, durationMs: 0, responseExcerpt: null, error: { code: 'secret_unavailable', message: secrets.message }, startedAt: this.options.clock.now() };
      return Promise.resolve([failure]);
    }
    const requests = deliveries.map((delivery) => ({
      messageId: delivery.eventId,
      body: JSON.stringify({
        webhookId: endpoint.id,
        eventId: delivery.eventId,
        event: delivery.eventType,
        timestamp: delivery.occurredAt.toISOString(),
        payload: delivery.payload,
      }),
    }));
    // Half the lease, by the sender's clock (the system's: this bounds a duration): the results
    // are stored, renewing the lease, before another worker could take the endpoint.
    return this.options.transport.sendRun(endpoint.url, secrets, requests, Date.now() + this.leaseMs / 2);
  }

  /** Decides what an attempt changes (not stored yet). */
  private recordOf(
    endpoint: ClaimedEndpoint,
    delivery: DeliveryToSend,
    result: AttemptResult,
    state: { status: ClaimedEndpoint['status']; consecutiveFailures: number },
  ): AttemptRecord {
    const { options } = this;
    const decision = decideAfterAttempt({
      ok: result.ok,
      statusCode: result.statusCode,
      delivery,
      endpoint: state,
      schedule: options.retrySchedule,
      maxAttempts: options.maxAttempts,
      random01: this.random(),
    });
    const finishedAt = options.clock.now();
    return {
      deliveryId: delivery.id,
      endpointId: endpoint.id,
      attempt: delivery.attempts + 1,
      startedAt: new Date(result.startedAt),
      durationMs: Math.max(0, Math.round(result.durationMs)),
      statusCode: result.statusCode,
      error: result.error ? `${result.error.code}: ${result.error.message}` : result.ok ? null : `HTTP ${result.statusCode}`,
      responseExcerpt: result.responseExcerpt,
      delivery: {
        status: decision.delivery.status,
        nextAttemptAt: decision.delivery.status === 'pending' ? new Date(finishedAt + decision.delivery.retryInMs) : null,
      },
      endpoint: decision.endpoint,
      leaseUntil: new Date(finishedAt + this.leaseMs),
    };
  }

  /** Newest first; the previous secret signs too until its overlap ends. */
  private secretsOf(endpoint: ClaimedEndpoint): string[] | Error {
    try {
      const secrets = [this.options.secretBox.open(endpoint.secretSealed)];
      if (endpoint.previousSecretSealed && endpoint.previousSecretExpiresAt && endpoint.previousSecretExpiresAt.getTime() > this.options.clock.now()) {
        secrets.push(this.options.secretBox.open(endpoint.previousSecretSealed));
      }
      return secrets;
    } catch (error) {
      this.options.log.error({ webhookId: endpoint.id }, 'webhook secret cannot be decrypted: is MASTER_KEY the one it was stored with?');
      return error as Error;
    }
  }
}
