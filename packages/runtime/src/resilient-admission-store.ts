import type { AdmissionResult, AdmissionStore, QuotaPolicy, RatePolicy, SeededCounts } from '@tollgate/core';
import { MemoryAdmissionStore } from './memory-admission-store.ts';

/**
 * What the gateway does while the shared limiter (Redis) cannot answer:
 * - `local`: each instance enforces the limits on its own counts (N instances admit up to N×);
 * - `open`: calls pass unlimited and uncounted by the limiter (the usage records still count them);
 * - `closed`: calls are refused with 503 until the limiter is back.
 */
export type LimiterFailureMode = 'open' | 'local' | 'closed';

const PROBE_INTERVAL_MS = 1_000;

export interface LimiterState {
  /** `global` while the shared limiter answers, otherwise the failure mode in force. */
  limits: 'global' | LimiterFailureMode;
  since: number;
  lastError: string | null;
}

export interface ResilientAdmissionOptions {
  mode: LimiterFailureMode;
  /** Told of every change of state (to log it). */
  onStateChange?: (state: LimiterState) => void;
  now?: () => number;
}

/**
 * The shared limiter with a fallback: a call the shared store fails to decide is decided by the
 * failure mode instead of failing. The first failure switches to the fallback; `recovered()`
 * (the connection is ready again) switches back, without a restart.
 */
export class ResilientAdmissionStore implements AdmissionStore {
  private readonly local = new MemoryAdmissionStore();
  private current: LimiterState;
  private lastProbe = 0;

  constructor(
    private readonly shared: AdmissionStore,
    private readonly options: ResilientAdmissionOptions,
  ) {
    this.current = { limits: 'global', since: this.now(), lastError: null };
  }

  get state(): LimiterState {
    return this.current;
  }

  admit(keyId: string, rate: RatePolicy, quota: QuotaPolicy, nowMs: number): AdmissionResult | Promise<AdmissionResult> {
    if (this.current.limits !== 'global') {
      // A connection that never dropped (a slow command timed out) sends no 'ready' to say it is
      // back: once a second, one call tries the shared store again.
      const now = this.now();
      if (now - this.lastProbe < PROBE_INTERVAL_MS) return this.fallback(keyId, rate, quota, nowMs);
      this.lastProbe = now;
    }
    return Promise.resolve(this.shared.admit(keyId, rate, quota, nowMs)).then(
      (result) => {
        this.recovered();
        return result;
      },
      (error: unknown) => {
        this.failed(error);
        return this.fallback(keyId, rate, quota, nowMs);
      },
    );
  }

  async seedCounts(keyId: string, counts: SeededCounts): Promise<void> {
    this.local.seedCounts(keyId, counts);
    if (this.current.limits !== 'global') return;
    try {
      await this.shared.seedCounts(keyId, counts);
    } catch (error) {
      this.failed(error);
    }
  }

  /** The shared store answers again: back to global limits. */
  recovered(): void {
    if (this.current.limits === 'global') return;
    this.set({ limits: 'global', since: this.now(), lastError: null });
  }

  /** The shared store is known to be unreachable (e.g. its connection closed). */
  failed(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    if (this.current.limits !== 'global') {
      this.current = { ...this.current, lastError: message };
      return;
    }
    this.lastProbe = this.now();
    this.set({ limits: this.options.mode, since: this.now(), lastError: message });
  }

  private fallback(keyId: string, rate: RatePolicy, quota: QuotaPolicy, nowMs: number): AdmissionResult {
    if (this.options.mode === 'local') return this.local.admit(keyId, rate, quota, nowMs);
    if (this.options.mode === 'closed') return { outcome: 'unavailable' };
    return {
      outcome: 'admitted',
      rate: { allowed: true, limit: rate.ratePerMinute, remaining: rate.burst, resetAtMs: nowMs, retryAfterMs: 0 },
      overage: false,
      dayUsed: 0,
      monthUsed: 0,
    };
  }

  private set(state: LimiterState): void {
    this.current = state;
    this.options.onStateChange?.(state);
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }
}
