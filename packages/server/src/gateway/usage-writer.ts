import { CallBatch, minuteStartMs, type UsageRecord } from '@tollgate/core';
import { newId, PendingRollups, type DeferredPart, type UsageRepository } from '@tollgate/store';
import type { FastifyBaseLogger } from 'fastify';

interface Batch {
  id: string;
  calls: CallBatch;
}

export interface UsageWriterOptions {
  flushIntervalMs: number;
  /**
   * Records per transaction (default 10,000: a second's calls at 10,000 a second). A batch
   * counts each key, minute and day once whatever its calls, so larger batches write fewer rows.
   * Each statement has a fixed cost (~0.2–0.4 ms of PGlite's CPU): fewer, larger batches cost
   * less in total (docs/benchmarks.md).
   */
  batchSize?: number;
  /**
   * Distinct keys per batch at most (default 1,000). A key costs a batch two row writes (its
   * minute rollup and its month's counter; four before migration 0012), so with many keys the
   * cost of a batch follows its keys, not its calls: with 100,000 keys a batch of 10,000 calls
   * took PGlite 1.8 s, and the rows of a transaction stay locked meanwhile (on PostgreSQL, other
   * instances wait for them).
   */
  batchKeys?: number;
  /** Records held while the database is unreachable; past it the newest are dropped and counted. */
  maxBuffered?: number;
  /** Called once a batch with quota webhook events (usage.threshold, quota.exceeded) is written. */
  onWebhookEvents?: () => void;
  /**
   * Longest time the minute rollups and the keys' counters of written batches are held, folded,
   * before they are written (default 60 s). With many keys a key's calls spread over many
   * batches, and each batch wrote the key's rollup and counter rows again (~25 µs a row in
   * PGlite); held for a minute, each is written once. While calls come, the rows held are
   * written sooner, as their minute ends (with the first batch of the next minute). Analytics
   * (`GET /usage`) and a key's usage count and last use (`GET /keys`) lag by as much; quotas do
   * not (this process counts its calls in memory, and the blocks written hold how each call counted).
   */
  rollupHoldMs?: number;
  /**
   * Longest time the keys' counters are held (default 5 min). A key has one counter row a month
   * however long it is held, and only a restart, a bill and `GET /keys` read it (a restart and a
   * bill fold what is held from the call log first): with many keys, written with each minute's
   * rollups, the counters were half the rows written. `GET /keys`' usage count and last use lag
   * by as much. At most half ORPHAN_AGE_MS: blocks older than that are taken for a stopped writer's.
   */
  counterHoldMs?: number;
  /**
   * Rollup and counter rows held at most before they are written anyway (default 1,000: a
   * minute's rollup and counter of 500 keys): few rows cost little, and keep analytics current.
   */
  rollupRowsAtOnce?: number;
  /**
   * Rollup and counter rows held at most, whatever the time (default 400,000; ~270 bytes a row:
   * ~110 MB). Until its minute ends a key holds its minute's rollup (one for each endpoint and
   * status it called), and its counter for counterHoldMs: room for ~200,000 keys. Reached sooner, every
   * key's rows are written again each time: with 100,000 keys and a cap of 200,000, about two
   * rows a call, which tripled the usage write's cost (docs/benchmarks.md).
   */
  maxHeldRows?: number;
}

/**
 * Blocks still pending whose calls all came this long ago belong to no live writer (one writes
 * the rollups it holds within rollupHoldMs, the counters within counterHoldMs): they are folded
 * from the log, once a minute.
 */
const ORPHAN_AGE_MS = 10 * 60_000;

/**
 * Records every gateway call without making the call wait: calls are kept in columns
 * (`CallBatch`, so a second of them costs the garbage collector little) and written in batches
 * at least every `flushIntervalMs` and on shutdown. A failed flush keeps its batch and retries,
 * so a database hiccup loses nothing while the buffer has room.
 */
