import { Type, type Static } from 'typebox';
import { DateTime, Nullable, PaginationSchema } from './schemas.ts';

/* Billing: profiles, invoices, payments and the monthly cycle. Amounts on the wire are major
 * units (890.00) with their currency, as the blueprint shows them; the store keeps minor units. */

export const INVOICE_STATUSES = ['draft', 'open', 'paid', 'failed', 'void'] as const;
export type InvoiceStatus = (typeof INVOICE_STATUSES)[number];

/** `cycle`: the 1st-of-month invoice; `subscription`: a paid plan's first, prorated fee; `upgrade`: a prorated upgrade charge. */
export const INVOICE_KINDS = ['cycle', 'subscription', 'upgrade'] as const;
export type InvoiceKind = (typeof INVOICE_KINDS)[number];

export const PAYMENT_GATEWAYS = ['paystack', 'payfast', 'ozow', 'stripe', 'test'] as const;
export type PaymentGatewayId = (typeof PAYMENT_GATEWAYS)[number];

export const PAYMENT_STATUSES = ['pending', 'succeeded', 'failed'] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

const Country = Type.String({ pattern: '^[A-Za-z]{2}$', description: 'ISO 3166-1 alpha-2 (ZA); decides the VAT rate' });

export const BillingProfileSchema = Type.Object({
  name: Type.String(),
  company: Nullable(Type.String()),
  vatNumber: Nullable(Type.String()),
  country: Type.String(),
  email: Type.String(),
  addressLines: Type.Array(Type.String()),
  /** The VAT rate this profile's invoices carry, as a fraction (0.15). */
  vatRate: Type.Number(),
  updatedAt: DateTime,
});
export type BillingProfileView = Static<typeof BillingProfileSchema>;

export const BillingProfileBodySchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    company: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
    vatNumber: Type.Optional(Nullable(Type.String({ minLength: 4, maxLength: 32, pattern: '^[A-Za-z0-9 .-]+$' }))),
    country: Country,
    email: Type.String({ format: 'email', maxLength: 254 }),
    addressLines: Type.Optional(Type.Array(Type.String({ maxLength: 200 }), { maxItems: 6 })),
  },
  { additionalProperties: false },
);
export type BillingProfileBody = Static<typeof BillingProfileBodySchema>;

export const InvoiceLineItemSchema = Type.Object({
  description: Type.String(),
  quantity: Type.Integer(),
  /** Major units, at the precision the unit is priced in (0.50, 0.0004). */
  unitPrice: Type.Number(),
  amount: Type.Number(),
  currency: Type.String(),
});

export const InvoiceSchema = Type.Object({
  id: Type.String(),
  /** `INV-2026-000042`; null while a draft. */
  number: Nullable(Type.String()),
  customerId: Type.String(),
  customerType: Type.Literal('USER'),
  kind: Type.Enum([...INVOICE_KINDS]),
  billingPeriodStart: DateTime,
  /** The last moment of the period (2024-01-31T23:59:59Z), as the blueprint writes it. */
  billingPeriodEnd: DateTime,
  lineItems: Type.Array(InvoiceLineItemSchema),
  subtotal: Type.Number(),
  vatRate: Type.Number({ description: 'Fraction: 0.15 is 15 %' }),
  vatAmount: Type.Number(),
  total: Type.Number(),
  /** The invoice's total (what it asks for), as in the blueprint. */
  amountDue: Type.Number(),
  amountPaid: Type.Number(),
  currency: Type.String(),
  status: Type.Enum([...INVOICE_STATUSES]),
  createdAt: DateTime,
  issuedAt: Nullable(DateTime),
  dueAt: Nullable(DateTime),
  paidAt: Nullable(DateTime),
  invoicePdfUrl: Nullable(Type.String()),
  metadata: Type.Record(Type.String(), Type.Unknown()),
});
export type InvoiceView = Static<typeof InvoiceSchema>;

export const InvoiceListSchema = Type.Object({ invoices: Type.Array(InvoiceSchema), pagination: PaginationSchema });

export const InvoiceListQuerySchema = Type.Object({
  page: Type.Optional(Type.Integer({ minimum: 1, default: 1 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
  status: Type.Optional(Type.Enum([...INVOICE_STATUSES])),
});

export const PayInvoiceBodySchema = Type.Object(
  { gateway: Type.Enum([...PAYMENT_GATEWAYS]) },
  { additionalProperties: false },
);

export const PaymentSessionSchema = Type.Object({
  paymentUrl: Type.String(),
  reference: Type.String(),
});

/** What the `test` gateway's checkout page posts: the outcome a real provider would report. */
export const TestCheckoutBodySchema = Type.Object(
  {
    outcome: Type.Enum(['success', 'failure']),
    saveCard: Type.Optional(
      Type.Enum(['approve', 'decline'], { description: 'On success, save a test card that approves or declines later charges (dunning retries with it)' }),
    ),
  },
  { additionalProperties: false },
);

export const SavedPaymentMethodSchema = Type.Object({
  gateway: Type.String(),
  /** "visa ending 4081": the token itself is never shown. */
  label: Type.String(),
  savedAt: DateTime,
});

export const ChangePlanBodySchema = Type.Object(
  { planId: Type.String({ minLength: 1, maxLength: 100, description: 'Plan id or code of the same product' }) },
  { additionalProperties: false },
);

export const BillingRunBodySchema = Type.Object(
  { asOf: Type.Optional(DateTime) },
  { additionalProperties: false },
);

export const BillingRunSchema = Type.Object({
  /** The month billed, `2026-12`. */
  period: Type.String(),
  asOf: DateTime,
  status: Type.Enum(['running', 'completed', 'failed']),
  customers: Type.Integer(),
  invoicesCreated: Type.Integer(),
  invoicesIssued: Type.Integer(),
  startedAt: DateTime,
  finishedAt: Nullable(DateTime),
  error: Nullable(Type.String()),
});
export type BillingRunView = Static<typeof BillingRunSchema>;

/** An admin's custom (enterprise) terms for one customer: a private plan made from a custom plan. */
export const CustomPlanBodySchema = Type.Object(
  {
    email: Type.String({ format: 'email' }),
    basePlanCode: Type.String({ minLength: 1, maxLength: 64, description: 'The custom plan whose product and entitlements it takes (smi-enterprise)' }),
    monthlyFee: Nullable(Type.Number({ minimum: 0, description: 'Major units' })),
    perCallFee: Type.Optional(Nullable(Type.Number({ minimum: 0, description: 'Major units per call' }))),
    rateLimit: Type.Integer({ minimum: 1 }),
    burstLimit: Type.Integer({ minimum: 1 }),
    dailyCap: Type.Optional(Nullable(Type.Integer({ minimum: 1 }))),
    monthlyQuota: Type.Optional(Nullable(Type.Integer({ minimum: 1 }))),
  },
  { additionalProperties: false },
);
export type CustomPlanBody = Static<typeof CustomPlanBodySchema>;
