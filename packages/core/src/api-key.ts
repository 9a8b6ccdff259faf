import { crc32 } from './crc32.ts';
import { isBase62, randomBase62, uint32ToBase62 } from './base62.ts';
import type { RandomSource } from './ports.ts';

/*
 * Key format: `<brand>_<live|test>_<32 random base62><6 base62 CRC-32 checksum>`, for example
 * `tg_live_4hT...Qz0aB3c9`. The checksum covers everything before it, so the gateway rejects a
 * mistyped or truncated key without touching the cache or the database (the idea GitHub's tokens use).
 */

export const KEY_RANDOM_LENGTH = 32;
const CHECKSUM_LENGTH = 6;

export type KeyEnvironment = 'live' | 'test';

export interface GeneratedKey {
  key: string;
  environment: KeyEnvironment;
  /** What the portal shows: `tg_live_4hT9` … plus the last four. */
  displayPrefix: string;
  lastFour: string;
}

export function isValidBrandPrefix(brand: string): boolean {
  return /^[a-z][a-z0-9]{0,15}$/.test(brand);
}

export function generateApiKey(brand: string, environment: KeyEnvironment, random: RandomSource): GeneratedKey {
  const body = `${brand}_${environment}_${randomBase62(KEY_RANDOM_LENGTH, (n) => random.bytes(n))}`;
  const key = body + uint32ToBase62(crc32(body), CHECKSUM_LENGTH);
  return {
    key,
    environment,
    displayPrefix: key.slice(0, brand.length + environment.length + 2 + 4),
    lastFour: key.slice(-4),
  };
}

export type ParsedKey = { ok: true; environment: KeyEnvironment } | { ok: false; reason: 'malformed' | 'checksum' };

/** Checks shape and checksum only: cheap enough to run before any lookup. */
export function parseApiKey(key: string, brand: string): ParsedKey {
  const minimum = brand.length + 6 + KEY_RANDOM_LENGTH + CHECKSUM_LENGTH;
  if (key.length < minimum || key.length > minimum + 64 || !key.startsWith(`${brand}_`)) {
    return { ok: false, reason: 'malformed' };
  }
  const environment = key.slice(brand.length + 1, brand.length + 5);
  if ((environment !== 'live' && environment !== 'test') || key[brand.length + 5] !== '_') {
    return { ok: false, reason: 'malformed' };
  }
  const secret = key.slice(brand.length + 6);
  if (!isBase62(secret)) return { ok: false, reason: 'malformed' };
  const body = key.slice(0, -CHECKSUM_LENGTH);
  if (uint32ToBase62(crc32(body), CHECKSUM_LENGTH) !== key.slice(-CHECKSUM_LENGTH)) {
    return { ok: false, reason: 'checksum' };
  }
  return { ok: true, environment };
}
