import type { ApiKeyView, BillingProfileView, BillingRunView, DeliveryView, InvoiceView, PlanView, ProductRouteView, ProductView, SubscriptionView, UserView, WebhookView } from '@tollgate/contracts';
import { invoiceAmountsView, microsToMajor, minorToMajor, nextMonthStartMs, type Plan, type ProductRoute, type User } from '@tollgate/core';
import { invoicePdfPath } from '@tollgate/jobs';
import type { BillingProfile, BillingRun, DeliveryLogEntry, Invoice, KeyWithPlan, StoredInvoiceLine, SubscriptionWithPlan, WebhookEndpoint } from '@tollgate/store';
import type { ProductWithParts } from '../services/catalog.ts';

/* Domain records to wire shapes: amounts in major units computed from the stored minor units. */

export const userView = (user: User): UserView => ({
  id: user.id,
  email: user.email,
  role: user.role,
  createdAt: user.createdAt.toISOString(),
});

export const planView = (plan: Plan): PlanView => ({
  id: plan.id,
  productId: plan.productId,
  code: plan.code,
  name: plan.name,
  description: plan.description,
  currency: plan.currency,
  monthlyFee: plan.monthlyFeeMinor === null ? null : minorToMajor(plan.monthlyFeeMinor, plan.currency),
  perCallFee: plan.perCallFeeMicros === null ? null : microsToMajor(plan.perCallFeeMicros),
  rateLimit: plan.rateLimitPerMinute,
  burstLimit: plan.burst,
  rateLimitAlgorithm: plan.rateLimitAlgorithm,
  dailyCap: plan.dailyCap,
  quota: plan.monthlyQuota,
  entitlements: plan.entitlements,
  limits: plan.limits,
  isCustom: plan.isCustom,
  isActive: plan.isActive,
  createdAt: plan.createdAt.toISOString(),
  updatedAt: plan.updatedAt.toISOString(),
});

export const routeView = (route: ProductRoute): ProductRouteView => ({
  id: route.id,
  productId: route.productId,
  method: route.method,
  path: route.path,
  upstreamUrl: route.upstreamUrl,
  entitlement: route.entitlement,
  costWeight: route.costWeight,
  historyParam: route.historyParam,
  description: route.description,
  isActive: route.isActive,
});

export const productView = ({ product, plans, routes }: ProductWithParts): ProductView => ({
  id: product.id,
  slug: product.slug,
  name: product.name,
  description: product.description,
  publicDocs: product.publicDocs,
  category: product.category,
  defaultPlan: product.defaultPlan,
  features: product.features,
  currency: product.currency,
  isActive: product.isActive,
  createdAt: product.createdAt.toISOString(),
  updatedAt: product.updatedAt.toISOString(),
  plans: plans.map(planView),
  routes: routes.map(routeView),
});

export const subscriptionView = (s: SubscriptionWithPlan): SubscriptionView => ({
  id: s.id,
  userId: s.userId,
  planId: s.planId,
  planCode: s.planCode,
  productId: s.productId,
  status: s.status,
  currentPeriodStart: s.currentPeriodStart.toISOString(),
  currentPeriodEnd: s.currentPeriodEnd.toISOString(),
  scheduledPlanId: s.scheduledPlanId,
  cancelAtPeriodEnd: s.cancelAtPeriodEnd,
  createdAt: s.createdAt.toISOString(),
});

export function keyView({ key, plan }: KeyWithPlan, nowMs: number): ApiKeyView {
  const expired = key.status === 'active' && key.expiresAt !== null && key.expiresAt.getTime() <= nowMs;
  return {
    id: key.id,
    planId: key.planId,
    subscriptionId: key.subscriptionId,
    label: key.label,
    displayPrefix: key.displayPrefix,
    lastFour: key.lastFour,
    ipWhitelist: key.ipWhitelist,
    scopes: key.scopes,
    metadata: key.metadata,
    isSandbox: key.isSandbox,
    status: expired ? 'expired' : key.status,
    revoked: key.status === 'revoked',
    usageCount: key.usageCount,
    quotaResetAt: plan.monthlyQuota === null ? null : new Date(nextMonthStartMs(nowMs)).toISOString(),
    lastUsedAt: key.lastUsedAt?.toISOString() ?? null,
    expiresAt: key.expiresAt?.toISOString() ?? null,
    createdAt: key.createdAt.toISOString(),
    updatedAt: key.updatedAt.toISOString(),
    plan: {
      code: plan.code,
      name: plan.name,
      productId: plan.productId,
      rateLimit: plan.rateLimitPerMinute,
      burstLimit: plan.burst,
      dailyCap: plan.dailyCap,
      quota: plan.monthlyQuota,
    },
  };
}

