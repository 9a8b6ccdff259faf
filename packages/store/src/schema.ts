import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  date,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  smallint,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import type { PlanLimits } from '@tollgate/contracts';

/*
 * One schema for PGlite and PostgreSQL 15. IDs are prefixed text generated in code (PGlite's
 * PostgreSQL 18 has uuidv7(), 15 does not). Money: `*_minor` bigint in minor units, per-call
 * fees in micro-units. bigints are read as JS numbers (mode 'number'): counts stay far below 2^53.
 */

const createdAt = () => timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow();
const updatedAt = () => timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow();
const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const users = pgTable('users', {
  id: text('id').primaryKey(),
  email: text('email').notNull(),
  passwordHash: text('password_hash').notNull(),
  role: text('role').notNull().default('customer'),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
}, (t) => [uniqueIndex('users_email_key').on(sql`lower(${t.email})`)]);

export const sessions = pgTable('sessions', {
  id: text('id').primaryKey(),
  tokenHash: text('token_hash').notNull(),
  userId: text('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  expiresAt: tstz('expires_at').notNull(),
  createdAt: createdAt(),
}, (t) => [uniqueIndex('sessions_token_hash_key').on(t.tokenHash), index('sessions_user_id_idx').on(t.userId)]);

export const products = pgTable('products', {
  id: text('id').primaryKey(),
  slug: text('slug').notNull(),
  name: text('name').notNull(),
  description: text('description'),
  publicDocs: text('public_docs'),
  category: text('category').notNull(),
  defaultPlan: text('default_plan'),
  features: jsonb('features').$type<string[]>().notNull().default([]),
  currency: text('currency').notNull(),
  isActive: boolean('is_active').notNull().default(true),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
}, (t) => [
  uniqueIndex('products_slug_key').on(t.slug),
  index('products_category_idx').on(t.category),
  index('products_is_active_idx').on(t.isActive),
]);

export const productRoutes = pgTable('product_routes', {
  id: text('id').primaryKey(),
  productId: text('product_id').notNull().references(() => products.id),
  method: text('method').notNull(),
  path: text('path').notNull(),
  upstreamUrl: text('upstream_url'),
  entitlement: text('entitlement'),
  costWeight: integer('cost_weight').notNull().default(1),
  /** Query parameter holding the start of a history request (`from`): the plan's historyDays bounds it. */
  historyParam: text('history_param'),
  description: text('description'),
  isActive: boolean('is_active').notNull().default(true),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
}, (t) => [
  // The gateway's path space is global: one method + path belongs to exactly one product.
  uniqueIndex('product_routes_method_path_key').on(t.method, t.path),
  index('product_routes_product_id_idx').on(t.productId),
]);

export const plans = pgTable('plans', {
  id: text('id').primaryKey(),
  productId: text('product_id').notNull().references(() => products.id),
  code: text('code').notNull(),
  name: text('name').notNull(),
  description: text('description'),
  currency: text('currency').notNull(),
  monthlyFeeMinor: bigint('monthly_fee_minor', { mode: 'number' }),
  perCallFeeMicros: bigint('per_call_fee_micros', { mode: 'number' }),
  rateLimitPerMinute: integer('rate_limit_per_minute').notNull(),
  burst: integer('burst').notNull(),
  rateLimitAlgorithm: text('rate_limit_algorithm').notNull().default('token-bucket'),
  dailyCap: integer('daily_cap'),
  monthlyQuota: bigint('monthly_quota', { mode: 'number' }),
  entitlements: jsonb('entitlements').$type<string[]>().notNull().default([]),
  limits: jsonb('limits').$type<PlanLimits>().notNull().default({}),
  isCustom: boolean('is_custom').notNull().default(false),
  /** Set on a custom plan made for one customer (their enterprise price and limits): not in the public catalog. */
  customerId: text('customer_id'),
  isActive: boolean('is_active').notNull().default(true),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
}, (t) => [uniqueIndex('plans_code_key').on(t.code), index('plans_product_id_idx').on(t.productId)]);

export const subscriptions = pgTable('subscriptions', {
  id: text('id').primaryKey(),
  userId: text('user_id').notNull().references(() => users.id),
  planId: text('plan_id').notNull().references(() => plans.id),
  status: text('status').notNull(),
  currentPeriodStart: tstz('current_period_start').notNull(),
  currentPeriodEnd: tstz('current_period_end').notNull(),
  /** A downgrade waiting for the period end (upgrades change `plan_id` at once). */
  scheduledPlanId: text('scheduled_plan_id').references(() => plans.id),
  cancelAtPeriodEnd: boolean('cancel_at_period_end').notNull().default(false),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
}, (t) => [
  // One live subscription per customer and plan; ended ones stay for history.
  uniqueIndex('subscriptions_live_key')
    .on(t.userId, t.planId)
    .where(sql`status not in ('cancelled', 'expired')`),
  index('subscriptions_plan_id_idx').on(t.planId),
]);

export const apiKeys = pgTable('api_keys', {
  id: text('id').primaryKey(),
  userId: text('user_id').notNull().references(() => users.id),
  planId: text('plan_id').notNull().references(() => plans.id),
  subscriptionId: text('subscription_id').references(() => subscriptions.id),
  keyHash: text('key_hash').notNull(),
  displayPrefix: text('display_prefix').notNull(),
  lastFour: text('last_four').notNull(),
  label: text('label'),
  ipWhitelist: jsonb('ip_whitelist').$type<string[]>().notNull().default([]),
  scopes: jsonb('scopes').$type<string[]>().notNull().default([]),
  metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
  isSandbox: boolean('is_sandbox').notNull().default(false),
  status: text('status').notNull().default('active'),
  /** Calls and last use before migration 0012; since, `usage_counters` holds them (KeyRepository adds the two). */
  usageCount: bigint('usage_count', { mode: 'number' }).notNull().default(0),
  lastUsedAt: tstz('last_used_at'),
  expiresAt: tstz('expires_at'),
  revokedAt: tstz('revoked_at'),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
}, (t) => [
  uniqueIndex('api_keys_key_hash_key').on(t.keyHash),
  index('api_keys_user_id_idx').on(t.userId),
  index('api_keys_plan_id_idx').on(t.planId),
  index('api_keys_subscription_id_idx').on(t.subscriptionId),
  index('api_keys_status_idx').on(t.status),
]);

/**
 * The call log: one record per gateway call, refused ones included, stored in blocks of up to
 * 1,000 calls of one UTC hour and one usage batch, as TimescaleDB stores compressed chunks: a row per
 * call cost PGlite ~20 µs (heap, WAL and index entries for ~250 bytes), a block costs it ~1 µs a
 * call. `strings` holds each distinct text of the block once; `records` holds one line per call
 * of tab-separated fields, texts as 1-based positions in `strings` (empty for null), numbers in
 * decimal. Two formats, told apart by `format`:
 * - 1 (migration 0009): sixteen fields in the columns' order of the `api_usage` view, request ids
 *   in `strings`, `is_sandbox` as 1/0 and `created_at` as milliseconds after `first_at`.
 * - 2 (migration 0011, what the writer writes): seven fields: the request id's head (a position)
 *   and tail (its last characters, as they are), the call's shape, `bytes_in`, `bytes_out`,
 *   `latency_ms`, and milliseconds after `first_at`. A shape is itself a line in `strings` of
 *   the call's other fields (key, user, product, route, route path, path, method, status, error
 *   code, address, sandbox 1/0, and since migration 0014 how the call counted toward its key's
 *   quotas: 0 not, 1 counted, 2 counted as overage), texts as positions: calls of one key and
 *   endpoint share it.
 * Read it through the `api_usage` view, which turns blocks back into rows; analytics read the
 * rollups. Pruned a whole block at a time, by `last_at`. `rollup_pending`: the block's calls are
 * not in the minute rollups yet (the writer folds a minute's worth in memory, migration 0013);
 * whoever folds them clears it in the same transaction, and a block left pending by a writer that
 * stopped is folded from its own lines. `counters_pending` (migration 0014): the same for the
 * keys' counters (`usage_counters`); set with `rollup_pending`, and cleared with it or after it
 * (the writer holds the counters longer, migration 0015).
 */
export const apiUsageBlocks = pgTable('api_usage_blocks', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  format: smallint('format').notNull().default(1),
  firstAt: tstz('first_at').notNull(),
  lastAt: tstz('last_at').notNull(),
  count: integer('count').notNull(),
  strings: text('strings').array().notNull(),
  records: text('records').notNull(),
  rollupPending: boolean('rollup_pending').notNull().default(false),
  countersPending: boolean('counters_pending').notNull().default(false),
}, (t) => [
  index('api_usage_blocks_last_at_brin_idx').using('brin', t.lastAt),
  index('api_usage_blocks_pending_idx').on(t.id).where(sql`rollup_pending or counters_pending`),
]);

