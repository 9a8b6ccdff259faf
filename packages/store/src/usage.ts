import { setImmediate as nextTurn } from 'node:timers/promises';
import { sql, type SQL } from 'drizzle-orm';
import type { UsageGroupBy, UsageStats } from '@tollgate/contracts';
import { CALL_TEXT_FIELDS, CallBatch, dayPeriod, minuteStartMs, monthPeriod, monthStartMs, nextMonthStartMs, NO_TEXT, USAGE_THRESHOLD_PERCENT, type QuotaEvent, type UsageRecord } from '@tollgate/core';
import { queryRows, type Db } from './database.ts';
import { insertWebhookEvents, type NewWebhookEvent } from './webhooks.ts';

export const monthCounter = (nowMs: number) => `month:${monthPeriod(nowMs)}`;

/** What a batch adds to a key's counter row of a month (schema.ts, `usage_counters`). */
export interface CounterRow {
  keyId: string;
  period: string;
  count: number;
  overage: number;
  /** Start of the latest UTC day of the month the batch has a call of the key on, and its admitted calls. */
  dayStartMs: number;
  dayCount: number;
  calls: number;
  lastAt: number;
}

/** A minute rollup's row (schema.ts, `usage_rollups`): '' stands for "none". */
export interface RollupRow {
  keyId: string;
  minute: number;
  endpoint: string;
  status: number;
  userId: string;
  productId: string;
  count: number;
  bytes: number;
  latency: number;
}

/**
 * What a batch written with `deferRollups` left to write: its minute rollups and its keys'
 * counter rows, and its blocks, which stay `rollup_pending` and `counters_pending` until they are
 * (`writeRollups`). Empty when the batch had been written before (a retry): its blocks are folded
 * from the log (`replayRollups`). `part`: only the rollups, or only the counters, of the blocks
 * are here (`PendingRollups` of one part); without it, both.
 */
export interface DeferredRollups {
  blockIds: number[];
  rollups: RollupRow[];
  counters: CounterRow[];
  part?: DeferredPart;
}

/** One of the two things a deferred batch leaves to write, each with its mark on the blocks. */
export type DeferredPart = 'rollups' | 'counters';

/**
 * Rollup and counter rows written at once at most: a statement of them takes PGlite ~25 µs a row,
 * and holds its one session meanwhile (a key's first lookup waits for it); 500 rows take ~10 ms,
 * and cost ~15 % more than 5,000 at once.
 */
const ROWS_PER_STATEMENT = 500;
/** Blocks folded from the log in one statement (up to 1,000 calls each). */
const REPLAY_BLOCKS = 50;

/**
 * Rollups and counters of several deferred batches, folded: a key's minute, and its month's
 * counter, cost one row write each however many batches its calls came in. Rows are added to,
 * so a row given to `add` belongs to this. Given a `part`, it holds only that part of what it is
 * added (the rest is another holder's): the writer holds the counters longer than the rollups.
 */
export class PendingRollups {
  /**
   * Each key's rows, found among the key's own: a key holds a few (its minutes, endpoints and
   * statuses), and with many keys, text keys for one map of all rows cost ~1 µs a row.
   */
  private keys = new Map<string, { rollups: RollupRow[]; counters: CounterRow[] }>();
  private rows = 0;
  private blockIds: number[] = [];
  /** When the first rollup held now was added (ms since the epoch); NaN when none is held. */
  since = NaN;

  constructor(readonly part?: DeferredPart) {}

  /** Rows held: rollups and counters. */
  get size(): number {
    return this.rows;
  }

  /** Blocks whose rollups are held. */
  get blocks(): number {
    return this.blockIds.length;
  }

  add(deferred: DeferredRollups, nowMs: number): void {
    if (deferred.blockIds.length === 0) return;
    if (this.blockIds.length === 0) this.since = nowMs;
    for (const id of deferred.blockIds) this.blockIds.push(id);
    if (this.part !== 'counters') this.addRollups(deferred.rollups);
    if (this.part !== 'rollups') this.addCounters(deferred.counters);
  }

  private addRollups(rows: readonly RollupRow[]): void {
    for (const row of rows) {
      const own = this.heldOf(row.keyId);
      const held = own.rollups.findLast((h) => h.minute === row.minute && h.endpoint === row.endpoint && h.status === row.status && h.userId === row.userId && h.productId === row.productId);
      if (!held) {
        own.rollups = appended(own.rollups, row);
        this.rows++;
        continue;
      }
      held.count += row.count;
      held.bytes += row.bytes;
      held.latency += row.latency;
    }
  }

  private addCounters(rows: readonly CounterRow[]): void {
    for (const row of rows) {
      const own = this.heldOf(row.keyId);
      const held = own.counters.find((h) => h.period === row.period);
      if (held) addCounter(held, row);
      else {
        own.counters = appended(own.counters, row);
        this.rows++;
      }
    }
  }

  private heldOf(keyId: string): { rollups: RollupRow[]; counters: CounterRow[] } {
    let held = this.keys.get(keyId);
    if (!held) {
      held = { rollups: NONE_HELD, counters: NONE_HELD };
      this.keys.set(keyId, held);
    }
    return held;
  }

  /**
   * Everything held, in lock order (`writeRollups`). This is empty at once: rows added while the
   * order is made are held for the next take. The order is by key first, so the keys are
   * sorted, then each key's few rows (sorting all rows with a comparator took ~240 ms for
   * 300,000). This runs on the serving thread: with 100,000 keys, sorting them and their rows in
   * one step took it ~100 ms, and at an evenly paced 6,000 req/s the calls queued meanwhile made
   * a p99 of 285 ms at each minute's end (docs/benchmarks.md); so it is done in slices of a few
   * ms, with a turn of the event loop between.
   */
  async take(): Promise<DeferredRollups> {
    const keys = this.keys;
    const taken: DeferredRollups = { blockIds: this.blockIds, rollups: [], counters: [] };
    if (this.part) taken.part = this.part;
    this.keys = new Map();
    this.rows = 0;
    this.blockIds = [];
    this.since = NaN;
    let sinceTurn = 0;
    for (const keyId of await sortedInSlices([...keys.keys()])) {
      const held = keys.get(keyId) as { rollups: RollupRow[]; counters: CounterRow[] };
      appendSorted(taken.rollups, held.rollups, compareRollups);
      appendSorted(taken.counters, held.counters, compareCounters);
      if (++sinceTurn === KEYS_A_SLICE) {
        sinceTurn = 0;
        await nextTurn();
      }
    }
    return taken;
  }
}