export class UsageWriter {
  /** Batches filled to `batchSize` or `batchKeys`, oldest first, then the one being filled. */
  private full: CallBatch[] = [];
  private current = new CallBatch();
  /** Written batches, emptied, for the next ones to fill (their columns are kept). */
  private spare: CallBatch[] = [];
  /** Calls in `full`. */
  private queued = 0;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  /** Taken from the buffer by the flush running, not yet written. */
  private inFlight = 0;
  /** The batch whose last write failed, to be written again under the same id. */
  private retry: Batch | null = null;
  /** The latest minute of a call recorded (calls recorded late may be of earlier ones). */
  private currentMinute = -Infinity;
  /** Minute rollups of written batches, not written yet. */
  private readonly rollups = new PendingRollups('rollups');
  /** The keys' counters of written batches, not written yet: held longer than the rollups. */
  private readonly counters = new PendingRollups('counters');
  /** The latest minute of the calls whose rollups are held. */
  private heldMinute = -Infinity;
  /** A flush() asked for the held rollups to be written. */
  private rollupsNow = false;
  private nextOrphanCheckMs = 0;
  /** Blocks pending before this time were left by stopped writers and are not folded yet (`recover`). */
  private unrecoveredBefore: Date | null = null;
  private readonly rollupHoldMs: number;
  private readonly counterHoldMs: number;
  private readonly rollupRowsAtOnce: number;
  private readonly maxHeldRows: number;
  private readonly batchSize: number;
  private readonly batchKeys: number;
  private readonly maxBuffered: number;
  dropped = 0;
  written = 0;
  /**
   * Seconds spent writing, by what was written: the calls (the call log's blocks), the minute
   * rollups and the keys' counters. Wall time: how long the database took to answer, which on
   * PGlite is mostly its thread's CPU (with many keys, the rollups as each minute ends).
   */
  readonly writeSeconds: Record<'calls' | DeferredPart, number> = { calls: 0, rollups: 0, counters: 0 };
  /** Rollup and counter rows written (rows folded from the call log instead are not counted). */
  readonly rowsWritten: Record<DeferredPart, number> = { rollups: 0, counters: 0 };

  constructor(
    private readonly repo: UsageRepository,
    private readonly log: FastifyBaseLogger,
    private readonly options: UsageWriterOptions,
  ) {
    this.batchSize = options.batchSize ?? 10_000;
    this.batchKeys = options.batchKeys ?? 1_000;
    this.maxBuffered = options.maxBuffered ?? 1_000_000;
    this.rollupHoldMs = options.rollupHoldMs ?? 60_000;
    this.counterHoldMs = Math.min(options.counterHoldMs ?? 5 * 60_000, ORPHAN_AGE_MS / 2);
    this.rollupRowsAtOnce = options.rollupRowsAtOnce ?? 1_000;
    this.maxHeldRows = options.maxHeldRows ?? 400_000;
  }

  /**
   * Folds what writers stopped before writing (a crash, a kill) from the call log into the
   * rollups and counters, before this process serves: keys' counts are seeded from the counters.
   */
  async recover(): Promise<void> {
    this.unrecoveredBefore = new Date();
    await this.foldUnrecovered();
  }

