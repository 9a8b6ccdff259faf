import { majorToMicros, majorToMinor, MICROS_PER_MAJOR, minorDigits } from '@tollgate/core';
import { AppError } from '../http/app-error.ts';

/*
 * Amounts arrive in major units (890.00) and are stored as integers (minor units; micros for
 * per-call fees). An amount the store cannot hold exactly is refused, naming the field, rather
 * than rounded without a word.
 */

/** A major-unit amount that is a whole number of minor units (1234.56, not 1234.567). */
export function exactMinor(major: number, currency: string, field: string): number {
  const minor = majorToMinor(major, currency);
  if (Math.abs(minor - major * 10 ** minorDigits(currency)) > 1e-6) {
    throw new AppError('invalid_request', `${field} has more decimals than ${currency} has cents`, { details: { field } });
  }
  return minor;
}

/** A per-call fee that is a whole number of millionths (0.0004, not 0.0000004). */
export function exactMicros(major: number, field: string): number {
  const micros = majorToMicros(major);
  if (Math.abs(micros - major * MICROS_PER_MAJOR) > 1e-6) {
    throw new AppError('invalid_request', `${field} is priced in millionths at most (six decimals)`, { details: { field } });
  }
  return micros;
}