/** Keys whose held rows are put in order at once (~1.5 ms), or sorted at once (a run of `sortedInSlices`). */
const KEYS_A_SLICE = 4_096;
/** Steps of a merge made at once (~1 ms). */
const MERGES_A_SLICE = 16_384;

/**
 * `texts` in code-unit order (as `compareText`, and the default sort), sorted in slices: runs
 * sorted natively, then merged in pairs, with a turn of the event loop after each slice. The
 * native sort of 100,000 keys in one call held the serving thread ~65 ms.
 */
async function sortedInSlices(texts: string[]): Promise<string[]> {
  let runs: string[][] = [];
  for (let at = 0; at < texts.length; at += KEYS_A_SLICE) {
    runs.push(texts.slice(at, at + KEYS_A_SLICE).sort());
    if (at + KEYS_A_SLICE < texts.length) await nextTurn();
  }
  while (runs.length > 1) {
    const merged: string[][] = [];
    for (let i = 0; i < runs.length; i += 2) merged.push(i + 1 < runs.length ? await mergedInSlices(runs[i] as string[], runs[i + 1] as string[]) : (runs[i] as string[]));
    runs = merged;
  }
  return runs[0] ?? [];
}

async function mergedInSlices(a: string[], b: string[]): Promise<string[]> {
  const out = new Array<string>(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  let steps = 0;
  while (i < a.length && j < b.length) {
    out[k++] = (a[i] as string) <= (b[j] as string) ? (a[i++] as string) : (b[j++] as string);
    if (++steps === MERGES_A_SLICE) {
      steps = 0;
      await nextTurn();
    }
  }
  while (i < a.length) out[k++] = a[i++] as string;
  while (j < b.length) out[k++] = b[j++] as string;
  return out;
}

/** A key's empty list of held rows: never added to (`appended` makes a new list). */
const NONE_HELD: never[] = [];

/**
 * `rows` with `row` at the end, in a list only as long as it needs: a key holds one or two rows
 * of each kind, and V8 gives an array that grows by `push` room for 16 more (a held row cost
 * ~300 bytes that way, most of them empty slots).
 */
function appended<T>(rows: T[], row: T): T[] {
  if (rows.length === 0) return [row];
  if (rows.length < 4) return [...rows, row];
  rows.push(row);
  return rows;
}

/** Adds a later batch's counter of the same key and month to `held`, as the counter upsert adds rows. */
function addCounter(held: CounterRow, row: CounterRow): void {
  held.count += row.count;
  held.overage += row.overage;
  held.calls += row.calls;
  if (row.lastAt > held.lastAt) held.lastAt = row.lastAt;
  // A later day restarts the day's count; an earlier one (late calls) leaves it.
  if (row.dayStartMs > held.dayStartMs) {
    held.dayStartMs = row.dayStartMs;
    held.dayCount = row.dayCount;
  } else if (row.dayStartMs === held.dayStartMs) held.dayCount += row.dayCount;
}

/** Lock order (the primary key's), so concurrent writers rarely deadlock. */
function compareCounters(a: CounterRow, b: CounterRow): number {
  return compareText(a.keyId, b.keyId) || compareText(a.period, b.period);
}

/** Lock order (the primary key's), so concurrent writers rarely deadlock. */
function compareRollups(a: RollupRow, b: RollupRow): number {
  return compareText(a.keyId, b.keyId) || a.minute - b.minute || compareText(a.endpoint, b.endpoint) || a.status - b.status || compareText(a.userId, b.userId) || compareText(a.productId, b.productId);
}

/**
 * Appends a key's few `rows` to `to` in `compare`'s order: an insertion sort, as a key holds one
 * to three rows of each kind (`Array.prototype.sort` on each key's lists made `take` ~50 ms
 * longer with 100,000 keys).
 */
function appendSorted<T>(to: T[], rows: readonly T[], compare: (a: T, b: T) => number): void {
  const start = to.length;
  for (const row of rows) {
    let at = to.length;
    while (at > start && compare(to[at - 1] as T, row) > 0) at--;
    if (at === to.length) to.push(row);
    else to.splice(at, 0, row);
  }
}

/** `rows` if they are in `compare`'s order (as `PendingRollups.take` gives them), else a sorted copy. */
function inLockOrder<T>(rows: readonly T[], compare: (a: T, b: T) => number): readonly T[] {
  for (let i = 1; i < rows.length; i++) if (compare(rows[i - 1] as T, rows[i] as T) > 0) return [...rows].sort(compare);
  return rows;
}

/** An insert into `usage_rollups` adds to the row of the same minute, key, endpoint, status, user and product. */
const addToExistingRollup = sql`on conflict (api_key_id, minute, endpoint, status_code, user_id, product_id) do update
  set count = usage_rollups.count + excluded.count,
      bytes = usage_rollups.bytes + excluded.bytes,
      latency_ms_sum = usage_rollups.latency_ms_sum + excluded.latency_ms_sum`;

/** Adds `rows` to their minutes' rollups; with `when`, only if it holds. */
function upsertRollups(rows: readonly RollupRow[], when?: SQL): SQL {
  const column = <T>(pick: (r: RollupRow) => T) => sql.param(rows.map(pick));
  return sql`insert into usage_rollups (api_key_id, minute, endpoint, status_code, user_id, product_id, count, bytes, latency_ms_sum)
    select * from unnest(${column((r) => r.keyId)}::text[], ${column((r) => new Date(r.minute).toISOString())}::timestamptz[],
      ${column((r) => r.endpoint)}::text[], ${column((r) => r.status)}::int[], ${column((r) => r.userId)}::text[],
      ${column((r) => r.productId)}::text[], ${column((r) => r.count)}::bigint[], ${column((r) => r.bytes)}::bigint[],
      ${column((r) => r.latency)}::bigint[])
    ${when ? sql`where ${when}` : sql``}
    ${addToExistingRollup}`;
}

/** An insert into `usage_counters` adds to the key's row of the month. */
const addToExistingCounter = sql`on conflict (api_key_id, period) do update
  set count = usage_counters.count + excluded.count,
      overage = usage_counters.overage + excluded.overage,
      -- A later day restarts the day's count; rows of an earlier day (late calls) leave it.
      day_count = case when usage_counters.day is null or excluded.day > usage_counters.day then excluded.day_count
                       when excluded.day = usage_counters.day then usage_counters.day_count + excluded.day_count
                       else usage_counters.day_count end,
      day = greatest(usage_counters.day, excluded.day),
      calls = usage_counters.calls + excluded.calls,
      last_used_at = greatest(usage_counters.last_used_at, excluded.last_used_at),
      updated_at = now()`;

/** Adds `rows` to their keys' counters; with `when`, only if it holds. */
function upsertCounters(rows: readonly CounterRow[], when?: SQL): SQL {
  const column = <T>(pick: (r: CounterRow) => T) => sql.param(rows.map(pick));
  return sql`insert into usage_counters (api_key_id, period, count, overage, day, day_count, calls, last_used_at)
    select * from unnest(${column((c) => c.keyId)}::text[], ${column((c) => c.period)}::text[],
      ${column((c) => c.count)}::bigint[], ${column((c) => c.overage)}::bigint[], ${column((c) => dayPeriod(c.dayStartMs))}::date[],
      ${column((c) => c.dayCount)}::bigint[], ${column((c) => c.calls)}::bigint[], ${column((c) => new Date(c.lastAt).toISOString())}::timestamptz[])
    ${when ? sql`where ${when}` : sql``}
    ${addToExistingCounter}`;
}

/** A batch ready to write: its calls' order, and its rows (in lock order unless deferred). */
interface PreparedBatch {
  batchId: string | null;
  deferRollups: boolean;
  calls: CallBatch;
  /** The calls grouped by key (`groupedByKey`). */
  order: Int32Array;
  counters: CounterRow[];
  rollups: RollupRow[];
  events: NewWebhookEvent[];
}

/** A block of the call log (schema.ts, `api_usage_blocks`), in the format the writer writes. */
interface Block {
  firstAt: number;
  lastAt: number;
  count: number;
  strings: string[];
  records: string;
}

/** Calls a block holds at most (~1 ms of PGlite's time each), so no row grows past ~30 kB. */
const BLOCK_RECORDS = 1_000;
/**
 * Blocks written in one statement at most: ~2,000 calls, a few ms of PGlite's session; each block
 * is encoded on the serving thread when its statement is due (docs/benchmarks.md).
 */
const BLOCKS_PER_STATEMENT = 2;

/**
 * The block format the writer writes (schema.ts): a call's texts, status and sandbox flag as one
 * interned shape, its request id as an interned head and a short tail. Consecutive calls mostly
 * share all of these, so a call costs ~25 bytes instead of ~70: PGlite takes a query's text at
 * ~10 ns a byte, which made the text the larger part of the call log's cost.
 */
const BLOCK_FORMAT = 2;

/** Characters of a request id kept in its call's line; the rest is interned (ids of one process share it). */
const REQUEST_ID_TAIL = 6;

/**
 * The batch's calls grouped by key (calls without one first, then each key's in the order the keys
 * first came), each key's calls in the batch's order: a stable counting sort on the key's position
 * in the batch's texts. With many keys the calls come interleaved, and every block of a batch held
 * the texts and shapes of nearly all its keys (~55 kB more a block with 1,000 keys, for PGlite to
 * take at ~10 ns a byte); grouped, a block holds those of its own calls' keys, and consecutive
 * calls mostly share their key, shape and rollup, which the loops below try first. Calls whose
 * key is the empty text (`blank`, -1 if none) go with those without one: their rollups are one.
 */
function groupedByKey(batch: CallBatch, blank: number): Int32Array {
  const order = new Int32Array(batch.length);
  const keyIds = batch.column('apiKeyId');
  // Slot 0 is for calls without a key (NO_TEXT, -1); a text at position p counts in slot p + 1.
  const slotOf = (i: number) => (keyIds[i] === blank ? 0 : (keyIds[i] as number) + 1);
  const starts = new Int32Array(batch.texts.length + 2);
  for (let i = 0; i < batch.length; i++) (starts[slotOf(i) + 1] as number)++;
  for (let slot = 1; slot < starts.length; slot++) starts[slot] = (starts[slot] as number) + (starts[slot - 1] as number);
  for (let i = 0; i < batch.length; i++) order[(starts[slotOf(i)] as number)++] = i;
  return order;
}

/**
 * A batch's calls as blocks of up to BLOCK_RECORDS calls of one UTC hour (so pruning, a block at
 * a time, keeps at most an hour's calls past its cutoff), taken in `order` (grouped by key): each
 * block's calls, to encode when its statement is due.
 */
function blocksOf(batch: CallBatch, order: Int32Array): number[][] {
  const blocks: number[][] = [];
  for (const calls of callsByHour(batch, order).values()) {
    for (let at = 0; at < calls.length; at += BLOCK_RECORDS) blocks.push(calls.slice(at, at + BLOCK_RECORDS));
  }
  return blocks;
}

/**
 * The calls in `order`, by their UTC hour. A function of its own: V8 compiles the loop while it
 * runs (on-stack replacement), and that code, when it went on to the blocks above, left its
 * optimized code there at every batch (1,489 deoptimizations in 100 s at 22,000 calls a second).
 */
function callsByHour(batch: CallBatch, order: Int32Array): Map<number, number[]> {
  const byHour = new Map<number, number[]>();
  for (const index of order) {
    const hour = Math.floor((batch.createdAtMs[index] as number) / 3_600_000);
    const calls = byHour.get(hour);
    if (calls) calls.push(index);
    else byHour.set(hour, [index]);
  }
  return byHour;
}

/** How a call counted toward its key's quotas, the shape's last field: 0 not at all, 1 counted, 2 counted as overage. */
function admissionOf(batch: CallBatch, index: number): 0 | 1 | 2 {
  return batch.counted(index) ? (batch.overage(index) ? 2 : 1) : 0;
}

/** Whether two calls of a batch have one shape: every text, the status, the sandbox flag and how the call counted. */
function sameShape(batch: CallBatch, columns: readonly Int32Array[], a: number, b: number): boolean {
  if (batch.statusCodes[a] !== batch.statusCodes[b] || batch.isSandbox(a) !== batch.isSandbox(b) || admissionOf(batch, a) !== admissionOf(batch, b)) return false;
  for (const column of columns) if (column[a] !== column[b]) return false;
  return true;
}

function encodeBlock(batch: CallBatch, calls: readonly number[]): Block {
  const { createdAtMs } = batch;
  let firstAt = Infinity;
  let lastAt = -Infinity;
  for (const index of calls) {
    const at = createdAtMs[index] as number;
    if (at < firstAt) firstAt = at;
    if (at > lastAt) lastAt = at;
  }
  // Each distinct text of the block (the batch's texts, shapes, request id heads) once in
  // `strings`, by its 1-based position; `positions` remembers a batch text's (0: not yet).
  const strings: string[] = [];
  const interned = new Map<string, number>();
  const intern = (value: string): number => {
    let position = interned.get(value);
    if (position === undefined) {
      position = strings.push(value);
      interned.set(value, position);
    }
    return position;
  };
  const positions = new Int32Array(batch.texts.length);
  const columns = CALL_TEXT_FIELDS.map((field) => batch.column(field));
  const [keyIds, userIds, productIds, routeIds, routePaths, paths, methods, errorCodes, ips] = columns as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];
  const text = (column: Int32Array, index: number): number | '' => {
    const text = column[index] as number;
    if (text === NO_TEXT) return '';
    return (positions[text] ||= intern(batch.texts[text] as string));
  };
  const lines = new Array<string>(calls.length);
  let shape = 0;
  let head = '';
  let headPosition = 0;
  for (let n = 0; n < calls.length; n++) {
    const i = calls[n] as number;
    if (n === 0 || !sameShape(batch, columns, i, calls[n - 1] as number)) {
      shape = intern(
        `${text(keyIds, i)}\t${text(userIds, i)}\t${text(productIds, i)}\t${text(routeIds, i)}\t${text(routePaths, i)}\t${text(paths, i)}\t` +
          `${text(methods, i)}\t${batch.statusCodes[i]}\t${text(errorCodes, i)}\t${text(ips, i)}\t${batch.isSandbox(i) ? 1 : 0}\t${admissionOf(batch, i)}`,
      );
    }
    const id = batch.requestId(i);
    // A tail with a tab or a line break would break its line: such an id is interned whole.
    let cut = id.length - REQUEST_ID_TAIL;
    if (cut <= 0 || id.indexOf('\t', cut) !== -1 || id.indexOf('\n', cut) !== -1) cut = id.length;
    const idHead = id.slice(0, cut);
    if (headPosition === 0 || idHead !== head) {
      head = idHead;
      headPosition = intern(idHead);
    }
    lines[n] = `${headPosition}\t${id.slice(cut)}\t${shape}\t${batch.bytesIn[i]}\t${batch.bytesOut[i]}\t${batch.latenciesMs[i]}\t${(createdAtMs[i] as number) - firstAt}`;
  }
  return { firstAt, lastAt, count: calls.length, strings, records: lines.join('\n') };
}

