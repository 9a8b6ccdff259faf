import { describe, expect, it } from 'vitest';
import { tokenBucket, retryAfterSeconds, type BucketState, SlidingWindowLog, type RateDecision, type RatePolicy } from './rate-limit.ts';

/** A real-world instant (2025-06-01T12:00:00Z): bucket arithmetic happens at epoch-ms magnitude in production. */
const T0 = Date.UTC(2025, 5, 1, 12, 0, 0);

const tenPerMinute: RatePolicy = { algorithm: 'token-bucket', ratePerMinute: 10, burst: 20 };

/** A key's token bucket as the admission store keeps it: only its state survives between calls. */
class Bucket {
  state: BucketState | undefined;
  constructor(private readonly policy: RatePolicy) {}
  call(nowMs: number): RateDecision {
    const { decision, state } = tokenBucket(this.state, nowMs, this.policy);
    this.state = state;
    return decision;
  }
  /** Fires `n` calls at the same instant and returns every decision. */
  burst(nowMs: number, n: number): RateDecision[] {
    return Array.from({ length: n }, () => this.call(nowMs));
  }
}

const allowedCount = (decisions: RateDecision[]) => decisions.filter((d) => d.allowed).length;

describe('token bucket, 10/min with burst 20', () => {
  it('20 calls at once all pass', () => {
    const decisions = new Bucket(tenPerMinute).burst(T0, 20);
    expect(decisions.every((d) => d.allowed)).toBe(true);
  });

  it('21st call at once is refused with retryAfterMs 6000, so Retry-After 6', () => {
    const bucket = new Bucket(tenPerMinute);
    bucket.burst(T0, 20);
    const refused = bucket.call(T0);
    expect(refused.allowed).toBe(false);
    expect(refused.remaining).toBe(0);
    expect(refused.retryAfterMs).toBe(6000);
    expect(retryAfterSeconds(refused.retryAfterMs)).toBe(6);
  });

  it('X-RateLimit-Limit reports the per-minute rate, not the burst', () => {
    const bucket = new Bucket(tenPerMinute);
    expect(bucket.call(T0).limit).toBe(10);
    bucket.burst(T0, 25);
    expect(bucket.call(T0).limit).toBe(10);
  });

  it('6 s after the burst exactly one more call passes, the next is refused again for 6 s', () => {
    const bucket = new Bucket(tenPerMinute);
    bucket.burst(T0, 21);
    expect(bucket.call(T0 + 6000).allowed).toBe(true);
    const again = bucket.call(T0 + 6000);
    expect(again.allowed).toBe(false);
    expect(again.retryAfterMs).toBe(6000);
  });

  it('a call 1 ms before the token is back is refused with a 1 ms wait, still Retry-After 1', () => {
    const bucket = new Bucket(tenPerMinute);
    bucket.burst(T0, 20);
    const early = bucket.call(T0 + 5999);
    expect(early.allowed).toBe(false);
    expect(early.retryAfterMs).toBe(1);
    expect(retryAfterSeconds(early.retryAfterMs)).toBe(1);
  });

  it('refused calls do not push the wait further out (hammering a limited key costs nothing)', () => {
    const bucket = new Bucket(tenPerMinute);
    bucket.burst(T0, 20);
    const refusals = bucket.burst(T0 + 1000, 500);
    expect(allowedCount(refusals)).toBe(0);
    expect(refusals.at(-1)?.retryAfterMs).toBe(5000);
    expect(bucket.call(T0 + 6000).allowed).toBe(true);
  });

  it('remaining counts down 19, 18, … 0 through the burst', () => {
    const remaining = new Bucket(tenPerMinute).burst(T0, 20).map((d) => d.remaining);
    expect(remaining).toEqual(Array.from({ length: 20 }, (_, i) => 19 - i));
  });

  it('remaining goes back up as tokens refill (30 s after emptying: 5 tokens)', () => {
    const bucket = new Bucket(tenPerMinute);
    bucket.burst(T0, 20);
    const passed = bucket.burst(T0 + 30_000, 6);
    expect(passed.map((d) => d.allowed)).toEqual([true, true, true, true, true, false]);
    expect(passed[0]?.remaining).toBe(4);
  });

  it('resetAtMs is when the bucket is full again: 6 s per token used', () => {
    const bucket = new Bucket(tenPerMinute);
    expect(bucket.call(T0).resetAtMs).toBe(T0 + 6000);
    const rest = bucket.burst(T0, 19);
    expect(rest.at(-1)?.resetAtMs).toBe(T0 + 120_000);
    // A refusal reports the same moment, and at that moment the whole burst is available again.
    expect(bucket.call(T0).resetAtMs).toBe(T0 + 120_000);
    expect(allowedCount(bucket.burst(T0 + 120_000, 21))).toBe(20);
  });

  it('an idle key refills to the burst and never beyond it', () => {
    const bucket = new Bucket(tenPerMinute);
    bucket.call(T0);
    const afterAnHour = bucket.burst(T0 + 3_600_000, 30);
    expect(allowedCount(afterAnHour)).toBe(20);
    expect(afterAnHour[0]?.remaining).toBe(19);
  });

  it('a fresh key (TAT 0) starts with exactly the burst, not more', () => {
    expect(allowedCount(new Bucket(tenPerMinute).burst(T0, 100))).toBe(20);
  });

  it('hammering every 100 ms for 5 minutes admits the burst plus 10 a minute: 70 calls', () => {
    const bucket = new Bucket(tenPerMinute);
    let admitted = 0;
    for (let t = 0; t <= 300_000; t += 100) if (bucket.call(T0 + t).allowed) admitted++;
    expect(admitted).toBe(20 + 50);
  });

  it('burst 1 allows one call per interval (60/min: one a second)', () => {
    const bucket = new Bucket({ algorithm: 'token-bucket', ratePerMinute: 60, burst: 1 });
    expect(bucket.call(T0).allowed).toBe(true);
    const refused = bucket.call(T0 + 400);
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterMs).toBe(600);
    expect(bucket.call(T0 + 1000).allowed).toBe(true);
  });
});

