import { MICROS_PER_MAJOR, minorDigits } from '@tollgate/core';
import PDFDocument from 'pdfkit';

/*
 * The invoice as a PDF a customer's accountant can file: who sells to whom, the VAT numbers, each
 * line as quantity × unit price = amount, and totals that add up on paper. Amounts arrive in
 * integer minor units (micro-units for per-call prices) and are formatted as strings of digits,
 * never through floats, so what is printed is exactly what was charged.
 *
 * Standard Helvetica keeps the file small and its text extractable; it covers Latin text only
 * (WinAnsi). Other characters print as '?'; other scripts would need an embedded TTF.
 */

export interface InvoiceParty {
  name: string;
  company?: string | null;
  addressLines?: string[];
  country?: string | null;
  vatNumber?: string | null;
  email?: string | null;
}

export interface InvoiceDocumentLine {
  description: string;
  quantity: number;
  unitPrice: number;
  unitPriceScale: 'minor' | 'micros';
  amountMinor: number;
}

export interface InvoiceDocument {
  /** 'INV-2026-000042'; null only for a draft, which prints 'DRAFT'. */
  number: string | null;
  status: 'draft' | 'open' | 'paid' | 'failed' | 'void';
  issuedAt: Date;
  dueAt: Date | null;
  paidAt: Date | null;
  /** The billing period in UTC; periodEnd is exclusive (the last day printed is the day before). */
  periodStart: Date;
  periodEnd: Date;
  currency: string;
  seller: InvoiceParty;
  buyer: InvoiceParty;
  lines: InvoiceDocumentLine[];
  subtotalMinor: number;
  vatRateBps: number;
  vatMinor: number;
  totalMinor: number;
  amountPaidMinor: number;
  /** Printed under the totals, e.g. payment instructions or "VAT charged at 15 % (ZA)". */
  notes?: string[];
}

// ---------------------------------------------------------------------------------------------
// Formatting

const CURRENCY_SYMBOLS: Record<string, string> = { ZAR: 'R', USD: '$' };

function currencyPrefix(currency: string): string {
  return CURRENCY_SYMBOLS[currency] ?? `${currency} `;
}

/** '1234567' → '1,234,567'. */
function groupThousands(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function requireSafeInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value)) throw new RangeError(`${name} must be a safe integer, got ${value}`);
  return value;
}

/** An integer count of `scale`-digit fractional units as a decimal string: (123450, 2) → '1,234.50'. */
function decimalString(units: number, scale: number): string {
  const digits = String(Math.abs(units)).padStart(scale + 1, '0');
  const whole = groupThousands(digits.slice(0, digits.length - scale));
  return scale === 0 ? whole : `${whole}.${digits.slice(digits.length - scale)}`;
}

/** 389850 ZAR → 'R3,898.50'; -1000 USD → '-$10.00'; unknown currencies are prefixed with their code. */
export function formatMinorAmount(amountMinor: number, currency: string): string {
  requireSafeInteger(amountMinor, 'amountMinor');
  const sign = amountMinor < 0 ? '-' : '';
  return `${sign}${currencyPrefix(currency)}${decimalString(amountMinor, minorDigits(currency))}`;
}

const MICRO_DIGITS = String(MICROS_PER_MAJOR).length - 1;

/**
 * A unit price with the precision it was priced at: micro-unit prices keep their significant
 * decimals beyond the currency's (R0.50, $0.0004, $0.001234), so the printed line can be checked.
 */
export function formatUnitPrice(unitPrice: number, scale: 'minor' | 'micros', currency: string): string {
  if (scale === 'minor') return formatMinorAmount(unitPrice, currency);
  requireSafeInteger(unitPrice, 'unitPrice');
  const sign = unitPrice < 0 ? '-' : '';
  const full = decimalString(unitPrice, MICRO_DIGITS);
  const [whole, fraction = ''] = full.split('.');
  const significant = fraction.replace(/0+$/, '');
  const shown = significant.padEnd(minorDigits(currency), '0');
  return `${sign}${currencyPrefix(currency)}${whole}${shown === '' ? '' : `.${shown}`}`;
}