/**
 * One statement (writable CTEs, all or nothing): blocks of the call log and, if given, rollups
 * and counters. With `fresh` (the batch id's insert), nothing is written when it finds the batch
 * written before. Answers the ids of the blocks written.
 */
async function insertBlocks(db: Db, blocks: readonly Block[], pending: boolean, rows: { fresh?: SQL; rollups?: readonly RollupRow[]; counters?: readonly CounterRow[] }): Promise<number[]> {
  const values = blocks.map(
    (block) =>
      sql`(${BLOCK_FORMAT}::smallint, ${new Date(block.firstAt).toISOString()}::timestamptz, ${new Date(block.lastAt).toISOString()}::timestamptz, ${block.count}::int,
           ${sql.param(block.strings)}::text[], ${block.records}::text, ${pending}::boolean, ${pending}::boolean)`,
  );
  const insert = sql`insert into api_usage_blocks (format, first_at, last_at, count, strings, records, rollup_pending, counters_pending)`;
  if (!rows.fresh && !rows.rollups && !rows.counters) {
    // A plain insert: PGlite plans it in about half the time of the statement below.
    return (await queryRows<{ id: string }>(db, sql`${insert} values ${sql.join(values, sql`, `)} returning id`)).map((r) => Number(r.id));
  }
  const isFresh = sql`exists (select 1 from fresh)`;
  const [row] = await queryRows<{ blockIds: string[] | null }>(
    db,
    sql`with fresh as (${rows.fresh ?? sql`select 1 as id`}),
    ${rows.rollups ? sql`rollups as (${upsertRollups(rows.rollups, isFresh)}),` : sql``}
    ${rows.counters ? sql`counters as (${upsertCounters(rows.counters, isFresh)}),` : sql``}
    blocks as (
      ${insert}
      select * from (values ${sql.join(values, sql`, `)}) as b where ${isFresh}
      returning id
    )
    select (select array_agg(id order by id)::text[] from blocks) as "blockIds"`,
  );
  return (row?.blockIds ?? []).map(Number);
}

