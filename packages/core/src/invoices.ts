import { MICROS_PER_MAJOR, microsToMajor, minorDigits, minorToMajor, roundHalfUp } from './money.ts';

/*
 * Invoice arithmetic. Every amount is an integer in the currency's minor units; per-call prices
 * stay in micro-units (millionths of a major unit) because they are often fractions of a cent.
 *
 * Rules an accountant can check on the printed invoice:
 * - Each line is rounded half-up exactly once, from its exact value (never per call).
 * - subtotal = sum of the rounded lines; VAT = one rounded amount on the subtotal; total =
 *   subtotal + VAT. Nothing is recomputed from major-unit floats.
 * - Ratios (usage × micro-price, proration, VAT) are divided exactly in integers, so a true
 *   half is always a half: floating-point products drift below .5 once amounts grow large.
 */

/** Thrown for inputs no caller should pass (negative calls, fractional cents): a bug, not an outcome. */
function requireCount(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
  return value;
}

function requireSafe(value: bigint, name: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`${name} exceeds the safe integer range`);
  return n;
}

/** num / den rounded half-up, exactly; both non-negative, den > 0. */
function divideHalfUp(num: bigint, den: bigint): bigint {
  return (num * 2n + den) / (den * 2n);
}

// ---------------------------------------------------------------------------------------------
// Lines

export type LineKind = 'fee' | 'prorated_fee' | 'upgrade' | 'overage' | 'per_call';

/**
 * One invoice line: `quantity × unitPrice = amountMinor`, exact for minor-unit prices and
 * rounded half-up once for micro-unit prices. The unit price keeps the precision it is priced
 * in so the printed line shows what was really charged per unit (R0.50, $0.0004).
 */
export interface InvoiceLine {
  kind: LineKind;
  description: string;
  quantity: number;
  unitPrice: number;
  unitPriceScale: 'minor' | 'micros';
  amountMinor: number;
  currency: string;
  /** Set on prorated lines: the share of the month charged, e.g. 16 of 31 days. */
  proration?: Proration;
}

/** A whole month's plan fee: quantity 1 × the fee. */
export function feeLine(input: { description: string; feeMinor: number; currency: string }): InvoiceLine {
  const fee = requireCount(input.feeMinor, 'feeMinor');
  return { kind: 'fee', description: input.description, quantity: 1, unitPrice: fee, unitPriceScale: 'minor', amountMinor: fee, currency: input.currency };
}

/**
 * `quantity` calls at a micro-unit price, in minor units of `currency`, rounded half-up once for
 * the whole line: 12,345 calls × $0.0004 = 493.8 cents → 494 (per call it would round to 0).
 */
export function usageAmountMinor(quantity: number, unitPriceMicros: number, currency: string): number {
  requireCount(quantity, 'quantity');
  requireCount(unitPriceMicros, 'unitPriceMicros');
  // micros → minor: × 10^digits / 10^6, folded into one exact division.
  const num = BigInt(quantity) * BigInt(unitPriceMicros) * 10n ** BigInt(minorDigits(currency));
  return requireSafe(divideHalfUp(num, BigInt(MICROS_PER_MAJOR)), 'usage amount');
}

/**
 * Overage for a month: the calls admitted past the included quota (counted by the gateway as it
 * admitted them) at the plan's per-call fee. Null when there were none, so invoices carry no zero
 * lines.
 */
export function overageLine(input: {
  description: string;
  overageCalls: number;
  perCallFeeMicros: number;
  currency: string;
}): InvoiceLine | null {
  if (requireCount(input.overageCalls, 'overageCalls') === 0) return null;
  return usageLine('overage', input.description, input.overageCalls, input.perCallFeeMicros, input.currency);
}

/** A per-call plan's month: every call at the per-call fee (R0.50 for VTS Enterprise). Null for no calls. */
export function perCallLine(input: {
  description: string;
  calls: number;
  perCallFeeMicros: number;
  currency: string;
}): InvoiceLine | null {
  if (requireCount(input.calls, 'calls') === 0) return null;
  return usageLine('per_call', input.description, input.calls, input.perCallFeeMicros, input.currency);
}

