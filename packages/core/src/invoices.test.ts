import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_VAT_RATES,
  computeInvoice,
  feeLine,
  formatInvoiceNumber,
  invoiceAmountsView,
  monthlyCycleLines,
  overageLine,
  parseInvoiceNumber,
  perCallLine,
  prorateMonthlyFee,
  proratedFeeLine,
  prorationAt,
  upgradeChargeMinor,
  upgradeLine,
  usageAmountMinor,
  vatAmountMinor,
  vatRateBps,
  vatRateBpsFromFraction,
  type BilledPlan,
  type InvoiceLine,
} from './invoices.ts';

const R0_50 = 500_000; // R0.50 per call in micro-units
const R2_00 = 2_000_000;

/** Asserts a line's own arithmetic: quantity × unit price is the amount (minor-unit prices). */
function expectExactLine(line: InvoiceLine): void {
  expect(line.unitPriceScale).toBe('minor');
  expect(line.quantity * line.unitPrice).toBe(line.amountMinor);
}

describe("the blueprint's worked example", () => {
  const lines = [
    feeLine({ description: 'Starter Plan - Social Mood Index API', feeMinor: 89_000, currency: 'ZAR' }),
    overageLine({ description: 'Overage fees - SMI API (5,000 calls)', overageCalls: 5_000, perCallFeeMicros: R0_50, currency: 'ZAR' }),
  ].filter((l): l is InvoiceLine => l !== null);
  const invoice = computeInvoice({ currency: 'ZAR', lines, vatRateBps: vatRateBps('ZA') });

  it('R890 + 5,000 calls × R0.50 = R3,390.00, + 15 % VAT R508.50 = R3,898.50', () => {
    expect(invoice.lines.map((l) => l.amountMinor)).toEqual([89_000, 250_000]);
    expect(invoice.subtotalMinor).toBe(339_000);
    expect(invoice.vatRateBps).toBe(1500);
    expect(invoice.vatMinor).toBe(50_850);
    expect(invoice.totalMinor).toBe(389_850);
  });

  it('the overage line bills only the 5,000 calls beyond the quota, at the micro-unit price', () => {
    expect(invoice.lines[1]).toMatchObject({ kind: 'overage', quantity: 5_000, unitPrice: R0_50, unitPriceScale: 'micros', amountMinor: 250_000 });
  });

  it('the API shows the blueprint line items in major units with the currency', () => {
    const view = invoiceAmountsView(invoice);
    expect(view.lineItems).toEqual([
      { description: 'Starter Plan - Social Mood Index API', quantity: 1, unitPrice: 890, amount: 890, currency: 'ZAR' },
      { description: 'Overage fees - SMI API (5,000 calls)', quantity: 5000, unitPrice: 0.5, amount: 2500, currency: 'ZAR' },
    ]);
    expect(view).toMatchObject({ currency: 'ZAR', subtotal: 3390, vatRate: 0.15, vatAmount: 508.5, total: 3898.5 });
  });

  it('the monthly cycle builds the same lines from the plan and last month\'s calls', () => {
    const starter: BilledPlan = { currency: 'ZAR', monthlyFeeMinor: 89_000, perCallFeeMicros: R0_50, monthlyQuota: 10_000 };
    const cycle = monthlyCycleLines({
      comingPlan: starter,
      pastPlan: starter,
      usageLastMonth: { calls: 15_000, overageCalls: 5_000 },
      feeDescription: 'Starter Plan - Social Mood Index API',
      usageDescription: (n) => `Overage fees - SMI API (${n} calls)`,
    });
    expect(cycle.map((l) => [l.kind, l.description, l.quantity, l.amountMinor])).toEqual([
      ['fee', 'Starter Plan - Social Mood Index API', 1, 89_000],
      ['overage', 'Overage fees - SMI API (5000 calls)', 5_000, 250_000],
    ]);
  });
});

