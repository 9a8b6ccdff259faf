import { vatAmountMinor } from '@tollgate/core';
import { describe, expect, it } from 'vitest';
import { formatMinorAmount, formatUnitPrice, renderInvoicePdf, type InvoiceDocument } from './invoice-pdf.ts';
import { pdfText } from './testing-documents.ts';

const seller = {
  name: 'Tollgate Data (Pty) Ltd',
  addressLines: ['12 Long Street', 'Cape Town 8001'],
  country: 'South Africa',
  vatNumber: '4123456789',
  email: 'billing@tollgate.example',
};

/** The blueprint's worked example: Starter plan + 5,000 overage calls at R0.50, 15 % VAT. */
function workedExample(overrides: Partial<InvoiceDocument> = {}): InvoiceDocument {
  return {
    number: 'INV-2026-000042',
    status: 'open',
    issuedAt: new Date('2026-11-01T00:00:00Z'),
    dueAt: new Date('2026-11-15T00:00:00Z'),
    paidAt: null,
    periodStart: new Date('2026-10-01T00:00:00Z'),
    periodEnd: new Date('2026-11-01T00:00:00Z'),
    currency: 'ZAR',
    seller,
    buyer: {
      name: 'Thandi Nkosi',
      company: 'Acme Analytics (Pty) Ltd',
      addressLines: ['5 Main Road', 'Johannesburg 2001'],
      country: 'ZA',
      vatNumber: '4987654321',
      email: 'accounts@acme.example',
    },
    lines: [
      { description: 'Starter Plan - Social Mood Index API', quantity: 1, unitPrice: 89_000, unitPriceScale: 'minor', amountMinor: 89_000 },
      { description: 'Overage fees - SMI API (5,000 calls)', quantity: 5_000, unitPrice: 500_000, unitPriceScale: 'micros', amountMinor: 250_000 },
    ],
    subtotalMinor: 339_000,
    vatRateBps: 1500,
    vatMinor: 50_850,
    totalMinor: 389_850,
    amountPaidMinor: 0,
    notes: ['Pay by EFT to FNB 62000000000, branch 250655, reference INV-2026-000042.', 'VAT charged at 15 % (ZA).'],
    ...overrides,
  };
}

