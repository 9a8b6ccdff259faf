// node:crypto is the one exception to core's no-`node:*` rule: HMAC and AES-GCM are pure
// computation, and a hand-written cipher would be the riskier choice.
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { RandomSource } from './ports.ts';

/*
 * Webhook rules: secrets, signatures, the retry schedule and encryption of secrets at rest.
 * Every delivery carries two sets of headers: Standard Webhooks (`webhook-*`, so any of its
 * verifier libraries works) and the specs' `x-webhook-*` (`sha256=<hex>` over the body alone).
 */

const SECRET_PREFIX = 'whsec_';
const GENERATED_SECRET_BYTES = 32;
const MIN_SECRET_BYTES = 24;
const MAX_SECRET_BYTES = 64;

/** Padded standard base64, the form Standard Webhooks verifiers decode. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Constant-time string equality; only the lengths can leak, and they are not secret here. */
function sameString(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Decodes base64 only when `text` is the canonical encoding of the bytes: Node's decoder
 * silently skips stray characters and ignores non-zero trailing bits, so two different strings
 * would otherwise name the same key.
 */
function decodeCanonical(text: string, encoding: 'base64' | 'base64url'): Buffer | null {
  if (!(encoding === 'base64' ? BASE64 : BASE64URL).test(text)) return null;
  const bytes = Buffer.from(text, encoding);
  return sameString(bytes.toString(encoding), text) ? bytes : null;
}

/** `whsec_` + base64 of 32 random bytes (the Standard Webhooks secret format). */
export function generateWebhookSecret(random: RandomSource): string {
  const bytes = random.bytes(GENERATED_SECRET_BYTES);
  // A short read would silently weaken every secret made from it.
  if (bytes.length !== GENERATED_SECRET_BYTES) {
    throw new Error(`random source returned ${bytes.length} bytes, expected ${GENERATED_SECRET_BYTES}`);
  }
  return SECRET_PREFIX + Buffer.from(bytes).toString('base64');
}

function secretKey(secret: string): Buffer | null {
  if (!secret.startsWith(SECRET_PREFIX)) return null;
  const key = decodeCanonical(secret.slice(SECRET_PREFIX.length), 'base64');
  return key && key.length >= MIN_SECRET_BYTES && key.length <= MAX_SECRET_BYTES ? key : null;
}

/** True for a secret we accept from a customer: `whsec_` + base64 of 24..64 bytes. */
export function isValidWebhookSecret(secret: string): boolean {
  return secretKey(secret) !== null;
}

export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
  'x-webhook-id': string;
  'x-webhook-timestamp': string;
  'x-webhook-signature': string;
}

/**
 * Headers for one delivery attempt. `secrets` newest first: during a secret rotation the old
 * secret signs alongside the new one.
 *  - Standard Webhooks: webhook-signature = space-separated `v1,<base64 HMAC-SHA256(key, `${id}.${timestamp}.${body}`)>`
 *    per secret, where key = base64-decoded bytes after `whsec_`.
 *  - The specs' headers: x-webhook-signature = `sha256=<hex HMAC-SHA256(secret string as UTF-8, body)>`,
 *    one per secret joined by `,` (newest first).
 */
