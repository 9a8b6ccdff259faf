import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import type { QueryOptions, Results } from '@electric-sql/pglite';
import { BackgroundPriority, type BackgroundPriorityOptions } from './background-priority.ts';

/** What the database thread is asked (pglite-thread-worker.mjs), with an id its reply carries. */
export type ThreadRequest =
  | { op: 'query'; text: string; params?: unknown[]; rowMode?: 'array' | 'object' }
  | { op: 'exec'; text: string }
  | { op: 'close' };

/**
 * Id 0 answers the thread's start, with the thread's id in the kernel (Linux; null elsewhere).
 * An error comes as its fields (PostgreSQL's `code`, …).
 */
export type ThreadReply = { id: number; result: unknown; error?: undefined } | { id: number; error: Record<string, unknown> };

/** What a transaction's callback is given: its statements run in the transaction. */
export interface ThreadTransaction {
  query<T>(text: string, params?: unknown[], options?: QueryOptions): Promise<Results<T>>;
  exec(text: string): Promise<Results[]>;
}

/** An error of the database thread, with PostgreSQL's fields (`code`, `constraint`, …) as it had them. */
function errorOf(data: Record<string, unknown>): Error {
  const error = new Error(String(data.message ?? 'the embedded database failed'));
  Object.assign(error, data);
  return error;
}

const noop = () => undefined;

/** Where the thread reports that it stopped and was opened again (pino's loggers fit). */
export interface ThreadLog {
  error(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

export interface PgliteThreadOptions {
  /** Folder of the database files; omitted: in memory (a thread that stops is not started again: its data went with it). */
  dataDir?: string;
  log?: ThreadLog;
  /** Waits before each attempt to open a stopped database again; the last one repeats (default 0, 1, 5, 15, 30 s). */
  restartDelaysMs?: readonly number[];
  /**
   * The thread at idle priority while it keeps up (`BackgroundPriority`): for a process that
   * serves calls, which then go first on a core the two share. Off: the thread's nice value only.
   */
  backgroundPriority?: boolean | BackgroundPriorityOptions;
}

const RESTART_DELAYS_MS = [0, 1_000, 5_000, 15_000, 30_000];
const CLOSED = 'the embedded database is closed';
const WORKER_URL = new URL('./pglite-thread-worker.mjs', import.meta.url);

/**
 * PGlite on a thread of its own (pglite-thread-worker.mjs), with the part of PGlite's interface that
 * drizzle and the store use. PGlite runs each statement on the thread that calls it, and its
 * statements (a second's calls for the log, a minute's rollups) stopped the gateway from serving
 * for as long; on its own thread they take a core the serving thread does not need.
 *
 * The session is one: statements are sent in the order they are asked for, and a transaction's,
 * from its BEGIN to its COMMIT, with nothing else between them (others wait for it to end).
 *
 * A thread that stops (PGlite's WebAssembly aborted, say) fails the statements awaiting it, and a
 * database in a folder is opened again on a new thread, as PostgreSQL restarts after a crash:
 * what was committed is there, a transaction left open is rolled back. Statements asked for
 * meanwhile fail at once with the reason (callers retry: the usage writer keeps its records, a
 * key not cached is answered 503), so the process heals without its supervisor.
 */
export class PgliteThread {
  private nextId = 1;
  private readonly replies = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void }>();
  /** Settles when the transactions asked for so far have ended: statements asked for later wait for it. */
  private tail: Promise<void> = Promise.resolve();
  /** Why statements cannot be sent now: the thread stopped (until it is open again), or it is closed. */
  private failure: Error | null = null;
  private closed = false;
  /** Opened once: a thread that stops after that is started again (one that cannot open fails `open`). */
  private opened = false;
  private worker!: Worker;
  /** Settles once a stopped thread is open again, or given up on (closed). */
  private restarting: Promise<void> | null = null;
  /** Cuts short the wait between attempts to open it again: the close does not wait for it. */
  private readonly closing = new AbortController();
  private readonly background: BackgroundPriority | null;
  /** Has `background` look at the thread regularly. */
  private backgroundCheck: NodeJS.Timeout | undefined;

  private constructor(private readonly options: PgliteThreadOptions) {
    const background = options.backgroundPriority;
    this.background = background ? new BackgroundPriority({ log: options.log, ...(background === true ? {} : background) }) : null;
  }

  /** Starts the thread and waits for PGlite to be ready (its folder opened or created). */
  static async open(options: PgliteThreadOptions = {}): Promise<PgliteThread> {
    const thread = new PgliteThread(options);
    await thread.start();
    thread.opened = true;
    const background = thread.background;
    if (background) {
      thread.backgroundCheck = setInterval(() => background.observe(), background.observeEveryMs).unref();
    }
    return thread;
  }

  /** A new thread with PGlite on the folder; rejects (the thread ended) if PGlite cannot open it. */
  private async start(): Promise<void> {
    // Plain JavaScript, so no loader: whatever this process runs under (tsx, vitest) stays here.
    const worker = new Worker(WORKER_URL, { workerData: { dataDir: this.options.dataDir }, execArgv: [] });
    this.worker = worker;
    let ended = false;
    const end = (error: Error) => {
      if (ended) return;
      ended = true;
      if (worker === this.worker) this.fail(error);
    };
    worker.on('message', (reply: ThreadReply) => {
      if (worker === this.worker) this.settle(reply);
    });
    worker.on('error', end);
    worker.on('exit', (code) => end(new Error(this.closed ? CLOSED : `the embedded database's thread stopped (exit code ${code})`)));
    let threadId: number | null;
    try {
      threadId = (await this.expect(0)) as number | null;
    } catch (error) {
      ended = true;
      await worker.terminate();
      throw error;
    }
    if (threadId !== null) await this.background?.follow(threadId);
  }

  query<T>(text: string, params?: unknown[], options?: QueryOptions): Promise<Results<T>> {
    return this.tail.then(() => this.direct.query<T>(text, params, options));
  }

  exec(text: string): Promise<Results[]> {
    return this.tail.then(() => this.direct.exec(text));
  }

  /** Runs `callback` in a transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(callback: (tx: ThreadTransaction) => Promise<T>): Promise<T> {
    const done = this.tail.then(async () => {
      await this.send({ op: 'query', text: 'begin' });
      let result: T;
      try {
        result = await callback(this.direct);
      } catch (error) {
        await this.send({ op: 'query', text: 'rollback' }).catch(noop);
        throw error;
      }
      await this.send({ op: 'query', text: 'commit' });
      return result;
    });
    this.tail = done.then(noop, noop);
    return done;
  }

  /** Waits for what was asked before, closes the database and ends the thread. */
  async close(): Promise<void> {
    await this.tail;
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.backgroundCheck);
    if (this.failure) {
      // Stopped: an opening under way ends with the close (`restart` sees it).
      this.failure = new Error(CLOSED);
      this.closing.abort();
      await this.restarting;
      return;
    }
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    await this.send({ op: 'close' });
    await exited;
  }