describe('usage lines', () => {
  it('VTS Enterprise bills every call at R0.50: 12,000 calls = R6,000.00', () => {
    const line = perCallLine({ description: 'VTS Symbol Feed API - Enterprise', calls: 12_000, perCallFeeMicros: R0_50, currency: 'ZAR' });
    expect(line).toMatchObject({ kind: 'per_call', quantity: 12_000, unitPrice: R0_50, amountMinor: 600_000 });
  });

  it('Sentiment Enterprise bills every call at R2.00: 3,500 calls = R7,000.00', () => {
    const line = perCallLine({ description: 'Sentiment + Deception API - Enterprise', calls: 3_500, perCallFeeMicros: R2_00, currency: 'ZAR' });
    expect(line?.amountMinor).toBe(700_000);
  });

  it('both per-call plans on one South African invoice: R13,000 + R1,950 VAT = R14,950', () => {
    const lines = [
      perCallLine({ description: 'VTS', calls: 12_000, perCallFeeMicros: R0_50, currency: 'ZAR' }),
      perCallLine({ description: 'Sentiment', calls: 3_500, perCallFeeMicros: R2_00, currency: 'ZAR' }),
    ].filter((l): l is InvoiceLine => l !== null);
    const invoice = computeInvoice({ currency: 'ZAR', lines, vatRateBps: vatRateBps('ZA') });
    expect([invoice.subtotalMinor, invoice.vatMinor, invoice.totalMinor]).toEqual([1_300_000, 195_000, 1_495_000]);
  });

  it('12,345 calls × $0.0004 = 493.8¢ rounds once per line to $4.94 (not 0 per call, not 493 truncated)', () => {
    const line = perCallLine({ description: 'Search API', calls: 12_345, perCallFeeMicros: 400, currency: 'USD' });
    expect(line).toMatchObject({ quantity: 12_345, unitPrice: 400, unitPriceScale: 'micros', amountMinor: 494 });
    expect(invoiceAmountsView(computeInvoice({ currency: 'USD', lines: line ? [line] : [], vatRateBps: 0 })).lineItems[0]).toEqual({
      description: 'Search API',
      quantity: 12_345,
      unitPrice: 0.0004,
      amount: 4.94,
      currency: 'USD',
    });
  });

  it('exactly half a cent rounds up: 25 × $0.001 = 2.5¢ → 3¢, 1 × $0.005 = 0.5¢ → 1¢', () => {
    expect(usageAmountMinor(25, 1_000, 'USD')).toBe(3);
    expect(usageAmountMinor(1, 5_000, 'USD')).toBe(1);
  });

  it('just under half a cent rounds down: 3 × $0.0015 = 0.45¢ → 0¢, 1,249 × $0.00001 = 1.249¢ → 1¢', () => {
    expect(usageAmountMinor(3, 1_500, 'USD')).toBe(0);
    expect(usageAmountMinor(1_249, 10, 'USD')).toBe(1);
  });

  it('converts micro-units into the currency\'s own minor unit: ¥0.5 × 3 calls = ¥1.5 → ¥2', () => {
    expect(usageAmountMinor(3, 500_000, 'JPY')).toBe(2);
    expect(usageAmountMinor(3, 500_000, 'KWD')).toBe(1_500); // 1.500 KWD in fils
  });

  it('stays exact at institutional volume: 10,000,000 calls × R2.00 = R20,000,000.00', () => {
    expect(usageAmountMinor(10_000_000, R2_00, 'ZAR')).toBe(2_000_000_000);
  });

  it('refuses an amount too large to hold exactly instead of losing cents', () => {
    expect(() => usageAmountMinor(Number.MAX_SAFE_INTEGER, 1_000_000, 'ZAR')).toThrow(RangeError);
  });

  it('no overage line when no call went past the quota; one call past it is R0.50', () => {
    expect(overageLine({ description: 'x', overageCalls: 0, perCallFeeMicros: R0_50, currency: 'ZAR' })).toBeNull();
    expect(overageLine({ description: 'x', overageCalls: 1, perCallFeeMicros: R0_50, currency: 'ZAR' })?.amountMinor).toBe(50);
    expect(() => overageLine({ description: 'x', overageCalls: -1, perCallFeeMicros: R0_50, currency: 'ZAR' })).toThrow(RangeError);
  });

  it('refuses negative or fractional call counts', () => {
    expect(() => usageAmountMinor(-1, R0_50, 'ZAR')).toThrow(RangeError);
    expect(() => usageAmountMinor(1.5, R0_50, 'ZAR')).toThrow(RangeError);
    expect(() => feeLine({ description: 'x', feeMinor: 89_000.5, currency: 'ZAR' })).toThrow(RangeError);
  });
});

