import type { QuotaEvent } from './quota.ts';
import type {
  KeyStatus,
  PlanLimits,
  RateLimitAlgorithm,
  SubscriptionStatus,
  UserRole,
} from '@tollgate/contracts';

/* Domain records as the store hands them over: plain data, money in minor units or micros. */

export interface Product {
  id: string;
  slug: string;
  name: string;
  description: string | null;
  publicDocs: string | null;
  category: string;
  defaultPlan: string | null;
  features: string[];
  currency: string;
  isActive: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface ProductRoute {
  id: string;
  productId: string;
  method: string;
  /** Pattern with `{param}` segments, e.g. `/v1/tokens/{mint}/history`. */
  path: string;
  /** null: served by the built-in demo upstream. */
  upstreamUrl: string | null;
  /** The entitlement a plan needs to call this route; null: any plan of the product. */
  entitlement: string | null;
  costWeight: number;
  /** Query parameter holding the start of a history request; the plan's `historyDays` bounds it. */
  historyParam: string | null;
  description: string | null;
  isActive: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface Plan {
  id: string;
  productId: string;
  code: string;
  name: string;
  description: string | null;
  currency: string;
  /** null for custom (enterprise) pricing. */
  monthlyFeeMinor: number | null;
  perCallFeeMicros: number | null;
  rateLimitPerMinute: number;
  burst: number;
  rateLimitAlgorithm: RateLimitAlgorithm;
  dailyCap: number | null;
  monthlyQuota: number | null;
  entitlements: string[];
  limits: PlanLimits;
  isCustom: boolean;
  /** Set on a private plan made for one customer's custom terms: it is not in the public catalog. */
  customerId: string | null;
  isActive: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface User {
  id: string;
  email: string;
  role: UserRole;
  createdAt: Date;
}

export interface Subscription {
  id: string;
  userId: string;
  planId: string;
  status: SubscriptionStatus;
  currentPeriodStart: Date;
  currentPeriodEnd: Date;
  /** A downgrade that takes effect when the current period ends. */
  scheduledPlanId: string | null;
  cancelAtPeriodEnd: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface ApiKey {
  id: string;
  userId: string;
  planId: string;
  subscriptionId: string | null;
  keyHash: string;
  displayPrefix: string;
  lastFour: string;
  label: string | null;
  ipWhitelist: string[];
  scopes: string[];
  metadata: Record<string, unknown>;
  isSandbox: boolean;
  status: KeyStatus;
  usageCount: number;
  lastUsedAt: Date | null;
  expiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A plan is free when it costs nothing and is not custom: its subscriptions start at once. */
export function isFreePlan(plan: Plan): boolean {
  return !plan.isCustom && (plan.monthlyFeeMinor ?? 0) === 0 && (plan.perCallFeeMicros ?? 0) === 0;
}

/** One gateway call, as the usage writer records it. */
export interface UsageRecord {
  requestId: string;
  apiKeyId: string | null;
  userId: string | null;
  productId: string | null;
  routeId: string | null;
  routePath: string | null;
  path: string;
  method: string;
  statusCode: number;
  errorCode: string | null;
  bytesIn: number;
  bytesOut: number;
  latencyMs: number;
  ip: string | null;
  isSandbox: boolean;
  createdAt: Date;
  /** Admitted by the limits: counts toward the daily cap and monthly quota. */
  counted: boolean;
  /** Admitted beyond the monthly quota on a plan that bills overage. */
  overage: boolean;
  /** Limits this call reached, stored as webhook events with the record. */
  quotaEvents?: QuotaEvent[] | null;
}