/** A key's rollup in a batch, by the positions of its texts in the batch. */
interface KeyRollup {
  minute: number;
  endpoint: number;
  status: number;
  user: number;
  product: number;
  row: RollupRow;
}

/** A key's counter of a month in a batch. */
interface KeyMonth {
  start: number;
  end: number;
  row: CounterRow;
}

/** Code-point order, the same for every writer whatever its locale. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The webhook event of a limit a call reached; stored once per key, type and period. */
function quotaWebhookEvent(userId: string | null, occurredAt: Date, keyId: string, event: QuotaEvent): NewWebhookEvent {
  const common = { apiKeyId: keyId, period: event.period, periodStart: event.periodStart, usage: event.usage, quota: event.quota };
  return {
    type: event.type,
    userId,
    dedupeKey: `${event.type}:${keyId}:${event.periodStart}`,
    occurredAt,
    payload:
      event.type === 'usage.threshold'
        ? { ...common, percentage: Math.floor((event.usage * 100) / event.quota), threshold: USAGE_THRESHOLD_PERCENT }
        : { ...common, overage: event.overage },
  };
}

export interface UsageFilter {
  /** Set for customers: only their own calls. */
  userId?: string;
  apiKeyId?: string;
  productId?: string;
  start: Date;
  end: Date;
  groupBy: UsageGroupBy;
}

