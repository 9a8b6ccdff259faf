import { describe, expect, it } from 'vitest';
import type { AdmissionStore, QuotaPolicy, RatePolicy } from '@tollgate/core';
import { MemoryAdmissionStore } from './memory-admission-store.ts';
import { ResilientAdmissionStore, type LimiterState } from './resilient-admission-store.ts';
import { ManualClock } from './system-clock.ts';

const rate: RatePolicy = { algorithm: 'token-bucket', ratePerMinute: 60, burst: 100 };
const quota: QuotaPolicy = { dailyCap: null, monthlyQuota: null, billsOverage: false };

/** The shared store, with its failures switched on and off by the test (Redis timing out, say). */
function flakyShared() {
  const store = new MemoryAdmissionStore();
  const control = { failing: false, calls: 0 };
  const shared: AdmissionStore = {
    admit: async (...args) => {
      control.calls++;
      if (control.failing) throw new Error('Command timed out');
      return store.admit(...args);
    },
    seedCounts: async (...args) => store.seedCounts(...args),
  };
  return { shared, control };
}

describe('ResilientAdmissionStore', () => {
  it('falls back on a failure and, without any reconnect event, is global again once the shared store answers', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 23, 12));
    const { shared, control } = flakyShared();
    const states: LimiterState['limits'][] = [];
    const store = new ResilientAdmissionStore(shared, { mode: 'local', now: () => clock.now(), onStateChange: (s) => states.push(s.limits) });

    expect(await store.admit('key_a', rate, quota, clock.now())).toMatchObject({ outcome: 'admitted', dayUsed: 1 });
    control.failing = true;
    expect(await store.admit('key_a', rate, quota, clock.now())).toMatchObject({ outcome: 'admitted' }); // decided locally
    expect(store.state.limits).toBe('local');

    control.failing = false;
    const callsBefore = control.calls;
    clock.advance(500);
    await store.admit('key_a', rate, quota, clock.now());
    expect(control.calls).toBe(callsBefore); // within the second: not tried again
    clock.advance(600);
    expect(await store.admit('key_a', rate, quota, clock.now())).toMatchObject({ outcome: 'admitted', dayUsed: 2 }); // the shared store's count
    expect(store.state.limits).toBe('global');
    expect(states).toEqual(['local', 'global']);
  });

  it('closed mode refuses while the shared store fails; open mode admits without counting', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 23, 12));
    for (const [mode, outcome] of [['closed', 'unavailable'], ['open', 'admitted']] as const) {
      const { shared, control } = flakyShared();
      control.failing = true;
      const store = new ResilientAdmissionStore(shared, { mode, now: () => clock.now() });
      expect((await store.admit('key_a', rate, quota, clock.now())).outcome).toBe(outcome);
      expect(store.state).toMatchObject({ limits: mode, lastError: 'Command timed out' });
    }
  });
});
