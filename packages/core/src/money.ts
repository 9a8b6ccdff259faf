/*
 * Money is stored in integer minor units (cents). Per-call fees may be fractions of a cent
 * (an API call is often priced at $0.0004), so they are stored in micro-units: millionths of
 * the currency's major unit. Conversion to major units happens only at the edge, for display.
 */

const MINOR_DIGITS: Record<string, number> = { JPY: 0, KRW: 0, VND: 0, BHD: 3, KWD: 3, OMR: 3 };

export function minorDigits(currency: string): number {
  return MINOR_DIGITS[currency] ?? 2;
}

/** 89000 ZAR cents → 890 (shown as 890.00 by the client). */
export function minorToMajor(minor: number, currency: string): number {
  return minor / 10 ** minorDigits(currency);
}

/** 890 → 89000, rounding half-up to the nearest minor unit (guards against 0.1 + 0.2 input). */
export function majorToMinor(major: number, currency: string): number {
  return roundHalfUp(major * 10 ** minorDigits(currency));
}

export const MICROS_PER_MAJOR = 1_000_000;

export function microsToMajor(micros: number): number {
  return micros / MICROS_PER_MAJOR;
}

export function majorToMicros(major: number): number {
  return roundHalfUp(major * MICROS_PER_MAJOR);
}

/** Half away from zero, with a tolerance for binary floating-point noise (2.675 → 268). */
export function roundHalfUp(value: number): number {
  const sign = value < 0 ? -1 : 1;
  return sign * Math.floor(Math.abs(value) + 0.5 + 1e-9);
}
