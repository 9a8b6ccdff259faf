import type { InvoiceDocument } from '@tollgate/runtime';
import type { Invoice, StoredInvoiceLine } from '@tollgate/store';
import type { Buyer, SellerDetails } from './invoicing.ts';

/** The printable invoice: the stored amounts and the buyer as they were when it was issued. */
export function invoiceDocument(invoice: Invoice, lines: readonly StoredInvoiceLine[], seller: SellerDetails): InvoiceDocument {
  const buyer = invoice.buyer as unknown as Buyer;
  const notes: string[] = [];
  if (invoice.vatRateBps > 0) notes.push(`VAT charged at ${invoice.vatRateBps / 100} %${buyer.country ? ` (${buyer.country})` : ''}.`);
  else if (buyer.country) notes.push(`No VAT charged for customers in ${buyer.country}.`);
  if (invoice.status === 'open' || invoice.status === 'failed') notes.push(`Pay online: sign in and open invoice ${invoice.number ?? ''} under Billing.`);
  return {
    number: invoice.number,
    status: invoice.status,
    issuedAt: invoice.issuedAt ?? invoice.createdAt,
    dueAt: invoice.dueAt,
    paidAt: invoice.paidAt,
    periodStart: invoice.periodStart,
    periodEnd: invoice.periodEnd,
    currency: invoice.currency,
    seller: { name: seller.name, addressLines: seller.addressLines, vatNumber: seller.vatNumber, email: seller.email, country: seller.country },
    buyer: { name: buyer.name, company: buyer.company, addressLines: buyer.addressLines, country: buyer.country, vatNumber: buyer.vatNumber, email: buyer.email },
    lines: lines.map((l) => ({ description: l.description, quantity: l.quantity, unitPrice: l.unitPrice, unitPriceScale: l.unitPriceScale, amountMinor: l.amountMinor })),
    subtotalMinor: invoice.subtotalMinor,
    vatRateBps: invoice.vatRateBps,
    vatMinor: invoice.vatMinor,
    totalMinor: invoice.totalMinor,
    amountPaidMinor: invoice.amountPaidMinor,
    notes,
  };
}
