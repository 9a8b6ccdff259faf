import { createHmac, randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RandomSource } from './ports.ts';
import {
  createSecretBox,
  DEFAULT_RETRY_SCHEDULE_MS,
  generateWebhookSecret,
  isValidWebhookSecret,
  nextRetryDelayMs,
  parseRetrySchedule,
  signWebhook,
} from './webhooks.ts';

/** Serves the given bytes, in order, and records what was asked for. */
function fixedSource(bytes: number[]): RandomSource & { requested: number[] } {
  let offset = 0;
  const requested: number[] = [];
  return {
    requested,
    bytes(length: number) {
      requested.push(length);
      const out = Uint8Array.from(bytes.slice(offset, offset + length));
      offset += length;
      return out;
    },
  };
}

const secretOf = (bytes: Uint8Array | number[]) => `whsec_${Buffer.from(bytes).toString('base64')}`;
const range = (n: number, start = 0) => Array.from({ length: n }, (_, i) => (start + i) & 0xff);

const NEW_SECRET = secretOf(range(32, 1));
const OLD_SECRET = secretOf(range(32, 100));
const OTHER_SECRET = secretOf(range(32, 200));
const NOW_SEC = 1_790_000_000;
const BODY = JSON.stringify({ type: 'invoice.paid', data: { id: 'inv_123', note: 'café ✓' } });

describe('signWebhook: Standard Webhooks headers', () => {
  // The verifier rejects timestamps more than 5 minutes from its clock: pin the clock.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW_SEC * 1000);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const sign = (secrets: string[], body = BODY) => signWebhook({ messageId: 'whd_abc123', timestampSec: NOW_SEC, body, secrets });

  it('a standardwebhooks verifier holding the secret accepts the delivery', () => {
    const headers = sign([NEW_SECRET]);
    expect(headers['webhook-id']).toBe('whd_abc123');
    expect(headers['webhook-timestamp']).toBe(String(NOW_SEC));
    expect(new Webhook(NEW_SECRET).verify(BODY, { ...headers })).toEqual(JSON.parse(BODY));
  });

  it('the verifier rejects the delivery for another secret', () => {
    const headers = sign([NEW_SECRET]);
    expect(() => new Webhook(OTHER_SECRET).verify(BODY, { ...headers })).toThrow(/No matching signature/);
  });

  it('the verifier rejects a changed body, id or timestamp', () => {
    const headers = sign([NEW_SECRET]);
    const changedBody = BODY.replace('inv_123', 'inv_124');
    expect(() => new Webhook(NEW_SECRET).verify(changedBody, { ...headers })).toThrow(/No matching signature/);
    expect(() => new Webhook(NEW_SECRET).verify(BODY, { ...headers, 'webhook-id': 'whd_abc124' })).toThrow(
      /No matching signature/,
    );
    expect(() =>
      new Webhook(NEW_SECRET).verify(BODY, { ...headers, 'webhook-timestamp': String(NOW_SEC - 1) }),
    ).toThrow(/No matching signature/);
  });

  it('during a rotation a verifier holding either the new or the old secret accepts', () => {
    const headers = sign([NEW_SECRET, OLD_SECRET]);
    expect(new Webhook(NEW_SECRET).verify(BODY, { ...headers })).toEqual(JSON.parse(BODY));
    expect(new Webhook(OLD_SECRET).verify(BODY, { ...headers })).toEqual(JSON.parse(BODY));
    expect(() => new Webhook(OTHER_SECRET).verify(BODY, { ...headers })).toThrow(/No matching signature/);
    // Newest first, one `v1,` entry per secret, separated by a space.
    const at = new Date(NOW_SEC * 1000);
    expect(headers['webhook-signature']).toBe(
      `${new Webhook(NEW_SECRET).sign('whd_abc123', at, BODY)} ${new Webhook(OLD_SECRET).sign('whd_abc123', at, BODY)}`,
    );
  });

  it('secrets of 24 and 64 bytes sign as well as 32', () => {
    for (const secret of [secretOf(range(24, 7)), secretOf(range(64, 9))]) {
      expect(new Webhook(secret).verify(BODY, { ...sign([secret]) })).toEqual(JSON.parse(BODY));
    }
  });
});

