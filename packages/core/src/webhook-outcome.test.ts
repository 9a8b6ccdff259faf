import { describe, expect, it } from 'vitest';
import { CIRCUIT_BREAKER_FAILURES, decideAfterAttempt, VERIFICATION_EVENT, type AttemptInput } from './webhook-outcome.ts';
import { quotaEventOfRefusal, quotaEventsOfAdmitted } from './quota.ts';

const base: AttemptInput = {
  ok: false,
  statusCode: 500,
  delivery: { eventType: 'key.created', attempts: 0, roundStart: 0 },
  endpoint: { status: 'active', consecutiveFailures: 0 },
  schedule: [1_000, 5_000],
  maxAttempts: 4,
  random01: 0.5,
};

describe('decideAfterAttempt', () => {
  it('a 2xx delivers and resets the failure count; a pending endpoint answering its verification becomes active', () => {
    expect(decideAfterAttempt({ ...base, ok: true, statusCode: 204, endpoint: { status: 'active', consecutiveFailures: 7 } })).toEqual({
      delivery: { status: 'succeeded' },
      endpoint: { status: 'active', pausedReason: null, consecutiveFailures: 0, verified: false },
    });
    const verified = decideAfterAttempt({ ...base, ok: true, statusCode: 200, delivery: { ...base.delivery, eventType: VERIFICATION_EVENT }, endpoint: { status: 'pending', consecutiveFailures: 2 } });
    expect(verified.endpoint).toEqual({ status: 'active', pausedReason: null, consecutiveFailures: 0, verified: true });
  });

  it('retries on the schedule (with jitter) until the budget is spent, then fails the delivery', () => {
    expect(decideAfterAttempt(base).delivery).toEqual({ status: 'pending', retryInMs: 1_000 });
    expect(decideAfterAttempt({ ...base, delivery: { ...base.delivery, attempts: 2 } }).delivery).toEqual({ status: 'pending', retryInMs: 5_000 });
    expect(decideAfterAttempt({ ...base, delivery: { ...base.delivery, attempts: 3 } }).delivery).toEqual({ status: 'failed' });
    // A replay counts its budget from the replay on.
    expect(decideAfterAttempt({ ...base, delivery: { ...base.delivery, attempts: 3, roundStart: 3 } }).delivery).toEqual({ status: 'pending', retryInMs: 1_000 });
  });

  it('pauses an active endpoint at the tenth failure in a row, keeping the delivery queued', () => {
    const ninth = decideAfterAttempt({ ...base, endpoint: { status: 'active', consecutiveFailures: CIRCUIT_BREAKER_FAILURES - 2 } });
    expect(ninth.endpoint.status).toBe('active');
    const tenth = decideAfterAttempt({ ...base, endpoint: { status: 'active', consecutiveFailures: CIRCUIT_BREAKER_FAILURES - 1 } });
    expect(tenth.endpoint).toEqual({ status: 'paused', pausedReason: 'failures', consecutiveFailures: 10, verified: false });
    expect(tenth.delivery.status).toBe('pending');
  });

  it('410 Gone disables the endpoint at once and keeps the delivery for when it is enabled again', () => {
    expect(decideAfterAttempt({ ...base, statusCode: 410 })).toEqual({
      delivery: { status: 'pending', retryInMs: 0 },
      endpoint: { status: 'paused', pausedReason: 'gone', consecutiveFailures: 1, verified: false },
    });
  });
});

describe('quota events', () => {
  const now = Date.UTC(2026, 10, 23, 12);
  const policy = { dailyCap: 100, monthlyQuota: 1_000, billsOverage: false };

  it('the call reaching 90 % of the daily cap or monthly quota announces it; no other call does', () => {
    expect(quotaEventsOfAdmitted(policy, 90, 500, now)).toEqual([{ type: 'usage.threshold', period: 'day', periodStart: '2026-11-23', usage: 90, quota: 100, overage: false }]);
    expect(quotaEventsOfAdmitted(policy, 10, 900, now)).toEqual([{ type: 'usage.threshold', period: 'month', periodStart: '2026-11', usage: 900, quota: 1_000, overage: false }]);
    for (const [day, month] of [[89, 899], [91, 901], [1, 1], [100, 1_000]]) expect(quotaEventsOfAdmitted(policy, day as number, month as number, now)).toBeNull();
    expect(quotaEventsOfAdmitted({ ...policy, monthlyQuota: 7 }, 1, 7, now)?.[0]?.usage).toBe(7); // ceil(6.3)
  });

  it('the first call past a quota billed as overage is quota.exceeded; refusals name their period', () => {
    expect(quotaEventsOfAdmitted({ ...policy, billsOverage: true }, 1, 1_001, now)).toEqual([{ type: 'quota.exceeded', period: 'month', periodStart: '2026-11', usage: 1_001, quota: 1_000, overage: true }]);
    expect(quotaEventsOfAdmitted({ ...policy, billsOverage: true }, 1, 1_002, now)).toBeNull();
    expect(quotaEventOfRefusal({ allowed: false, limit: 'daily', cap: 100, resetAtMs: 0 }, now)).toEqual({ type: 'quota.exceeded', period: 'day', periodStart: '2026-11-23', usage: 100, quota: 100, overage: false });
  });
});