/** Call records written one row each, before migration 0009; read with the blocks through `api_usage`, pruned by time. */
export const apiUsageRows = pgTable('api_usage_rows', {
  requestId: text('request_id').notNull(),
  apiKeyId: text('api_key_id'),
  userId: text('user_id'),
  productId: text('product_id'),
  routeId: text('route_id'),
  /** The route's pattern (`/v1/tokens/{mint}/price`), so analytics group calls by endpoint. */
  routePath: text('route_path'),
  path: text('path').notNull(),
  method: text('method').notNull(),
  statusCode: integer('status_code').notNull(),
  errorCode: text('error_code'),
  bytesIn: integer('bytes_in').notNull().default(0),
  bytesOut: integer('bytes_out').notNull().default(0),
  latencyMs: integer('latency_ms').notNull().default(0),
  ip: text('ip'),
  isSandbox: boolean('is_sandbox').notNull().default(false),
  createdAt: tstz('created_at').notNull(),
}, (t) => [
  index('api_usage_key_id_created_idx').on(t.apiKeyId, t.createdAt),
  index('api_usage_created_brin_idx').using('brin', t.createdAt),
]);

/**
 * One row per usage batch written: a writer that retries a batch whose commit it could not
 * confirm finds its id here and writes nothing twice. Pruned with the call records.
 */