export class UsageRepository {
  constructor(private readonly db: Db) {}

  /**
   * Writes a batch in one transaction: the call records (as blocks of the call log), their
   * minute rollups, and each key's counter row of the month (quota counts, the day's count, usage
   * count and last use). Either all of a batch is stored or none of it. A batch's calls are
   * counted once per key, month, minute and endpoint whatever their number, so a batch of a second's calls writes far fewer
   * rows than ten batches of a tenth. Rows go in as column arrays (`unnest`), which PGlite
   * parses several times faster than row literals.
   * With a `batchId`, writing the same batch again (a retry after a commit that could not be
   * confirmed) writes nothing: the id is recorded in the same transaction.
   * With `deferRollups`, the rollups and counters are not written but answered, their blocks
   * marked `rollup_pending` and `counters_pending`, for the caller to fold with other batches'
   * and write (`writeRollups`): with many keys a key's counter row was written once a batch, at
   * ~25 µs a row in PGlite, a call's worth of gateway work for every call (docs/benchmarks.md).
   */
  async writeBatch(input: CallBatch | readonly UsageRecord[], batchId?: string): Promise<void>;
  async writeBatch(input: CallBatch | readonly UsageRecord[], batchId: string | undefined, options: { deferRollups: true }): Promise<DeferredRollups>;
  async writeBatch(input: CallBatch | readonly UsageRecord[], batchId?: string, options: { deferRollups?: boolean } = {}): Promise<DeferredRollups | void> {
    const deferRollups = options.deferRollups === true;
    const calls = input instanceof CallBatch ? input : CallBatch.of(input);
    if (calls.length === 0) return deferRollups ? { blockIds: [], rollups: [], counters: [] } : undefined;
    const { texts, createdAtMs, statusCodes } = calls;
    const keyIds = calls.column('apiKeyId');
    const userIds = calls.column('userId');
    const productIds = calls.column('productId');
    const routePaths = calls.column('routePath');
    const paths = calls.column('path');
    const blank = texts.indexOf('');
    const counters: CounterRow[] = [];
    const rollups: RollupRow[] = [];
    const events: NewWebhookEvent[] = [];
    for (const [index, reached] of calls.quotaEvents) {
      const keyId = calls.text('apiKeyId', index);
      if (keyId === null) continue;
      const occurredAt = new Date(createdAtMs[index] as number);
      events.push(...reached.map((event) => quotaWebhookEvent(calls.text('userId', index), occurredAt, keyId, event)));
    }
    // A rollup's key, user and product are '' for none, so an empty text is the same rollup as none.
    const none = (position: number) => (position === blank ? NO_TEXT : position);
    const textOf = (position: number) => (position === NO_TEXT ? '' : (texts[position] as string));
    const minuteOf = (i: number) => minuteStartMs(createdAtMs[i] as number);
    const endpointOf = (i: number) => (routePaths[i] !== NO_TEXT ? (routePaths[i] as number) : (paths[i] as number));
    // A key's calls come together (`order`), so its rollups and month counters are looked up
    // among its own, by numbers: with a key per call, text keys for maps of the whole batch cost
    // more than the rest of the batch's JavaScript. Consecutive calls mostly share their rollup
    // and counter, which are tried first.
    let ownRollups: KeyRollup[] = [];
    let ownMonths: KeyMonth[] = [];
    let currentKey = NaN;
    let rollup: RollupRow | undefined;
    let month: KeyMonth | undefined;
    const order = groupedByKey(calls, blank);
    for (let n = 0; n < order.length; n++) {
      const i = order[n] as number;
      const at = createdAtMs[i] as number;
      const minute = minuteOf(i);
      const key = keyIds[i] as number;
      const endpoint = endpointOf(i);
      const status = statusCodes[i] as number;
      const previous = order[n - 1] as number;
      if (none(key) !== currentKey) {
        currentKey = none(key);
        ownRollups = [];
        ownMonths = [];
        rollup = undefined;
        month = undefined;
      }
      if (
        !rollup ||
        minute !== minuteOf(previous) ||
        status !== statusCodes[previous] ||
        endpoint !== endpointOf(previous) ||
        userIds[i] !== userIds[previous] ||
        productIds[i] !== productIds[previous]
      ) {
        const user = none(userIds[i] as number);
        const product = none(productIds[i] as number);
        rollup = undefined;
        // Newest first: a key's calls come in time order, so its current minute's rows are last.
        for (let r = ownRollups.length - 1; r >= 0; r--) {
          const own = ownRollups[r] as KeyRollup;
          if (own.minute === minute && own.endpoint === endpoint && own.status === status && own.user === user && own.product === product) {
            rollup = own.row;
            break;
          }
        }
        if (!rollup) {
          rollup = { keyId: textOf(none(key)), minute, endpoint: textOf(endpoint), status, userId: textOf(user), productId: textOf(product), count: 0, bytes: 0, latency: 0 };
          ownRollups.push({ minute, endpoint, status, user, product, row: rollup });
          rollups.push(rollup);
        }
      }
      rollup.count++;
      rollup.bytes += (calls.bytesIn[i] as number) + (calls.bytesOut[i] as number);
      rollup.latency += calls.latenciesMs[i] as number;
      if (key === NO_TEXT) continue;
      if (!month || at < month.start || at >= month.end) {
        const start = monthStartMs(at);
        month = undefined;
        for (const own of ownMonths) {
          if (own.start === start) {
            month = own;
            break;
          }
        }
        if (!month) {
          const row = { keyId: texts[key] as string, period: monthCounter(at), count: 0, overage: 0, dayStartMs: at - (at % 86_400_000), dayCount: 0, calls: 0, lastAt: at };
          month = { start, end: nextMonthStartMs(at), row };
          ownMonths.push(month);
          counters.push(row);
        }
      }
      const counter = month.row;
      counter.calls++;
      if (at > counter.lastAt) counter.lastAt = at;
      // A key's calls are nearly in time order; one of a later day starts that day's count.
      const dayStartMs = at - (at % 86_400_000);
      if (dayStartMs > counter.dayStartMs) {
        counter.dayStartMs = dayStartMs;
        counter.dayCount = 0;
      }
      if (!calls.counted(i)) continue;
      counter.count++;
      if (dayStartMs === counter.dayStartMs) counter.dayCount++;
      if (calls.overage(i)) counter.overage++;
    }
    // Rows are locked in one order (the primary key's) so concurrent writers rarely deadlock;
    // when PostgreSQL still picks this transaction as a deadlock victim, the batch is retried.
    // Deferred rows are sorted when they are written (`writeRollups`).
    const batch: PreparedBatch = {
      batchId: batchId ?? null,
      deferRollups,
      calls,
      order,
      events,
      counters: deferRollups ? counters : counters.sort(compareCounters),
      rollups: deferRollups ? rollups : rollups.sort(compareRollups),
    };
    for (let attempt = 1; ; attempt++) {
      try {
        const blockIds = await this.writeTransaction(batch);
        if (!deferRollups) return;
        return blockIds.length > 0 ? { blockIds, rollups: batch.rollups, counters: batch.counters } : { blockIds, rollups: [], counters: [] };
      } catch (error) {
        if (attempt >= 5 || !isRetryable(error)) throw error;
      }
    }
  }