describe('monthly cycle lines', () => {
  const describeUsage = (n: number) => `usage (${n} calls)`;

  it('a quota plan under its quota gets only the fee line', () => {
    const starter: BilledPlan = { currency: 'ZAR', monthlyFeeMinor: 89_000, perCallFeeMicros: R0_50, monthlyQuota: 10_000 };
    const lines = monthlyCycleLines({ comingPlan: starter, pastPlan: starter, usageLastMonth: { calls: 8_000, overageCalls: 0 }, feeDescription: 'Starter', usageDescription: describeUsage });
    expect(lines.map((l) => l.kind)).toEqual(['fee']);
  });

  it('a per-call plan without a quota bills every call and no fee line when it has no fee', () => {
    const vts: BilledPlan = { currency: 'ZAR', monthlyFeeMinor: null, perCallFeeMicros: R0_50, monthlyQuota: null };
    const lines = monthlyCycleLines({ comingPlan: vts, pastPlan: vts, usageLastMonth: { calls: 12_000, overageCalls: 0 }, feeDescription: 'VTS', usageDescription: describeUsage });
    expect(lines.map((l) => [l.kind, l.description, l.amountMinor])).toEqual([['per_call', 'usage (12000 calls)', 600_000]]);
  });

  it('a plan without a per-call fee never bills usage', () => {
    const basic: BilledPlan = { currency: 'ZAR', monthlyFeeMinor: 399_000, perCallFeeMicros: null, monthlyQuota: 10_000 };
    const lines = monthlyCycleLines({ comingPlan: basic, pastPlan: basic, usageLastMonth: { calls: 50_000, overageCalls: 0 }, feeDescription: 'Basic', usageDescription: describeUsage });
    expect(lines.map((l) => l.amountMinor)).toEqual([399_000]);
  });

  it('after a cancellation the last invoice carries only last month\'s overage', () => {
    const starter: BilledPlan = { currency: 'ZAR', monthlyFeeMinor: 89_000, perCallFeeMicros: R0_50, monthlyQuota: 10_000 };
    const lines = monthlyCycleLines({ comingPlan: null, pastPlan: starter, usageLastMonth: { calls: 10_002, overageCalls: 2 }, feeDescription: 'Starter', usageDescription: describeUsage });
    expect(lines.map((l) => [l.kind, l.amountMinor])).toEqual([['overage', 100]]);
  });
});

