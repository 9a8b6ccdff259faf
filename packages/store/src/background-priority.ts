import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';

/**
 * A thread's scheduling policy (Linux): `idle` runs it only on CPU time that no other thread
 * wants (SCHED_IDLE: a thread that wakes takes the core from it at once); `normal` is the
 * default policy (SCHED_OTHER) at the thread's nice value.
 */
export type SchedulingPolicy = 'idle' | 'normal';

/**
 * Sets a thread's policy with util-linux's `chrt` (Node has no call for it), run by one shell
 * that lives as long as this process: starting `chrt` from here forks this process, which held
 * its event loop ~27–30 ms at 1 GB of memory (the gateway with 100,000 keys; ~2 ms at 225 MB),
 * at every change of policy. The shell is started at the first change, at the database's start,
 * while the process is small, and forks only itself; it ends when this process does (its input
 * closes).
 */
export function setSchedulingPolicy(tid: number, policy: SchedulingPolicy): Promise<void> {
  return (chrtShell ??= new ChrtShell()).set(tid, policy);
}

let chrtShell: ChrtShell | null = null;

/** A shell reading "flag tid" lines and answering each with "ok" or "failed <chrt's message>". */
const CHRT_LOOP = `while read -r flag tid; do
  if out=$(chrt "$flag" --pid 0 "$tid" 2>&1); then echo ok; else echo "failed $(printf '%s' "$out" | tr '\\n' ' ')"; fi
done`;

class ChrtShell {
  private child: ChildProcessByStdio<Writable, Readable, null> | null = null;
  /** Requests sent, oldest first: the shell answers them in order. */
  private readonly waiting: { resolve: () => void; reject: (error: Error) => void }[] = [];

  set(tid: number, policy: SchedulingPolicy): Promise<void> {
    const child = (this.child ??= this.start());
    // An answer awaited keeps this process alive, as any awaited I/O does; none, the shell does not.
    if (this.waiting.length === 0) (child.stdout as Readable & { ref(): void }).ref();
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      child.stdin.write(`${policy === 'idle' ? '--idle' : '--other'} ${tid}\n`);
    });
  }

  private start(): ChildProcessByStdio<Writable, Readable, null> {
    const child = spawn('sh', ['-c', CHRT_LOOP], { stdio: ['pipe', 'pipe', 'ignore'] });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const request = this.waiting.shift();
      if (line === 'ok') request?.resolve();
      else request?.reject(new Error(`chrt: ${line.replace(/^failed /, '')}`));
      if (this.waiting.length === 0) (child.stdout as Readable & { unref(): void }).unref();
    });
    const ended = (error: Error) => {
      if (this.child === child) this.child = null;
      for (const request of this.waiting.splice(0)) request.reject(error);
    };
    child.once('error', ended);
    child.once('exit', (code) => ended(new Error(`the shell that runs chrt exited (code ${code})`)));
    child.stdin.on('error', () => undefined); // an exit says it
    // The shell does not keep this process alive (its output does while an answer is awaited).
    child.unref();
    (child.stdin as Writable & { unref(): void }).unref();
    (child.stdout as Readable & { unref(): void }).unref();
    return child;
  }
}

/** How long, in all, a thread has run on a core and waited for one while it could run (ms). */
export interface ThreadTimes {
  runMs: number;
  waitMs: number;
}

/** A thread of this process's times from Linux's schedstat; null where that cannot be read. */
export function threadTimes(tid: number): ThreadTimes | null {
  try {
    const [run, wait] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ');
    return { runMs: Number(run) / 1e6, waitMs: Number(wait) / 1e6 };
  } catch {
    return null;
  }
}

export interface BackgroundPriorityOptions {
  /** The window the thread's times are judged over (default 3 s): starved or busy over it, it is raised. */
  raiseAfterMs?: number;
  /** Back to idle once it has been neither contended nor busy for this long (default 3 s: the window). */
  lowerAfterMs?: number;
  setPolicy?: (tid: number, policy: SchedulingPolicy) => Promise<void>;
  readTimes?: (tid: number) => ThreadTimes | null;
  now?: () => number;
  /** Told once if the thread stays at its nice value (no `chrt` or schedstat: not Linux, say). */
  log?: { info(fields: object, message: string): void };
}

/** Shares of the time spent waiting for a core: starved at idle priority; still contended at the normal one. */
const STARVED = 0.9;
const CONTENDED = 0.5;
/** Share of a core used: work enough that being preempted at each call costs more than it saves. */
const BUSY = 0.25;