  /**
   * Answers the ids of the blocks written (none when the batch had been written before). A batch
   * of more than BLOCKS_PER_STATEMENT blocks goes in several statements of one transaction, each
   * block encoded when its statement is due: the serving thread encodes a few blocks at a time
   * (a second's calls at once took ~50 ms), and answers calls while each statement runs.
   */
  private async writeTransaction({ batchId, deferRollups, calls, order, counters, rollups, events }: PreparedBatch): Promise<number[]> {
    const fresh = batchId === null ? undefined : sql`insert into usage_batches (id) values (${batchId}) on conflict (id) do nothing returning id`;
    const blocks = blocksOf(calls, order);
    const slice = (at: number) => blocks.slice(at, at + BLOCKS_PER_STATEMENT).map((block) => encodeBlock(calls, block));
    const write = async (db: Db): Promise<number[]> => {
      // The rollups and counters go with the last slice, so that on PostgreSQL their rows stay
      // locked the shortest time; the first slice finds out whether the batch is new.
      const last = blocks.length - BLOCKS_PER_STATEMENT;
      const withRows = deferRollups ? {} : { rollups, counters };
      const blockIds = await insertBlocks(db, slice(0), deferRollups, { fresh, ...(last <= 0 ? withRows : {}) });
      if (blockIds.length === 0) return blockIds;
      for (let at = BLOCKS_PER_STATEMENT; at < blocks.length; at += BLOCKS_PER_STATEMENT) {
        blockIds.push(...(await insertBlocks(db, slice(at), deferRollups, at >= last ? withRows : {})));
      }
      return blockIds;
    };
    if (events.length === 0 && blocks.length <= BLOCKS_PER_STATEMENT) return write(this.db);
    return this.db.transaction(async (tx) => {
      const blockIds = await write(tx as unknown as Db);
      if (blockIds.length > 0 && events.length > 0) await insertWebhookEvents(tx as unknown as Db, events);
      return blockIds;
    });
  }