const iso = (date: Date | null) => (date === null ? null : date.toISOString());

export const webhookView = (endpoint: WebhookEndpoint): WebhookView => ({
  id: endpoint.id,
  url: endpoint.url,
  description: endpoint.description,
  events: endpoint.events,
  status: endpoint.status,
  pausedReason: endpoint.pausedReason,
  isActive: endpoint.status === 'active' || endpoint.status === 'pending',
  consecutiveFailures: endpoint.consecutiveFailures,
  previousSecretExpiresAt: iso(endpoint.previousSecretExpiresAt),
  lastDeliveryAt: iso(endpoint.lastDeliveryAt),
  verifiedAt: iso(endpoint.verifiedAt),
  createdAt: endpoint.createdAt.toISOString(),
  updatedAt: endpoint.updatedAt.toISOString(),
});

export const deliveryView = (delivery: DeliveryLogEntry): DeliveryView => ({
  id: delivery.id,
  webhookId: delivery.endpointId,
  eventId: delivery.eventId,
  event: delivery.eventType,
  status: delivery.status,
  attempts: delivery.attempts,
  nextAttemptAt: iso(delivery.nextAttemptAt),
  lastStatusCode: delivery.lastStatusCode,
  createdAt: delivery.createdAt.toISOString(),
  deliveredAt: iso(delivery.deliveredAt),
  attemptLog: delivery.attemptLog.map((a) => ({
    attempt: a.attempt,
    at: a.startedAt.toISOString(),
    durationMs: a.durationMs,
    statusCode: a.statusCode,
    error: a.error,
    responseExcerpt: a.responseExcerpt,
  })),
});

export function invoiceView(invoice: Invoice, lines: readonly StoredInvoiceLine[], publicUrl: string): InvoiceView {
  const c = invoice.currency;
  return {
    id: invoice.id,
    number: invoice.number,
    customerId: invoice.userId,
    customerType: 'USER',
    kind: invoice.kind,
    billingPeriodStart: invoice.periodStart.toISOString(),
    // The blueprint prints the period's last second; the store keeps the exclusive end.
    billingPeriodEnd: new Date(invoice.periodEnd.getTime() - 1000).toISOString().replace('.000Z', 'Z'),
    ...invoiceAmountsView({ ...invoice, lines: lines.map((line) => ({ ...line, currency: c })) }),
    amountDue: minorToMajor(invoice.totalMinor, c),
    amountPaid: minorToMajor(invoice.amountPaidMinor, c),
    status: invoice.status,
    createdAt: invoice.createdAt.toISOString(),
    issuedAt: invoice.issuedAt?.toISOString() ?? null,
    dueAt: invoice.dueAt?.toISOString() ?? null,
    paidAt: invoice.paidAt?.toISOString() ?? null,
    invoicePdfUrl: invoice.status === 'draft' ? null : `${publicUrl}${invoicePdfPath(invoice.id)}`,
    metadata: invoice.metadata,
  };
}

export const billingProfileView = (profile: BillingProfile, vatRateBps: number): BillingProfileView => ({
  name: profile.name,
  company: profile.company,
  vatNumber: profile.vatNumber,
  country: profile.country,
  email: profile.email,
  addressLines: profile.addressLines,
  vatRate: vatRateBps / 10_000,
  updatedAt: profile.updatedAt.toISOString(),
});

export const billingRunView = (run: BillingRun): BillingRunView => ({
  period: run.period,
  asOf: run.asOf.toISOString(),
  status: run.status as BillingRunView['status'],
  customers: run.customers,
  invoicesCreated: run.invoicesCreated,
  invoicesIssued: run.invoicesIssued,
  startedAt: run.startedAt.toISOString(),
  finishedAt: run.finishedAt?.toISOString() ?? null,
  error: run.error,
});