  /** Folds what was pending when this process started; until it could, each drain tries again. */
  private async foldUnrecovered(): Promise<void> {
    if (!this.unrecoveredBefore) return;
    try {
      const folded = await this.repo.replayRollups({ lastBefore: this.unrecoveredBefore });
      this.unrecoveredBefore = null;
      if (folded > 0) this.log.info({ blocks: folded }, 'usage a stopped writer left unfolded was folded from the call log');
    } catch (error) {
      this.log.error({ err: error }, 'usage a stopped writer left unfolded could not be folded yet; keys loaded meanwhile may count too few calls');
    }
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flushDue(), this.options.flushIntervalMs);
    this.timer.unref();
  }

  record(record: UsageRecord): void {
    // Past the bound (a database down for long), new records are dropped and counted: the
    // buffered ones are older and no less worth keeping, and dropping the newest costs O(1).
    if (this.pending >= this.maxBuffered) {
      this.dropped++;
      return;
    }
    const minute = minuteStartMs(record.createdAt.getTime());
    // A batch starts with the first call of a later minute, so that the rows held can be written
    // as each minute ends. A call recorded late (it started in the minute before, and took
    // longer) joins the batch of the later minute: its rollup is written again with that
    // minute's, where a batch of its own would cost a statement per late call.
    if (minute > this.currentMinute) {
      this.seal();
      this.currentMinute = minute;
    } else if (this.current.keyCount >= this.batchKeys && this.current.isNewKey(record.apiKeyId)) this.seal();
    this.current.append(record);
    if (this.current.length >= this.batchSize) this.seal();
  }

  /** The batch being filled joins the full ones; the next call starts a new one. */
  private seal(): void {
    if (this.current.length === 0) return;
    this.full.push(this.current);
    this.queued += this.current.length;
    this.current = this.spare.pop() ?? new CallBatch();
  }

  /** Records not yet stored: buffered, in a flush still running, or waiting for a retry. */
  get pending(): number {
    return this.queued + this.current.length + this.inFlight + (this.retry?.calls.length ?? 0);
  }

  /** Writes what is buffered, the rollups held included. */
  async flush(): Promise<void> {
    this.rollupsNow = true;
    // A drain already running may have passed its rollups: the next one takes them.
    while (this.rollupsNow) await this.run();
    if (this.flushing) await this.flushing; // another caller's drain took them
  }

  /** The timer's flush: what is buffered, and the rollups held if they are due. */
  flushDue(): Promise<void> {
    return this.run();
  }

  /** Rollup and counter rows held, not written yet. */
  get heldRollups(): number {
    return this.rollups.size + this.counters.size;
  }

  /** One drain at a time; concurrent callers share it. */
  private run(): Promise<void> {
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

  private async drain(): Promise<void> {
    const rollupsNow = this.rollupsNow;
    this.rollupsNow = false;
    // A batch whose write failed goes first, as it was and under its id: if its commit did go
    // through (only the answer was lost), the store knows the id and writes nothing twice.
    if (this.retry) {
      try {
        await this.write(this.retry);
      } catch (error) {
        this.log.error({ err: error, pending: this.pending }, 'usage flush failed; records kept for the next attempt');
        return;
      }
      this.written += this.retry.calls.length;
      this.retry = null;
    }
    this.seal();
    while (this.full.length > 0) {
      // Take every full batch: calls recorded meanwhile go to fresh ones.
      const taken = this.full;
      this.full = [];
      this.inFlight = this.queued;
      this.queued = 0;
      let done = 0;
      let batch: Batch | null = null;
      try {
        for (; done < taken.length; done++) {
          const calls = taken[done] as CallBatch;
          batch = { id: newId('usage'), calls };
          await this.write(batch);
          this.inFlight -= calls.length;
          this.written += calls.length;
          calls.clear();
          if (this.spare.length < 2) this.spare.push(calls);
        }
      } catch (error) {
        // The failed batch is retried as it is; the batches after it go back in front of the newer ones.
        this.retry = batch;
        const after = taken.slice(done + 1);
        this.full = after.concat(this.full);
        this.queued += after.reduce((sum, calls) => sum + calls.length, 0);
        this.inFlight = 0;
        this.log.error({ err: error, pending: this.pending }, 'usage flush failed; records kept for the next attempt');
        return;
      }
      this.seal();
    }
    await this.writeHeldRollups(rollupsNow);
  }

  /**
   * Writes a batch's calls, holds its rollups and counts, and wakes the webhook workers for its
   * quota events. The rollups held are written first when the batch's calls are of a later
   * minute: their minutes are over, so each key's minute is written once (held past a minute's
   * end, a key's rows of both minutes were written, and the later one again with the next minute's).
   */
  private async write({ id, calls }: Batch): Promise<void> {
    let latest = -Infinity;
    for (let i = 0; i < calls.length; i++) latest = Math.max(latest, calls.createdAtMs[i] as number);
    const minute = minuteStartMs(latest);
    if (minute > this.heldMinute && this.heldRollups > this.rollupRowsAtOnce) await this.writeHeld(this.rollups);
    const deferred = await this.timed('calls', () => this.repo.writeBatch(calls, id, { deferRollups: true }));
    const now = Date.now();
    this.rollups.add(deferred, now);
    this.counters.add(deferred, now);
    if (minute > this.heldMinute) this.heldMinute = minute;
    if (calls.quotaEvents.size > 0) this.options.onWebhookEvents?.();
  }

  /** Writes the rows `held`; if that fails, they stay held (their blocks stay pending: nothing is lost if this process stops). */
  private async writeHeld(held: PendingRollups): Promise<void> {
    if (held.blocks === 0) return;
    const since = held.since;
    const part = held.part as DeferredPart;
    await this.timed(part, async () => {
      const taken = await held.take();
      try {
        const how = await this.repo.writeRollups(taken);
        if (how === 'written') this.rowsWritten[part] += taken.rollups.length + taken.counters.length;
      } catch (error) {
        held.add(taken, since);
        this.log.error({ err: error, rows: taken.rollups.length + taken.counters.length, part }, 'usage rollups could not be written; kept for the next flush');
      }
    });
  }

  /** Runs a write, adding the time it took to `writeSeconds[part]`, whether it succeeds or not. */
  private async timed<T>(part: keyof UsageWriter['writeSeconds'], write: () => Promise<T>): Promise<T> {
    const startedAt = performance.now();
    try {
      return await write();
    } finally {
      this.writeSeconds[part] += (performance.now() - startedAt) / 1000;
    }
  }

  /**
   * Writes the rollups, and then the counters, held once few enough, old enough, too many, or
   * asked for; and folds those of stopped writers.
   */
  private async writeHeldRollups(asked: boolean): Promise<void> {
    const now = Date.now(); // the system's clock: these are durations
    const full = this.heldRollups >= this.maxHeldRows;
    // Few rows left once the rollups are written: the counters go too (few rows cost little).
    const due = (held: PendingRollups, holdMs: number) => asked || full || this.heldRollups <= this.rollupRowsAtOnce || now - held.since >= holdMs;
    if (due(this.rollups, this.rollupHoldMs)) await this.writeHeld(this.rollups);
    if (due(this.counters, this.counterHoldMs)) await this.writeHeld(this.counters);
    await this.foldUnrecovered();
    if (now >= this.nextOrphanCheckMs) {
      this.nextOrphanCheckMs = now + 60_000;
      try {
        await this.repo.replayRollups({ lastBefore: new Date(now - ORPHAN_AGE_MS) });
      } catch (error) {
        this.log.error({ err: error }, 'usage rollups of stopped writers could not be folded; retrying in a minute');
      }
    }
  }
}