describe('signWebhook: x-webhook-* headers', () => {
  const sign = (secrets: string[]) => signWebhook({ messageId: 'whd_abc123', timestampSec: NOW_SEC, body: BODY, secrets });
  // The blueprint's own verification snippet, as a receiver would run it.
  const receiverHex = (secret: string, body: string) => createHmac('sha256', secret).update(body).digest('hex');

  it('x-webhook-signature is sha256= HMAC of the body keyed by the secret string', () => {
    const headers = sign([NEW_SECRET]);
    expect(headers['x-webhook-signature']).toBe(`sha256=${receiverHex(NEW_SECRET, BODY)}`);
    expect(headers['x-webhook-signature']).not.toBe(`sha256=${receiverHex(OTHER_SECRET, BODY)}`);
    expect(headers['x-webhook-id']).toBe('whd_abc123');
    expect(headers['x-webhook-timestamp']).toBe(String(NOW_SEC));
  });

  it('during a rotation both signatures are sent, newest first, joined by a comma', () => {
    expect(sign([NEW_SECRET, OLD_SECRET])['x-webhook-signature']).toBe(
      `sha256=${receiverHex(NEW_SECRET, BODY)},sha256=${receiverHex(OLD_SECRET, BODY)}`,
    );
  });
});

describe('signWebhook: refused inputs', () => {
  const base = { messageId: 'whd_1', timestampSec: NOW_SEC, body: '{}', secrets: [NEW_SECRET] };

  it('throws with no secret, since the receiver could verify nothing', () => {
    expect(() => signWebhook({ ...base, secrets: [] })).toThrow(/without a secret/);
  });

  it('throws for an invalid secret without echoing it', () => {
    const bad = 'whsec_not-base64!';
    let message = '';
    try {
      signWebhook({ ...base, secrets: [NEW_SECRET, bad] });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/secret #2 is not a valid/);
    expect(message).not.toContain(bad);
  });

  it('throws for a message id or timestamp that cannot go into a header', () => {
    expect(() => signWebhook({ ...base, messageId: 'whd_1\r\nx-evil: 1' })).toThrow(/message id/);
    expect(() => signWebhook({ ...base, messageId: '' })).toThrow(/message id/);
    expect(() => signWebhook({ ...base, timestampSec: 1.5 })).toThrow(/timestamp/);
    expect(() => signWebhook({ ...base, timestampSec: -1 })).toThrow(/timestamp/);
  });
});

describe('generateWebhookSecret', () => {
  it('is whsec_ + base64 of 32 bytes from the injected source, the same for the same bytes', () => {
    const source = fixedSource(range(32));
    const secret = generateWebhookSecret(source);
    expect(secret).toBe('whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=');
    expect(source.requested).toEqual([32]);
    expect(generateWebhookSecret(fixedSource(range(32)))).toBe(secret);
    expect(generateWebhookSecret(fixedSource(range(32, 1)))).not.toBe(secret);
    expect(isValidWebhookSecret(secret)).toBe(true);
  });

  it('gives a secret the standardwebhooks library accepts', () => {
    const secret = generateWebhookSecret({ bytes: (n) => randomBytes(n) });
    expect(isValidWebhookSecret(secret)).toBe(true);
    const at = new Date(NOW_SEC * 1000);
    const headers = signWebhook({ messageId: 'whd_9', timestampSec: NOW_SEC, body: '{}', secrets: [secret] });
    expect(headers['webhook-signature']).toBe(new Webhook(secret).sign('whd_9', at, '{}'));
  });

  it('throws when the random source returns fewer bytes than asked', () => {
    expect(() => generateWebhookSecret(fixedSource(range(16)))).toThrow(/16 bytes, expected 32/);
  });
});

describe('isValidWebhookSecret', () => {
  const body32 = Buffer.from(range(32)).toString('base64');

  it('accepts whsec_ + padded base64 of 24 to 64 bytes', () => {
    expect(isValidWebhookSecret(secretOf(range(24)))).toBe(true);
    expect(isValidWebhookSecret(secretOf(range(33)))).toBe(true);
    expect(isValidWebhookSecret(secretOf(range(64)))).toBe(true);
  });

  it('rejects a wrong or missing prefix', () => {
    expect(isValidWebhookSecret(body32)).toBe(false);
    expect(isValidWebhookSecret(`whsec-${body32}`)).toBe(false);
    expect(isValidWebhookSecret(`WHSEC_${body32}`)).toBe(false);
    expect(isValidWebhookSecret(`sk_${body32}`)).toBe(false);
  });

  it('rejects keys shorter than 24 or longer than 64 bytes', () => {
    expect(isValidWebhookSecret(secretOf(range(23)))).toBe(false);
    expect(isValidWebhookSecret(secretOf(range(65)))).toBe(false);
    expect(isValidWebhookSecret('whsec_')).toBe(false);
  });

  it('rejects text that is not canonical padded base64', () => {
    expect(isValidWebhookSecret(`whsec_${'!'.repeat(44)}`)).toBe(false);
    // url-safe alphabet, missing padding, whitespace, a stray character
    expect(isValidWebhookSecret(`whsec_${Buffer.from(range(32, 250)).toString('base64url')}`)).toBe(false);
    expect(isValidWebhookSecret(`whsec_${body32.replace('=', '')}`)).toBe(false);
    expect(isValidWebhookSecret(`whsec_${body32.slice(0, 20)} ${body32.slice(20)}`)).toBe(false);
    expect(isValidWebhookSecret(`whsec_${body32}\n`)).toBe(false);
    // `…Hh8=` is canonical; `…Hh9=` decodes to the same bytes in Node but sets unused bits.
    expect(isValidWebhookSecret(`whsec_${body32.replace(/8=$/, '9=')}`)).toBe(false);
  });
});

describe('parseRetrySchedule', () => {
  it('parses ms, s, m, h and bare numbers as ms', () => {
    expect(parseRetrySchedule('5s,30s,2m,1h,250ms,1500')).toEqual([5_000, 30_000, 120_000, 3_600_000, 250, 1_500]);
    expect(parseRetrySchedule(' 5s , 10m ')).toEqual([5_000, 600_000]);
    expect(parseRetrySchedule('0')).toEqual([0]);
  });

  it('rejects an unknown unit, naming the entry', () => {
    expect(() => parseRetrySchedule('5s,5x')).toThrow(/"5x" \(entry 2\)/);
  });

  it('rejects negative, fractional and overflowing delays', () => {
    expect(() => parseRetrySchedule('-1s')).toThrow(/"-1s" \(entry 1\)/);
    expect(() => parseRetrySchedule('1.5s')).toThrow(/"1.5s"/);
    expect(() => parseRetrySchedule('99999999999999999h')).toThrow(/"99999999999999999h"/);
  });

  it('rejects an empty schedule and empty entries', () => {
    expect(() => parseRetrySchedule('')).toThrow(/empty/);
    expect(() => parseRetrySchedule('   ')).toThrow(/empty/);
    expect(() => parseRetrySchedule(',')).toThrow(/"" \(entry 1\)/);
    expect(() => parseRetrySchedule('5s,,30s')).toThrow(/"" \(entry 2\)/);
    expect(() => parseRetrySchedule('5s,')).toThrow(/"" \(entry 2\)/);
  });
});

describe('DEFAULT_RETRY_SCHEDULE_MS', () => {
  it('is 5s, 30s, 2m, 10m, 1h, 3h, 6h, 12h, 24h: ten attempts with the first', () => {
    expect(DEFAULT_RETRY_SCHEDULE_MS).toEqual(parseRetrySchedule('5s,30s,2m,10m,1h,3h,6h,12h,24h'));
    expect(Object.isFrozen(DEFAULT_RETRY_SCHEDULE_MS)).toBe(true);
    // The 9th retry (attempt 10) still has a delay; after 10 attempts there is none.
    expect(nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE_MS, 9, 10, 0.5)).toBe(86_400_000);
    expect(nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE_MS, 10, 10, 0.5)).toBeNull();
  });
});

