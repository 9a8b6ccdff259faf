import { createHash } from 'node:crypto';

/** Keys and session tokens are stored and looked up by this digest only. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
