import { randomFillSync } from 'node:crypto';
import { ID_PREFIX, type IdKind } from '@tollgate/contracts';
import { randomBase62 } from '@tollgate/core';

// Random bytes come from a pooled buffer: one syscall serves many IDs on the gateway's hot path.
const pool = Buffer.alloc(4096);
let offset = pool.length;

export function randomBytes(length: number): Uint8Array {
  if (length > pool.length) return randomFillSync(Buffer.alloc(length));
  if (offset + length > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const out = pool.subarray(offset, offset + length);
  offset += length;
  return Uint8Array.from(out);
}

export const cryptoRandom = { bytes: randomBytes };

/** `key_5kG2hT…`: the kind's prefix and 22 base62 characters (131 bits). */
export function newId(kind: IdKind): string {
  return `${ID_PREFIX[kind]}_${randomBase62(22, randomBytes)}`;
}

/**
 * Request ids (`req_…`, 22 characters like every id) need to be unique, not secret: a random
 * stem per process and a counter make one without drawing random bytes on every call.
 */
export function requestIdGenerator(): () => string {
  const stem = `${ID_PREFIX.request}_${randomBase62(11, randomBytes)}`;
  let next = 0;
  return () => stem + (next++).toString(36).padStart(11, '0');
}
