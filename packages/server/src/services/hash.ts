import { hash } from 'node:crypto';

/** Keys and session tokens are stored and looked up by this digest only (one-shot: ~3x faster than createHash). */
export function sha256Hex(text: string): string {
  return hash('sha256', text, 'hex');
}
