import { Type, type Static, type TSchema } from 'typebox';
import { DateTime, Nullable, PaginationSchema } from './schemas.ts';

/*
 * The webhook event catalog: every event a customer can subscribe to, with the JSON schema of
 * its `payload`. Served at GET /api/v1/api-marketplace/webhooks/events; the delivery body is
 * `{ webhookId, eventId, event, timestamp, payload }` (the blueprint's shape plus the event id).
 */

const ApiKeyPayload = Type.Object({
  apiKeyId: Type.String(),
  planId: Type.String(),
  label: Nullable(Type.String()),
  displayPrefix: Type.String(),
  lastFour: Type.String(),
  isSandbox: Type.Boolean(),
});

const QuotaPeriod = Type.Enum(['day', 'month'], { description: '`day`: the daily cap; `month`: the monthly quota' });

const InvoicePayload = Type.Object({
  invoiceId: Type.String(),
  number: Type.String(),
  status: Type.String(),
  currency: Type.String(),
  total: Type.Number({ description: 'Major units (3898.50)' }),
});

export const WEBHOOK_EVENT_CATALOG = {
  'key.created': { category: 'key', description: 'An API key was created', payload: ApiKeyPayload },
  'key.revoked': { category: 'key', description: 'An API key was revoked', payload: ApiKeyPayload },
  'key.rotated': {
    category: 'key',
    description: 'An API key was replaced by a new one; the old one stopped working',
    payload: Type.Object({ apiKeyId: Type.String(), replacedBy: Type.String(), planId: Type.String() }),
  },
  'usage.threshold': {
    category: 'usage',
    description: "A key reached 90 % of its plan's monthly quota or daily cap (once per key and period)",
    payload: Type.Object({
      apiKeyId: Type.String(),
      period: QuotaPeriod,
      periodStart: Type.String({ description: '2026-11 or 2026-11-23' }),
      usage: Type.Integer(),
      quota: Type.Integer(),
      percentage: Type.Integer(),
      threshold: Type.Integer(),
    }),
  },
  'quota.exceeded': {
    category: 'usage',
    description: 'A key used up its monthly quota or daily cap: further calls are refused, or billed as overage on per-call plans (once per key and period)',
    payload: Type.Object({
      apiKeyId: Type.String(),
      period: QuotaPeriod,
      periodStart: Type.String(),
      usage: Type.Integer(),
      quota: Type.Integer(),
      overage: Type.Boolean({ description: 'true when calls go on and are billed per call' }),
    }),
  },
  'quota.reset': {
    category: 'usage',
    description: "A new month began: the key's monthly quota is available again",
    payload: Type.Object({ apiKeyId: Type.String(), periodStart: Type.String(), quota: Type.Integer(), previousUsage: Type.Integer() }),
  },
  'invoice.created': { category: 'billing', description: 'An invoice was issued', payload: InvoicePayload },
  'invoice.paid': { category: 'billing', description: 'An invoice was paid', payload: InvoicePayload },
  'invoice.failed': { category: 'billing', description: 'A payment of an invoice failed', payload: InvoicePayload },
  'meme.created': {
    category: 'data',
    description: 'CryptoMeme: a new meme was added',
    payload: Type.Object({ meme_id: Type.String(), name: Type.String(), token_mint: Nullable(Type.String()), timestamp: DateTime }),
  },
  'meme.verified': {
    category: 'data',
    description: 'CryptoMeme: a meme received a culture seal',
    payload: Type.Object({ meme_id: Type.String(), seal_score: Type.Integer(), seal_token: Type.String(), timestamp: DateTime }),
  },
  'token.security_changed': {
    category: 'data',
    description: "CryptoMeme: a token's security score changed",
    payload: Type.Object({ mint: Type.String(), old_score: Type.Integer(), new_score: Type.Integer(), alerts: Type.Array(Type.String()), timestamp: DateTime }),
  },
  'token.rug_detected': {
    category: 'data',
    description: 'CryptoMeme: a potential rug pull was detected',
    payload: Type.Object({ mint: Type.String(), indicators: Type.Array(Type.String()), severity: Type.String(), timestamp: DateTime }),
  },
} as const satisfies Record<string, { category: 'key' | 'usage' | 'billing' | 'data'; description: string; payload: TSchema }>;

export type WebhookEventType = keyof typeof WEBHOOK_EVENT_CATALOG;
export const WEBHOOK_EVENT_TYPES = Object.keys(WEBHOOK_EVENT_CATALOG) as WebhookEventType[];

