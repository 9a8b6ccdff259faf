import { Worker } from 'node:worker_threads';
import type { QueryOptions, Results } from '@electric-sql/pglite';

/** What the database thread is asked (pglite-thread-worker.mjs), with an id its reply carries. */
export type ThreadRequest =
  | { op: 'query'; text: string; params?: unknown[]; rowMode?: 'array' | 'object' }
  | { op: 'exec'; text: string }
  | { op: 'close' };

/** Id 0 answers the thread's start. An error comes as its fields (PostgreSQL's `code`, …). */
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

/**
 * PGlite on a thread of its own (pglite-thread-worker.mjs), with the part of PGlite's interface that
 * drizzle and the store use. PGlite runs each statement on the thread that calls it, and its
 * statements (a second's calls for the log, a minute's rollups) stopped the gateway from serving
 * for as long; on its own thread they take a core the serving thread does not need.
 *
 * The session is one: statements are sent in the order they are asked for, and a transaction's,
 * from its BEGIN to its COMMIT, with nothing else between them (others wait for it to end).
 */
export class PgliteThread {
  private nextId = 1;
  private readonly replies = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void }>();
  /** Settles when the transactions asked for so far have ended: statements asked for later wait for it. */
  private tail: Promise<void> = Promise.resolve();
  private failure: Error | null = null;
  private closed = false;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: ThreadReply) => this.settle(reply));
    worker.on('error', (error) => this.fail(error));
    worker.on('exit', (code) => this.fail(new Error(this.closed ? 'the embedded database is closed' : `the embedded database's thread stopped (exit code ${code})`)));
  }

  /** Starts the thread and waits for PGlite to be ready (its folder opened or created). */
  static async open(options: { dataDir?: string } = {}): Promise<PgliteThread> {
    // Plain JavaScript, so no loader: whatever this process runs under (tsx, vitest) stays here.
    const worker = new Worker(new URL('./pglite-thread-worker.mjs', import.meta.url), { workerData: options, execArgv: [] });
    const thread = new PgliteThread(worker);
    try {
      await thread.expect(0);
    } catch (error) {
      await worker.terminate();
      throw error;
    }
    return thread;
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
    if (this.failure) return;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.closed = true;
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
    this.failure ??= error;
    for (const waiting of this.replies.values()) waiting.reject(error);
    this.replies.clear();
  }
}
