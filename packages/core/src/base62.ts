const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/**
 * Base62 characters drawn from random bytes without modulo bias: bytes >= 248 (the largest
 * multiple of 62 below 256) are discarded, so `draw` may be called again for more.
 */
export function randomBase62(length: number, draw: (n: number) => Uint8Array): string {
  let out = '';
  while (out.length < length) {
    for (const byte of draw(length * 2)) {
      if (byte >= 248) continue;
      out += ALPHABET[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/** Fixed-width base62 of an unsigned 32-bit integer (6 characters cover 2^32). */
export function uint32ToBase62(value: number, width = 6): string {
  let n = value >>> 0;
  let out = '';
  for (let i = 0; i < width; i++) {
    out = ALPHABET[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

export function isBase62(text: string): boolean {
  return /^[0-9A-Za-z]*$/.test(text);
}
