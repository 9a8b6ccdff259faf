import type { UsageRecord } from './domain.ts';
import type { QuotaEvent } from './quota.ts';

/** The text fields of a call, kept as positions in the batch's `texts`. */
export const CALL_TEXT_FIELDS = ['apiKeyId', 'userId', 'productId', 'routeId', 'routePath', 'path', 'method', 'errorCode', 'ip'] as const;
export type CallTextField = (typeof CALL_TEXT_FIELDS)[number];

/** A text field's position when the call has no such text. */
export const NO_TEXT = -1;
/** Bytes of request id a call is given room for at first (the gateway's are 26). */
const ID_BYTES_GUESS = 32;
const COUNTED = 1;
const OVERAGE = 2;
const SANDBOX = 4;

/**
 * Gateway calls waiting to be stored, in columns: numbers in typed arrays, texts as positions in
 * one list of the batch's distinct texts, request ids as UTF-8 in one buffer. A busy gateway
 * holds a second of calls; as objects (the record, its Date, its texts) they outlived two
 * young-generation collections and were copied into the old generation (docs/benchmarks.md: ~1 µs
 * a call of garbage collection), and so did the request ids as strings, ~100 bytes a call: after
 * a saturated minute, a full collection every ~5 s at 22,000 calls a second, each a second of p99
 * ~40 ms. Here a call leaves nothing on the heap, and the store reads the columns without
 * building the records again.
 */
export class CallBatch {
  length = 0;
  /** Distinct texts of the batch; a call's text fields point into it. */
  texts: string[] = [];
  /** Distinct API keys among the calls, a call without a key counting as one more. */
  keyCount = 0;
  createdAtMs: Float64Array;
  statusCodes: Uint16Array;
  bytesIn: Float64Array;
  bytesOut: Float64Array;
  latenciesMs: Float64Array;
  private flags: Uint8Array;
  private textColumns: Int32Array[];
  /**
   * The calls' request ids as UTF-8, one after another; call i's ends at `idEnds[i]`. (A lone
   * surrogate, which no id the gateway makes has, would come back as U+FFFD.)
   */
  private idBytes: Buffer;
  private idEnds: Uint32Array;
  private readonly positions = new Map<string, number>();
  private readonly keyTexts = new Set<number>();
  /** Calls that reached a limit (few): their index and events. */
  readonly quotaEvents = new Map<number, QuotaEvent[]>();

  constructor(capacity = 1_024) {
    this.createdAtMs = new Float64Array(capacity);
    this.statusCodes = new Uint16Array(capacity);
    this.bytesIn = new Float64Array(capacity);
    this.bytesOut = new Float64Array(capacity);
    this.latenciesMs = new Float64Array(capacity);
    this.flags = new Uint8Array(capacity);
    this.textColumns = CALL_TEXT_FIELDS.map(() => new Int32Array(capacity));
    this.idBytes = Buffer.allocUnsafe(capacity * ID_BYTES_GUESS);
    this.idEnds = new Uint32Array(capacity);
  }

  /** Empties the batch for reuse, keeping its columns, so they are not allocated again every second. */
  clear(): void {
    this.length = 0;
    this.keyCount = 0;
    this.texts = [];
    this.positions.clear();
    this.keyTexts.clear();
    this.quotaEvents.clear();
  }

  static of(records: readonly UsageRecord[]): CallBatch {
    const batch = new CallBatch(Math.max(1, records.length));
    for (const record of records) batch.append(record);
    return batch;
  }

