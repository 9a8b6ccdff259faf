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
  /** The last call decided (the caller's clock); null until the first. */
  lastSeenMs: number | null;
  /** When the key last moved to the end of the map (see MOVE_EVERY_MS). */
  movedAtMs: number;
}

/**
 * A key idle this long is forgotten. By then its bucket is full again (for any plan whose burst
 * refills within the hour), its window empty, its counts written to the store, and its cache
 * entry expired (5 min): its next call loads the key and seeds the counts again.
 */
const IDLE_MS = 60 * 60_000;

/**
 * A key moves to the end of the map at most this often: the map's order need only follow use
 * roughly (a key is forgotten by its own last call, not by its place), and a busy key's calls
 * then skip the two map writes and the look at the front.
 */
const MOVE_EVERY_MS = 1_000;

/**
 * The embedded adapter: limits and counts in this process's memory. Node runs one call's
 * decision to completion before the next, so check-and-count is atomic without locks.
 * Memory stays bounded by the keys active in the last hour: the map is kept roughly in order of
 * use (a key moves to the end when called, at most once a second) and idle keys fall off its front.
 */
export class MemoryAdmissionStore implements AdmissionStore {
  private readonly states = new Map<string, KeyState>();

  /** Keys with live state (for tests and metrics). */
  get size(): number {
    return this.states.size;
  }

  admit(keyId: string, rate: RatePolicy, quota: QuotaPolicy, nowMs: number): AdmissionResult {
    const state = this.stateFor(keyId, nowMs);
    this.touch(keyId, state, nowMs);

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
      this.states.set(keyId, { bucket: undefined, window: null, day: counts.day, dayUsed: counts.dayUsed, month: counts.month, monthUsed: counts.monthUsed, lastSeenMs: null, movedAtMs: -Infinity });
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

  /**
   * Notes the call; at most every MOVE_EVERY_MS, moves the key to the end of the map and forgets
   * up to two idle keys at its front.
   */
  private touch(keyId: string, state: KeyState, nowMs: number): void {
    state.lastSeenMs = nowMs;
    if (nowMs - state.movedAtMs < MOVE_EVERY_MS) return;
    state.movedAtMs = nowMs;
    this.states.delete(keyId);
    this.states.set(keyId, state);
    for (let i = 0; i < 2; i++) {
      const first = this.states.entries().next();
      if (first.done) return;
      const [oldestId, oldest] = first.value;
      if (oldest.lastSeenMs === null) {
        // Seeded but never called (refused before its limits were checked): its hour starts now.
        oldest.lastSeenMs = nowMs;
        this.states.delete(oldestId);
        this.states.set(oldestId, oldest);
        continue;
      }
      if (oldest.lastSeenMs > nowMs - IDLE_MS) return;
      this.states.delete(oldestId);
    }
  }

  private stateFor(keyId: string, nowMs: number): KeyState {
    let state = this.states.get(keyId);
    if (!state) {
      state = { bucket: undefined, window: null, day: dayPeriod(nowMs), dayUsed: 0, month: monthPeriod(nowMs), monthUsed: 0, lastSeenMs: null, movedAtMs: -Infinity };
      this.states.set(keyId, state);
    }
    return state;
  }
}