/**
 * Keeps a background thread (the embedded database's) at idle priority while it gets a core
 * when it needs one, and at its normal priority while it does not. On a core shared with the
 * serving thread, a thread at a higher nice value still holds the core for a whole time slice
 * once it has it (~4 ms here), and the calls that arrive meanwhile wait: at a fixed rate on one
 * core the gateway's p99 was 2.3 ms above the bare route's with the database's thread at nice 10,
 * 1.2 ms above at idle (docs/benchmarks.md). But at idle priority a thread gets almost nothing of
 * a core that stays busy (0–1 % of a saturated one, measured; ~9 % at nice 10): once it has
 * waited for a core 90 % of `raiseAfterMs`, it goes back to the normal policy (its nice value, 10
 * below the serving thread's), and to idle after `lowerAfterMs` of waiting less than half the
 * time. What tells starving is the kernel's count of the time the thread waited to run, not the
 * time its statements took: a thread with much to do on a core with room waits little. (The
 * kernel adds a wait when the thread next runs; at idle priority on a busy core it still runs a
 * slice now and then, so a window of seconds sees it.) A thread using a quarter of a core or more
 * is raised too: preempted whenever a call comes, its work (100,000 keys' rollups) took 15 % more
 * CPU a call in all than in slices at its nice value.
 */
export class BackgroundPriority {
  private readonly raiseAfterMs: number;
  private readonly lowerAfterMs: number;
  private readonly setPolicy: (tid: number, policy: SchedulingPolicy) => Promise<void>;
  private readonly readTimes: (tid: number) => ThreadTimes | null;
  private readonly now: () => number;
  private tid: number | null = null;
  /** As last set on the thread; null until then, and for good once it could not be set. */
  private policy: SchedulingPolicy | null = null;
  private unavailable = false;
  private changing = false;
  private lastContendedAt = Number.NEGATIVE_INFINITY;
  /** [time, the thread's times so far] over the last `raiseAfterMs`, oldest first. */
  private samples: [number, ThreadTimes][] = [];

  constructor(private readonly options: BackgroundPriorityOptions = {}) {
    this.raiseAfterMs = options.raiseAfterMs ?? 3_000;
    this.lowerAfterMs = options.lowerAfterMs ?? 3_000;
    this.setPolicy = options.setPolicy ?? setSchedulingPolicy;
    this.readTimes = options.readTimes ?? threadTimes;
    this.now = options.now ?? (() => performance.now());
  }

  /** How often `observe` should be called: a few times in `raiseAfterMs`. */
  get observeEveryMs(): number {
    return this.raiseAfterMs / 8;
  }

  /** The thread now: a new one (a restarted database's) starts at idle priority. */
  follow(tid: number): Promise<void> {
    this.tid = tid;
    this.policy = null;
    this.lastContendedAt = Number.NEGATIVE_INFINITY;
    this.samples = [];
    // A thread whose waiting cannot be watched could starve unseen: it keeps its nice value.
    if (this.readTimes(tid) === null) return this.giveUp(new Error(`cannot read the thread's scheduler statistics (/proc/self/task/${tid}/schedstat)`));
    return this.change('idle');
  }

  /** The thread has stopped: nothing to change until the next one is followed. */
  forget(): void {
    this.tid = null;
    this.policy = null;
  }

  /** One look at the thread: how long it has run and waited for a core lately. */
  observe(): void {
    const tid = this.tid;
    if (tid === null) return;
    const times = this.readTimes(tid);
    if (times === null) return;
    const now = this.now();
    const samples = this.samples;
    samples.push([now, times]);
    // Keep the newest sample that is at least the window old, and those after it.
    while (samples.length > 1 && now - (samples[1] as [number, ThreadTimes])[0] >= this.raiseAfterMs) samples.shift();
    if (this.policy === null || this.changing) return;
    const [since, before] = samples[0] as [number, ThreadTimes];
    if (now - since < this.raiseAfterMs) return;
    const waited = (times.waitMs - before.waitMs) / (now - since);
    const busy = (times.runMs - before.runMs) / (now - since) >= BUSY;
    if (this.policy === 'idle') {
      if (waited >= STARVED || busy) {
        this.lastContendedAt = now;
        void this.change('normal');
      }
    } else if (waited >= CONTENDED || busy) {
      this.lastContendedAt = now;
    } else if (now - this.lastContendedAt >= this.lowerAfterMs) {
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
      await this.giveUp(error);
    } finally {
      this.changing = false;
    }
  }

  private async giveUp(error: unknown): Promise<void> {
    if (this.unavailable) return;
    this.unavailable = true;
    this.options.log?.info({ err: error }, "the embedded database's thread keeps its nice value: it cannot be run at idle priority");
  }
}
