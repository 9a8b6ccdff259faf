import type { Plan } from './domain.ts';

/*
 * Dunning: what happens to an unpaid invoice after its due date. The day an invoice falls due
 * its subscriptions turn `past_due` (their keys still work); reminders go out 3, 7 and 14 days
 * after the due date; with the day-14 reminder the subscriptions are `suspended` and their keys
 * answer 402 payment_required until the invoice is paid. A first invoice (a subscription not yet
 * started) is void at that point instead and the subscription expires: nothing was used.
 */

export const DUNNING_REMINDER_DAYS = [3, 7, 14] as const;

/** The stage at which the subscriptions are suspended (every reminder sent). */
export const DUNNING_FINAL_STAGE = DUNNING_REMINDER_DAYS.length;

const DAY_MS = 86_400_000;

/** How many reminders are due by `nowMs` for an invoice due at `dueAtMs` (0 before day 3). */
export function dunningStageAt(dueAtMs: number, nowMs: number): number {
  let stage = 0;
  for (const day of DUNNING_REMINDER_DAYS) if (nowMs >= dueAtMs + day * DAY_MS) stage++;
  return stage;
}

export type DunningStep =
  | { action: 'none' }
  /** Past due, no reminder yet: subscriptions turn past_due. */
  | { action: 'past_due' }
  /** A reminder is due; `stage` is the stage it completes (several missed days send one reminder). */
  | { action: 'remind'; stage: number; daysOverdue: number; final: boolean };

export function nextDunningStep(input: { dueAtMs: number; stage: number; nowMs: number }): DunningStep {
  if (input.nowMs < input.dueAtMs) return { action: 'none' };
  const due = dunningStageAt(input.dueAtMs, input.nowMs);
  if (due <= input.stage) return input.stage === 0 ? { action: 'past_due' } : { action: 'none' };
  return {
    action: 'remind',
    stage: due,
    daysOverdue: Math.floor((input.nowMs - input.dueAtMs) / DAY_MS),
    final: due >= DUNNING_FINAL_STAGE,
  };
}

export type PlanChange = 'upgrade' | 'downgrade' | 'same';

/**
 * A change between two plans of one product: an upgrade when the new monthly fee is higher
 * (takes effect at once with a prorated charge), a downgrade when lower (at the period end).
 * Equal fees count as an upgrade when the new plan gives more calls, so the better plan is not
 * withheld for a month at no extra cost.
 */
export function classifyPlanChange(from: Pick<Plan, 'monthlyFeeMinor' | 'monthlyQuota' | 'id'>, to: Pick<Plan, 'monthlyFeeMinor' | 'monthlyQuota' | 'id'>): PlanChange {
  if (from.id === to.id) return 'same';
  const a = from.monthlyFeeMinor ?? 0;
  const b = to.monthlyFeeMinor ?? 0;
  if (b !== a) return b > a ? 'upgrade' : 'downgrade';
  const qa = from.monthlyQuota ?? Number.POSITIVE_INFINITY;
  const qb = to.monthlyQuota ?? Number.POSITIVE_INFINITY;
  return qb >= qa ? 'upgrade' : 'downgrade';
}