export function signWebhook(input: {
  messageId: string;
  timestampSec: number;
  body: string;
  secrets: readonly string[];
}): SignedHeaders {
  const { messageId, timestampSec, body, secrets } = input;
  // These go into HTTP headers: refuse anything that could break or inject a header line.
  if (!/^[\x21-\x7e]+$/.test(messageId)) throw new Error('webhook message id must be non-empty printable ASCII without spaces');
  if (!Number.isSafeInteger(timestampSec) || timestampSec < 0) {
    throw new Error('webhook timestamp must be whole seconds since the epoch');
  }
  // With no secret the receiver could verify nothing; that is a bug upstream, not a delivery.
  if (secrets.length === 0) throw new Error('cannot sign a webhook without a secret');

  const standard: string[] = [];
  const legacy: string[] = [];
  const signedContent = `${messageId}.${timestampSec}.${body}`;
  secrets.forEach((secret, index) => {
    const key = secretKey(secret);
    // The index, never the secret, so the message is safe to log.
    if (!key) throw new Error(`webhook secret #${index + 1} is not a valid whsec_ secret`);
    standard.push(`v1,${createHmac('sha256', key).update(signedContent, 'utf8').digest('base64')}`);
    legacy.push(`sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`);
  });

  const timestamp = String(timestampSec);
  return {
    'webhook-id': messageId,
    'webhook-timestamp': timestamp,
    'webhook-signature': standard.join(' '),
    'x-webhook-id': messageId,
    'x-webhook-timestamp': timestamp,
    'x-webhook-signature': legacy.join(','),
  };
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** Parses `5s,30s,2m,1h,250ms,1500` (bare numbers are ms) into delays in ms; throws Error with a clear message naming the bad entry. Empty list is an error. */
export function parseRetrySchedule(text: string): number[] {
  if (text.trim() === '') throw new Error('retry schedule is empty: give delays such as 5s,30s,2m');
  return text.split(',').map((raw, index) => {
    const entry = raw.trim();
    const match = /^(\d+)(ms|s|m|h)?$/.exec(entry);
    const delay = match ? Number(match[1]) * (UNIT_MS[match[2] ?? 'ms'] ?? 1) : Number.NaN;
    if (!Number.isSafeInteger(delay)) {
      throw new Error(
        `invalid retry schedule entry ${JSON.stringify(entry)} (entry ${index + 1}): ` +
          'use a whole number with ms, s, m or h (a bare number is ms), such as 30s',
      );
    }
    return delay;
  });
}

/** The default schedule: 5s, 30s, 2m, 10m, 1h, 3h, 6h, 12h, 24h (so 10 attempts in all with the first). */
export const DEFAULT_RETRY_SCHEDULE_MS: readonly number[] = Object.freeze([
  5_000, 30_000, 120_000, 600_000, 3_600_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000,
]);

/**
 * Delay before attempt number `attemptsMade + 1`, or null when `attemptsMade` already reached
 * `maxAttempts`. attemptsMade >= 1. Retry n (n = attemptsMade) uses schedule[n-1]; past the end
 * of the schedule the last delay repeats. Jitter: multiply by a factor in [0.8, 1.2) taken from
 * `random01` (a number in [0,1)), rounded to whole ms, so many endpoints failing together do not retry in lockstep.
 */
export function nextRetryDelayMs(
  schedule: readonly number[],
  attemptsMade: number,
  maxAttempts: number,
  random01: number,
): number | null {
  if (!Number.isSafeInteger(attemptsMade) || attemptsMade < 1) throw new Error('attemptsMade must be a whole number >= 1');
  if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1) throw new Error('maxAttempts must be a whole number >= 1');
  if (!(random01 >= 0 && random01 < 1)) throw new Error('random01 must be in [0, 1)');
  if (attemptsMade >= maxAttempts) return null;
  const base = schedule[Math.min(attemptsMade, schedule.length) - 1];
  if (base === undefined) throw new Error('retry schedule is empty');
  return Math.round(base * (0.8 + 0.4 * random01));
}

/** AES-256-GCM for secrets at rest (webhook secrets). */
export interface SecretBox {
  seal(plaintext: string): string;
  open(sealed: string): string;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;
const SEALED_VERSION = 'v1';
const CANNOT_DECRYPT = 'cannot decrypt: wrong MASTER_KEY or damaged data';

function parseMasterKey(masterKey: string): Buffer {
  const key = /^[0-9a-fA-F]{64}$/.test(masterKey)
    ? Buffer.from(masterKey, 'hex')
    : masterKey.length === 44
      ? decodeCanonical(masterKey, 'base64')
      : null;
  // The length only, never the value: this message ends up in startup logs.
  if (!key || key.length !== 32) {
    throw new Error(
      `MASTER_KEY must be 32 bytes given as 64 hex characters or 44 base64 characters ` +
        `(got ${masterKey.length} characters); make one with \`openssl rand -hex 32\``,
    );
  }
  return key;
}

/**
 * masterKey: 32 bytes given as 64 hex characters or base64 (44 chars). Throws Error with a clear
 * message otherwise. Sealed format: `v1.<iv b64url>.<tag b64url>.<ciphertext b64url>` with a
 * fresh 12-byte IV each time. `open` throws Error('cannot decrypt: wrong MASTER_KEY or damaged data') on a wrong key or tampering.
 */
export function createSecretBox(masterKey: string): SecretBox {
  const key = parseMasterKey(masterKey);
  return {
    seal(plaintext) {
      // A random 96-bit IV per seal: GCM loses confidentiality and integrity if one ever repeats
      // under a key, and a few secrets per endpoint stay far below the ~2^32 seals that random IVs allow.
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [SEALED_VERSION, iv, tag, ciphertext].map((part) => (typeof part === 'string' ? part : part.toString('base64url'))).join('.');
    },
    open(sealed) {
      const parts = sealed.split('.');
      if (parts.length !== 4 || parts[0] !== SEALED_VERSION) throw new Error(CANNOT_DECRYPT);
      const [iv, tag, ciphertext] = parts.slice(1).map((part) => decodeCanonical(part, 'base64url'));
      // Exact tag length matters: Node's decipher accepts tags as short as 4 bytes, and a
      // truncated tag is far easier to forge.
      if (!iv || iv.length !== IV_BYTES || !tag || tag.length !== TAG_BYTES || !ciphertext) throw new Error(CANNOT_DECRYPT);
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
      } catch {
        // GCM checks the tag in constant time; a failure means a wrong key or altered bytes.
        throw new Error(CANNOT_DECRYPT);
      }
    },
  };
}
