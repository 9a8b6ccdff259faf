import type { WebhookPauseReason, WebhookStatus } from '@tollgate/contracts';
import { nextRetryDelayMs } from './webhooks.ts';

/** Consecutive failed attempts after which an endpoint is paused (the circuit breaker). */
export const CIRCUIT_BREAKER_FAILURES = 10;

/** Sent first to a new endpoint; a 2xx answer to it makes the endpoint active. */
export const VERIFICATION_EVENT = 'webhook.verification';

/** Sent to one endpoint when its owner asks for a test. */
export const TEST_EVENT = 'webhook.test';

export interface AttemptInput {
  /** The endpoint answered 2xx. */
  ok: boolean;
  statusCode: number | null;
  delivery: { eventType: string; attempts: number; roundStart: number };
  endpoint: { status: WebhookStatus; consecutiveFailures: number };
  schedule: readonly number[];
  maxAttempts: number;
  random01: number;
}

export type DeliveryAfterAttempt =
  | { status: 'succeeded' }
  /** Tried again after `retryInMs` (0: as soon as the endpoint may receive again). */
  | { status: 'pending'; retryInMs: number }
  /** Every attempt of its budget failed; it can still be replayed. */
  | { status: 'failed' };

export interface AttemptDecision {
  delivery: DeliveryAfterAttempt;
  endpoint: { status: WebhookStatus; pausedReason: WebhookPauseReason | null; consecutiveFailures: number; verified: boolean };
}

/**
 * What one delivery attempt changes. A 2xx delivers and resets the failure count (and a pending
 * endpoint answering its verification becomes active). 410 Gone disables the endpoint at once:
 * the delivery waits, so re-enabling the endpoint sends it. Other failures are retried on the
 * schedule until the budget is spent; ten in a row pause an active endpoint, its backlog kept.
 */
export function decideAfterAttempt(input: AttemptInput): AttemptDecision {
  const { endpoint, delivery } = input;
  if (input.ok) {
    const verifies = endpoint.status === 'pending' && delivery.eventType === VERIFICATION_EVENT;
    return {
      delivery: { status: 'succeeded' },
      endpoint: { status: verifies ? 'active' : endpoint.status, pausedReason: null, consecutiveFailures: 0, verified: verifies },
    };
  }
  const consecutiveFailures = endpoint.consecutiveFailures + 1;
  if (input.statusCode === 410) {
    return {
      delivery: { status: 'pending', retryInMs: 0 },
      endpoint: { status: 'paused', pausedReason: 'gone', consecutiveFailures, verified: false },
    };
  }
  const retryInMs = nextRetryDelayMs(input.schedule, delivery.attempts + 1 - delivery.roundStart, input.maxAttempts, input.random01);
  const trips = endpoint.status === 'active' && consecutiveFailures >= CIRCUIT_BREAKER_FAILURES;
  return {
    delivery: retryInMs === null ? { status: 'failed' } : { status: 'pending', retryInMs },
    endpoint: trips
      ? { status: 'paused', pausedReason: 'failures', consecutiveFailures, verified: false }
      : { status: endpoint.status, pausedReason: null, consecutiveFailures, verified: false },
  };
}