function usageLine(kind: LineKind, description: string, quantity: number, micros: number, currency: string): InvoiceLine {
  return {
    kind,
    description,
    quantity,
    unitPrice: micros,
    unitPriceScale: 'micros',
    amountMinor: usageAmountMinor(quantity, micros, currency),
    currency,
  };
}

/** The pricing of a plan that a monthly invoice needs (a subset of `Plan`). */
export interface BilledPlan {
  currency: string;
  monthlyFeeMinor: number | null;
  perCallFeeMicros: number | null;
  monthlyQuota: number | null;
}

/** A subscription's calls in the month past, from the month counters of its (non-sandbox) keys. */
export interface MonthUsage {
  /** Calls admitted. */
  calls: number;
  /** Calls the gateway admitted past the monthly quota (quotas count per key, so this is not calls − quota). */
  overageCalls: number;
}

/**
 * One subscription's lines on the 1st-of-month invoice: the plan's fee for the coming month and
 * the usage of the month past. With a per-call fee, calls admitted past the quota are overage;
 * without a quota every call is billed (per-call plans). Without a per-call fee nothing is billed
 * for usage: such plans refuse calls past their quota. The caller passes the plan in force for the
 * coming month (a downgrade or cancellation takes effect here) and the one that served the calls.
 */
export function monthlyCycleLines(input: {
  comingPlan: BilledPlan | null;
  pastPlan: BilledPlan | null;
  usageLastMonth: MonthUsage;
  feeDescription: string;
  usageDescription: (billableCalls: number) => string;
}): InvoiceLine[] {
  const lines: InvoiceLine[] = [];
  const { comingPlan, pastPlan } = input;
  const calls = requireCount(input.usageLastMonth.calls, 'calls');
  const overageCalls = requireCount(input.usageLastMonth.overageCalls, 'overageCalls');
  const fee = comingPlan?.monthlyFeeMinor ?? 0;
  if (comingPlan && fee > 0) {
    lines.push(feeLine({ description: input.feeDescription, feeMinor: fee, currency: comingPlan.currency }));
  }
  const micros = pastPlan?.perCallFeeMicros ?? 0;
  if (pastPlan && micros > 0) {
    const usage =
      pastPlan.monthlyQuota === null
        ? perCallLine({ description: input.usageDescription(calls), calls, perCallFeeMicros: micros, currency: pastPlan.currency })
        : overageLine({ description: input.usageDescription(overageCalls), overageCalls, perCallFeeMicros: micros, currency: pastPlan.currency });
    if (usage) lines.push(usage);
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Proration

/**
 * Proration is by whole UTC days: the days left in the month including the current one, over the
 * days in the month. Customers and accountants can check "16 of 31 days" by hand, the charge does
 * not depend on the second of sign-up, and access granted today is paid for today. Seconds would
 * make every amount unreproducible from the printed invoice.
 */
export interface Proration {
  days: number;
  daysInMonth: number;
}

export function prorationAt(atMs: number): Proration {
  if (!Number.isFinite(atMs)) throw new RangeError(`atMs must be a finite timestamp, got ${atMs}`);
  const d = new Date(atMs);
  const daysInMonth = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
  return { days: daysInMonth - d.getUTCDate() + 1, daysInMonth };
}

/** The fee for the rest of the UTC month from `atMs`, rounded half-up: R890 on 16 Jan → 16/31 → R459.35. */
export function prorateMonthlyFee(feeMinor: number, atMs: number): number {
  const { days, daysInMonth } = prorationAt(atMs);
  return prorate(requireCount(feeMinor, 'feeMinor'), days, daysInMonth);
}

function prorate(amountMinor: number, days: number, daysInMonth: number): number {
  return requireSafe(divideHalfUp(BigInt(amountMinor) * BigInt(days), BigInt(daysInMonth)), 'prorated amount');
}

/**
 * The charge for an upgrade taking effect at `atMs`: the fee difference for the rest of the
 * month, rounded once (not the difference of two rounded fees, which can be a cent off the
 * stated ratio). Zero when the new fee is not higher: downgrades wait for the period end.
 */
export function upgradeChargeMinor(oldFeeMinor: number, newFeeMinor: number, atMs: number): number {
  const diff = requireCount(newFeeMinor, 'newFeeMinor') - requireCount(oldFeeMinor, 'oldFeeMinor');
  if (diff <= 0) return 0;
  const { days, daysInMonth } = prorationAt(atMs);
  return prorate(diff, days, daysInMonth);
}

/** The first invoice's line on subscribing mid-month: quantity 1 × the prorated fee. */
export function proratedFeeLine(input: { description: string; feeMinor: number; currency: string; atMs: number }): InvoiceLine {
  const proration = prorationAt(input.atMs);
  const amount = prorate(requireCount(input.feeMinor, 'feeMinor'), proration.days, proration.daysInMonth);
  return { kind: 'prorated_fee', description: input.description, quantity: 1, unitPrice: amount, unitPriceScale: 'minor', amountMinor: amount, currency: input.currency, proration };
}

/** The upgrade's line, or null when there is nothing to charge (a downgrade or the same fee). */
export function upgradeLine(input: {
  description: string;
  oldFeeMinor: number;
  newFeeMinor: number;
  currency: string;
  atMs: number;
}): InvoiceLine | null {
  const amount = upgradeChargeMinor(input.oldFeeMinor, input.newFeeMinor, input.atMs);
  if (amount === 0) return null;
  return { kind: 'upgrade', description: input.description, quantity: 1, unitPrice: amount, unitPriceScale: 'minor', amountMinor: amount, currency: input.currency, proration: prorationAt(input.atMs) };
}

// ---------------------------------------------------------------------------------------------
// VAT

/** Rates in basis points (1500 = 15 %) so rates and VAT stay integer arithmetic. */
export type VatRates = Readonly<Record<string, number>>;

/** South Africa's standard rate; every other country is 0 % unless configured. */
export const DEFAULT_VAT_RATES: VatRates = { ZA: 1500 };

/** Billing country (ISO 3166-1 alpha-2) → rate; unknown or missing countries pay 0 %. */
export function vatRateBps(country: string | null | undefined, rates: VatRates = DEFAULT_VAT_RATES): number {
  if (!country) return 0;
  const rate = rates[country.trim().toUpperCase()];
  return rate === undefined ? 0 : requireRate(rate);
}

/** A configured fraction (`API_BILLING_VAT_RATE=0.15`) as basis points; rejects what is not a whole bp. */
export function vatRateBpsFromFraction(rate: number): number {
  const bps = roundHalfUp(rate * 10_000);
  if (!Number.isFinite(rate) || Math.abs(rate * 10_000 - bps) > 1e-6) {
    throw new RangeError(`VAT rate ${rate} is not a whole number of basis points`);
  }
  return requireRate(bps);
}

function requireRate(bps: number): number {
  if (!Number.isInteger(bps) || bps < 0 || bps > 10_000) throw new RangeError(`VAT rate must be 0–10000 bp, got ${bps}`);
  return bps;
}

/**
 * VAT on the subtotal, rounded half-up once. On the subtotal rather than per line so the
 * invoice reconciles: the stated rate × the stated subtotal gives the stated VAT to the cent,
 * whereas summing per-line VAT drifts by up to half a cent per line. VAT is itself one rounded
 * line, so "totals are sums of rounded lines" still holds.
 */
export function vatAmountMinor(subtotalMinor: number, rateBps: number): number {
  requireCount(subtotalMinor, 'subtotalMinor');
  return requireSafe(divideHalfUp(BigInt(subtotalMinor) * BigInt(requireRate(rateBps)), 10_000n), 'VAT');
}

// ---------------------------------------------------------------------------------------------
// Totals

export interface InvoiceAmounts {
  currency: string;
  lines: InvoiceLine[];
  subtotalMinor: number;
  vatRateBps: number;
  vatMinor: number;
  totalMinor: number;
}

/**
 * Totals one invoice. An invoice is in one currency (one per customer and currency), so a line in
 * another currency is a bug upstream and is refused rather than silently summed.
 */
export function computeInvoice(input: { currency: string; lines: readonly InvoiceLine[]; vatRateBps: number }): InvoiceAmounts {
  let subtotal = 0n;
  for (const line of input.lines) {
    if (line.currency !== input.currency) {
      throw new RangeError(`line "${line.description}" is in ${line.currency}, invoice is in ${input.currency}`);
    }
    subtotal += BigInt(requireCount(line.amountMinor, 'amountMinor'));
  }
  const subtotalMinor = requireSafe(subtotal, 'subtotal');
  const vatMinor = vatAmountMinor(subtotalMinor, input.vatRateBps);
  return {
    currency: input.currency,
    lines: [...input.lines],
    subtotalMinor,
    vatRateBps: input.vatRateBps,
    vatMinor,
    totalMinor: requireSafe(subtotal + BigInt(vatMinor), 'total'),
  };
}

// ---------------------------------------------------------------------------------------------
// Invoice numbers

/**
 * `INV-2026-000042`: sequential per calendar year, zero-padded to six digits so numbers sort as
 * text; a seven-digit sequence widens rather than wraps, since numbers must never repeat.
 */
export function formatInvoiceNumber(year: number, sequence: number): string {
  if (!Number.isInteger(year) || year < 1000 || year > 9999) throw new RangeError(`invoice year must have four digits, got ${year}`);
  if (!Number.isSafeInteger(sequence) || sequence < 1) throw new RangeError(`invoice sequence must be a positive integer, got ${sequence}`);
  return `INV-${year}-${String(sequence).padStart(6, '0')}`;
}

/** The year and sequence of a well-formed number; null for anything else, including non-canonical padding. */
export function parseInvoiceNumber(value: string): { year: number; sequence: number } | null {
  const match = /^INV-(\d{4})-(\d{6,16})$/.exec(value);
  if (!match) return null;
  const year = Number(match[1]);
  const sequence = Number(match[2]);
  if (year < 1000 || sequence < 1 || !Number.isSafeInteger(sequence)) return null;
  // One number, one spelling: INV-2026-0000042 would otherwise alias INV-2026-000042.
  return formatInvoiceNumber(year, sequence) === value ? { year, sequence } : null;
}

// ---------------------------------------------------------------------------------------------
// API view: major units, as the blueprint shows them (890.00 ZAR), computed from minor units.

export interface LineItemView {
  description: string;
  quantity: number;
  unitPrice: number;
  amount: number;
  currency: string;
}

export interface InvoiceAmountsView {
  currency: string;
  lineItems: LineItemView[];
  subtotal: number;
  /** As a fraction, like the blueprint's `API_BILLING_VAT_RATE=0.15`. */
  vatRate: number;
  vatAmount: number;
  total: number;
}

export function lineItemView(line: Pick<InvoiceLine, 'description' | 'quantity' | 'unitPrice' | 'unitPriceScale' | 'amountMinor' | 'currency'>): LineItemView {
  return {
    description: line.description,
    quantity: line.quantity,
    unitPrice: line.unitPriceScale === 'micros' ? microsToMajor(line.unitPrice) : minorToMajor(line.unitPrice, line.currency),
    amount: minorToMajor(line.amountMinor, line.currency),
    currency: line.currency,
  };
}

/** An invoice's amounts as computed, or as stored (its lines need only what is printed). */
export type InvoiceAmountsSource = Pick<InvoiceAmounts, 'currency' | 'subtotalMinor' | 'vatRateBps' | 'vatMinor' | 'totalMinor'> & {
  lines: readonly Parameters<typeof lineItemView>[0][];
};

export function invoiceAmountsView(invoice: InvoiceAmountsSource): InvoiceAmountsView {
  const c = invoice.currency;
  return {
    currency: c,
    lineItems: invoice.lines.map(lineItemView),
    subtotal: minorToMajor(invoice.subtotalMinor, c),
    vatRate: invoice.vatRateBps / 10_000,
    vatAmount: minorToMajor(invoice.vatMinor, c),
    total: minorToMajor(invoice.totalMinor, c),
  };
}
