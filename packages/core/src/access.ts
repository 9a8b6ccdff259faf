import type { Plan, ProductRoute } from './domain.ts';
import type { RatePolicy } from './rate-limit.ts';
import type { QuotaPolicy } from './quota.ts';

/**
 * Limits of sandbox keys: the plan's own, capped to the free tier's (10/min, burst 20,
 * 1,000 a day), never billed and never past quota.
 */
export const SANDBOX_CAP = { ratePerMinute: 10, burst: 20, dailyCap: 1_000 } as const;

export interface KeyLimits {
  rate: RatePolicy;
  quota: QuotaPolicy;
}

export function limitsFor(plan: Plan, isSandbox: boolean): KeyLimits {
  const rate: RatePolicy = {
    algorithm: plan.rateLimitAlgorithm,
    ratePerMinute: plan.rateLimitPerMinute,
    burst: Math.max(plan.burst, 1),
  };
  const quota: QuotaPolicy = {
    dailyCap: plan.dailyCap,
    monthlyQuota: plan.monthlyQuota,
    billsOverage: (plan.perCallFeeMicros ?? 0) > 0,
  };
  if (!isSandbox) return { rate, quota };
  return {
    rate: {
      algorithm: rate.algorithm,
      ratePerMinute: Math.min(rate.ratePerMinute, SANDBOX_CAP.ratePerMinute),
      burst: Math.min(rate.burst, SANDBOX_CAP.burst),
    },
    quota: {
      dailyCap: Math.min(quota.dailyCap ?? Infinity, SANDBOX_CAP.dailyCap),
      monthlyQuota: quota.monthlyQuota,
      billsOverage: false,
    },
  };
}

export type RouteAccess = { ok: true } | { ok: false; reason: 'other_product' | 'missing_entitlement' };

/** A key may call a route of its own plan's product, when its plan holds the route's entitlement. */
export function routeAccess(
  route: Pick<ProductRoute, 'productId' | 'entitlement'>,
  plan: Pick<Plan, 'productId'>,
  entitlements: ReadonlySet<string>,
): RouteAccess {
  if (route.productId !== plan.productId) return { ok: false, reason: 'other_product' };
  if (route.entitlement !== null && !entitlements.has(route.entitlement)) {
    return { ok: false, reason: 'missing_entitlement' };
  }
  return { ok: true };
}

const DAY_MS = 86_400_000;

export type HistoryWindow = { ok: true } | { ok: false; historyDays: number; earliestMs: number };

/**
 * Historical data is limited per plan (7 days, 30, 1 year, or null for full history): a request
 * may not reach further back than `historyDays` before now.
 */
export function checkHistoryWindow(fromMs: number, historyDays: number | null | undefined, nowMs: number): HistoryWindow {
  if (historyDays === null || historyDays === undefined) return { ok: true };
  const earliestMs = nowMs - historyDays * DAY_MS;
  // A minute of slack so a client computing "now - 7 days" itself is not refused for clock skew.
  if (fromMs < earliestMs - 60_000) return { ok: false, historyDays, earliestMs };
  return { ok: true };
}

/**
 * A history bound as clients send it: unix seconds, or ISO-8601 (read as UTC when it has no
 * offset, whatever the server's time zone). NaN when it is neither.
 */
export function parseTimestampMs(raw: string): number {
  if (/^\d+$/.test(raw)) return Number(raw) * 1000;
  const withZone = /T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(raw) ? `${raw}Z` : raw;
  return Date.parse(withZone);
}
