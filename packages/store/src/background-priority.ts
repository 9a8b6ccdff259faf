import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/**
 * A thread's scheduling policy (Linux): `idle` runs it only on CPU time that no other thread
 * wants (SCHED_IDLE: a thread that wakes takes the core from it at once); `normal` is the
 * default policy (SCHED_OTHER) at the thread's nice value.
 */
export type SchedulingPolicy = 'idle' | 'normal';

/** Sets a thread's policy with util-linux's `chrt`: Node has no call for it. */
export async function setSchedulingPolicy(tid: number, policy: SchedulingPolicy): Promise<void> {
  await execFileAsync('chrt', [policy === 'idle' ? '--idle' : '--other', '--pid', '0', String(tid)]);
}

export interface BackgroundPriorityOptions {
  /** The thread is raised once it has had work 90 % of this long (default 3 s): it is not keeping up. */
  raiseAfterMs?: number;
  /** Back to idle once it has not been so busy for this long (default 10 s). */
  lowerAfterMs?: number;
  setPolicy?: (tid: number, policy: SchedulingPolicy) => Promise<void>;
  now?: () => number;
  /** Told once if the policy cannot be set (no `chrt`, not Linux): the thread then keeps its nice value. */
  log?: { info(fields: object, message: string): void };
}

/** Share of `raiseAfterMs` with work waiting for the thread that tells it is not keeping up. */
const BUSY_SHARE = 0.9;

/**
 * Keeps a background thread (the embedded database's) at idle priority while it keeps up, and at
 * its normal one while it does not. On a core shared with the serving thread, a thread at a
 * lower nice value still holds the core for a whole time slice once it has it (~4 ms here), and
 * the calls that arrive meanwhile wait: at a fixed 26,000 req/s on one core the gateway's p99 was
 * 2.7 ms above the bare route's with the database's thread at nice 10, 0.8 ms above at idle
 * (docs/benchmarks.md). At idle priority a thread gets almost nothing of a core that stays busy:
 * once it has had statements waiting for it nearly all of `raiseAfterMs`, it goes back to the
 * normal policy (its nice value, 10 below the serving thread's: ~10 % of a contended core, where
 * the usage write keeps up), and to idle again after `lowerAfterMs` without being so busy.
 * Whether the thread has work is all it is told: how long a single statement waits says
 * nothing, as the usage write is many short statements, each answered soon even when the
 * write as a whole falls seconds behind.
 */
export class BackgroundPriority {
  private readonly raiseAfterMs: number;
  private readonly lowerAfterMs: number;
  private readonly setPolicy: (tid: number, policy: SchedulingPolicy) => Promise<void>;
  private readonly now: () => number;
  private tid: number | null = null;
  /** As last set on the thread; null until then, and for good once it could not be set. */
  private policy: SchedulingPolicy | null = null;
  private unavailable = false;
  private changing = false;
  private lastBusyAt = Number.NEGATIVE_INFINITY;
  /** [time, busy ms so far] as observed over the last `raiseAfterMs`, oldest first. */
  private samples: [number, number][] = [];

  constructor(private readonly options: BackgroundPriorityOptions = {}) {
    this.raiseAfterMs = options.raiseAfterMs ?? 3_000;
    this.lowerAfterMs = options.lowerAfterMs ?? 10_000;
    this.setPolicy = options.setPolicy ?? setSchedulingPolicy;
    this.now = options.now ?? (() => performance.now());
  }

  /** How often `observe` should be told: a few times in `raiseAfterMs`. */
  get observeEveryMs(): number {
    return this.raiseAfterMs / 8;
  }

  /** The thread now: a new one (a restarted database's) starts at idle priority. */
  follow(tid: number): Promise<void> {
    this.tid = tid;
    this.policy = null;
    this.lastBusyAt = Number.NEGATIVE_INFINITY;
    this.samples = [];
    return this.change('idle');
  }

  /** The thread has stopped: nothing to change until the next one is followed. */
  forget(): void {
    this.tid = null;
    this.policy = null;
  }

  /** Told regularly for how long, in all, the thread has had statements waiting for it (ms). */
  observe(busyMs: number): void {
    const now = this.now();
    const samples = this.samples;
    samples.push([now, busyMs]);
    // Keep the newest sample that is at least the window old, and those after it.
    while (samples.length > 1 && now - (samples[1] as [number, number])[0] >= this.raiseAfterMs) samples.shift();
    if (this.policy === null || this.changing) return;
    const [since, busySince] = samples[0] as [number, number];
    if (now - since < this.raiseAfterMs) return;
    if ((busyMs - busySince) / (now - since) >= BUSY_SHARE) {
      this.lastBusyAt = now;
      if (this.policy === 'idle') void this.change('normal');
    } else if (this.policy === 'normal' && now - this.lastBusyAt >= this.lowerAfterMs) {
      void this.change('idle');
    }
  }
  private async change(policy: SchedulingPolicy): Promise<void> {
    const tid = this.tid;
    if (tid === null || this.unavailable) return;
    this.changing = true;
    try {
      await this.setPolicy(tid, policy);
      if (tid === this.tid) this.policy = policy;
    } catch (error) {
      // Only the first setting of the current thread tells that the policy cannot be set: a later
      // one fails too when the thread ends meanwhile (`forget` follows), and is tried again if not.
      if (tid !== this.tid || this.policy !== null) return;
      this.unavailable = true;
      this.options.log?.info({ err: error }, "the embedded database's thread keeps its nice value: its scheduling policy cannot be set (chrt)");
    } finally {
      this.changing = false;
    }
  }
}