describe('proration by whole UTC days, the current day included', () => {
  const jan = (day: number, h = 0, m = 0) => Date.UTC(2026, 0, day, h, m);

  it('on the 1st, at any hour, the whole month: 31/31 = R890.00', () => {
    expect(prorationAt(jan(1))).toEqual({ days: 31, daysInMonth: 31 });
    expect(prorateMonthlyFee(89_000, jan(1))).toBe(89_000);
    expect(prorateMonthlyFee(89_000, jan(1, 23, 59))).toBe(89_000);
  });

  it('mid-month, 16 January: 16/31 × R890 = R459.3548… → R459.35', () => {
    expect(prorationAt(jan(16, 12))).toEqual({ days: 16, daysInMonth: 31 });
    expect(prorateMonthlyFee(89_000, jan(16, 12))).toBe(45_935);
  });

  it('on the last day: 1/31 × R890 = R28.709… → R28.71', () => {
    expect(prorateMonthlyFee(89_000, jan(31, 23, 59))).toBe(2_871);
  });

  it('February of a leap year has 29 days: 29 Feb 2028 is 1/29, 15 Feb is 15/29', () => {
    expect(prorationAt(Date.UTC(2028, 1, 29, 18))).toEqual({ days: 1, daysInMonth: 29 });
    expect(prorateMonthlyFee(89_000, Date.UTC(2028, 1, 29, 18))).toBe(3_069); // 3068.97
    expect(prorateMonthlyFee(89_000, Date.UTC(2028, 1, 15))).toBe(46_034); // 46034.48
  });

  it('February of a common year has 28: 15 Feb 2026 is 14/28, exactly half', () => {
    expect(prorationAt(Date.UTC(2026, 1, 15))).toEqual({ days: 14, daysInMonth: 28 });
    expect(prorateMonthlyFee(89_000, Date.UTC(2026, 1, 15))).toBe(44_500);
  });

  describe('with the server clock in New York', () => {
    // Runs this process's local time zone off UTC so a local-time calendar would show here.
    const savedTz = process.env.TZ;
    beforeAll(() => {
      process.env.TZ = 'America/New_York';
    });
    afterAll(() => {
      if (savedTz === undefined) delete process.env.TZ;
      else process.env.TZ = savedTz;
    });

    it('counts in UTC: 31 March 22:30 in New York is already 1 April, a whole 30-day month', () => {
      const at = Date.parse('2026-03-31T22:30:00-04:00');
      expect(new Date(at).getDate()).toBe(31); // the zone change took effect
      expect(prorationAt(at)).toEqual({ days: 30, daysInMonth: 30 });
      expect(prorateMonthlyFee(89_000, at)).toBe(89_000);
    });

    it('counts in UTC: 30 April 21:00 in New York is 1 May 01:00 UTC, 31/31', () => {
      expect(prorationAt(Date.parse('2026-04-30T21:00:00-04:00'))).toEqual({ days: 31, daysInMonth: 31 });
    });
  });

  it('rounds an exact half-cent up: 15/30 of 101¢ = 50.5¢ → 51¢', () => {
    expect(prorateMonthlyFee(101, Date.UTC(2026, 3, 16))).toBe(51);
  });

  it('the first invoice line on subscribing is 1 × the prorated fee and states the days', () => {
    const line = proratedFeeLine({ description: 'Starter Plan - Social Mood Index API (16–31 Jan)', feeMinor: 89_000, currency: 'ZAR', atMs: jan(16) });
    expect(line).toMatchObject({ kind: 'prorated_fee', quantity: 1, amountMinor: 45_935, proration: { days: 16, daysInMonth: 31 } });
    expectExactLine(line);
  });
});

describe('upgrade proration', () => {
  it('Starter → Pro on 16 January: (R8,990 − R890) × 16/31 = R4,180.645… → R4,180.65', () => {
    expect(upgradeChargeMinor(89_000, 899_000, Date.UTC(2026, 0, 16))).toBe(418_065);
  });

  it('rounds the difference once, not each fee: 15/30 of (202¢ − 101¢) = 50.5¢ → 51¢ (101¢ − 51¢ would give 50¢)', () => {
    expect(upgradeChargeMinor(101, 202, Date.UTC(2026, 3, 16))).toBe(51);
  });

  it('an upgrade on the 1st charges the full difference', () => {
    expect(upgradeChargeMinor(89_000, 899_000, Date.UTC(2026, 5, 1))).toBe(810_000);
  });

  it('a downgrade or the same fee charges nothing now (it takes effect at the period end)', () => {
    expect(upgradeChargeMinor(899_000, 89_000, Date.UTC(2026, 0, 16))).toBe(0);
    expect(upgradeChargeMinor(89_000, 89_000, Date.UTC(2026, 0, 16))).toBe(0);
    expect(upgradeLine({ description: 'Pro → Starter', oldFeeMinor: 899_000, newFeeMinor: 89_000, currency: 'ZAR', atMs: Date.UTC(2026, 0, 16) })).toBeNull();
  });

  it('the upgrade line shows 1 × the charge with the days', () => {
    const line = upgradeLine({ description: 'Upgrade Starter → Pro', oldFeeMinor: 89_000, newFeeMinor: 899_000, currency: 'ZAR', atMs: Date.UTC(2026, 0, 16) });
    expect(line).toMatchObject({ kind: 'upgrade', amountMinor: 418_065, proration: { days: 16, daysInMonth: 31 } });
    if (line) expectExactLine(line);
  });
});

