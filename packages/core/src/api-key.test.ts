import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateApiKey, isValidBrandPrefix, KEY_RANDOM_LENGTH, parseApiKey, type KeyEnvironment } from './api-key.ts';
import type { RandomSource } from './ports.ts';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Deterministic bytes: start, start+1, start+2, … (mod 256), continuing across calls. */
function counterSource(start = 0): RandomSource {
  let next = start;
  return {
    bytes(length: number) {
      const out = new Uint8Array(length);
      for (let i = 0; i < length; i++) out[i] = next++ & 0xff;
      return out;
    },
  };
}

/** Serves `prefix` first, then continues like `rest`. */
function prefixedSource(prefix: number[], rest: RandomSource): RandomSource {
  const queue = [...prefix];
  return {
    bytes(length: number) {
      const out = new Uint8Array(length);
      const fromRest = rest.bytes(Math.max(0, length - queue.length));
      let j = 0;
      for (let i = 0; i < length; i++) out[i] = queue.length > 0 ? (queue.shift() as number) : (fromRest[j++] as number);
      return out;
    },
  };
}

const cryptoSource: RandomSource = { bytes: (n) => new Uint8Array(randomBytes(n)) };

/** Replaces the character at `index` with a different base62 character. */
function mutateAt(key: string, index: number, step = 1): string {
  const current = BASE62.indexOf(key[index] as string);
  const replacement = BASE62[(current + step) % BASE62.length] as string;
  return key.slice(0, index) + replacement + key.slice(index + 1);
}

const RANDOM_START = 'tg_live_'.length;
const CHECKSUM_START = RANDOM_START + KEY_RANDOM_LENGTH;

