import type { UsageRecord } from '@tollgate/core';
import { newId, yieldToEventLoop, type UsageRepository } from '@tollgate/store';
import type { FastifyBaseLogger } from 'fastify';

interface Batch {
  id: string;
  records: UsageRecord[];
}

export interface UsageWriterOptions {
  flushIntervalMs: number;
  /**
   * Records per transaction (default 10,000: a second's calls at 10,000 a second). A batch
   * counts each key, minute and day once whatever its calls, so larger batches write fewer rows.
   * On PGlite a batch is a pause in serving (its statement runs on this thread): fewer, larger
   * batches pause it less in total, each pause a little longer (docs/benchmarks.md).
   */
  batchSize?: number;
  /**
   * Distinct keys per batch at most (default 1,000). A key costs a batch four row writes
   * (rollup, day and month counts, usage count), so with many keys the pause of a batch follows
   * its keys, not its calls: with 100,000 keys a batch of 10,000 calls paused PGlite 1.8 s.
   */
  batchKeys?: number;
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
  /** Taken from the buffer by the flush running, not yet written. */
  private inFlight = 0;
  /** The batch whose last write failed, to be written again under the same id. */
  private retry: Batch | null = null;
  private readonly batchSize: number;
  private readonly batchKeys: number;
  private readonly maxBuffered: number;
  dropped = 0;
  written = 0;

  constructor(
    private readonly repo: UsageRepository,
    private readonly log: FastifyBaseLogger,
    private readonly options: UsageWriterOptions,
  ) {
    this.batchSize = options.batchSize ?? 10_000;
    this.batchKeys = options.batchKeys ?? 1_000;
    this.maxBuffered = options.maxBuffered ?? 1_000_000;
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.options.flushIntervalMs);
    this.timer.unref();
  }

  record(record: UsageRecord): void {
    // Past the bound (a database down for long), new records are dropped and counted: the
    // buffered ones are older and no less worth keeping, and dropping the newest costs O(1).
    if (this.pending >= this.maxBuffered) {
      this.dropped++;
      return;
    }
    this.buffer.push(record);
  }

  /** Records not yet stored: buffered, in a flush still running, or waiting for a retry. */
  get pending(): number {
    return this.buffer.length + this.inFlight + (this.retry?.records.length ?? 0);
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
    if (this.pending > 0) await this.flush();
  }

  /** Where the batch that starts at `from` ends: at most `batchSize` calls of `batchKeys` keys. */
  private batchEnd(records: readonly UsageRecord[], from: number): number {
    const end = Math.min(records.length, from + this.batchSize);
    const keys = new Set<string | null>();
    for (let at = from; at < end; at++) {
      keys.add((records[at] as UsageRecord).apiKeyId);
      if (keys.size > this.batchKeys) return at;
    }
    return end;
  }

  private async drain(): Promise<void> {
    // A batch whose write failed goes first, as it was and under its id: if its commit did go
    // through (only the answer was lost), the store knows the id and writes nothing twice.
    if (this.retry) {
      try {
        await this.repo.writeBatch(this.retry.records, this.retry.id);
      } catch (error) {
        this.log.error({ err: error, pending: this.pending }, 'usage flush failed; records kept for the next attempt');
        return;
      }
      this.written += this.retry.records.length;
      this.retry = null;
    }
    while (this.buffer.length > 0) {
      // Take the whole buffer: calls recorded meanwhile go to a fresh one, nothing is shifted.
      const taken = this.buffer;
      this.buffer = [];
      this.inFlight = taken.length;
      let done = 0;
      let batch: Batch | null = null;
      try {
        while (done < taken.length) {
          batch = { id: newId('usage'), records: taken.slice(done, this.batchEnd(taken, done)) };
          await this.repo.writeBatch(batch.records, batch.id);
          done += batch.records.length;
          this.inFlight -= batch.records.length;
          this.written += batch.records.length;
          // Calls waiting to be served go before the next batch.
          if (done < taken.length) await yieldToEventLoop();
        }
      } catch (error) {
        // The failed batch is retried as it is; the records after it go back in front of the buffer.
        this.retry = batch;
        const after = done + (batch?.records.length ?? 0);
        this.buffer = after >= taken.length ? this.buffer : taken.slice(after).concat(this.buffer);
        this.inFlight = 0;
        this.log.error({ err: error, pending: this.pending }, 'usage flush failed; records kept for the next attempt');
        return;
      }
    }
  }
}