export const usageBatches = pgTable('usage_batches', {
  id: text('id').primaryKey(),
  createdAt: createdAt(),
});

/**
 * Calls per minute, key, product, endpoint and status, written with the raw records in one
 * transaction: analytics (`GET /usage`) read these, so they cost the same for ten calls or ten
 * million. '' stands for "none" (a call refused before its key was known has no key).
 */
export const usageRollups = pgTable('usage_rollups', {
  minute: tstz('minute').notNull(),
  apiKeyId: text('api_key_id').notNull(),
  userId: text('user_id').notNull(),
  productId: text('product_id').notNull(),
  endpoint: text('endpoint').notNull(),
  statusCode: integer('status_code').notNull(),
  count: bigint('count', { mode: 'number' }).notNull(),
  bytes: bigint('bytes', { mode: 'number' }).notNull(),
  latencyMsSum: bigint('latency_ms_sum', { mode: 'number' }).notNull(),
}, (t) => [
  primaryKey({ columns: [t.apiKeyId, t.minute, t.endpoint, t.statusCode, t.userId, t.productId] }),
  index('usage_rollups_user_minute_idx').on(t.userId, t.minute),
  index('usage_rollups_product_minute_idx').on(t.productId, t.minute),
]);

/**
 * The counts that enforce monthly quotas and daily caps and bill overage, one row per key and
 * month (`period` 'month:2026-11'): admitted calls (`count`) and those past the quota
 * (`overage`); the admitted calls of the latest day the key was called that month (`day`,
 * `day_count`: a cap only needs today's); every call with the key, refused ones included, and
 * the last one's time (the key's usage count and last use). Persisted so a restart does not
 * reset them. Until migration 0012 a day had a row of its own ('day:2026-11-23') and the key's
 * usage was updated on `api_keys`: four row writes a key and batch became two with the rollup.
 */
export const usageCounters = pgTable('usage_counters', {
  apiKeyId: text('api_key_id').notNull(),
  period: text('period').notNull(),
  count: bigint('count', { mode: 'number' }).notNull().default(0),
  overage: bigint('overage', { mode: 'number' }).notNull().default(0),
  day: date('day', { mode: 'string' }),
  dayCount: bigint('day_count', { mode: 'number' }).notNull().default(0),
  calls: bigint('calls', { mode: 'number' }).notNull().default(0),
  lastUsedAt: tstz('last_used_at'),
  updatedAt: updatedAt(),
}, (t) => [primaryKey({ columns: [t.apiKeyId, t.period] })]);

