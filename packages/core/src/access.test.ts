import { describe, expect, it } from 'vitest';
import { checkHistoryWindow, limitsFor, parseTimestampMs, routeAccess, SANDBOX_CAP } from './access.ts';
import type { Plan } from './domain.ts';
import { majorToMicros, majorToMinor, MICROS_PER_MAJOR, microsToMajor, minorDigits, minorToMajor, roundHalfUp } from './money.ts';
import { dayPeriod, decideQuota, monthPeriod, monthStartMs, nextDayStartMs, nextMonthStartMs, type QuotaPolicy } from './quota.ts';
import { tokenBucket } from './rate-limit.ts';

function makePlan(overrides: Partial<Plan> = {}): Plan {
  const at = new Date('2025-01-01T00:00:00Z');
  return {
    id: 'plan_1',
    productId: 'prod_1',
    code: 'pro',
    name: 'Pro',
    description: null,
    currency: 'USD',
    monthlyFeeMinor: 4900,
    perCallFeeMicros: null,
    customerId: null,
    rateLimitPerMinute: 600,
    burst: 900,
    rateLimitAlgorithm: 'token-bucket',
    dailyCap: 50_000,
    monthlyQuota: 1_000_000,
    entitlements: ['basic'],
    limits: { websocketChannels: null, webhookEndpoints: null, historyDays: 30 },
    isCustom: false,
    isActive: true,
    createdAt: at,
    updatedAt: at,
    ...overrides,
  };
}

const ms = (iso: string) => new Date(iso).getTime();
const DAY = 86_400_000;

describe('limitsFor', () => {
  it("a production key gets its plan's own rate, burst, algorithm, caps", () => {
    const limits = limitsFor(makePlan({ rateLimitAlgorithm: 'sliding-window' }), false);
    expect(limits.rate).toEqual({ algorithm: 'sliding-window', ratePerMinute: 600, burst: 900 });
    expect(limits.quota).toEqual({ dailyCap: 50_000, monthlyQuota: 1_000_000, billsOverage: false });
  });

  it('a plan with a per-call fee bills overage; no fee (null or 0) does not', () => {
    expect(limitsFor(makePlan({ perCallFeeMicros: 400 }), false).quota.billsOverage).toBe(true);
    expect(limitsFor(makePlan({ perCallFeeMicros: null }), false).quota.billsOverage).toBe(false);
    expect(limitsFor(makePlan({ perCallFeeMicros: 0 }), false).quota.billsOverage).toBe(false);
  });

  it('a plan saved with burst 0 still admits one call at once', () => {
    const { rate } = limitsFor(makePlan({ burst: 0, rateLimitPerMinute: 10 }), false);
    const now = ms('2025-06-01T12:00:00Z');
    const first = tokenBucket(undefined, now, rate);
    expect(first.decision.allowed).toBe(true);
    expect(tokenBucket(first.state, now, rate).decision.allowed).toBe(false);
  });

  it('a sandbox key on a big plan is capped to the free tier: 10/min, burst 20, 1,000 a day', () => {
    const limits = limitsFor(makePlan({ rateLimitPerMinute: 10_000, burst: 20_000, dailyCap: null, monthlyQuota: 5_000_000 }), true);
    expect(limits.rate.ratePerMinute).toBe(10);
    expect(limits.rate.burst).toBe(20);
    expect(limits.quota.dailyCap).toBe(1_000);
    expect(limits.quota.monthlyQuota).toBe(5_000_000);
    expect(SANDBOX_CAP).toEqual({ ratePerMinute: 10, burst: 20, dailyCap: 1_000 });
  });

  it("a sandbox key on a plan stricter than the cap keeps the plan's stricter limits", () => {
    const limits = limitsFor(makePlan({ rateLimitPerMinute: 5, burst: 8, dailyCap: 100, rateLimitAlgorithm: 'sliding-window' }), true);
    expect(limits.rate).toEqual({ algorithm: 'sliding-window', ratePerMinute: 5, burst: 8 });
    expect(limits.quota.dailyCap).toBe(100);
  });

  it('a sandbox key is never billed: it is refused past quota even on a per-call plan', () => {
    const limits = limitsFor(makePlan({ perCallFeeMicros: 500_000, monthlyQuota: 100 }), true);
    expect(limits.quota.billsOverage).toBe(false);
    const decision = decideQuota(0, 100, limits.quota, ms('2025-06-10T00:00:00Z'));
    expect(decision).toMatchObject({ allowed: false, limit: 'monthly' });
  });

  it('the production key of the same per-call plan keeps serving past quota as overage', () => {
    const limits = limitsFor(makePlan({ perCallFeeMicros: 500_000, monthlyQuota: 100 }), false);
    expect(decideQuota(0, 100, limits.quota, ms('2025-06-10T00:00:00Z'))).toEqual({ allowed: true, overage: true });
  });
});

