/** Counting periods are UTC calendar days and months. */
export function dayPeriod(nowMs: number): string {
  return new Date(nowMs).toISOString().slice(0, 10);
}

export function monthPeriod(nowMs: number): string {
  return new Date(nowMs).toISOString().slice(0, 7);
}

export function nextDayStartMs(nowMs: number): number {
  const d = new Date(nowMs);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
}

export function nextMonthStartMs(nowMs: number): number {
  const d = new Date(nowMs);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

export function monthStartMs(nowMs: number): number {
  const d = new Date(nowMs);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
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
