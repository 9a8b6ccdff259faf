import { Type, type Static } from 'typebox';
import { ERROR_CODES } from './errors.ts';

/* Wire schemas of the management API. The server validates with them, the OpenAPI document is
 * generated from them, and the SDKs and portal type their calls with them. */

export const DateTime = Type.String({ format: 'date-time' });
export const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

export const ErrorBodySchema = Type.Object(
  {
    error: Type.Object({
      code: Type.Enum([...ERROR_CODES]),
      message: Type.String(),
      details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    }),
    request_id: Type.String(),
  }
);

export const PaginationSchema = Type.Object({
  page: Type.Integer(),
  limit: Type.Integer(),
  total: Type.Integer(),
  pages: Type.Integer(),
});
export type Pagination = Static<typeof PaginationSchema>;

export const PageQuerySchema = Type.Object({
  page: Type.Optional(Type.Integer({ minimum: 1, default: 1 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
});

// ---------- catalog ----------

export const RATE_LIMIT_ALGORITHMS = ['token-bucket', 'sliding-window'] as const;
export type RateLimitAlgorithm = (typeof RATE_LIMIT_ALGORITHMS)[number];

export const PlanLimitsSchema = Type.Object({
  websocketChannels: Type.Optional(Nullable(Type.Integer({ minimum: 0 }))),
  webhookEndpoints: Type.Optional(Nullable(Type.Integer({ minimum: 0 }))),
  historyDays: Type.Optional(Nullable(Type.Integer({ minimum: 0 }))),
});
export type PlanLimits = Static<typeof PlanLimitsSchema>;

export const PlanSchema = Type.Object(
  {
    id: Type.String(),
    productId: Type.String(),
    code: Type.String(),
    name: Type.String(),
    description: Nullable(Type.String()),
    currency: Type.String(),
    /** Major units (890.00), computed from the stored minor units; null for custom pricing. */
    monthlyFee: Nullable(Type.Number()),
    /** Major units per call (0.5); null when the plan bills no per-call fee. */
    perCallFee: Nullable(Type.Number()),
    rateLimit: Type.Integer(),
    burstLimit: Type.Integer(),
    rateLimitAlgorithm: Type.Enum([...RATE_LIMIT_ALGORITHMS]),
    dailyCap: Nullable(Type.Integer()),
    quota: Nullable(Type.Integer()),
    entitlements: Type.Array(Type.String()),
    limits: PlanLimitsSchema,
    isCustom: Type.Boolean(),
    isActive: Type.Boolean(),
    createdAt: DateTime,
    updatedAt: DateTime,
  }
);
export type PlanView = Static<typeof PlanSchema>;

export const ProductRouteSchema = Type.Object(
  {
    id: Type.String(),
    productId: Type.String(),
    method: Type.String(),
    path: Type.String(),
    upstreamUrl: Nullable(Type.String()),
    entitlement: Nullable(Type.String()),
    costWeight: Type.Integer(),
    historyParam: Nullable(Type.String()),
    description: Nullable(Type.String()),
    isActive: Type.Boolean(),
  }
);
export type ProductRouteView = Static<typeof ProductRouteSchema>;

export const ProductSchema = Type.Object(
  {
    id: Type.String(),
    slug: Type.String(),
    name: Type.String(),
    description: Nullable(Type.String()),
    publicDocs: Nullable(Type.String()),
    category: Type.String(),
    defaultPlan: Nullable(Type.String()),
    features: Type.Array(Type.String()),
    currency: Type.String(),
    isActive: Type.Boolean(),
    createdAt: DateTime,
    updatedAt: DateTime,
    plans: Type.Array(PlanSchema),
    routes: Type.Array(ProductRouteSchema),
  }
);
export type ProductView = Static<typeof ProductSchema>;

export const ListProductsQuerySchema = Type.Object({
  category: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  active: Type.Optional(Type.Boolean()),
  page: Type.Optional(Type.Integer({ minimum: 1, default: 1 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
});

const Slug = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' });
const Currency = Type.String({ pattern: '^[A-Z]{3}$' });
const Money = Type.Number({ minimum: 0, maximum: 100_000_000 });

export const CreateProductBodySchema = Type.Object(
  {
    slug: Slug,
    name: Type.String({ minLength: 1, maxLength: 200 }),
    description: Type.Optional(Type.String({ maxLength: 5000 })),
    publicDocs: Type.Optional(Type.String({ maxLength: 100_000 })),
    category: Type.String({ minLength: 1, maxLength: 64 }),
    defaultPlan: Type.Optional(Type.String({ maxLength: 64 })),
    features: Type.Optional(Type.Array(Type.String({ maxLength: 200 }), { maxItems: 50 })),
    currency: Currency,
    isActive: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type CreateProductBody = Static<typeof CreateProductBodySchema>;

export const UpdateProductBodySchema = Type.Partial(Type.Omit(CreateProductBodySchema, ['slug', 'currency']), {
  additionalProperties: false,
  minProperties: 1,
});
export type UpdateProductBody = Static<typeof UpdateProductBodySchema>;

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

export const CreateRouteBodySchema = Type.Object(
  {
    method: Type.Enum([...HTTP_METHODS]),
    path: Type.String({ pattern: '^/[A-Za-z0-9_\\-./:{}]*$', maxLength: 300 }),
    upstreamUrl: Type.Optional(Nullable(Type.String({ pattern: '^https?://', maxLength: 500 }))),
    entitlement: Type.Optional(Nullable(Type.String({ maxLength: 64 }))),
    costWeight: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    historyParam: Type.Optional(Nullable(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' }))),
    description: Type.Optional(Type.String({ maxLength: 1000 })),
    isActive: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type CreateRouteBody = Static<typeof CreateRouteBodySchema>;

export const UpdateRouteBodySchema = Type.Partial(Type.Omit(CreateRouteBodySchema, ['method', 'path']), {
  additionalProperties: false,
  minProperties: 1,
});
export type UpdateRouteBody = Static<typeof UpdateRouteBodySchema>;

export const CreatePlanBodySchema = Type.Object(
  {
    code: Slug,
    name: Type.String({ minLength: 1, maxLength: 200 }),
    description: Type.Optional(Type.String({ maxLength: 2000 })),
    monthlyFee: Type.Optional(Nullable(Money)),
    perCallFee: Type.Optional(Nullable(Money)),
    rateLimit: Type.Integer({ minimum: 1, maximum: 10_000_000 }),
    burstLimit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000 })),
    rateLimitAlgorithm: Type.Optional(Type.Enum([...RATE_LIMIT_ALGORITHMS])),
    dailyCap: Type.Optional(Nullable(Type.Integer({ minimum: 1 }))),
    quota: Type.Optional(Nullable(Type.Integer({ minimum: 1 }))),
    entitlements: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 100 })),
    limits: Type.Optional(PlanLimitsSchema),
    isCustom: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type CreatePlanBody = Static<typeof CreatePlanBodySchema>;

export const UpdatePlanBodySchema = Type.Partial(Type.Omit(CreatePlanBodySchema, ['code']), {
  additionalProperties: false,
  minProperties: 1,
});
export type UpdatePlanBody = Static<typeof UpdatePlanBodySchema>;

// ---------- accounts ----------

export const USER_ROLES = ['customer', 'admin'] as const;
export type UserRole = (typeof USER_ROLES)[number];

export const UserSchema = Type.Object(
  {
    id: Type.String(),
    email: Type.String(),
    role: Type.Enum([...USER_ROLES]),
    createdAt: DateTime,
  }
);
export type UserView = Static<typeof UserSchema>;

export const CredentialsBodySchema = Type.Object(
  {
    email: Type.String({ format: 'email', maxLength: 254 }),
    password: Type.String({ minLength: 8, maxLength: 200 }),
  },
  { additionalProperties: false },
);
export type CredentialsBody = Static<typeof CredentialsBodySchema>;

export const SessionResponseSchema = Type.Object({ token: Type.String(), user: UserSchema });

export const SUBSCRIPTION_STATUSES = [
  'pending_payment',
  'active',
  'past_due',
  'suspended',
  'expired',
  'cancelled',
] as const;
export type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number];

export const SubscriptionSchema = Type.Object(
  {
    id: Type.String(),
    userId: Type.String(),
    planId: Type.String(),
    planCode: Type.String(),
    productId: Type.String(),
    status: Type.Enum([...SUBSCRIPTION_STATUSES]),
    currentPeriodStart: DateTime,
    currentPeriodEnd: DateTime,
    /** A downgrade that takes effect at the period end. */
    scheduledPlanId: Nullable(Type.String()),
    cancelAtPeriodEnd: Type.Boolean(),
    createdAt: DateTime,
  }
);
export type SubscriptionView = Static<typeof SubscriptionSchema>;

export const CreateSubscriptionBodySchema = Type.Object(
  { planId: Type.String({ minLength: 1, maxLength: 100 }) },
  { additionalProperties: false },
);

export const GrantSubscriptionBodySchema = Type.Object(
  { email: Type.String({ format: 'email' }), planCode: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);

// ---------- API keys ----------

export const KEY_STATUSES = ['active', 'suspended', 'expired', 'revoked'] as const;
export type KeyStatus = (typeof KEY_STATUSES)[number];

const Cidr = Type.String({ minLength: 2, maxLength: 64 });
const Metadata = Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), { maxProperties: 50 });

export const ApiKeySchema = Type.Object(
  {
    id: Type.String(),
    planId: Type.String(),
    subscriptionId: Nullable(Type.String()),
    label: Nullable(Type.String()),
    /** The first characters of the key and its last four, for recognising it in the portal. */
    displayPrefix: Type.String(),
    lastFour: Type.String(),
    ipWhitelist: Type.Array(Type.String()),
    scopes: Type.Array(Type.String()),
    metadata: Type.Record(Type.String(), Type.Unknown()),
    isSandbox: Type.Boolean(),
    status: Type.Enum([...KEY_STATUSES]),
    revoked: Type.Boolean(),
    usageCount: Type.Integer(),
    quotaResetAt: Nullable(DateTime),
    lastUsedAt: Nullable(DateTime),
    expiresAt: Nullable(DateTime),
    createdAt: DateTime,
    updatedAt: DateTime,
    plan: Type.Object({
      code: Type.String(),
      name: Type.String(),
      productId: Type.String(),
      rateLimit: Type.Integer(),
      burstLimit: Type.Integer(),
      dailyCap: Nullable(Type.Integer()),
      quota: Nullable(Type.Integer()),
    }),
  }
);
export type ApiKeyView = Static<typeof ApiKeySchema>;

export const CreateKeyBodySchema = Type.Object(
  {
    planId: Type.String({ minLength: 1, maxLength: 100, description: 'Plan ID or plan code' }),
    label: Type.Optional(Type.String({ maxLength: 200 })),
    ipWhitelist: Type.Optional(Type.Array(Cidr, { maxItems: 100 })),
    isSandbox: Type.Optional(Type.Boolean()),
    metadata: Type.Optional(Metadata),
    expiresAt: Type.Optional(DateTime),
    scopes: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 50 })),
  },
  { additionalProperties: false },
);
export type CreateKeyBody = Static<typeof CreateKeyBodySchema>;

export const UpdateKeyBodySchema = Type.Object(
  {
    label: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
    ipWhitelist: Type.Optional(Type.Array(Cidr, { maxItems: 100 })),
    metadata: Type.Optional(Metadata),
    expiresAt: Type.Optional(Nullable(DateTime)),
    scopes: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 50 })),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateKeyBody = Static<typeof UpdateKeyBodySchema>;

export const CreatedKeySchema = Type.Object({
  /** The secret key. Shown this once; Tollgate keeps only its sha256. */
  key: Type.String(),
  apiKey: ApiKeySchema,
});

// ---------- usage ----------

export const USAGE_GROUP_BY = ['hour', 'day', 'month'] as const;
export type UsageGroupBy = (typeof USAGE_GROUP_BY)[number];

const DateOnlyOrTime = Type.String({
  pattern: '^\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}:\\d{2}))?$',
});

export const UsageQuerySchema = Type.Object(
  {
    apiKeyId: Type.Optional(Type.String({ maxLength: 100 })),
    productId: Type.Optional(Type.String({ maxLength: 100 })),
    startDate: Type.Optional(DateOnlyOrTime),
    endDate: Type.Optional(DateOnlyOrTime),
    groupBy: Type.Optional(Type.Enum([...USAGE_GROUP_BY], { default: 'hour' })),
  },
  { additionalProperties: false },
);
export type UsageQuery = Static<typeof UsageQuerySchema>;

export const UsageStatsSchema = Type.Object(
  {
    totalRequests: Type.Integer(),
    totalBandwidth: Type.Integer(),
    averageLatency: Type.Number(),
    /** Percentage of calls answered with a status of 400 or more. */
    errorRate: Type.Number(),
    topEndpoints: Type.Array(Type.Object({ path: Type.String(), count: Type.Integer() })),
    requestsByHour: Type.Array(Type.Object({ hour: DateTime, count: Type.Integer() })),
    statusCodeDistribution: Type.Record(Type.String(), Type.Integer()),
    startDate: DateTime,
    endDate: DateTime,
    groupBy: Type.String(),
  }
);
export type UsageStats = Static<typeof UsageStatsSchema>;