describe('routeAccess', () => {
  const plan = makePlan();

  it('a route open to every plan of the product is allowed', () => {
    expect(routeAccess({ productId: 'prod_1', entitlement: null }, plan, new Set())).toEqual({ ok: true });
  });

  it('a route of another product is refused, even when the entitlement name matches', () => {
    expect(routeAccess({ productId: 'prod_2', entitlement: 'basic' }, plan, new Set(['basic']))).toEqual({
      ok: false,
      reason: 'other_product',
    });
    expect(routeAccess({ productId: 'prod_2', entitlement: null }, plan, new Set())).toEqual({ ok: false, reason: 'other_product' });
  });

  it('a route needing an entitlement the plan lacks is refused as missing_entitlement', () => {
    expect(routeAccess({ productId: 'prod_1', entitlement: 'premium' }, plan, new Set(['basic']))).toEqual({
      ok: false,
      reason: 'missing_entitlement',
    });
  });

  it('a route needing an entitlement the plan holds is allowed', () => {
    expect(routeAccess({ productId: 'prod_1', entitlement: 'premium' }, plan, new Set(['basic', 'premium']))).toEqual({ ok: true });
  });
});

describe('checkHistoryWindow', () => {
  const now = ms('2025-06-15T12:00:00Z');

  it('a plan with full history (null or missing) allows any start, even 1970', () => {
    expect(checkHistoryWindow(0, null, now)).toEqual({ ok: true });
    expect(checkHistoryWindow(0, undefined, now)).toEqual({ ok: true });
  });

  it('7 days of history: a request from exactly 7 days ago is allowed', () => {
    expect(checkHistoryWindow(now - 7 * DAY, 7, now)).toEqual({ ok: true });
    expect(checkHistoryWindow(now - DAY, 7, now)).toEqual({ ok: true });
  });

  it('a client computing "now − 7 days" with its clock a minute behind is still allowed', () => {
    expect(checkHistoryWindow(now - 7 * DAY - 60_000, 7, now)).toEqual({ ok: true });
  });

  it('8 days back on a 7-day plan is refused, naming the limit and the earliest start', () => {
    expect(checkHistoryWindow(now - 8 * DAY, 7, now)).toEqual({ ok: false, historyDays: 7, earliestMs: now - 7 * DAY });
    expect(checkHistoryWindow(now - 7 * DAY - 60_001, 7, now)).toMatchObject({ ok: false });
  });

  it('a 365-day plan allows 364 days back but not 366', () => {
    expect(checkHistoryWindow(now - 364 * DAY, 365, now).ok).toBe(true);
    expect(checkHistoryWindow(now - 366 * DAY, 365, now).ok).toBe(false);
  });

  it('0 days of history allows only (about) now', () => {
    expect(checkHistoryWindow(now, 0, now).ok).toBe(true);
    expect(checkHistoryWindow(now - 120_000, 0, now).ok).toBe(false);
  });
});

describe('decideQuota', () => {
  const now = ms('2025-06-15T13:45:00Z');
  const policy: QuotaPolicy = { dailyCap: 100, monthlyQuota: 1_000, billsOverage: false };

  it('a call under both limits is allowed, without overage', () => {
    expect(decideQuota(99, 999, policy, now)).toEqual({ allowed: true, overage: false });
  });

  it('the 101st call of the day on a 100/day cap is refused until next UTC midnight', () => {
    expect(decideQuota(100, 200, policy, now)).toEqual({
      allowed: false,
      limit: 'daily',
      cap: 100,
      resetAtMs: ms('2025-06-16T00:00:00Z'),
    });
  });

  it('past the monthly quota the call is refused until the 1st of next month', () => {
    expect(decideQuota(10, 1_000, policy, now)).toEqual({
      allowed: false,
      limit: 'monthly',
      cap: 1_000,
      resetAtMs: ms('2025-07-01T00:00:00Z'),
    });
  });

  it('a plan that bills overage keeps serving past its monthly quota, marked overage', () => {
    expect(decideQuota(10, 5_000, { ...policy, billsOverage: true }, now)).toEqual({ allowed: true, overage: true });
  });

  it('the daily cap still applies to a plan that bills overage, and wins when both are exhausted', () => {
    const decision = decideQuota(100, 5_000, { ...policy, billsOverage: true }, now);
    expect(decision).toMatchObject({ allowed: false, limit: 'daily' });
  });

  it('null caps mean unlimited', () => {
    expect(decideQuota(1e9, 1e12, { dailyCap: null, monthlyQuota: null, billsOverage: false }, now)).toEqual({
      allowed: true,
      overage: false,
    });
  });

  it('a daily cap of 0 refuses the first call', () => {
    expect(decideQuota(0, 0, { ...policy, dailyCap: 0 }, now)).toMatchObject({ allowed: false, limit: 'daily' });
  });

  it('the December monthly quota resets on 1 January of the next year', () => {
    expect(decideQuota(0, 1_000, policy, ms('2025-12-31T23:59:59.999Z'))).toMatchObject({
      resetAtMs: ms('2026-01-01T00:00:00Z'),
    });
  });
});