describe('nextRetryDelayMs', () => {
  const schedule = [1_000, 2_000, 3_000];
  // random01 = 0.5 gives a jitter factor of exactly 1.
  const delay = (attemptsMade: number, maxAttempts = 10, random01 = 0.5) => nextRetryDelayMs(schedule, attemptsMade, maxAttempts, random01);

  it('retry n uses schedule[n-1]', () => {
    expect(delay(1)).toBe(1_000);
    expect(delay(2)).toBe(2_000);
    expect(delay(3)).toBe(3_000);
  });

  it('past the end of the schedule the last delay repeats', () => {
    expect(delay(4)).toBe(3_000);
    expect(delay(9)).toBe(3_000);
  });

  it('gives null once attemptsMade reaches maxAttempts', () => {
    expect(delay(2, 3)).toBe(2_000);
    expect(delay(3, 3)).toBeNull();
    expect(delay(4, 3)).toBeNull();
    expect(delay(1, 1)).toBeNull();
  });

  it('jitters between 0.8x and 1.2x, in whole ms', () => {
    expect(nextRetryDelayMs([30_000], 1, 5, 0)).toBe(24_000);
    // 30,000 × 1.19996 = 35,998.8: below 1.2× and rounded to whole ms.
    expect(nextRetryDelayMs([30_000], 1, 5, 0.9999)).toBe(35_999);
    expect(nextRetryDelayMs([1_001], 1, 5, 0.3)).toBe(921); // 1,001 × 0.92 = 920.92
    expect(nextRetryDelayMs([30_000], 1, 5, 0.25)).not.toBe(nextRetryDelayMs([30_000], 1, 5, 0.75));
  });

  it('throws on inputs that are bugs upstream', () => {
    expect(() => delay(0)).toThrow(/attemptsMade/);
    expect(() => delay(1, 0)).toThrow(/maxAttempts/);
    expect(() => delay(1, 10, 1)).toThrow(/random01/);
    expect(() => delay(1, 10, -0.1)).toThrow(/random01/);
    expect(() => delay(1, 10, Number.NaN)).toThrow(/random01/);
    expect(() => nextRetryDelayMs([], 1, 10, 0.5)).toThrow(/empty/);
  });
});