describe('VAT', () => {
  it('15 % for South African customers, however the country code is cased', () => {
    expect(vatRateBps('ZA')).toBe(1500);
    expect(vatRateBps('za')).toBe(1500);
  });

  it('0 % for other and unknown countries unless configured', () => {
    expect(vatRateBps('US')).toBe(0);
    expect(vatRateBps('GB')).toBe(0);
    expect(vatRateBps(null)).toBe(0);
  });

  it('a configured table adds countries and can change the South African rate', () => {
    const rates = { ...DEFAULT_VAT_RATES, GB: 2000, ZA: 1600 };
    expect(vatRateBps('GB', rates)).toBe(2000);
    expect(vatRateBps('ZA', rates)).toBe(1600);
    const invoice = computeInvoice({ currency: 'ZAR', lines: [feeLine({ description: 'x', feeMinor: 339_000, currency: 'ZAR' })], vatRateBps: vatRateBps('ZA', rates) });
    expect([invoice.vatMinor, invoice.totalMinor]).toEqual([54_240, 393_240]);
  });

  it('a 12.5 % rate on R33.99 = R4.24875 → R4.25', () => {
    expect(vatAmountMinor(3_399, 1250)).toBe(425);
  });

  it('rounds an exact half-cent of VAT up: 15 % of 30¢ = 4.5¢ → 5¢, of R1.10 = 16.5¢ → 17¢', () => {
    expect(vatAmountMinor(30, 1500)).toBe(5);
    expect(vatAmountMinor(110, 1500)).toBe(17);
    expect(vatAmountMinor(29, 1500)).toBe(4); // 4.35
  });

  it('is computed once on the subtotal: two 10¢ lines at 15 % carry 3¢ VAT, not 2¢ + 2¢', () => {
    const lines = [1, 2].map((n) => feeLine({ description: `line ${n}`, feeMinor: 10, currency: 'ZAR' }));
    expect(computeInvoice({ currency: 'ZAR', lines, vatRateBps: 1500 }).vatMinor).toBe(3);
  });

  it('reads the configured fraction as basis points and refuses what is not a rate', () => {
    expect(vatRateBpsFromFraction(0.15)).toBe(1500);
    expect(vatRateBpsFromFraction(0.125)).toBe(1250);
    expect(vatRateBpsFromFraction(0)).toBe(0);
    expect(() => vatRateBpsFromFraction(15)).toThrow(RangeError); // 15 meant as percent
    expect(() => vatRateBpsFromFraction(0.15005)).toThrow(RangeError);
    expect(() => vatRateBpsFromFraction(-0.1)).toThrow(RangeError);
    expect(() => vatRateBpsFromFraction(Number.NaN)).toThrow(RangeError);
  });

  it('refuses a configured rate outside 0–100 % or not in whole basis points', () => {
    expect(() => vatRateBps('ZA', { ZA: 0.15 })).toThrow(RangeError);
    expect(() => vatAmountMinor(100, 10_001)).toThrow(RangeError);
  });
});

