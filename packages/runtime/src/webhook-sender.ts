import { Worker } from 'node:worker_threads';
import { signWebhook } from '@tollgate/core';
import { WebhookHttpClient, type WebhookHttpOptions, type WebhookSendResult } from './webhook-http.ts';

/** One delivery to send: signed at the moment it is sent, so a long run's last ones are not stale. */
export interface WebhookRequest {
  /** The `webhook-id`: the event's id, the same for every attempt. */
  messageId: string;
  body: string;
}

export interface WebhookAttemptResult extends Omit<WebhookSendResult, 'error'> {
  /** When the attempt started (ms since the epoch); its signature carries this second. */
  startedAt: number;
  error: { code: string; message: string } | null;
}

/**
 * Sends an endpoint's deliveries in order, one after another, and stops after the first that
 * does not succeed (it decides whether the rest wait), or once `deadline` (ms since the epoch)
 * has passed, so the caller can renew its hold on the endpoint. Answers the results of those
 * attempted: at least one.
 */
export interface WebhookSender {
  sendRun(url: string, secrets: readonly string[], requests: readonly WebhookRequest[], deadline?: number): Promise<WebhookAttemptResult[]>;
  close(): Promise<void>;
}

/** The run itself, wherever it runs: sign each request as it goes out, stop at the first failure or the deadline. */
export async function sendSignedRun(
  client: Pick<WebhookHttpClient, 'post'>,
  url: string,
  secrets: readonly string[],
  requests: readonly WebhookRequest[],
  deadline = Number.POSITIVE_INFINITY,
): Promise<WebhookAttemptResult[]> {
  const results: WebhookAttemptResult[] = [];
  for (const request of requests) {
    const startedAt = Date.now();
    if (results.length > 0 && startedAt >= deadline) break;
    let result: WebhookAttemptResult;
    try {
      const headers = signWebhook({ messageId: request.messageId, timestampSec: Math.floor(startedAt / 1000), body: request.body, secrets });
      result = { ...(await client.post(url, headers as unknown as Record<string, string>, request.body)), startedAt };
    } catch (error) {
      // A secret that cannot sign is the endpoint's failure, logged like any other, not a crash.
      result = { ok: false, statusCode: null, durationMs: 0, responseExcerpt: null, error: { code: 'signing_failed', message: (error as Error).message }, startedAt };
    }
    results.push(result);
    if (!result.ok) break;
  }
  return results;
}

/** Sends on the caller's thread (WEBHOOK_SENDER_THREADS=0, and tests that inject a DNS lookup). */
export class InProcessWebhookSender implements WebhookSender {
  private readonly client: WebhookHttpClient;

  constructor(options: WebhookHttpOptions) {
    this.client = new WebhookHttpClient(options);
  }

  sendRun(url: string, secrets: readonly string[], requests: readonly WebhookRequest[], deadline?: number): Promise<WebhookAttemptResult[]> {
    return sendSignedRun(this.client, url, secrets, requests, deadline);
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/** What a sender thread is started with (structured-cloneable: no injected lookup). */
export type WebhookSenderThreadOptions = Omit<WebhookHttpOptions, 'lookup'>;

interface Run {
  resolve: (results: WebhookAttemptResult[]) => void;
  reject: (error: Error) => void;
}

interface SenderThread {
  worker: Worker;
  runs: Map<number, Run>;
}

/**
 * Signs and sends on worker threads, each with its own keep-alive pool, so the HTTP work (about
 * half a delivery's CPU) leaves the thread that runs the database and the API. An endpoint's run
 * goes to one thread and is sent there in order. A thread that dies fails its runs in flight
 * (their deliveries are sent again: at least once) and is replaced by the next run.
 */
export class ThreadedWebhookSender implements WebhookSender {
  private readonly threads: (SenderThread | null)[];
  private nextRunId = 1;
  private nextThread = 0;
  private closed = false;

  constructor(private readonly options: WebhookSenderThreadOptions & { threads: number }) {
    if (!Number.isInteger(options.threads) || options.threads < 1) throw new Error('ThreadedWebhookSender needs at least one thread');
    this.threads = Array.from({ length: options.threads }, () => null);
  }

  sendRun(url: string, secrets: readonly string[], requests: readonly WebhookRequest[], deadline?: number): Promise<WebhookAttemptResult[]> {
    if (this.closed) return Promise.reject(new Error('the webhook sender is closed'));
    if (requests.length === 0) return Promise.resolve([]);
    // Round robin: runs are of similar size (an endpoint's queue, up to a batch).
    const index = this.nextThread;
    this.nextThread = (this.nextThread + 1) % this.threads.length;
    const thread = (this.threads[index] ??= this.spawn(index));
    const id = this.nextRunId++;
    return new Promise((resolve, reject) => {
      thread.runs.set(id, { resolve, reject });
      thread.worker.postMessage({ id, url, secrets, requests, deadline });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.map((thread) => thread?.worker.terminate()));
  }

  private spawn(index: number): SenderThread {
    const { threads: _count, ...http } = this.options;
    // A .mjs entry: worker threads do not inherit the parent's TypeScript loader, so it registers tsx first.
    const worker = new Worker(new URL('./webhook-sender-thread.mjs', import.meta.url), { workerData: http });
    // A sender thread never keeps the process alive by itself; the deliverer's timers and the server do.
    worker.unref();
    const thread: SenderThread = { worker, runs: new Map() };
    worker.on('message', (message: { id: number; results: WebhookAttemptResult[] }) => {
      const run = thread.runs.get(message.id);
      thread.runs.delete(message.id);
      run?.resolve(message.results);
    });
    const fail = (error: Error) => {
      if (this.threads[index] === thread) this.threads[index] = null;
      for (const run of thread.runs.values()) run.reject(error);
      thread.runs.clear();
    };
    worker.on('error', (error) => fail(error));
    worker.on('exit', (code) => fail(new Error(`webhook sender thread exited (code ${code})`)));
    return thread;
  }
}

/** The sender for the configured thread count: 0 sends on the caller's thread. */
export function createWebhookSender(options: WebhookSenderThreadOptions & { threads: number }): WebhookSender {
  const { threads, ...http } = options;
  return threads > 0 ? new ThreadedWebhookSender(options) : new InProcessWebhookSender(http);
}