describe('renderInvoicePdf', () => {
  it("prints the blueprint's worked example so an accountant can check it", async () => {
    const pdf = await renderInvoicePdf(workedExample());
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    const { pages, text } = await pdfText(pdf);
    expect(pages).toHaveLength(1);

    expect(text).toContain('Tax invoice');
    expect(text).toContain('Invoice no. INV-2026-000042');
    expect(text).toContain('Issue date 2026-11-01');
    expect(text).toContain('Due date 2026-11-15');
    expect(text).toContain('Billing period 2026-10-01 to 2026-10-31');
    // Seller, with its VAT number.
    for (const s of ['Tollgate Data (Pty) Ltd', '12 Long Street', 'Cape Town 8001', 'South Africa', 'VAT no. 4123456789', 'billing@tollgate.example']) {
      expect(text).toContain(s);
    }
    // Buyer.
    expect(text).toContain('Bill to Thandi Nkosi Acme Analytics (Pty) Ltd 5 Main Road Johannesburg 2001 ZA VAT no. 4987654321 accounts@acme.example');
    // Lines: description, quantity, unit price, amount.
    expect(text).toContain('Description Quantity Unit price (ZAR) Amount (ZAR)');
    expect(text).toContain('Starter Plan - Social Mood Index API 1 R890.00 R890.00');
    expect(text).toContain('Overage fees - SMI API (5,000 calls) 5,000 R0.50 R2,500.00');
    // Totals.
    expect(text).toContain('Subtotal R3,390.00');
    expect(text).toContain('VAT (15 %) R508.50');
    expect(text).toContain('Total (ZAR) R3,898.50');
    expect(text).toContain('Amount paid R0.00');
    expect(text).toContain('Amount due (ZAR) R3,898.50');
    expect(text).toContain('VAT charged at 15 % (ZA).');
    expect(text).toContain('Page 1 of 1');
    expect(text).not.toMatch(/PAID|VOID|DRAFT/);
  });

  it('is the same bytes for the same invoice, dated by its issue date', async () => {
    const [a, b] = await Promise.all([renderInvoicePdf(workedExample()), renderInvoicePdf(workedExample())]);
    expect(a.equals(b)).toBe(true);
    const { info } = await pdfText(a);
    expect(info).toMatchObject({ Title: 'Tax invoice INV-2026-000042', CreationDate: 'D:20261101000000Z' });
  });

  it('prints DRAFT for a draft, which has no number yet', async () => {
    const { text } = await pdfText(await renderInvoicePdf(workedExample({ number: null, status: 'draft', notes: [] })));
    expect(text).toContain('Invoice no. DRAFT');
    expect(text).not.toContain('INV-');
    expect(text).toContain('Total (ZAR) R3,898.50');
  });

  it('stamps a paid invoice with its payment date and nothing due', async () => {
    const paidAt = new Date('2026-11-03T10:15:00Z');
    const { text } = await pdfText(await renderInvoicePdf(workedExample({ status: 'paid', paidAt, amountPaidMinor: 389_850 })));
    expect(text).toContain('PAID 2026-11-03');
    expect(text).toContain('Paid on 2026-11-03');
    expect(text).toContain('Amount paid R3,898.50');
    expect(text).toContain('Amount due (ZAR) R0.00');
  });

  it('stamps a void invoice, on which nothing is due', async () => {
    const { text } = await pdfText(await renderInvoicePdf(workedExample({ status: 'void' })));
    expect(text).toContain('VOID');
    expect(text).toContain('Amount due (ZAR) R0.00');
  });

  it('prints a USD per-call price with the precision it was priced at, and no VAT heading', async () => {
    const { text } = await pdfText(
      await renderInvoicePdf(
        workedExample({
          currency: 'USD',
          buyer: { name: 'Jane Doe', country: 'US', email: 'jane@example.com' },
          // 12,345 calls × $0.0004 = 493.8 cents, rounded once to $4.94.
          lines: [{ description: 'Market Data API - per call', quantity: 12_345, unitPrice: 400, unitPriceScale: 'micros', amountMinor: 494 }],
          subtotalMinor: 494,
          vatRateBps: 0,
          vatMinor: 0,
          totalMinor: 494,
          notes: [],
        }),
      ),
    );
    expect(text).toMatch(/^Tollgate Data \(Pty\) Ltd .*Invoice Invoice no\./);
    expect(text).not.toContain('Tax invoice');
    expect(text).toContain('Market Data API - per call 12,345 $0.0004 $4.94');
    expect(text).toContain('VAT (0 %) $0.00');
    expect(text).toContain('Total (USD) $4.94');
    expect(text).toContain('Bill to Jane Doe US jane@example.com');
  });

  it("keeps Latin accents and typographic punctuation, and prints '?' for what Helvetica cannot show", async () => {
    const { text } = await pdfText(
      await renderInvoicePdf(
        workedExample({
          buyer: { name: 'Zoë Müller', company: 'Café “Crème” – Société' },
          lines: [{ description: 'Données API 日本 plan', quantity: 1, unitPrice: 89_000, unitPriceScale: 'minor', amountMinor: 89_000 }],
        }),
      ),
    );
    expect(text).toContain('Bill to Zoë Müller Café “Crème” – Société');
    expect(text).toContain('Données API ?? plan 1 R890.00 R890.00');
  });

  it('continues a long invoice over pages, repeating the table header', async () => {
    const lines = Array.from({ length: 60 }, (_, i) => ({
      description: `Usage line ${i + 1} - Social Mood Index API, sandbox and production keys combined`,
      quantity: 1_000 + i,
      unitPrice: 500_000,
      unitPriceScale: 'micros' as const,
      amountMinor: (1_000 + i) * 50,
    }));
    const subtotal = lines.reduce((sum, l) => sum + l.amountMinor, 0);
    const vat = vatAmountMinor(subtotal, 1500);
    const { pages, text } = await pdfText(
      await renderInvoicePdf(workedExample({ lines, subtotalMinor: subtotal, vatMinor: vat, totalMinor: subtotal + vat })),
    );
    expect(pages.length).toBeGreaterThan(1);
    const last = pages[pages.length - 1]!;
    expect(text).toContain('Usage line 60 - Social Mood Index API, sandbox and production keys combined 1,059 R0.50 R529.50');
    expect(last.replace(/\s+/g, ' ')).toContain(`Total (ZAR) ${formatMinorAmount(subtotal + vat, 'ZAR')}`);
    for (const [i, page] of pages.entries()) {
      expect(page).toContain('Description Quantity Unit price (ZAR) Amount (ZAR)');
      expect(page).toContain(`Page ${i + 1} of ${pages.length}`);
    }
    // Every line is printed exactly once.
    for (let i = 1; i <= 60; i++) expect(text.split(`Usage line ${i} -`)).toHaveLength(2);
  });
});

describe('money formatting', () => {
  it('formats minor units with thousands separators, exactly', () => {
    expect(formatMinorAmount(389_850, 'ZAR')).toBe('R3,898.50');
    expect(formatMinorAmount(5, 'ZAR')).toBe('R0.05');
    expect(formatMinorAmount(0, 'USD')).toBe('$0.00');
    expect(formatMinorAmount(-1_000, 'USD')).toBe('-$10.00');
    // The largest safe amount: formatted from its digits, never divided into a float.
    expect(formatMinorAmount(9_007_199_254_740_991, 'ZAR')).toBe('R90,071,992,547,409.91');
    expect(formatMinorAmount(150_000, 'EUR')).toBe('EUR 1,500.00');
    expect(formatMinorAmount(1_500, 'JPY')).toBe('JPY 1,500');
  });

  it('shows micro-unit prices with their significant decimals, at least the currency’s', () => {
    expect(formatUnitPrice(500_000, 'micros', 'ZAR')).toBe('R0.50');
    expect(formatUnitPrice(400, 'micros', 'USD')).toBe('$0.0004');
    expect(formatUnitPrice(1_234, 'micros', 'USD')).toBe('$0.001234');
    expect(formatUnitPrice(12_000_000, 'micros', 'ZAR')).toBe('R12.00');
    expect(formatUnitPrice(1_234_567_500_000, 'micros', 'ZAR')).toBe('R1,234,567.50');
    expect(formatUnitPrice(89_000, 'minor', 'ZAR')).toBe('R890.00');
  });
});
