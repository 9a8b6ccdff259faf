import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BackgroundPriority, setSchedulingPolicy, type SchedulingPolicy } from './background-priority.ts';
import { canSetThreadPolicy, threadPolicy, workerWithThreadId } from './testing-threads.ts';

/**
 * A BackgroundPriority (raised after waiting for a core 90 % of 1 s, lowered after 10 s) on the
 * test's clock, recording each policy it sets; `run` observes it every 125 ms with the thread
 * waiting for a core `share` of the time, and running `runShare` of it.
 */
function setUp(fail: (tid: number, policy: SchedulingPolicy) => boolean = () => false, readable = true) {
  let now = 0;
  let waitMs = 0;
  let runMs = 0;
  const set: [number, SchedulingPolicy][] = [];
  const logged: string[] = [];
  const priority = new BackgroundPriority({
    raiseAfterMs: 1_000,
    lowerAfterMs: 10_000,
    now: () => now,
    setPolicy: async (tid, policy) => {
      if (fail(tid, policy)) throw new Error('chrt: failed');
      set.push([tid, policy]);
    },
    readTimes: () => (readable ? { runMs, waitMs } : null),
    log: { info: (_fields, message) => logged.push(message) },
  });
  const run = async (ms: number, share: number, runShare = 0.05) => {
    for (let t = 0; t < ms; t += 125) {
      now += 125;
      waitMs += 125 * share;
      runMs += 125 * runShare;
      priority.observe();
      await new Promise((resolve) => setImmediate(resolve)); // a change in flight settles
    }
  };
  return { priority, set, logged, run };
}

describe('BackgroundPriority (the database thread at idle priority while it keeps up)', () => {
  it('starts a thread at idle, raises it once it has waited for a core 90 % of raiseAfterMs, lowers it after lowerAfterMs waiting less than half the time', async () => {
    const { priority, set, run } = setUp();
    await priority.follow(41);
    expect(set).toEqual([[41, 'idle']]);

    // Waiting 80 % of the time for long, or all the time for less than the window: not starved.
    await run(5_000, 0.8);
    await run(2_000, 0);
    await run(875, 1);
    expect(set).toEqual([[41, 'idle']]);
    await run(125, 1);
    expect(set).toEqual([
      [41, 'idle'],
      [41, 'normal'],
    ]);

    // Raised, waiting 60 % of the time is still contended: the 10 s count from the end of that.
    await run(3_000, 0.6);
    await run(9_000, 0.2);
    expect(set.at(-1)).toEqual([41, 'normal']);
    await run(2_000, 0.2);
    expect(set).toEqual([
      [41, 'idle'],
      [41, 'normal'],
      [41, 'idle'],
    ]);
  });

  it('raises a thread that uses a quarter of a core or more, starved or not, and keeps it raised while it does', async () => {
    const { priority, set, run } = setUp();
    await priority.follow(41);
    await run(5_000, 0.1, 0.2);
    expect(set).toEqual([[41, 'idle']]);
    await run(1_000, 0.1, 0.3);
    expect(set.at(-1)).toEqual([41, 'normal']);
    await run(12_000, 0.1, 0.3);
    expect(set).toHaveLength(2);
    await run(12_000, 0.1, 0.05);
    expect(set.at(-1)).toEqual([41, 'idle']);
  });

  it("follows a new thread (a restarted database's) from idle, and changes nothing for a thread that has stopped", async () => {
    const { priority, set, run } = setUp();
    await priority.follow(41);
    await run(2_000, 1);
    priority.forget();
    await run(20_000, 0);
    await priority.follow(42);
    // What the stopped thread was doing does not count for the new one.
    await run(500, 1);
    expect(set).toEqual([
      [41, 'idle'],
      [41, 'normal'],
      [42, 'idle'],
    ]);
  });

  it('says once that the policy cannot be set, and does not try again: the thread keeps its nice value', async () => {
    const { priority, set, logged, run } = setUp(() => true);
    await priority.follow(41);
    await run(3_000, 1);
    await priority.follow(42);
    expect(set).toEqual([]);
    expect(logged).toEqual(["the embedded database's thread keeps its nice value: it cannot be run at idle priority"]);
  });

  it('leaves a thread whose waiting cannot be read (no schedstat) at its nice value: it could starve unseen', async () => {
    const { priority, set, logged, run } = setUp(() => false, false);
    await priority.follow(41);
    await run(3_000, 1);
    expect(set).toEqual([]);
    expect(logged).toEqual(["the embedded database's thread keeps its nice value: it cannot be run at idle priority"]);
  });

  it('tries a raise again that failed (the thread may have been ending), without giving up on the policy', async () => {
    let failRaise = true;
    const { priority, set, logged, run } = setUp((_tid, policy) => policy === 'normal' && failRaise);
    await priority.follow(41);
    await run(1_125, 1);
    expect(set).toEqual([[41, 'idle']]);
    failRaise = false;
    await run(125, 1);
    expect(set).toEqual([
      [41, 'idle'],
      [41, 'normal'],
    ]);
    expect(logged).toEqual([]);
  });

  it('does not give up on a failure for a thread that has been replaced meanwhile', async () => {
    const { priority, set, logged } = setUp((tid) => tid === 41);
    await Promise.all([priority.follow(41), priority.follow(42)]);
    expect(set).toEqual([[42, 'idle']]);
    expect(logged).toEqual([]);
  });
});

describe('setSchedulingPolicy', () => {
  it.runIf(canSetThreadPolicy)("sets a thread's policy, change after change, and says why when chrt cannot", async () => {
    const { worker, tid } = await workerWithThreadId('setInterval(() => {}, 1000);');
    try {
      for (const policy of ['idle', 'normal', 'idle', 'normal'] as const) {
        await setSchedulingPolicy(tid, policy);
        expect(threadPolicy(tid)).toBe(policy === 'idle' ? 5 : 0);
      }
      // One shell runs chrt for every change: this process is not forked again at each.
      const shells = () =>
        readdirSync('/proc/self/task')
          .flatMap((task) => readFileSync(`/proc/self/task/${task}/children`, 'utf8').split(' ').filter(Boolean))
          .filter((pid) => {
            try {
              return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('while read -r flag tid');
            } catch {
              return false;
            }
          });
      const [shell] = shells();
      expect(shells()).toEqual([shell]);
      // Several at once are answered each in turn.
      await Promise.all([setSchedulingPolicy(tid, 'idle'), setSchedulingPolicy(tid, 'normal'), setSchedulingPolicy(tid, 'idle')]);
      expect(threadPolicy(tid)).toBe(5);
      // No such thread: chrt's own message.
      await expect(setSchedulingPolicy(2 ** 22 + 7, 'idle')).rejects.toThrow(/^chrt: .*4194311/);
      await setSchedulingPolicy(tid, 'normal');
      expect(threadPolicy(tid)).toBe(0);
      expect(shells()).toEqual([shell]);
    } finally {
      await worker.terminate();
    }
  });
});