  /**
   * Writes rollups and counters deferred by `writeBatch` (folded, from several batches) and
   * clears their blocks' marks, in one transaction of statements of ROWS_PER_STATEMENT rows.
   * Of a `part` only, only that part's mark is cleared: the other is written later.
   * If any of the blocks is no longer pending (folded from the log meanwhile, `replayRollups`),
   * nothing of these is written and the blocks still pending are folded from the log instead:
   * a call is never counted twice. Answers which happened.
   */
  async writeRollups(pending: DeferredRollups): Promise<'written' | 'replayed'> {
    const blockIds = [...new Set(pending.blockIds)];
    if (blockIds.length === 0) return 'written';
    const rows = pending.part === 'counters' ? [] : inLockOrder(pending.rollups, compareRollups);
    const counters = pending.part === 'rollups' ? [] : inLockOrder(pending.counters, compareCounters);
    const marks = pending.part === 'rollups' ? ['rollup_pending'] : pending.part === 'counters' ? ['counters_pending'] : ['rollup_pending', 'counters_pending'];
    const stillPending = sql.raw(marks.join(' and '));
    const cleared = sql.raw(marks.map((mark) => `${mark} = false`).join(', '));
    // As text: PGlite's serializer takes no numbers for a bigint array.
    const ids = sql`${sql.param(blockIds.map(String))}::bigint[]`;
    for (let attempt = 1; ; attempt++) {
      try {
        const whole = await this.db.transaction(async (tx) => {
          const locked = await queryRows<{ id: string }>(tx as unknown as Db, sql`select id from api_usage_blocks where id = any(${ids}) and ${stillPending} order by id for update`);
          if (locked.length !== blockIds.length) return false;
          // The rollups, then the counters, ROWS_PER_STATEMENT at a time: the last rollups and the
          // first counters share a statement, as each costs PGlite a round trip.
          const total = rows.length + counters.length;
          for (let at = 0; at < total; at += ROWS_PER_STATEMENT) {
            const end = at + ROWS_PER_STATEMENT;
            const parts: SQL[] = [];
            if (at < rows.length) parts.push(sql`rollups as (${upsertRollups(rows.slice(at, end))})`);
            if (end > rows.length && counters.length > 0) parts.push(sql`counters as (${upsertCounters(counters.slice(Math.max(0, at - rows.length), end - rows.length))})`);
            await tx.execute(sql`with ${sql.join(parts, sql`, `)} select 1`);
          }
          await tx.execute(sql`update api_usage_blocks set ${cleared} where id = any(${ids})`);
          return true;
        });
        if (whole) return 'written';
        await this.replayRollups({ blockIds });
        return 'replayed';
      } catch (error) {
        if (attempt >= 5 || !isRetryable(error)) throw error;
      }
    }
  }

  /**
   * Folds the calls of blocks still `rollup_pending` into the minute rollups, and those of
   * blocks still `counters_pending` into their keys' counters, from the blocks' own lines (the
   * rows `writeBatch` would have written), and clears the marks in the same statement: given
   * blocks, or those whose calls all came before `lastBefore` (a writer that stopped before
   * writing what it deferred; or, before a bill, any writer's). Blocks another transaction is
   * folding are skipped. A writer holding rows of blocks folded here finds them no longer
   * pending and folds its other blocks from the log too (`writeRollups`), so nothing counts
   * twice. Answers the blocks folded.
   */
  async replayRollups(which: { blockIds: readonly number[] } | { lastBefore: Date }): Promise<number> {
    const chosen = 'blockIds' in which ? sql`id = any(${sql.param(which.blockIds.map(String))}::bigint[])` : sql`last_at < ${which.lastBefore.toISOString()}::timestamptz`;
    let total = 0;
    for (;;) {
      const [row] = await queryRows<{ blocks: number }>(
        this.db,
        sql`with pending as (
              select id, first_at, strings, records, rollup_pending, counters_pending from api_usage_blocks
              where (rollup_pending or counters_pending) and format = 2 and ${chosen}
              order by id limit ${REPLAY_BLOCKS}
              for update skip locked
            ), calls as (
              select coalesce(b.strings[nullif(s[1], '')::int], '') as api_key_id,
                     to_timestamp(floor((extract(epoch from b.first_at) * 1000 + f[7]::bigint) / 60000) * 60) as minute,
                     coalesce(b.strings[nullif(s[5], '')::int], b.strings[s[6]::int]) as endpoint,
                     s[8]::int as status_code,
                     coalesce(b.strings[nullif(s[2], '')::int], '') as user_id,
                     coalesce(b.strings[nullif(s[3], '')::int], '') as product_id,
                     f[4]::bigint + f[5]::bigint as bytes,
                     f[6]::bigint as latency,
                     b.rollup_pending,
                     b.counters_pending,
                     b.first_at + f[7]::bigint * interval '1 millisecond' as at,
                     s[12] as admission
              from pending b
              cross join lateral string_to_table(b.records, E'\n') as line
              cross join lateral string_to_array(line, E'\t') as f
              cross join lateral string_to_array(b.strings[f[3]::int], E'\t') as s
            ), folded as (
              insert into usage_rollups (api_key_id, minute, endpoint, status_code, user_id, product_id, count, bytes, latency_ms_sum)
              select api_key_id, minute, endpoint, status_code, user_id, product_id, count(*), sum(bytes), sum(latency)
              from calls where rollup_pending group by 1, 2, 3, 4, 5, 6 order by 1, 2, 3, 4, 5, 6
              ${addToExistingRollup}
            ), keyed as (
              -- A key's counter of a month: the latest day it has a call on, and that day's admitted calls.
              select api_key_id, 'month:' || to_char(at at time zone 'UTC', 'YYYY-MM') as period,
                     (at at time zone 'UTC')::date as day, at, admission
              from calls where counters_pending and api_key_id <> ''
            ), dayed as (
              select *, max(day) over (partition by api_key_id, period) as last_day from keyed
            ), counted as (
              insert into usage_counters (api_key_id, period, count, overage, day, day_count, calls, last_used_at)
              select api_key_id, period, count(*) filter (where admission <> '0'), count(*) filter (where admission = '2'),
                     max(last_day), count(*) filter (where admission <> '0' and day = last_day), count(*), max(at)
              from dayed group by 1, 2 order by 1, 2
              ${addToExistingCounter}
            ), cleared as (
              update api_usage_blocks set rollup_pending = false, counters_pending = false where id in (select id from pending) returning id
            )
            select count(*)::int as blocks from cleared`,
      );
      const blocks = Number(row?.blocks ?? 0);
      total += blocks;
      if (blocks < REPLAY_BLOCKS) return total;
    }
  }