  /** Statements sent at once, whatever is queued: a transaction's own. */
  private readonly direct: ThreadTransaction = {
    query: <T>(text: string, params?: unknown[], options?: QueryOptions) =>
      this.send({ op: 'query', text, ...(params && params.length > 0 ? { params } : {}), ...(options?.rowMode ? { rowMode: options.rowMode } : {}) }) as Promise<Results<T>>,
    exec: (text: string) => this.send({ op: 'exec', text }) as Promise<Results[]>,
  };

  private send(request: ThreadRequest): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const reply = this.expect(id);
    this.worker.postMessage({ id, ...request });
    return reply;
  }

  private expect(id: number): Promise<unknown> {
    // The thread keeps the process alive only while an answer is awaited.
    if (this.replies.size === 0) this.worker.ref();
    return new Promise((resolve, reject) => this.replies.set(id, { resolve, reject }));
  }

  private settle(reply: ThreadReply): void {
    const waiting = this.replies.get(reply.id);
    if (!waiting) return;
    this.replies.delete(reply.id);
    // A closing thread stays referenced until it has exited, which `close` awaits.
    if (this.replies.size === 0 && !this.closed) this.worker.unref();
    if (reply.error) waiting.reject(errorOf(reply.error));
    else waiting.resolve(reply.result);
  }

  private fail(error: Error): void {
    this.failure = error;
    this.background?.forget();
    for (const waiting of this.replies.values()) waiting.reject(error);
    this.replies.clear();
    if (!this.closed && this.opened && this.options.dataDir !== undefined) this.restart(error);
  }

  /** Opens the database again on a new thread, waiting longer after each failed attempt, until it opens or is closed. */
  private restart(cause: Error): void {
    this.restarting ??= (async () => {
      const delays = this.options.restartDelaysMs ?? RESTART_DELAYS_MS;
      this.options.log?.error({ err: cause }, 'the embedded database stopped; opening it again on a new thread');
      for (let attempt = 1; !this.closed; attempt++) {
        const delayMs = delays[Math.min(attempt, delays.length) - 1] ?? 0;
        if (delayMs > 0) await sleep(delayMs, undefined, { signal: this.closing.signal }).catch(noop);
        if (this.closed) return;
        try {
          await this.start();
        } catch (error) {
          this.options.log?.error({ err: error, attempt }, 'the embedded database could not be opened again; trying later');
          continue;
        }
        if (this.closed) {
          // Closed while it opened: nothing was asked of it.
          await this.worker.terminate();
          return;
        }
        this.failure = null;
        this.options.log?.info({ attempt }, 'the embedded database is open again');
        return;
      }
    })().finally(() => {
      this.restarting = null;
    });
  }
}
