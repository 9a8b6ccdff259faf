import { minorToMajor, vatRateBps, type InvoiceAmounts, type InvoiceLine, type VatRates } from '@tollgate/core';
import type { BillingProfile, IssuedInvoice, NewInvoice, NewWebhookEvent } from '@tollgate/store';

/** What a provider configures about its own billing; the same for every invoice it issues. */
export interface BillingSettings {
  /** Country → VAT rate in basis points (ZA 1500 from API_BILLING_VAT_RATE). */
  vatRates: VatRates;
  /** Country assumed for a customer without a billing profile; null: no VAT until they give one. */
  defaultCountry: string | null;
  /** Days between issue and due date of cycle and upgrade invoices. */
  paymentTermsDays: number;
  seller: SellerDetails;
}

export interface SellerDetails {
  name: string;
  addressLines: string[];
  vatNumber: string | null;
  email: string | null;
  country: string | null;
}

/** The buyer as printed on an invoice: a copy of the profile when issued, since profiles change later. */
export interface Buyer {
  name: string;
  company: string | null;
  email: string;
  country: string | null;
  vatNumber: string | null;
  addressLines: string[];
}

const DAY_MS = 86_400_000;

export function dueDateFor(issuedAt: Date, settings: BillingSettings): Date {
  return new Date(issuedAt.getTime() + settings.paymentTermsDays * DAY_MS);
}

/** The profile, or the account's email alone until the customer fills one in. */
export function buyerOf(profile: BillingProfile | null | undefined, accountEmail: string, settings: BillingSettings): Buyer {
  if (!profile) {
    return { name: accountEmail, company: null, email: accountEmail, country: settings.defaultCountry, vatNumber: null, addressLines: [] };
  }
  return {
    name: profile.name,
    company: profile.company,
    email: profile.email,
    country: profile.country,
    vatNumber: profile.vatNumber,
    addressLines: profile.addressLines,
  };
}

export function vatRateFor(buyer: Buyer, settings: BillingSettings): number {
  return vatRateBps(buyer.country, settings.vatRates);
}

/** "5,000": how invoices print counts. */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

export function feeDescription(planName: string, productName: string): string {
  return `${planName} Plan - ${productName}`;
}

export function usageDescription(kind: 'overage' | 'per_call', productName: string, calls: number): string {
  return kind === 'overage' ? `Overage fees - ${productName} (${formatCount(calls)} calls)` : `Usage - ${productName} (${formatCount(calls)} calls)`;
}

/** An invoice's computed amounts as the store keeps them, each line tied to the subscription it bills. */
export function toNewInvoice(input: {
  userId: string;
  kind: NewInvoice['kind'];
  periodStart: Date;
  periodEnd: Date;
  amounts: InvoiceAmounts;
  subscriptionOfLine: (line: InvoiceLine, index: number) => string | null;
  buyer: Buyer;
  dueAt: Date | null;
  metadata?: Record<string, unknown>;
}): NewInvoice {
  const { amounts } = input;
  return {
    userId: input.userId,
    kind: input.kind,
    currency: amounts.currency,
    periodStart: input.periodStart,
    periodEnd: input.periodEnd,
    subtotalMinor: amounts.subtotalMinor,
    vatRateBps: amounts.vatRateBps,
    vatMinor: amounts.vatMinor,
    totalMinor: amounts.totalMinor,
    buyer: { ...input.buyer },
    dueAt: input.dueAt,
    ...(input.metadata ? { metadata: input.metadata } : {}),
    lines: amounts.lines.map((line, i) => ({
      subscriptionId: input.subscriptionOfLine(line, i),
      kind: line.kind,
      description: line.description,
      quantity: line.quantity,
      unitPrice: line.unitPrice,
      unitPriceScale: line.unitPriceScale,
      amountMinor: line.amountMinor,
      proration: line.proration ?? null,
    })),
  };
}

export type InvoiceEventType = 'invoice.created' | 'invoice.paid' | 'invoice.failed';

/**
 * The `invoice.*` webhook event; its payload follows the catalog's InvoicePayload. Stored once per
 * type and `occasion` (the invoice, or the payment that failed), so a retried job emits nothing twice.
 */
export function invoiceEvent(type: InvoiceEventType, invoice: IssuedInvoice, at: Date, occasion: string = invoice.id): NewWebhookEvent {
  return {
    type,
    userId: invoice.userId,
    dedupeKey: `${type}:${occasion}`,
    payload: {
      invoiceId: invoice.id,
      number: invoice.number,
      status: invoice.status,
      currency: invoice.currency,
      total: minorToMajor(invoice.totalMinor, invoice.currency),
    },
    occurredAt: at,
  };
}