  /**
   * Deletes the call records older than `before`: the blocks whose calls all are, and the rows
   * written before blocks, about `batchSize` calls at a time (short transactions, so the
   * gateway's writes never wait long). A block holds one hour's calls at most, so up to an hour's
   * calls before the cutoff stay until the next prune. Rollups and counters stay. Answers how
   * many calls went.
   */
  async pruneRecords(before: Date, batchSize = 10_000): Promise<number> {
    const cutoff = before.toISOString();
    const blocksAtOnce = Math.ceil(batchSize / BLOCK_RECORDS);
    let total = 0;
    for (;;) {
      const deleted = await queryRows<{ count: number }>(
        this.db,
        sql`delete from api_usage_blocks where id = any(array(
              select id from api_usage_blocks where last_at < ${cutoff}::timestamptz limit ${blocksAtOnce}))
            returning count`,
      );
      for (const block of deleted) total += block.count;
      if (deleted.length < blocksAtOnce) break;
    }
    for (;;) {
      // By row address: the rows have no key to delete by, and a TID scan finds them at once.
      const deleted = await queryRows<{ one: number }>(
        this.db,
        sql`delete from api_usage_rows where ctid = any(array(
              select ctid from api_usage_rows where created_at < ${cutoff}::timestamptz limit ${batchSize}))
            returning 1 as one`,
      );
      total += deleted.length;
      if (deleted.length < batchSize) break;
    }
    // A retry comes within minutes; ids older than the records kept are of no more use.
    await this.db.execute(sql`delete from usage_batches where created_at < ${cutoff}::timestamptz`);
    return total;
  }

  /**
   * Folds the minute rollups older than `before` into hour rows (minute :00), in one transaction:
   * analytics over months read sixty times fewer rows, and lose only sub-hour detail of old data.
   * Writers only touch recent minutes, so they never meet this. Answers the minute rows folded.
   */
  async compactRollups(before: Date): Promise<number> {
    const folded = await queryRows<{ n: number | string }>(
      this.db,
      sql`with gone as (
            delete from usage_rollups
            where minute < ${before.toISOString()}::timestamptz and minute <> date_trunc('hour', minute at time zone 'UTC') at time zone 'UTC'
            returning *
          ), hours as (
            insert into usage_rollups (api_key_id, minute, endpoint, status_code, user_id, product_id, count, bytes, latency_ms_sum)
            select api_key_id, date_trunc('hour', minute at time zone 'UTC') at time zone 'UTC', endpoint, status_code, user_id, product_id,
                   sum(count), sum(bytes), sum(latency_ms_sum)
            from gone group by 1, 2, 3, 4, 5, 6
            ${addToExistingRollup}
          )
          select count(*) as n from gone`,
    );
    return Number(folded[0]?.n ?? 0);
  }

  /**
   * Analytics from the minute rollups: one-minute resolution (a window's edges are taken to the
   * minute), and the same cost for ten calls or ten million.
   */
  async stats(filter: UsageFilter): Promise<Omit<UsageStats, 'startDate' | 'endDate' | 'groupBy'>> {
    const conditions: SQL[] = [sql`minute >= ${filter.start.toISOString()}::timestamptz`, sql`minute < ${filter.end.toISOString()}::timestamptz`];
    if (filter.userId !== undefined) conditions.push(sql`user_id = ${filter.userId}`);
    if (filter.apiKeyId !== undefined) conditions.push(sql`api_key_id = ${filter.apiKeyId}`);
    if (filter.productId !== undefined) conditions.push(sql`product_id = ${filter.productId}`);
    const where = sql.join(conditions, sql` and `);
    const unit = sql.raw(`'${filter.groupBy}'`); // from a closed enum, never user text

    const [totals, top, buckets, statuses] = await Promise.all([
      queryRows<{ total: string | number | null; bandwidth: string | number | null; latency: string | number | null; errors: string | number | null }>(
        this.db,
        sql`select sum(count) as total, sum(bytes) as bandwidth, sum(latency_ms_sum)::float8 / nullif(sum(count), 0) as latency,
                   sum(count) filter (where status_code >= 400) as errors
            from usage_rollups where ${where}`,
      ),
      queryRows<{ path: string; count: string | number }>(
        this.db,
        sql`select endpoint as path, sum(count) as count from usage_rollups where ${where}
            group by 1 order by 2 desc, 1 limit 10`,
      ),
      queryRows<{ bucket: string | Date; count: string | number }>(
        this.db,
        sql`select date_trunc(${unit}, minute at time zone 'UTC') as bucket, sum(count) as count
            from usage_rollups where ${where} group by 1 order by 1`,
      ),
      queryRows<{ status: number; count: string | number }>(
        this.db,
        sql`select status_code as status, sum(count) as count from usage_rollups where ${where} group by 1 order by 1`,
      ),
    ]);
    const t = totals[0];
    const total = Number(t?.total ?? 0);
    return {
      totalRequests: total,
      totalBandwidth: Number(t?.bandwidth ?? 0),
      averageLatency: Math.round(Number(t?.latency ?? 0) * 100) / 100,
      errorRate: total === 0 ? 0 : Math.round((Number(t?.errors ?? 0) / total) * 10_000) / 100,
      topEndpoints: top.map((r) => ({ path: r.path, count: Number(r.count) })),
      requestsByHour: buckets.map((r) => ({ hour: utcIso(r.bucket), count: Number(r.count) })),
      statusCodeDistribution: Object.fromEntries(statuses.map((r) => [String(r.status), Number(r.count)])),
    };
  }
}

/** Deadlock (40P01) and serialization failure (40001): the transaction did nothing and may run again. */
function isRetryable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 3; depth++) {
    const code = (e as { code?: string }).code;
    if (code === '40P01' || code === '40001') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** `timestamp without time zone` values hold UTC wall time; drivers may hand them over as local Dates or text. */
function utcIso(value: string | Date): string {
  if (value instanceof Date) {
    return new Date(value.getTime() - value.getTimezoneOffset() * 60_000).toISOString().replace('.000Z', 'Z');
  }
  return `${value.replace(' ', 'T').slice(0, 19)}Z`;
}