/** Append-only; each row carries the hash of the one before, so tampering shows. */
export const auditEvents = pgTable('audit_events', {
  seq: bigserial('seq', { mode: 'number' }).primaryKey(),
  id: text('id').notNull(),
  actorId: text('actor_id'),
  action: text('action').notNull(),
  resourceType: text('resource_type').notNull(),
  resourceId: text('resource_id'),
  data: jsonb('data').$type<Record<string, unknown>>().notNull().default({}),
  prevHash: text('prev_hash').notNull(),
  hash: text('hash').notNull(),
  createdAt: createdAt(),
}, (t) => [index('audit_events_resource_idx').on(t.resourceType, t.resourceId)]);

/** Instance-wide settings, e.g. whether the demo catalog was seeded. */
export const settings = pgTable('settings', {
  key: text('key').primaryKey(),
  value: jsonb('value').notNull(),
  updatedAt: updatedAt(),
});

/**
 * A customer's webhook endpoint. The signing secret is stored sealed (AES-256-GCM under
 * MASTER_KEY); after a rotation the previous one keeps signing until `previous_secret_expires_at`.
 * One delivery worker at a time holds an endpoint (`lease_*`), which keeps its deliveries in order.
 */
export const webhookEndpoints = pgTable('webhook_endpoints', {
  id: text('id').primaryKey(),
  userId: text('user_id').notNull().references(() => users.id),
  url: text('url').notNull(),
  description: text('description'),
  events: jsonb('events').$type<string[]>().notNull(),
  secretSealed: text('secret_sealed').notNull(),
  previousSecretSealed: text('previous_secret_sealed'),
  previousSecretExpiresAt: tstz('previous_secret_expires_at'),
  status: text('status').notNull().default('pending'),
  pausedReason: text('paused_reason'),
  consecutiveFailures: integer('consecutive_failures').notNull().default(0),
  leaseOwner: text('lease_owner'),
  leaseUntil: tstz('lease_until'),
  lastDeliveryAt: tstz('last_delivery_at'),
  verifiedAt: tstz('verified_at'),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
}, (t) => [index('webhook_endpoints_user_id_idx').on(t.userId), index('webhook_endpoints_status_idx').on(t.status)]);

/**
 * The outbox: events are written in the transaction of the change that causes them, then fanned
 * out to the subscribed endpoints' delivery queues (`dispatched_at`). `dedupe_key` makes
 * "once per key and period" events idempotent. `endpoint_id` targets one endpoint (test and
 * verification events); `user_id` null is a data event for every entitled subscriber.
 */
export const webhookEvents = pgTable('webhook_events', {
  seq: bigserial('seq', { mode: 'number' }).primaryKey(),
  id: text('id').notNull(),
  type: text('type').notNull(),
  userId: text('user_id'),
  endpointId: text('endpoint_id'),
  dedupeKey: text('dedupe_key'),
  payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
  occurredAt: tstz('occurred_at').notNull(),
  dispatchedAt: tstz('dispatched_at'),
}, (t) => [
  uniqueIndex('webhook_events_id_key').on(t.id),
  // Partial: most events have no dedupe key, and each would otherwise cost an index entry.
  uniqueIndex('webhook_events_dedupe_key').on(t.dedupeKey).where(sql`dedupe_key is not null`),
  index('webhook_events_undispatched_idx').on(t.seq).where(sql`dispatched_at is null`),
]);

/**
 * One event for one endpoint: its place in the endpoint's queue (`seq`), where it stands, and its
 * latest attempt (`last_*`; the earlier ones are in `webhook_attempts`), so a delivery that
 * succeeds at once is one insert and one update. The id is derived from the endpoint and the
 * event, so fanning an event out twice (a dispatcher retrying) cannot queue it twice. Every index
 * here is paid on each delivery twice (the status update cannot be HOT), so there are few.
 */