describe('totals', () => {
  it('a US customer in USD: $29.00 + 12,345 calls × $0.0004 ($4.94) = $33.94, 0 % VAT', () => {
    const lines = [
      feeLine({ description: 'Pro Plan - Search API', feeMinor: 2_900, currency: 'USD' }),
      perCallLine({ description: 'Calls', calls: 12_345, perCallFeeMicros: 400, currency: 'USD' }),
    ].filter((l): l is InvoiceLine => l !== null);
    const invoice = computeInvoice({ currency: 'USD', lines, vatRateBps: vatRateBps('US') });
    expect([invoice.subtotalMinor, invoice.vatRateBps, invoice.vatMinor, invoice.totalMinor]).toEqual([3_394, 0, 0, 3_394]);
    expect(invoiceAmountsView(invoice)).toMatchObject({ subtotal: 33.94, vatRate: 0, vatAmount: 0, total: 33.94, currency: 'USD' });
  });

  it('the subtotal is the sum of the rounded lines, not the rounded sum of exact amounts', () => {
    // 0.5¢ + 0.5¢: each line rounds to 1¢, so the subtotal is 2¢ (exact sum 1¢ would show lines that do not add up).
    const lines = [1, 2].map((n) => perCallLine({ description: `api ${n}`, calls: 1, perCallFeeMicros: 5_000, currency: 'USD' })).filter((l): l is InvoiceLine => l !== null);
    expect(computeInvoice({ currency: 'USD', lines, vatRateBps: 0 }).subtotalMinor).toBe(2);
  });

  it('an invoice with no lines totals zero', () => {
    expect(computeInvoice({ currency: 'ZAR', lines: [], vatRateBps: 1500 })).toMatchObject({ subtotalMinor: 0, vatMinor: 0, totalMinor: 0 });
  });

  it('refuses a line in another currency rather than summing rand and dollars', () => {
    const usd = feeLine({ description: 'x', feeMinor: 2_900, currency: 'USD' });
    expect(() => computeInvoice({ currency: 'ZAR', lines: [usd], vatRateBps: 1500 })).toThrow(/USD/);
  });
});

describe('invoice numbers', () => {
  it('are INV-<year>-<sequence padded to six digits>', () => {
    expect(formatInvoiceNumber(2026, 42)).toBe('INV-2026-000042');
    expect(formatInvoiceNumber(2026, 1)).toBe('INV-2026-000001');
    expect(formatInvoiceNumber(2026, 999_999)).toBe('INV-2026-999999');
  });

  it('widen past a million rather than wrap, so numbers never repeat', () => {
    expect(formatInvoiceNumber(2026, 1_000_000)).toBe('INV-2026-1000000');
    expect(parseInvoiceNumber('INV-2026-1000000')).toEqual({ year: 2026, sequence: 1_000_000 });
  });

  it('refuse a sequence that is not a positive integer or a year that is not four digits', () => {
    for (const [year, seq] of [[2026, 0], [2026, -1], [2026, 1.5], [2026, Number.NaN], [26, 1], [10_000, 1], [2026.5, 1]] as const) {
      expect(() => formatInvoiceNumber(year, seq)).toThrow(RangeError);
    }
  });

  it('parse back to year and sequence', () => {
    expect(parseInvoiceNumber('INV-2026-000042')).toEqual({ year: 2026, sequence: 42 });
    expect(parseInvoiceNumber(formatInvoiceNumber(2031, 123_456))).toEqual({ year: 2031, sequence: 123_456 });
  });

  it('reject anything that is not exactly one canonical number', () => {
    for (const bad of [
      '',
      'INV-2026-42',
      'INV-2026-0000042', // same number, other padding
      'INV-2026-000000',
      'inv-2026-000042',
      'INV-26-000042',
      'INV-0999-000042',
      ' INV-2026-000042',
      'INV-2026-000042 ',
      'INV-2026-000042x',
      'INV_2026_000042',
      'INV-2026--00042',
      'INV-2026-99999999999999999',
    ]) {
      expect(parseInvoiceNumber(bad), bad).toBeNull();
    }
  });
});