describe('token bucket with a rate that does not divide a minute evenly, at real-world timestamps', () => {
  it('9/min burst 20: 20 calls at once all pass', () => {
    const decisions = new Bucket({ algorithm: 'token-bucket', ratePerMinute: 9, burst: 20 }).burst(T0, 21);
    expect(allowedCount(decisions)).toBe(20);
    expect(decisions[19]?.allowed).toBe(true);
  });

  it("9/min burst 1: a new key's first call passes", () => {
    const first = new Bucket({ algorithm: 'token-bucket', ratePerMinute: 9, burst: 1 }).call(T0);
    expect(first.allowed).toBe(true);
  });

  it('50,000/min burst 75,000: exactly 75,000 calls pass at once', () => {
    const decisions = new Bucket({ algorithm: 'token-bucket', ratePerMinute: 50_000, burst: 75_000 }).burst(T0, 75_010);
    expect(allowedCount(decisions)).toBe(75_000);
  });

  it('7/min burst 3: 3 pass at once, the 4th waits one interval (60/7 s, rounded up)', () => {
    const decisions = new Bucket({ algorithm: 'token-bucket', ratePerMinute: 7, burst: 3 }).burst(T0, 4);
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false]);
    expect(decisions[3]?.retryAfterMs).toBe(Math.ceil(60_000 / 7));
  });
});

describe('retryAfterSeconds', () => {
  it('rounds up to whole seconds: 6000 ms → 6, 6001 ms → 7, 5001 ms → 6', () => {
    expect(retryAfterSeconds(6000)).toBe(6);
    expect(retryAfterSeconds(6001)).toBe(7);
    expect(retryAfterSeconds(5001)).toBe(6);
  });

  it('is never 0 for a refusal, even for 0 or 1 ms', () => {
    expect(retryAfterSeconds(0)).toBe(1);
    expect(retryAfterSeconds(1)).toBe(1);
  });
});

