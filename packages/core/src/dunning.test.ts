import { describe, expect, it } from 'vitest';
import { classifyPlanChange, dunningStageAt, nextDunningStep } from './dunning.ts';

const DAY = 86_400_000;
const due = Date.UTC(2026, 11, 8);

describe('dunning after the due date', () => {
  it('counts the reminders due on days 3, 7 and 14', () => {
    expect(dunningStageAt(due, due - 1)).toBe(0);
    expect(dunningStageAt(due, due + 3 * DAY - 1)).toBe(0);
    expect(dunningStageAt(due, due + 3 * DAY)).toBe(1);
    expect(dunningStageAt(due, due + 7 * DAY)).toBe(2);
    expect(dunningStageAt(due, due + 14 * DAY)).toBe(3);
    expect(dunningStageAt(due, due + 40 * DAY)).toBe(3);
  });

  it('turns the subscription past due on the due date, then reminds, the last time with suspension', () => {
    expect(nextDunningStep({ dueAtMs: due, stage: 0, nowMs: due - 1 })).toEqual({ action: 'none' });
    expect(nextDunningStep({ dueAtMs: due, stage: 0, nowMs: due })).toEqual({ action: 'past_due' });
    expect(nextDunningStep({ dueAtMs: due, stage: 0, nowMs: due + 3 * DAY })).toEqual({ action: 'remind', stage: 1, daysOverdue: 3, final: false });
    expect(nextDunningStep({ dueAtMs: due, stage: 1, nowMs: due + 5 * DAY })).toEqual({ action: 'none' });
    expect(nextDunningStep({ dueAtMs: due, stage: 1, nowMs: due + 7 * DAY })).toEqual({ action: 'remind', stage: 2, daysOverdue: 7, final: false });
    expect(nextDunningStep({ dueAtMs: due, stage: 2, nowMs: due + 14 * DAY })).toEqual({ action: 'remind', stage: 3, daysOverdue: 14, final: true });
    expect(nextDunningStep({ dueAtMs: due, stage: 3, nowMs: due + 30 * DAY })).toEqual({ action: 'none' });
  });

  it('a worker that was down sends one reminder for the latest stage, not three', () => {
    expect(nextDunningStep({ dueAtMs: due, stage: 0, nowMs: due + 15 * DAY })).toEqual({ action: 'remind', stage: 3, daysOverdue: 15, final: true });
  });
});

describe('plan changes', () => {
  const plan = (id: string, fee: number | null, quota: number | null) => ({ id, monthlyFeeMinor: fee, monthlyQuota: quota });
  it('a higher fee is an upgrade, a lower one a downgrade', () => {
    expect(classifyPlanChange(plan('a', 89_000, 10_000), plan('b', 899_000, 1_000_000))).toBe('upgrade');
    expect(classifyPlanChange(plan('b', 899_000, 1_000_000), plan('a', 89_000, 10_000))).toBe('downgrade');
    expect(classifyPlanChange(plan('free', 0, 1_000), plan('dev', 4_900, 50_000))).toBe('upgrade');
  });
  it('at the same fee, more calls is an upgrade; the same plan is no change', () => {
    expect(classifyPlanChange(plan('a', 1_000, 10), plan('b', 1_000, null))).toBe('upgrade');
    expect(classifyPlanChange(plan('b', 1_000, null), plan('a', 1_000, 10))).toBe('downgrade');
    expect(classifyPlanChange(plan('a', 1_000, 10), plan('a', 1_000, 10))).toBe('same');
  });
});
