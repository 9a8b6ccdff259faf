/*
 * Deterministic randomness for the demo upstream. Nothing here reads the clock or Math.random():
 * every value is a pure function of a string key (and, for time series, of an integer time bucket),
 * so the same request at the same `nowMs` always produces the same body.
 */

/** FNV-1a, 32 bit: tiny and good enough to turn ids into seeds. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Murmur3's finalizer over two integers: an O(1) "hash of (seed, bucket)" for per-minute noise. */
export function mix32(a: number, b: number): number {
  let h = (a ^ Math.imul(b | 0, 0x9e3779b1)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Uniform in [0, 1) from (seed, bucket). */
export function unit(seed: number, bucket: number): number {
  return mix32(seed, bucket) / 4294967296;
}

/** Seed for one kind of entity; sandbox keys get a disjoint seed space. */
export function seedOf(kind: string, id: string, sandbox: boolean): number {
  return fnv1a(`${sandbox ? 'sandbox' : 'live'}|${kind}|${id}`);
}

/** mulberry32 with a few helpers: a small, fast, seedable PRNG. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  static of(kind: string, id: string, sandbox: boolean): Rng {
    return new Rng(seedOf(kind, id, sandbox));
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  range(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** Log-uniform: market caps, followers and prices span orders of magnitude. */
  logRange(min: number, max: number): number {
    return Math.exp(this.range(Math.log(min), Math.log(max)));
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** Random string over an alphabet (mints, addresses, transaction ids). */
  chars(alphabet: string, length: number): string {
    let out = '';
    for (let i = 0; i < length; i++) out += alphabet.charAt(Math.floor(this.next() * alphabet.length));
    return out;
  }
}

export const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** A Solana-style address (43-44 base58 chars) derived from a key. */
export function base58Address(key: string): string {
  const rng = new Rng(fnv1a(`address|${key}`));
  return rng.chars(BASE58, rng.chance(0.5) ? 43 : 44);
}

/** An Arweave-style transaction id (43 base64url chars). */
export function arweaveTx(key: string): string {
  return new Rng(fnv1a(`arweave|${key}`)).chars(BASE64URL, 43);
}

export function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

/** Significant-digit rounding for prices that range from 1e-9 to 1e3. */
export function sig(value: number, digits = 6): number {
  return value === 0 || !Number.isFinite(value) ? 0 : Number(value.toPrecision(digits));
}

export function clamp(value: number, min: number, max: number): number {
  return value < min ? min : value > max ? max : value;
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