describe('createSecretBox', () => {
  const keyBytes = Buffer.from(range(32, 42));
  const hexKey = keyBytes.toString('hex');
  const base64Key = keyBytes.toString('base64');
  const otherKey = Buffer.from(range(32, 43)).toString('hex');
  const SECRET = 'whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=';

  /** Flips one bit in part `index` (1 iv, 2 tag, 3 ciphertext) of a sealed value. */
  function tamper(sealed: string, index: number): string {
    const parts = sealed.split('.');
    const bytes = Buffer.from(parts[index] ?? '', 'base64url');
    bytes[0] = (bytes[0] ?? 0) ^ 0x01;
    parts[index] = bytes.toString('base64url');
    return parts.join('.');
  }

  it('opens what it sealed, including empty and non-ASCII text', () => {
    const box = createSecretBox(hexKey);
    for (const text of [SECRET, '', 'clé ✓ 鍵']) expect(box.open(box.seal(text))).toBe(text);
  });

  it('seals as v1.<iv>.<tag>.<ciphertext> without the plaintext in it', () => {
    const sealed = createSecretBox(hexKey).seal(SECRET);
    expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    expect(Buffer.from(sealed.split('.')[3] ?? '', 'base64url').length).toBe(Buffer.byteLength(SECRET));
    expect(sealed).not.toContain(SECRET.slice(6, 20));
  });

  it('gives a different ciphertext and IV each seal', () => {
    const box = createSecretBox(hexKey);
    const a = box.seal(SECRET);
    const b = box.seal(SECRET);
    expect(a).not.toBe(b);
    expect(a.split('.')[1]).not.toBe(b.split('.')[1]);
    expect(box.open(a)).toBe(box.open(b));
  });

  it('the hex and base64 forms of one key open each other', () => {
    expect(createSecretBox(base64Key).open(createSecretBox(hexKey).seal(SECRET))).toBe(SECRET);
    expect(createSecretBox(hexKey.toUpperCase()).open(createSecretBox(base64Key).seal(SECRET))).toBe(SECRET);
  });

  it('throws the clear error for a wrong key', () => {
    const sealed = createSecretBox(hexKey).seal(SECRET);
    expect(() => createSecretBox(otherKey).open(sealed)).toThrow('cannot decrypt: wrong MASTER_KEY or damaged data');
  });

  it('throws the clear error for tampered ciphertext, tag or IV', () => {
    const box = createSecretBox(hexKey);
    const sealed = box.seal(SECRET);
    for (const index of [1, 2, 3]) {
      expect(() => box.open(tamper(sealed, index))).toThrow('cannot decrypt: wrong MASTER_KEY or damaged data');
    }
  });

  it('throws for a truncated tag, a truncated ciphertext, an unknown version or a non-sealed value', () => {
    const box = createSecretBox(hexKey);
    const [version, iv, tag, ciphertext] = box.seal(SECRET).split('.') as [string, string, string, string];
    const shortTag = Buffer.from(tag, 'base64url').subarray(0, 12).toString('base64url');
    const shortCiphertext = Buffer.from(ciphertext, 'base64url').subarray(1).toString('base64url');
    for (const damaged of [
      [version, iv, shortTag, ciphertext].join('.'),
      [version, iv, tag, shortCiphertext].join('.'),
      ['v2', iv, tag, ciphertext].join('.'),
      [version, iv, tag].join('.'),
      SECRET,
    ]) {
      expect(() => box.open(damaged)).toThrow('cannot decrypt: wrong MASTER_KEY or damaged data');
    }
  });

  it('rejects master keys that are not 32 bytes in hex or base64, without echoing them', () => {
    const bad = [
      hexKey.slice(0, 62),
      `${hexKey}ab`,
      `${hexKey.slice(0, 63)}g`,
      base64Key.slice(0, 43),
      Buffer.from(range(31)).toString('base64'), // 44 characters, but 31 bytes
      Buffer.from(range(48)).toString('base64'),
      keyBytes.toString('base64url'),
      `${base64Key}\n`,
      '',
    ];
    for (const key of bad) {
      expect(() => createSecretBox(key), JSON.stringify(key)).toThrow(/MASTER_KEY must be 32 bytes/);
    }
    try {
      createSecretBox(hexKey.slice(0, 62));
    } catch (error) {
      expect((error as Error).message).not.toContain(hexKey.slice(0, 62));
    }
  });
});