  append(record: UsageRecord): void {
    const at = this.length;
    if (at === this.createdAtMs.length) this.grow();
    this.appendRequestId(at, record.requestId);
    this.createdAtMs[at] = record.createdAt.getTime();
    this.statusCodes[at] = record.statusCode;
    this.bytesIn[at] = record.bytesIn;
    this.bytesOut[at] = record.bytesOut;
    this.latenciesMs[at] = record.latencyMs;
    this.flags[at] = (record.counted ? COUNTED : 0) | (record.overage ? OVERAGE : 0) | (record.isSandbox ? SANDBOX : 0);
    const columns = this.textColumns as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];
    const key = this.positionAt(columns[0], at, record.apiKeyId);
    columns[0][at] = key;
    if ((at === 0 || columns[0][at - 1] !== key) && !this.keyTexts.has(key)) {
      this.keyTexts.add(key);
      this.keyCount++;
    }
    columns[1][at] = this.positionAt(columns[1], at, record.userId);
    columns[2][at] = this.positionAt(columns[2], at, record.productId);
    columns[3][at] = this.positionAt(columns[3], at, record.routeId);
    columns[4][at] = this.positionAt(columns[4], at, record.routePath);
    columns[5][at] = this.positionAt(columns[5], at, record.path);
    columns[6][at] = this.positionAt(columns[6], at, record.method);
    columns[7][at] = this.positionAt(columns[7], at, record.errorCode);
    columns[8][at] = this.positionAt(columns[8], at, record.ip);
    if (record.quotaEvents && record.quotaEvents.length > 0) this.quotaEvents.set(at, record.quotaEvents);
    this.length++;
  }

  /** The request id of the call at `index`. */
  requestId(index: number): string {
    return this.idBytes.toString('utf8', index === 0 ? 0 : this.idEnds[index - 1], this.idEnds[index]);
  }

  /** Whether a call with this key would add one to `keyCount`. */
  isNewKey(apiKeyId: string | null): boolean {
    return !this.keyTexts.has(apiKeyId === null ? NO_TEXT : (this.positions.get(apiKeyId) ?? -2));
  }

  /** Each call's position in `texts` of a field, or -1 for null. */
  column(field: CallTextField): Int32Array {
    return this.textColumns[CALL_TEXT_FIELDS.indexOf(field)] as Int32Array;
  }

  /** The position in `texts` of a call's field, or -1 for null. */
  textAt(field: CallTextField, index: number): number {
    return this.column(field)[index] as number;
  }

  /** A call's field as text (null when the call has none). */
  text(field: CallTextField, index: number): string | null {
    const position = this.textAt(field, index);
    return position === NO_TEXT ? null : (this.texts[position] as string);
  }

  counted(index: number): boolean {
    return ((this.flags[index] as number) & COUNTED) !== 0;
  }

  overage(index: number): boolean {
    return ((this.flags[index] as number) & OVERAGE) !== 0;
  }

  isSandbox(index: number): boolean {
    return ((this.flags[index] as number) & SANDBOX) !== 0;
  }

  /** The call at `index` as a record (tests, rare paths). */
  record(index: number): UsageRecord {
    return {
      requestId: this.requestId(index),
      apiKeyId: this.text('apiKeyId', index),
      userId: this.text('userId', index),
      productId: this.text('productId', index),
      routeId: this.text('routeId', index),
      routePath: this.text('routePath', index),
      path: this.text('path', index) ?? '',
      method: this.text('method', index) ?? '',
      statusCode: this.statusCodes[index] as number,
      errorCode: this.text('errorCode', index),
      bytesIn: this.bytesIn[index] as number,
      bytesOut: this.bytesOut[index] as number,
      latencyMs: this.latenciesMs[index] as number,
      ip: this.text('ip', index),
      isSandbox: this.isSandbox(index),
      createdAt: new Date(this.createdAtMs[index] as number),
      counted: this.counted(index),
      overage: this.overage(index),
      quotaEvents: this.quotaEvents.get(index) ?? null,
    };
  }

  records(): UsageRecord[] {
    return Array.from({ length: this.length }, (_, index) => this.record(index));
  }

  /** A text's position for the call at `at`: mostly the previous call's, found without a lookup. */
  private positionAt(column: Int32Array, at: number, value: string | null): number {
    if (value === null) return NO_TEXT;
    if (at > 0) {
      const previous = column[at - 1] as number;
      if (previous !== NO_TEXT && this.texts[previous] === value) return previous;
    }
    return this.position(value);
  }

  private appendRequestId(at: number, id: string): void {
    const start = at === 0 ? 0 : (this.idEnds[at - 1] as number);
    // A UTF-16 unit takes at most 3 bytes in UTF-8.
    if (start + id.length * 3 > this.idBytes.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.idBytes.length * 2, start + id.length * 3));
      this.idBytes.copy(bigger, 0, 0, start);
      this.idBytes = bigger;
    }
    this.idEnds[at] = start + this.idBytes.write(id, start, 'utf8');
  }

  private position(value: string): number {
    let position = this.positions.get(value);
    if (position === undefined) {
      position = this.texts.push(value) - 1;
      this.positions.set(value, position);
    }
    return position;
  }

  private grow(): void {
    const capacity = this.createdAtMs.length * 2;
    const bigger = <T extends Float64Array | Uint16Array | Uint8Array | Int32Array | Uint32Array>(column: T): T => {
      const next = new (column.constructor as new (n: number) => T)(capacity);
      next.set(column);
      return next;
    };
    this.createdAtMs = bigger(this.createdAtMs);
    this.statusCodes = bigger(this.statusCodes);
    this.bytesIn = bigger(this.bytesIn);
    this.bytesOut = bigger(this.bytesOut);
    this.latenciesMs = bigger(this.latenciesMs);
    this.flags = bigger(this.flags);
    this.textColumns = this.textColumns.map(bigger);
    this.idEnds = bigger(this.idEnds);
  }
}
