import type { UsageRecord } from '@tollgate/core';
import type { UsageRepository } from '@tollgate/store';
import type { FastifyBaseLogger } from 'fastify';

export interface UsageWriterOptions {
  flushIntervalMs: number;
  /** Records a flush writes at most; the rest wait for the next one. */
  batchSize?: number;
  /** Records held while the database is unreachable; past it the oldest are dropped and counted. */
  maxBuffered?: number;
}

/**
 * Records every gateway call without making the call wait: records are buffered in memory and
 * written in batches at least every `flushIntervalMs` and on shutdown. A failed flush keeps its
 * records and retries, so a database hiccup loses nothing while the buffer has room.
 */
export class UsageWriter {
  private buffer: UsageRecord[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private readonly batchSize: number;
  private readonly maxBuffered: number;
  dropped = 0;
  written = 0;

  constructor(
    private readonly repo: UsageRepository,
    private readonly log: FastifyBaseLogger,
    private readonly options: UsageWriterOptions,
  ) {
    this.batchSize = options.batchSize ?? 10_000;
    this.maxBuffered = options.maxBuffered ?? 1_000_000;
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.options.flushIntervalMs);
    this.timer.unref();
  }

  record(record: UsageRecord): void {
    if (this.buffer.length >= this.maxBuffered) {
      this.buffer.shift();
      this.dropped++;
    }
    this.buffer.push(record);
  }

  get pending(): number {
    return this.buffer.length;
  }

  /** Writes what is buffered; concurrent callers share one flush. */
  flush(): Promise<void> {
    this.flushing ??= this.drain().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  /** Stops the timer and writes everything still buffered. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
    if (this.buffer.length > 0) await this.flush();
  }

  private async drain(): Promise<void> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.slice(0, this.batchSize);
      try {
        await this.repo.writeBatch(batch);
      } catch (error) {
        this.log.error({ err: error, pending: this.buffer.length }, 'usage flush failed; records kept for the next attempt');
        return;
      }
      this.buffer.splice(0, batch.length);
      this.written += batch.length;
    }
  }
}