export const webhookDeliveries = pgTable('webhook_deliveries', {
  id: text('id').primaryKey(),
  seq: bigserial('seq', { mode: 'number' }).notNull(),
  endpointId: text('endpoint_id').notNull().references(() => webhookEndpoints.id),
  eventId: text('event_id').notNull(),
  eventType: text('event_type').notNull(),
  status: text('status').notNull().default('pending'),
  attempts: integer('attempts').notNull().default(0),
  /** `attempts` when the delivery was last replayed: the retry budget counts from there. */
  roundStart: integer('round_start').notNull().default(0),
  nextAttemptAt: tstz('next_attempt_at'),
  lastAttemptAt: tstz('last_attempt_at'),
  lastDurationMs: integer('last_duration_ms'),
  lastStatusCode: integer('last_status_code'),
  lastError: text('last_error'),
  lastResponseExcerpt: text('last_response_excerpt'),
  createdAt: createdAt(),
  deliveredAt: tstz('delivered_at'),
}, (t) => [
  index('webhook_deliveries_endpoint_seq_idx').on(t.endpointId, t.seq),
  index('webhook_deliveries_pending_idx').on(t.endpointId, t.seq).where(sql`status = 'pending'`),
]);

/** A delivery's attempts before its latest (which is on the delivery row): with it, the delivery log customers read. */
export const webhookAttempts = pgTable('webhook_attempts', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  deliveryId: text('delivery_id').notNull(),
  attempt: integer('attempt').notNull(),
  startedAt: tstz('started_at').notNull(),
  durationMs: integer('duration_ms').notNull(),
  statusCode: integer('status_code'),
  error: text('error'),
  responseExcerpt: text('response_excerpt'),
}, (t) => [index('webhook_attempts_delivery_idx').on(t.deliveryId, t.attempt)]);