function formatQuantity(quantity: number): string {
  if (Number.isInteger(quantity)) return (quantity < 0 ? '-' : '') + groupThousands(String(Math.abs(quantity)));
  const [whole = '0', fraction] = String(Math.abs(quantity)).split('.');
  return `${quantity < 0 ? '-' : ''}${groupThousands(whole)}.${fraction}`;
}

/** 1500 bp → '15', 1550 → '15.5'. */
function formatRate(bps: number): string {
  const fraction = String(bps % 100).padStart(2, '0').replace(/0+$/, '');
  return fraction === '' ? String(Math.trunc(bps / 100)) : `${Math.trunc(bps / 100)}.${fraction}`;
}

function utcDate(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** The last day of a period whose end is exclusive: [2026-10-01, 2026-11-01) → 2026-10-31. */
function lastDayOf(periodEnd: Date): Date {
  return new Date(periodEnd.getTime() - 1);
}

// ---------------------------------------------------------------------------------------------
// Layout (A4 portrait, points)

const PAGE_MARGIN = 50;
const FOOTER_HEIGHT = 30;
const FONT = 'Helvetica';
const FONT_BOLD = 'Helvetica-Bold';
const BODY_SIZE = 9.5;
const MUTED = '#555555';
const RULE = '#999999';

interface Column {
  x: number;
  width: number;
  align: 'left' | 'right';
}

const TABLE = {
  description: { x: PAGE_MARGIN, width: 235, align: 'left' },
  quantity: { x: 290, width: 60, align: 'right' },
  unitPrice: { x: 355, width: 85, align: 'right' },
  amount: { x: 445, width: 100, align: 'right' },
} satisfies Record<string, Column>;

const TABLE_RIGHT = TABLE.amount.x + TABLE.amount.width;
const CELL_PADDING = 4;

type Doc = PDFKit.PDFDocument;

/** The lowest y content may reach on a page, leaving room for the footer. */
function contentBottom(doc: Doc): number {
  return doc.page.height - PAGE_MARGIN - FOOTER_HEIGHT;
}

// What the standard fonts can show (WinAnsi: Latin-1 plus the Windows-1252 punctuation).
const WIN_ANSI_EXTRAS = '€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ';

/** Characters the standard fonts cannot show become '?': pdfkit would print other glyphs in their place. */
function printable(text: string): string {
  return Array.from(text.normalize('NFC'), (ch) => {
    const code = ch.codePointAt(0) ?? 0;
    return (code >= 0x20 && code <= 0x7e) || (code >= 0xa0 && code <= 0xff) || WIN_ANSI_EXTRAS.includes(ch) ? ch : '?';
  }).join('');
}

function write(doc: Doc, text: string, x: number, y: number, width: number, options: { bold?: boolean; size?: number; align?: 'left' | 'right'; color?: string } = {}): number {
  doc.font(options.bold ? FONT_BOLD : FONT).fontSize(options.size ?? BODY_SIZE).fillColor(options.color ?? 'black');
  doc.text(printable(text), x, y, { width, align: options.align ?? 'left' });
  return doc.y;
}

function rule(doc: Doc, y: number, from = PAGE_MARGIN, to = TABLE_RIGHT): void {
  doc.moveTo(from, y).lineTo(to, y).lineWidth(0.5).strokeColor(RULE).stroke();
}

/** A party's block (name first, bold); returns the y below it. */
function partyBlock(doc: Doc, party: InvoiceParty, x: number, y: number, width: number): number {
  let bottom = write(doc, party.name, x, y, width, { bold: true, size: 11 });
  const lines = [
    party.company && party.company !== party.name ? party.company : null,
    ...(party.addressLines ?? []),
    party.country ?? null,
    party.vatNumber ? `VAT no. ${party.vatNumber}` : null,
    party.email ?? null,
  ];
  for (const line of lines) {
    if (line) bottom = write(doc, line, x, bottom + 1, width);
  }
  return bottom;
}

/** Label/value rows under the heading, right column. */
function metaRows(doc: Doc, rows: [string, string][], x: number, y: number, width: number): number {
  let bottom = y;
  for (const [label, value] of rows) {
    write(doc, label, x, bottom, width, { color: MUTED });
    bottom = write(doc, value, x, bottom, width, { align: 'right' }) + 2;
  }
  return bottom;
}

function stamp(doc: Doc, label: string, color: string, x: number, y: number): void {
  doc.save();
  doc.rotate(-8, { origin: [x, y] });
  doc.font(FONT_BOLD).fontSize(18);
  const width = doc.widthOfString(label) + 20;
  doc.rect(x, y, width, 30).lineWidth(2).strokeColor(color).stroke();
  doc.fillColor(color).text(label, x + 10, y + 7, { lineBreak: false });
  doc.restore();
}

function tableHeader(doc: Doc, y: number, currency: string): number {
  const cells: [Column, string][] = [
    [TABLE.description, 'Description'],
    [TABLE.quantity, 'Quantity'],
    [TABLE.unitPrice, `Unit price (${currency})`],
    [TABLE.amount, `Amount (${currency})`],
  ];
  let bottom = y;
  for (const [column, label] of cells) {
    bottom = Math.max(bottom, write(doc, label, column.x, y, column.width, { bold: true, align: column.align }));
  }
  rule(doc, bottom + 2);
  return bottom + 2 + CELL_PADDING;
}

function lineHeight(doc: Doc, description: string): number {
  doc.font(FONT).fontSize(BODY_SIZE);
  return doc.heightOfString(printable(description), { width: TABLE.description.width });
}

/** Starts a continuation page and returns where content begins on it. */
function nextPage(doc: Doc): number {
  doc.addPage();
  return PAGE_MARGIN;
}

// ---------------------------------------------------------------------------------------------
// Rendering

export async function renderInvoicePdf(invoice: InvoiceDocument): Promise<Buffer> {
  const currency = invoice.currency;
  const money = (minor: number) => formatMinorAmount(minor, currency);
  const numberText = invoice.number ?? 'DRAFT';
  const title = invoice.vatRateBps > 0 ? 'Tax invoice' : 'Invoice';

  const doc = new PDFDocument({
    size: 'A4',
    margin: PAGE_MARGIN,
    // Footers ("Page 1 of 2") are written once the page count is known.
    bufferPages: true,
    displayTitle: true,
    lang: 'en',
    // The creation date defaults to now; the issue date makes the same invoice the same bytes.
    info: {
      Title: `${title} ${numberText}`,
      Author: invoice.seller.company ?? invoice.seller.name,
      Subject: `${title} ${numberText} for ${invoice.buyer.company ?? invoice.buyer.name}`,
      Creator: 'Tollgate',
      Producer: 'Tollgate',
      CreationDate: invoice.issuedAt,
      ModDate: invoice.issuedAt,
    },
  });
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('data', (chunk: Buffer) => chunks.push(chunk));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });

  // Seller on the left, heading and invoice facts on the right.
  const rightX = 330;
  const rightWidth = TABLE_RIGHT - rightX;
  const sellerBottom = partyBlock(doc, invoice.seller, PAGE_MARGIN, PAGE_MARGIN, 250);
  let rightBottom = write(doc, title, rightX, PAGE_MARGIN - 4, rightWidth, { bold: true, size: 20, align: 'right' }) + 6;
  const meta: [string, string][] = [
    ['Invoice no.', numberText],
    ['Issue date', utcDate(invoice.issuedAt)],
  ];
  if (invoice.dueAt) meta.push(['Due date', utcDate(invoice.dueAt)]);
  meta.push(['Billing period', `${utcDate(invoice.periodStart)} to ${utcDate(lastDayOf(invoice.periodEnd))}`]);
  if (invoice.paidAt) meta.push(['Paid on', utcDate(invoice.paidAt)]);
  meta.push(['Currency', currency]);
  rightBottom = metaRows(doc, meta, rightX, rightBottom, rightWidth);

  let y = Math.max(sellerBottom, rightBottom) + 24;
  write(doc, 'Bill to', PAGE_MARGIN, y, 250, { bold: true, size: 8, color: MUTED });
  const buyerBottom = partyBlock(doc, invoice.buyer, PAGE_MARGIN, y + 12, 250);

  const stampLabel =
    invoice.status === 'paid' ? `PAID${invoice.paidAt ? ` ${utcDate(invoice.paidAt)}` : ''}`
    : invoice.status === 'void' ? 'VOID'
    : invoice.status === 'draft' || invoice.number === null ? 'DRAFT'
    : null;
  if (stampLabel) {
    const color = invoice.status === 'paid' ? '#1a7f37' : invoice.status === 'void' ? '#c62828' : '#777777';
    stamp(doc, stampLabel, color, rightX + 40, y + 16);
  }
  y = buyerBottom + 28;

  // Line items; the header repeats on every page the table continues on.
  y = tableHeader(doc, y, currency);
  for (const line of invoice.lines) {
    const height = lineHeight(doc, line.description);
    if (y + height + CELL_PADDING > contentBottom(doc)) y = tableHeader(doc, nextPage(doc), currency);
    write(doc, line.description, TABLE.description.x, y, TABLE.description.width);
    write(doc, formatQuantity(line.quantity), TABLE.quantity.x, y, TABLE.quantity.width, { align: 'right' });
    write(doc, formatUnitPrice(line.unitPrice, line.unitPriceScale, currency), TABLE.unitPrice.x, y, TABLE.unitPrice.width, { align: 'right' });
    write(doc, money(line.amountMinor), TABLE.amount.x, y, TABLE.amount.width, { align: 'right' });
    y += height + CELL_PADDING;
    rule(doc, y - CELL_PADDING / 2);
  }

  // Totals, kept together on one page. A void invoice is owed by nobody, whatever its total.
  const amountDue = invoice.status === 'void' ? 0 : invoice.totalMinor - invoice.amountPaidMinor;
  const totals: [string, string, boolean][] = [
    ['Subtotal', money(invoice.subtotalMinor), false],
    [`VAT (${formatRate(invoice.vatRateBps)} %)`, money(invoice.vatMinor), false],
    [`Total (${currency})`, money(invoice.totalMinor), true],
    ['Amount paid', money(invoice.amountPaidMinor), false],
    [`Amount due (${currency})`, money(amountDue), true],
  ];
  const totalsHeight = totals.length * 16 + 12;
  y += 8;
  if (y + totalsHeight > contentBottom(doc)) y = nextPage(doc);
  const labelX = 290;
  for (const [label, value, bold] of totals) {
    if (bold) rule(doc, y - 3, labelX);
    write(doc, label, labelX, y, TABLE.amount.x - labelX, { bold });
    write(doc, value, TABLE.amount.x, y, TABLE.amount.width, { bold, align: 'right' });
    y += 16;
  }

  // Notes: payment instructions and the VAT basis.
  y += 16;
  for (const note of invoice.notes ?? []) {
    doc.font(FONT).fontSize(BODY_SIZE);
    const height = doc.heightOfString(printable(note), { width: TABLE_RIGHT - PAGE_MARGIN });
    if (y + height > contentBottom(doc)) y = nextPage(doc);
    y = write(doc, note, PAGE_MARGIN, y, TABLE_RIGHT - PAGE_MARGIN, { color: MUTED }) + 4;
  }

  // Footers, written below the bottom margin: lift it so pdfkit does not start a new page.
  const range = doc.bufferedPageRange();
  for (let i = range.start; i < range.start + range.count; i++) {
    doc.switchToPage(i);
    const bottomMargin = doc.page.margins.bottom;
    doc.page.margins.bottom = 0;
    const footerY = doc.page.height - PAGE_MARGIN + 10;
    rule(doc, footerY - 6);
    write(doc, `${title} ${numberText}`, PAGE_MARGIN, footerY, 250, { size: 8, color: MUTED });
    write(doc, `Page ${i - range.start + 1} of ${range.count}`, rightX, footerY, rightWidth, { size: 8, color: MUTED, align: 'right' });
    doc.page.margins.bottom = bottomMargin;
  }

  doc.end();
  return done;
}
