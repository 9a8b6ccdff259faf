import {
  dayPeriod,
  decideQuota,
  tokenBucket,
  type BucketState,
  monthPeriod,
  SlidingWindowLog,
  type AdmissionResult,
  type AdmissionStore,
  type QuotaPolicy,
  type RatePolicy,
  type SeededCounts,
} from '@tollgate/core';

interface KeyState {
  bucket: BucketState | undefined;
  window: SlidingWindowLog | null;
  day: string;
  dayUsed: number;
  month: string;
  monthUsed: number;
}

/**
 * The embedded adapter: limits and counts in this process's memory. Node runs one call's
 * decision to completion before the next, so check-and-count is atomic without locks.
 */
export class MemoryAdmissionStore implements AdmissionStore {
  private readonly states = new Map<string, KeyState>();

  admit(keyId: string, rate: RatePolicy, quota: QuotaPolicy, nowMs: number): AdmissionResult {
    const state = this.stateFor(keyId, nowMs);

    let nextBucket = state.bucket;
    let rateDecision;
    if (rate.algorithm === 'sliding-window') {
      if (state.window === null || state.window.capacity !== rate.ratePerMinute) {
        state.window = new SlidingWindowLog(rate.ratePerMinute);
      }
      rateDecision = state.window.check(nowMs, rate, true);
    } else {
      const result = tokenBucket(state.bucket, nowMs, rate);
      rateDecision = result.decision;
      nextBucket = result.state;
    }
    if (!rateDecision.allowed) return { outcome: 'rate_limited', rate: rateDecision };

    const day = dayPeriod(nowMs);
    const month = monthPeriod(nowMs);
    if (state.day !== day) {
      state.day = day;
      state.dayUsed = 0;
    }
    if (state.month !== month) {
      state.month = month;
      state.monthUsed = 0;
    }
    const quotaDecision = decideQuota(state.dayUsed, state.monthUsed, quota, nowMs);
    if (!quotaDecision.allowed) {
      // A refused call consumes nothing: give back the rate-limit slot taken above.
      if (rate.algorithm === 'sliding-window') state.window?.undoLast();
      return { outcome: 'quota_exceeded', rate: rateDecision, quota: quotaDecision };
    }
    state.bucket = nextBucket;
    state.dayUsed++;
    state.monthUsed++;
    return {
      outcome: 'admitted',
      rate: rateDecision,
      overage: quotaDecision.overage,
      dayUsed: state.dayUsed,
      monthUsed: state.monthUsed,
    };
  }

  seedCounts(keyId: string, counts: SeededCounts): void {
    const state = this.states.get(keyId);
    if (!state) {
      this.states.set(keyId, { bucket: undefined, window: null, day: counts.day, dayUsed: counts.dayUsed, month: counts.month, monthUsed: counts.monthUsed });
      return;
    }
    // ISO labels compare in time order: only a period newer than the one kept is taken.
    if (counts.day > state.day) {
      state.day = counts.day;
      state.dayUsed = counts.dayUsed;
    }
    if (counts.month > state.month) {
      state.month = counts.month;
      state.monthUsed = counts.monthUsed;
    }
  }

  private stateFor(keyId: string, nowMs: number): KeyState {
    let state = this.states.get(keyId);
    if (!state) {
      state = { bucket: undefined, window: null, day: dayPeriod(nowMs), dayUsed: 0, month: monthPeriod(nowMs), monthUsed: 0 };
      this.states.set(keyId, state);
    }
    return state;
  }
}