describe('sliding window, 10/min', () => {
  const policy: RatePolicy = { algorithm: 'sliding-window', ratePerMinute: 10, burst: 10 };
  const newLog = () => new SlidingWindowLog(policy.ratePerMinute);

  it('10 calls at once pass, the 11th is refused until the first leaves the window 60 s later', () => {
    const log = newLog();
    const decisions = Array.from({ length: 11 }, () => log.check(T0, policy, true));
    expect(decisions.map((d) => d.allowed)).toEqual([...Array(10).fill(true), false]);
    expect(decisions[10]?.retryAfterMs).toBe(60_000);
    expect(log.check(T0 + 59_999, policy, true).allowed).toBe(false);
    expect(log.check(T0 + 60_000, policy, true).allowed).toBe(true);
  });

  it('remaining counts down 9 … 0', () => {
    const log = newLog();
    const remaining = Array.from({ length: 10 }, (_, i) => log.check(T0 + i, policy, true).remaining);
    expect(remaining).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
  });

  it('the oldest call leaving the window frees exactly one slot, and retryAfter points at the next one', () => {
    const log = newLog();
    for (let i = 0; i < 10; i++) expect(log.check(T0 + i * 1000, policy, true).allowed).toBe(true);
    const at30 = log.check(T0 + 30_000, policy, true);
    expect(at30.allowed).toBe(false);
    expect(at30.retryAfterMs).toBe(30_000); // the call at 0 s leaves at 60 s
    expect(retryAfterSeconds(at30.retryAfterMs)).toBe(30);

    expect(log.check(T0 + 60_000, policy, true).allowed).toBe(true);
    const next = log.check(T0 + 60_000, policy, true);
    expect(next.allowed).toBe(false);
    expect(next.retryAfterMs).toBe(1000); // the call at 1 s leaves at 61 s
    expect(log.check(T0 + 61_000, policy, true).allowed).toBe(true);
  });

  it('never admits more than ratePerMinute in any 60 s, and never refuses when a slot is free', () => {
    const log = newLog();
    const admitted: number[] = [];
    let refusedCount = 0;
    // Irregular traffic: gaps cycle through 0, 700, 3100, 0, 12000 ms for 10 minutes.
    const gaps = [0, 700, 3100, 0, 12_000];
    for (let t = T0, i = 0; t < T0 + 600_000; t += gaps[i++ % gaps.length] as number) {
      const inWindow = admitted.filter((a) => a > t - 60_000).length;
      const d = log.check(t, policy, true);
      if (d.allowed) {
        expect(inWindow).toBeLessThan(10);
        admitted.push(t);
      } else {
        refusedCount++;
        expect(inWindow).toBe(10);
        const oldestInWindow = admitted.filter((a) => a > t - 60_000)[0] as number;
        expect(d.retryAfterMs).toBe(oldestInWindow + 60_000 - t);
      }
    }
    expect(refusedCount).toBeGreaterThan(0);
    expect(admitted.length).toBeGreaterThan(50); // the ring wrapped several times
  });

  it('a check without commit admits but consumes nothing', () => {
    const log = newLog();
    for (let i = 0; i < 50; i++) {
      const peek = log.check(T0, policy, false);
      expect(peek.allowed).toBe(true);
      expect(peek.remaining).toBe(9);
    }
    const committed = Array.from({ length: 11 }, () => log.check(T0, policy, true).allowed);
    expect(committed.filter(Boolean)).toHaveLength(10);
  });

  it('undoLast gives back the slot of the most recent call', () => {
    const log = newLog();
    for (let i = 0; i < 10; i++) log.check(T0, policy, true);
    expect(log.check(T0, policy, true).allowed).toBe(false);
    log.undoLast();
    expect(log.check(T0, policy, true).allowed).toBe(true);
    expect(log.check(T0, policy, true).allowed).toBe(false);
  });

  it('undoLast removes the newest call, not the oldest', () => {
    const two: RatePolicy = { algorithm: 'sliding-window', ratePerMinute: 2, burst: 2 };
    const log = new SlidingWindowLog(2);
    log.check(T0, two, true); // A at 0 s
    log.check(T0 + 30_000, two, true); // B at 30 s
    log.undoLast(); // B undone
    expect(log.check(T0 + 30_000, two, true).allowed).toBe(true); // C at 30 s
    const at45 = log.check(T0 + 45_000, two, true);
    expect(at45.allowed).toBe(false);
    expect(at45.retryAfterMs).toBe(15_000); // A (0 s) leaves at 60 s; had A been undone it would be 45 s
  });

  it('undoLast on an empty window does not create extra capacity', () => {
    const log = newLog();
    log.undoLast();
    log.undoLast();
    const decisions = Array.from({ length: 11 }, () => log.check(T0, policy, true).allowed);
    expect(decisions.filter(Boolean)).toHaveLength(10);
  });
});