describe('generateApiKey', () => {
  it('a live key is tg_live_ + 32 base62 random characters + 6 base62 checksum characters', () => {
    const { key, environment } = generateApiKey('tg', 'live', counterSource());
    expect(key).toMatch(/^tg_live_[0-9A-Za-z]{32}[0-9A-Za-z]{6}$/);
    expect(environment).toBe('live');
  });

  it('a test key starts with tg_test_', () => {
    const { key, environment } = generateApiKey('tg', 'test', counterSource());
    expect(key).toMatch(/^tg_test_[0-9A-Za-z]{38}$/);
    expect(environment).toBe('test');
  });

  it('uses the operator brand as the prefix', () => {
    expect(generateApiKey('acme', 'live', counterSource()).key).toMatch(/^acme_live_[0-9A-Za-z]{38}$/);
  });

  it('successive keys from one source differ', () => {
    const source = counterSource();
    const a = generateApiKey('tg', 'live', source).key;
    const b = generateApiKey('tg', 'live', source).key;
    expect(a).not.toBe(b);
  });

  it('the random part comes from the random source (different bytes, different key)', () => {
    const a = generateApiKey('tg', 'live', counterSource(0)).key;
    const b = generateApiKey('tg', 'live', counterSource(100)).key;
    expect(a.slice(RANDOM_START, CHECKSUM_START)).not.toBe(b.slice(RANDOM_START, CHECKSUM_START));
  });

  it('bytes 248–255 are discarded rather than wrapped (no modulo bias)', () => {
    const plain = generateApiKey('tg', 'live', counterSource(0)).key;
    const withHighBytes = generateApiKey('tg', 'live', prefixedSource([248, 249, 250, 251, 252, 253, 254, 255], counterSource(0))).key;
    expect(withHighBytes).toBe(plain);
  });

  it('displayPrefix is the brand, environment and first 4 random characters; lastFour the key end', () => {
    const live = generateApiKey('tg', 'live', counterSource(7));
    expect(live.displayPrefix).toBe(live.key.slice(0, RANDOM_START + 4));
    expect(live.displayPrefix).toMatch(/^tg_live_[0-9A-Za-z]{4}$/);
    expect(live.lastFour).toHaveLength(4);
    expect(live.key.endsWith(live.lastFour)).toBe(true);

    const test = generateApiKey('acme', 'test', counterSource(7));
    expect(test.displayPrefix).toMatch(/^acme_test_[0-9A-Za-z]{4}$/);
    expect(test.key.startsWith(test.displayPrefix)).toBe(true);
  });

  it('2,000 keys from the CSPRNG are distinct and use every base62 character about evenly', () => {
    const keys = Array.from({ length: 2000 }, () => generateApiKey('tg', 'live', cryptoSource).key);
    expect(new Set(keys).size).toBe(2000);
    const counts = new Map<string, number>();
    for (const key of keys) for (const ch of key.slice(RANDOM_START, CHECKSUM_START)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    expect(counts.size).toBe(62);
    // 64,000 characters: about 1,032 each (σ ≈ 32).
    for (const n of counts.values()) {
      expect(n).toBeGreaterThan(800);
      expect(n).toBeLessThan(1280);
    }
    // byte % 62 without rejecting 248–255 would make '0'–'7' 25% more frequent than the rest.
    const mean = (chars: string) => [...chars].reduce((sum, ch) => sum + (counts.get(ch) ?? 0), 0) / chars.length;
    expect(mean(BASE62.slice(0, 8)) / mean(BASE62.slice(8))).toBeLessThan(1.12);
  });
});

describe('parseApiKey', () => {
  const live = generateApiKey('tg', 'live', counterSource(3)).key;
  const test = generateApiKey('tg', 'test', counterSource(3)).key;

  it('accepts a generated live key as live and a generated test key as test', () => {
    expect(parseApiKey(live, 'tg')).toEqual({ ok: true, environment: 'live' });
    expect(parseApiKey(test, 'tg')).toEqual({ ok: true, environment: 'test' });
  });

  it.each(Array.from({ length: KEY_RANDOM_LENGTH }, (_, i) => i))(
    'a key with random character %i changed is rejected by the checksum',
    (offset) => {
      for (const step of [1, 31, 61]) {
        expect(parseApiKey(mutateAt(live, RANDOM_START + offset, step), 'tg')).toEqual({ ok: false, reason: 'checksum' });
      }
    },
  );

  it('a key with a changed checksum character is rejected by the checksum', () => {
    for (let i = CHECKSUM_START; i < live.length; i++) {
      expect(parseApiKey(mutateAt(live, i), 'tg')).toEqual({ ok: false, reason: 'checksum' });
    }
  });

  it('two swapped adjacent characters are rejected', () => {
    let i = RANDOM_START;
    while (live[i] === live[i + 1]) i++;
    const swapped = live.slice(0, i) + live[i + 1] + live[i] + live.slice(i + 2);
    expect(parseApiKey(swapped, 'tg')).toEqual({ ok: false, reason: 'checksum' });
  });

  it('a live key relabelled as test fails the checksum (the prefix is covered)', () => {
    expect(parseApiKey(live.replace('tg_live_', 'tg_test_'), 'tg')).toEqual({ ok: false, reason: 'checksum' });
  });

  it('a truncated key is malformed', () => {
    expect(parseApiKey(live.slice(0, -1), 'tg')).toEqual({ ok: false, reason: 'malformed' });
    expect(parseApiKey(live.slice(0, 20), 'tg')).toEqual({ ok: false, reason: 'malformed' });
    expect(parseApiKey('', 'tg')).toEqual({ ok: false, reason: 'malformed' });
  });

  it('a key with one character appended is rejected', () => {
    expect(parseApiKey(`${live}A`, 'tg').ok).toBe(false);
  });

  it("another operator's brand is malformed", () => {
    const acme = generateApiKey('acme', 'live', counterSource(3)).key;
    expect(parseApiKey(acme, 'tg')).toEqual({ ok: false, reason: 'malformed' });
    expect(parseApiKey(live, 'acme')).toEqual({ ok: false, reason: 'malformed' });
    expect(parseApiKey(acme, 'acme')).toEqual({ ok: true, environment: 'live' });
  });

  it('an unknown environment is malformed', () => {
    for (const env of ['prod', 'Live', 'LIVE', 'tes_']) {
      expect(parseApiKey(live.replace('live', env), 'tg')).toEqual({ ok: false, reason: 'malformed' });
    }
  });

  it('a missing separator after the environment is malformed', () => {
    expect(parseApiKey(live.replace('tg_live_', 'tg_live-'), 'tg')).toEqual({ ok: false, reason: 'malformed' });
  });

  it('non-base62 characters in the random part or checksum are malformed', () => {
    for (const ch of ['-', '_', '+', '/', '=', ' ', 'é']) {
      for (const index of [RANDOM_START, RANDOM_START + 17, live.length - 1]) {
        const bad = live.slice(0, index) + ch + live.slice(index + 1);
        expect(parseApiKey(bad, 'tg')).toEqual({ ok: false, reason: 'malformed' });
      }
    }
  });

  it('2,000 CSPRNG keys all parse, and a random single-character change is rejected (≥ 99.9%)', () => {
    const envs: KeyEnvironment[] = ['live', 'test'];
    let rejected = 0;
    const total = 2000;
    const pick = (n: number) => (randomBytes(4).readUInt32BE(0) % n) >>> 0;
    for (let i = 0; i < total; i++) {
      const env = envs[i % 2] as KeyEnvironment;
      const { key } = generateApiKey('tg', env, cryptoSource);
      expect(parseApiKey(key, 'tg')).toEqual({ ok: true, environment: env });
      const index = pick(key.length);
      const mutated = index >= RANDOM_START ? mutateAt(key, index, 1 + pick(61)) : key.slice(0, index) + 'x' + key.slice(index + 1);
      expect(mutated).not.toBe(key);
      if (!parseApiKey(mutated, 'tg').ok) rejected++;
    }
    expect(rejected / total).toBeGreaterThanOrEqual(0.999);
  });
});

describe('isValidBrandPrefix', () => {
  it.each(['tg', 'a', 'acme', 'acme2', 'abcdefghijklmnop'])('accepts %s', (brand) => {
    expect(isValidBrandPrefix(brand)).toBe(true);
  });

  it.each(['', 'Tg', 'TG', '1tg', 'tg_', 'tg-x', 'a b', 'abcdefghijklmnopq', 'tg\n'])('refuses %j', (brand) => {
    expect(isValidBrandPrefix(brand)).toBe(false);
  });
});
