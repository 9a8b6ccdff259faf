/**
 * The UTC day or month containing a moment: its label (`2026-11-23`, `2026-11`) and bounds.
 * Every gateway call asks, so the last answer is kept and reused while the moment stays inside it.
 */
interface Period {
  startMs: number;
  endMs: number;
  label: string;
}

let lastDay: Period = { startMs: 0, endMs: 0, label: '' };
let lastMonth: Period = { startMs: 0, endMs: 0, label: '' };

function dayOf(nowMs: number): Period {
  if (nowMs >= lastDay.startMs && nowMs < lastDay.endMs) return lastDay;
  const d = new Date(nowMs);
  const startMs = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  lastDay = { startMs, endMs: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1), label: d.toISOString().slice(0, 10) };
  return lastDay;
}

function monthOf(nowMs: number): Period {
  if (nowMs >= lastMonth.startMs && nowMs < lastMonth.endMs) return lastMonth;
  const d = new Date(nowMs);
  const startMs = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  lastMonth = { startMs, endMs: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1), label: d.toISOString().slice(0, 7) };
  return lastMonth;
}

/** Counting periods are UTC calendar days and months. */
export function dayPeriod(nowMs: number): string {
  return dayOf(nowMs).label;
}

export function monthPeriod(nowMs: number): string {
  return monthOf(nowMs).label;
}

export function nextDayStartMs(nowMs: number): number {
  return dayOf(nowMs).endMs;
}

export function nextMonthStartMs(nowMs: number): number {
  return monthOf(nowMs).endMs;
}

export function monthStartMs(nowMs: number): number {
  return monthOf(nowMs).startMs;
}

/** The start of the UTC minute of `ms`: the minute the usage rollups count a call in. */
export function minuteStartMs(ms: number): number {
  return ms - (ms % 60_000);
}

export interface QuotaPolicy {
  dailyCap: number | null;
  monthlyQuota: number | null;
  /** A plan with a per-call fee keeps serving past its monthly quota and bills the overage. */
  billsOverage: boolean;
}

export type QuotaDecision =
  | { allowed: true; overage: boolean }
  | { allowed: false; limit: 'daily' | 'monthly'; cap: number; resetAtMs: number };

/** Decides on one more call, given the calls already admitted today and this month. */
export function decideQuota(dayUsed: number, monthUsed: number, policy: QuotaPolicy, nowMs: number): QuotaDecision {
  if (policy.dailyCap !== null && dayUsed >= policy.dailyCap) {
    return { allowed: false, limit: 'daily', cap: policy.dailyCap, resetAtMs: nextDayStartMs(nowMs) };
  }
  if (policy.monthlyQuota !== null && monthUsed >= policy.monthlyQuota) {
    if (policy.billsOverage) return { allowed: true, overage: true };
    return { allowed: false, limit: 'monthly', cap: policy.monthlyQuota, resetAtMs: nextMonthStartMs(nowMs) };
  }
  return { allowed: true, overage: false };
}

/** Percentage of a cap at which `usage.threshold` is announced. */
export const USAGE_THRESHOLD_PERCENT = 90;

/** A limit a call reached, announced as a webhook event once per key and period. */
export interface QuotaEvent {
  type: 'usage.threshold' | 'quota.exceeded';
  period: 'day' | 'month';
  /** `2026-11-23` or `2026-11`. */
  periodStart: string;
  usage: number;
  quota: number;
  /** The call went on, billed as overage. */
  overage: boolean;
}

/**
 * The events an admitted call causes, given the counts with it included: the call that reaches
 * 90 % of the daily cap or monthly quota, and the first call past a quota billed as overage.
 * Counts go up by one per call, atomically, so exactly one call meets each mark. Null (no
 * allocation) for all other calls, which is nearly all of them.
 */
export function quotaEventsOfAdmitted(policy: QuotaPolicy, dayUsed: number, monthUsed: number, nowMs: number): QuotaEvent[] | null {
  let events: QuotaEvent[] | null = null;
  const { dailyCap, monthlyQuota } = policy;
  if (dailyCap !== null && dailyCap > 0 && dayUsed === thresholdOf(dailyCap)) {
    (events ??= []).push({ type: 'usage.threshold', period: 'day', periodStart: dayPeriod(nowMs), usage: dayUsed, quota: dailyCap, overage: false });
  }
  if (monthlyQuota !== null && monthlyQuota > 0) {
    if (monthUsed === thresholdOf(monthlyQuota)) {
      (events ??= []).push({ type: 'usage.threshold', period: 'month', periodStart: monthPeriod(nowMs), usage: monthUsed, quota: monthlyQuota, overage: false });
    }
    if (policy.billsOverage && monthUsed === monthlyQuota + 1) {
      (events ??= []).push({ type: 'quota.exceeded', period: 'month', periodStart: monthPeriod(nowMs), usage: monthUsed, quota: monthlyQuota, overage: true });
    }
  }
  return events;
}

/** The event of a call refused for its daily cap or monthly quota (stored once per period). */
export function quotaEventOfRefusal(refusal: Extract<QuotaDecision, { allowed: false }>, nowMs: number): QuotaEvent {
  const period = refusal.limit === 'daily' ? 'day' : 'month';
  return { type: 'quota.exceeded', period, periodStart: period === 'day' ? dayPeriod(nowMs) : monthPeriod(nowMs), usage: refusal.cap, quota: refusal.cap, overage: false };
}

function thresholdOf(cap: number): number {
  return Math.ceil((cap * USAGE_THRESHOLD_PERCENT) / 100);
}