/** Who an invoice is addressed to; copied onto each invoice when it is issued, as the law requires. */
export const billingProfiles = pgTable('billing_profiles', {
  userId: text('user_id').primaryKey().references(() => users.id),
  name: text('name').notNull(),
  company: text('company'),
  vatNumber: text('vat_number'),
  /** ISO 3166-1 alpha-2; decides the VAT rate. */
  country: text('country').notNull(),
  email: text('email').notNull(),
  addressLines: jsonb('address_lines').$type<string[]>().notNull().default([]),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

/**
 * One invoice per customer, currency and period for the monthly cycle (`kind` cycle), plus the
 * first invoice of a subscription and upgrade charges. Numbers are given when an invoice leaves
 * `draft`, from `invoice_sequences` in the same transaction, so a year's numbers have no gaps.
 * `emailed_at` null on an issued invoice is the mail outbox; `dunning_stage` counts reminders.
 */
export const invoices = pgTable('invoices', {
  id: text('id').primaryKey(),
  userId: text('user_id').notNull().references(() => users.id),
  kind: text('kind').notNull(),
  currency: text('currency').notNull(),
  periodStart: tstz('period_start').notNull(),
  periodEnd: tstz('period_end').notNull(),
  status: text('status').notNull(),
  number: text('number'),
  year: integer('year'),
  sequence: bigint('sequence', { mode: 'number' }),
  subtotalMinor: bigint('subtotal_minor', { mode: 'number' }).notNull(),
  vatRateBps: integer('vat_rate_bps').notNull(),
  vatMinor: bigint('vat_minor', { mode: 'number' }).notNull(),
  totalMinor: bigint('total_minor', { mode: 'number' }).notNull(),
  amountPaidMinor: bigint('amount_paid_minor', { mode: 'number' }).notNull().default(0),
  buyer: jsonb('buyer').$type<Record<string, unknown>>().notNull(),
  issuedAt: tstz('issued_at'),
  dueAt: tstz('due_at'),
  paidAt: tstz('paid_at'),
  emailedAt: tstz('emailed_at'),
  dunningStage: integer('dunning_stage').notNull().default(0),
  metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
}, (t) => [
  // The cycle's idempotency: a second run for a period finds the invoice and creates nothing.
  uniqueIndex('invoices_cycle_key').on(t.userId, t.currency, t.periodStart).where(sql`kind = 'cycle'`),
  // The number is the year and sequence spelled out, so its uniqueness is theirs too.
  uniqueIndex('invoices_number_key').on(t.number),
  // The cycle's numbering phase walks a period's drafts in customer order.
  index('invoices_cycle_drafts_idx').on(t.periodStart, t.userId, t.currency).where(sql`kind = 'cycle' and status = 'draft'`),
  index('invoices_user_created_idx').on(t.userId, t.createdAt),
  index('invoices_status_due_idx').on(t.status, t.dueAt),
  index('invoices_unmailed_idx').on(t.createdAt).where(sql`emailed_at is null and status <> 'draft'`),
]);

export const invoiceLines = pgTable('invoice_lines', {
  invoiceId: text('invoice_id').notNull().references(() => invoices.id, { onDelete: 'cascade' }),
  position: integer('position').notNull(),
  /** The subscription a line bills: paying the invoice activates or reinstates it. */
  subscriptionId: text('subscription_id'),
  kind: text('kind').notNull(),
  description: text('description').notNull(),
  quantity: bigint('quantity', { mode: 'number' }).notNull(),
  unitPrice: bigint('unit_price', { mode: 'number' }).notNull(),
  unitPriceScale: text('unit_price_scale').notNull(),
  amountMinor: bigint('amount_minor', { mode: 'number' }).notNull(),
  proration: jsonb('proration').$type<{ days: number; daysInMonth: number }>(),
}, (t) => [primaryKey({ columns: [t.invoiceId, t.position] }), index('invoice_lines_subscription_idx').on(t.subscriptionId)]);

/** The last invoice number given per year; its row lock orders concurrent issuers. */
export const invoiceSequences = pgTable('invoice_sequences', {
  year: integer('year').primaryKey(),
  last: bigint('last', { mode: 'number' }).notNull(),
});

/** One attempt to pay an invoice through a gateway; `reference` is ours, sent to the provider. */
export const payments = pgTable('payments', {
  id: text('id').primaryKey(),
  invoiceId: text('invoice_id').notNull().references(() => invoices.id),
  userId: text('user_id').notNull(),
  gateway: text('gateway').notNull(),
  reference: text('reference').notNull(),
  providerReference: text('provider_reference'),
  paymentUrl: text('payment_url'),
  status: text('status').notNull(),
  amountMinor: bigint('amount_minor', { mode: 'number' }).notNull(),
  currency: text('currency').notNull(),
  failureReason: text('failure_reason'),
  completedAt: tstz('completed_at'),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
}, (t) => [uniqueIndex('payments_reference_key').on(t.reference), index('payments_invoice_idx').on(t.invoiceId)]);

/** Provider notifications already acted on: a callback delivered twice changes nothing twice. */
export const paymentEvents = pgTable('payment_events', {
  gateway: text('gateway').notNull(),
  providerEventId: text('provider_event_id').notNull(),
  paymentId: text('payment_id').notNull(),
  status: text('status').notNull(),
  receivedAt: tstz('received_at').notNull().defaultNow(),
}, (t) => [primaryKey({ columns: [t.gateway, t.providerEventId] })]);

/** One row per billing period run: its progress, for the admin API and the CLI. */
export const billingRuns = pgTable('billing_runs', {
  period: text('period').primaryKey(),
  asOf: tstz('as_of').notNull(),
  status: text('status').notNull(),
  customers: integer('customers').notNull().default(0),
  invoicesCreated: integer('invoices_created').notNull().default(0),
  invoicesIssued: integer('invoices_issued').notNull().default(0),
  startedAt: tstz('started_at').notNull(),
  finishedAt: tstz('finished_at'),
  error: text('error'),
});

/**
 * A method a customer's provider lets us charge again without them (a card authorization), saved
 * from a successful payment; dunning retries failed invoices with it. One per customer and
 * gateway (the latest); the token is sealed like webhook secrets.
 */
export const paymentMethods = pgTable('payment_methods', {
  userId: text('user_id').notNull().references(() => users.id),
  gateway: text('gateway').notNull(),
  tokenSealed: text('token_sealed').notNull(),
  label: text('label').notNull(),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
}, (t) => [primaryKey({ columns: [t.userId, t.gateway] })]);