/** Product whose data events come from its upstream's event stream: only its subscribers get them. */
export const DATA_EVENT_PRODUCT = 'cryptomeme-api';

export function isWebhookEventType(value: string): value is WebhookEventType {
  return Object.hasOwn(WEBHOOK_EVENT_CATALOG, value);
}

export const WebhookEventInfoSchema = Type.Object({
  type: Type.String(),
  category: Type.String(),
  description: Type.String(),
  /** JSON Schema of the delivery's `payload`. */
  payloadSchema: Type.Unknown(),
});

export const WEBHOOK_STATUSES = ['pending', 'active', 'paused', 'deleted'] as const;
export type WebhookStatus = (typeof WEBHOOK_STATUSES)[number];
export const WEBHOOK_PAUSE_REASONS = ['failures', 'gone', 'owner'] as const;
export type WebhookPauseReason = (typeof WEBHOOK_PAUSE_REASONS)[number];

const EventList = Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 50, uniqueItems: true });

export const WebhookSchema = Type.Object({
  id: Type.String(),
  url: Type.String(),
  description: Nullable(Type.String()),
  events: Type.Array(Type.String()),
  /** pending until the endpoint answers the verification event with 2xx. */
  status: Type.Enum([...WEBHOOK_STATUSES]),
  /** Why a paused endpoint is paused: `failures` (circuit breaker), `gone` (it answered 410), `owner`. */
  pausedReason: Nullable(Type.Enum([...WEBHOOK_PAUSE_REASONS])),
  isActive: Type.Boolean(),
  consecutiveFailures: Type.Integer(),
  /** Until then the previous secret signs alongside the current one. */
  previousSecretExpiresAt: Nullable(DateTime),
  lastDeliveryAt: Nullable(DateTime),
  verifiedAt: Nullable(DateTime),
  createdAt: DateTime,
  updatedAt: DateTime,
});
export type WebhookView = Static<typeof WebhookSchema>;

export const CreateWebhookBodySchema = Type.Object(
  {
    url: Type.String({ minLength: 8, maxLength: 2048 }),
    events: EventList,
    /** `whsec_` + base64 of 24-64 bytes; generated when absent. */
    secret: Type.Optional(Type.String({ minLength: 10, maxLength: 200 })),
    description: Type.Optional(Type.String({ maxLength: 500 })),
    /** false creates the endpoint paused. */
    isActive: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type CreateWebhookBody = Static<typeof CreateWebhookBodySchema>;

export const UpdateWebhookBodySchema = Type.Object(
  {
    url: Type.Optional(Type.String({ minLength: 8, maxLength: 2048 })),
    events: Type.Optional(EventList),
    description: Type.Optional(Nullable(Type.String({ maxLength: 500 }))),
    /** false pauses the endpoint; true resumes a paused one and delivers its backlog. */
    isActive: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateWebhookBody = Static<typeof UpdateWebhookBodySchema>;

export const WebhookWithSecretSchema = Type.Object({
  webhook: WebhookSchema,
  /** The signing secret. Shown this once; Tollgate stores it encrypted. */
  secret: Type.String(),
});

export const DELIVERY_STATUSES = ['pending', 'succeeded', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export const DeliveryAttemptSchema = Type.Object({
  attempt: Type.Integer(),
  at: DateTime,
  durationMs: Type.Integer(),
  statusCode: Nullable(Type.Integer()),
  error: Nullable(Type.String()),
  /** The first 4 KiB of the endpoint's answer at most. */
  responseExcerpt: Nullable(Type.String()),
});

export const DeliverySchema = Type.Object({
  id: Type.String(),
  webhookId: Type.String(),
  eventId: Type.String(),
  event: Type.String(),
  status: Type.Enum([...DELIVERY_STATUSES]),
  attempts: Type.Integer(),
  nextAttemptAt: Nullable(DateTime),
  lastStatusCode: Nullable(Type.Integer()),
  createdAt: DateTime,
  deliveredAt: Nullable(DateTime),
  attemptLog: Type.Array(DeliveryAttemptSchema),
});
export type DeliveryView = Static<typeof DeliverySchema>;

export const DeliveryListSchema = Type.Object({ deliveries: Type.Array(DeliverySchema), pagination: PaginationSchema });

export const DeliveryQuerySchema = Type.Object({
  status: Type.Optional(Type.Enum([...DELIVERY_STATUSES])),
  page: Type.Optional(Type.Integer({ minimum: 1, default: 1 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
});