describe('UTC periods', () => {
  it('a day ends at 23:59:59.999 UTC and the next begins at 00:00 UTC', () => {
    expect(dayPeriod(ms('2025-06-15T23:59:59.999Z'))).toBe('2025-06-15');
    expect(dayPeriod(ms('2025-06-16T00:00:00.000Z'))).toBe('2025-06-16');
  });

  it('nextDayStartMs is the coming UTC midnight; at midnight itself it is the one after', () => {
    expect(nextDayStartMs(ms('2025-06-15T00:00:01Z'))).toBe(ms('2025-06-16T00:00:00Z'));
    expect(nextDayStartMs(ms('2025-06-15T23:59:59.999Z'))).toBe(ms('2025-06-16T00:00:00Z'));
    expect(nextDayStartMs(ms('2025-06-16T00:00:00Z'))).toBe(ms('2025-06-17T00:00:00Z'));
  });

  it('answers for the moment asked, also when asked about an earlier one after a later one', () => {
    // The last period is remembered for speed; it must never answer for a moment outside it.
    expect(dayPeriod(ms('2025-06-16T12:00:00Z'))).toBe('2025-06-16');
    expect(dayPeriod(ms('2025-06-15T12:00:00Z'))).toBe('2025-06-15');
    expect(monthPeriod(ms('2025-07-01T00:00:00Z'))).toBe('2025-07');
    expect(monthPeriod(ms('2025-06-30T23:59:59.999Z'))).toBe('2025-06');
    expect(monthStartMs(ms('2025-06-30T23:59:59.999Z'))).toBe(ms('2025-06-01T00:00:00Z'));
    expect(nextMonthStartMs(ms('2025-05-31T23:59:59.999Z'))).toBe(ms('2025-06-01T00:00:00Z'));
  });

  it('December 31 rolls over to January 1 of the next year', () => {
    const newYearsEve = ms('2024-12-31T18:30:00Z');
    expect(dayPeriod(newYearsEve)).toBe('2024-12-31');
    expect(monthPeriod(newYearsEve)).toBe('2024-12');
    expect(nextDayStartMs(newYearsEve)).toBe(ms('2025-01-01T00:00:00Z'));
    expect(nextMonthStartMs(ms('2024-12-01T00:00:00Z'))).toBe(ms('2025-01-01T00:00:00Z'));
    expect(monthPeriod(ms('2025-01-01T00:00:00Z'))).toBe('2025-01');
  });

  it('a leap year has 29 February, and March follows it', () => {
    expect(nextDayStartMs(ms('2024-02-28T12:00:00Z'))).toBe(ms('2024-02-29T00:00:00Z'));
    expect(dayPeriod(ms('2024-02-29T12:00:00Z'))).toBe('2024-02-29');
    expect(nextDayStartMs(ms('2024-02-29T12:00:00Z'))).toBe(ms('2024-03-01T00:00:00Z'));
    expect(nextMonthStartMs(ms('2024-02-29T23:59:59Z'))).toBe(ms('2024-03-01T00:00:00Z'));
    expect(monthStartMs(ms('2024-02-29T23:59:59Z'))).toBe(ms('2024-02-01T00:00:00Z'));
  });

  it('a common year goes from 28 February to 1 March', () => {
    expect(nextDayStartMs(ms('2025-02-28T12:00:00Z'))).toBe(ms('2025-03-01T00:00:00Z'));
  });

  it('monthStartMs is the 1st at 00:00 UTC, and the start itself maps to itself', () => {
    expect(monthStartMs(ms('2025-06-15T13:45:00Z'))).toBe(ms('2025-06-01T00:00:00Z'));
    expect(monthStartMs(ms('2025-06-01T00:00:00Z'))).toBe(ms('2025-06-01T00:00:00Z'));
    expect(nextMonthStartMs(ms('2025-06-30T23:59:59.999Z'))).toBe(ms('2025-07-01T00:00:00Z'));
  });

  it('periods are UTC whatever the server time zone (UTC+14 and UTC−10)', () => {
    const saved = process.env.TZ;
    try {
      for (const tz of ['Pacific/Kiritimati', 'Pacific/Honolulu']) {
        process.env.TZ = tz;
        const lateUtc = ms('2025-01-31T23:30:00Z');
        expect(dayPeriod(lateUtc)).toBe('2025-01-31');
        expect(monthPeriod(lateUtc)).toBe('2025-01');
        expect(nextDayStartMs(lateUtc)).toBe(ms('2025-02-01T00:00:00Z'));
        expect(nextMonthStartMs(lateUtc)).toBe(ms('2025-02-01T00:00:00Z'));
        expect(monthStartMs(lateUtc)).toBe(ms('2025-01-01T00:00:00Z'));
        const earlyUtc = ms('2025-02-01T00:30:00Z');
        expect(dayPeriod(earlyUtc)).toBe('2025-02-01');
        expect(monthPeriod(earlyUtc)).toBe('2025-02');
        expect(nextDayStartMs(earlyUtc)).toBe(ms('2025-02-02T00:00:00Z'));
        expect(nextMonthStartMs(earlyUtc)).toBe(ms('2025-03-01T00:00:00Z'));
        expect(monthStartMs(earlyUtc)).toBe(ms('2025-02-01T00:00:00Z'));
      }
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });
});

describe('money', () => {
  it('890 rand is stored as 89000 cents and shown as 890 again', () => {
    expect(majorToMinor(890, 'ZAR')).toBe(89_000);
    expect(minorToMajor(89_000, 'ZAR')).toBe(890);
  });

  it('0.1 + 0.2 dollars is 30 cents, not 30.000000000000004', () => {
    expect(majorToMinor(0.1 + 0.2, 'USD')).toBe(30);
  });

  it('values just below a half in binary still round half-up (2.675 → 268, 1.005 → 101)', () => {
    expect(majorToMinor(2.675, 'USD')).toBe(268);
    expect(majorToMinor(1.005, 'USD')).toBe(101);
  });

  it('every amount from 0.00 to 1000.00 survives minor → major → minor unchanged', () => {
    for (let cents = 0; cents <= 100_000; cents++) {
      if (majorToMinor(minorToMajor(cents, 'USD'), 'USD') !== cents) expect.fail(`${cents} cents did not round-trip`);
    }
  });

  it('yen has no minor unit: 1500 JPY is stored as 1500', () => {
    expect(minorDigits('JPY')).toBe(0);
    expect(majorToMinor(1_500, 'JPY')).toBe(1_500);
    expect(minorToMajor(1_500, 'JPY')).toBe(1_500);
  });

  it('three-digit currencies (KWD) store thousandths; others default to cents', () => {
    expect(minorDigits('KWD')).toBe(3);
    expect(majorToMinor(1.234, 'KWD')).toBe(1_234);
    expect(minorDigits('USD')).toBe(2);
    expect(minorDigits('EUR')).toBe(2);
    expect(minorDigits('ZAR')).toBe(2);
  });

  it('roundHalfUp rounds halves away from zero and everything else to nearest', () => {
    expect(roundHalfUp(2.5)).toBe(3);
    expect(roundHalfUp(0.5)).toBe(1);
    expect(roundHalfUp(2.4999)).toBe(2);
    expect(roundHalfUp(2.5001)).toBe(3);
    expect(roundHalfUp(-2.5)).toBe(-3);
    expect(roundHalfUp(-2.4)).toBe(-2);
    expect(roundHalfUp(7)).toBe(7);
    expect(roundHalfUp(0)).toBe(0);
  });

  it('a per-call price of $0.0004 is 400 micros, and 400 micros is $0.0004', () => {
    expect(MICROS_PER_MAJOR).toBe(1_000_000);
    expect(majorToMicros(0.0004)).toBe(400);
    expect(microsToMajor(400)).toBe(0.0004);
    expect(majorToMicros(0.5)).toBe(500_000);
    expect(majorToMicros(0.1 + 0.2)).toBe(300_000);
  });
});

describe('parseTimestampMs', () => {
  it('reads unix seconds, ISO with an offset, and ISO without one as UTC', () => {
    expect(parseTimestampMs('1700000000')).toBe(1_700_000_000_000);
    expect(parseTimestampMs('2026-11-23T10:00:00+02:00')).toBe(Date.UTC(2026, 10, 23, 8));
    expect(parseTimestampMs('2026-11-23T10:00:00')).toBe(Date.UTC(2026, 10, 23, 10));
    expect(parseTimestampMs('2026-11-23')).toBe(Date.UTC(2026, 10, 23));
    expect(parseTimestampMs('yesterday')).toBeNaN();
  });
});
