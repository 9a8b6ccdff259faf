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
