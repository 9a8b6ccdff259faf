import { Writable } from 'node:stream';
import pino from 'pino';

/** A pino logger whose lines land, parsed, in `lines` (for tests of what the product logs). */
export function capturedLog(level: pino.Level = 'info'): { lines: Record<string, unknown>[]; log: pino.Logger } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: pino({ level }, stream) };
}
