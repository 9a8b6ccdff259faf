import { and, asc, count, desc, eq, inArray, lt, ne, sql } from 'drizzle-orm';
import { DATA_EVENT_PRODUCT, type DeliveryStatus, type WebhookPauseReason, type WebhookStatus } from '@tollgate/contracts';
import { queryRows, type Db } from './database.ts';
import { newId } from './ids.ts';
import { webhookAttempts, webhookDeliveries, webhookEndpoints, webhookEvents } from './schema.ts';

type EndpointRow = typeof webhookEndpoints.$inferSelect;

export interface WebhookEndpoint extends Omit<EndpointRow, 'status' | 'pausedReason' | 'leaseOwner' | 'leaseUntil'> {
  status: WebhookStatus;
  pausedReason: WebhookPauseReason | null;
}

const toEndpoint = (row: EndpointRow): WebhookEndpoint => {
  const { leaseOwner: _owner, leaseUntil: _until, ...rest } = row;
  return { ...rest, status: row.status as WebhookStatus, pausedReason: row.pausedReason as WebhookPauseReason | null };
};

export interface NewWebhookEndpoint {
  userId: string;
  url: string;
  description: string | null;
  events: string[];
  secretSealed: string;
  status: WebhookStatus;
  pausedReason: WebhookPauseReason | null;
}

export type WebhookEndpointPatch = Partial<
  Pick<EndpointRow, 'url' | 'description' | 'events' | 'secretSealed' | 'previousSecretSealed' | 'previousSecretExpiresAt' | 'consecutiveFailures'>
> & { status?: WebhookStatus; pausedReason?: WebhookPauseReason | null };

export interface NewWebhookEvent {
  type: string;
  /** The account the event belongs to; null for a data event (every entitled subscriber). */
  userId: string | null;
  /** Only this endpoint receives it, whatever it subscribed to (verification and test events). */
  endpointId?: string | null;
  /** Events with the same key are stored once ("once per key and period"). */
  dedupeKey?: string | null;
  payload: Record<string, unknown>;
  occurredAt: Date;
}

/** A queued delivery with its event, as the worker sends it. */
export interface DeliveryToSend {
  id: string;
  eventId: string;
  eventType: string;
  payload: Record<string, unknown>;
  occurredAt: Date;
  attempts: number;
  roundStart: number;
  nextAttemptAt: Date;
}

/** A claimed endpoint: what the worker needs to sign and send. */
export interface ClaimedEndpoint {
  id: string;
  url: string;
  status: WebhookStatus;
  consecutiveFailures: number;
  secretSealed: string;
  previousSecretSealed: string | null;
  previousSecretExpiresAt: Date | null;
}

export interface AttemptRecord {
  deliveryId: string;
  endpointId: string;
  attempt: number;
  startedAt: Date;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  responseExcerpt: string | null;
  delivery: { status: DeliveryStatus; nextAttemptAt: Date | null };
  endpoint: { status: WebhookStatus; pausedReason: WebhookPauseReason | null; consecutiveFailures: number; verified: boolean };
  /** The worker's lease is extended to this with every attempt stored, so it lasts while it works. */
  leaseUntil: Date;
}

export interface DeliveryLogEntry {
  id: string;
  endpointId: string;
  eventId: string;
  eventType: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: Date | null;
  lastStatusCode: number | null;
  createdAt: Date;
  deliveredAt: Date | null;
  attemptLog: { attempt: number; startedAt: Date; durationMs: number; statusCode: number | null; error: string | null; responseExcerpt: string | null }[];
}

// Only one dispatcher fans events out at a time, so deliveries queue in the order events were stored.
const DISPATCH_LOCK_ID = 7_311_042_003;

/**
 * Appends events to the outbox with the caller's connection or transaction. Answers the ids of
 * the events stored (one already stored under the same dedupe key is not stored again).
 */
export async function insertWebhookEvents(db: Db, events: readonly NewWebhookEvent[]): Promise<string[]> {
  if (events.length === 0) return [];
  // Column arrays (`unnest`): one statement whatever the count, parsed far faster than row literals.
  const column = <T>(pick: (e: NewWebhookEvent) => T) => sql.param(events.map(pick));
  const rows = await queryRows<{ id: string }>(
    db,
    sql`insert into webhook_events (id, type, user_id, endpoint_id, dedupe_key, payload, occurred_at)
        select * from unnest(${sql.param(events.map(() => newId('webhookEvent')))}::text[], ${column((e) => e.type)}::text[],
          ${column((e) => e.userId)}::text[], ${column((e) => e.endpointId ?? null)}::text[], ${column((e) => e.dedupeKey ?? null)}::text[],
          ${column((e) => JSON.stringify(e.payload))}::jsonb[], ${column((e) => e.occurredAt.toISOString())}::timestamptz[])
        on conflict (dedupe_key) where dedupe_key is not null do nothing
        returning id`,
  );
  return rows.map((r) => r.id);
}

export class WebhookRepository {
  constructor(private readonly db: Db) {}

  emit(events: readonly NewWebhookEvent[]): Promise<string[]> {
    return insertWebhookEvents(this.db, events);
  }

  /**
   * Stores `quota.reset` for every active key with a monthly quota whose owner has an endpoint
   * subscribed to it, once per key and month (the id and dedupe key derive from both).
   */
  async emitQuotaResets(month: string, previousMonth: string, now: Date): Promise<number> {
    const rows = await queryRows<{ id: string }>(
      this.db,
      sql`insert into webhook_events (id, type, user_id, dedupe_key, payload, occurred_at)
          select 'evt_' || substr(md5('quota.reset/' || k.id || '/' || ${month}), 1, 22), 'quota.reset', k.user_id,
                 'quota.reset:' || k.id || ':' || ${month},
                 jsonb_build_object('apiKeyId', k.id, 'periodStart', ${month}::text, 'quota', p.monthly_quota, 'previousUsage', coalesce(c.count, 0)),
                 ${now.toISOString()}::timestamptz
          from api_keys k
          join plans p on p.id = k.plan_id
          left join usage_counters c on c.api_key_id = k.id and c.period = ${`month:${previousMonth}`}
          where k.status = 'active' and p.monthly_quota is not null
            and exists (select 1 from webhook_endpoints e where e.user_id = k.user_id and e.status <> 'deleted' and e.events @> '["quota.reset"]'::jsonb)
          on conflict (dedupe_key) where dedupe_key is not null do nothing
          returning id`,
    );
    return rows.length;
  }

  /**
   * Deletes endpoints paused by failures (the circuit breaker, or 410 Gone) since before
   * `before`; endpoints their owners paused stay. Answers how many went.
   */
  async deleteAbandoned(before: Date): Promise<number> {
    const rows = await this.db
      .update(webhookEndpoints)
      .set({ status: 'deleted', updatedAt: new Date() })
      .where(and(eq(webhookEndpoints.status, 'paused'), inArray(webhookEndpoints.pausedReason, ['failures', 'gone']), lt(webhookEndpoints.updatedAt, before)))
      .returning({ id: webhookEndpoints.id });
    return rows.length;
  }

  async createEndpoint(input: NewWebhookEndpoint): Promise<WebhookEndpoint> {
    const [row] = await this.db.insert(webhookEndpoints).values({ id: newId('webhook'), ...input }).returning();
    return toEndpoint(row as EndpointRow);
  }

  /** Not deleted; owner-scoped when `userId` is given. */
  async findEndpoint(id: string, userId?: string): Promise<WebhookEndpoint | null> {
    const [row] = await this.db
      .select()
      .from(webhookEndpoints)
      .where(and(eq(webhookEndpoints.id, id), ne(webhookEndpoints.status, 'deleted'), userId ? eq(webhookEndpoints.userId, userId) : undefined));
    return row ? toEndpoint(row) : null;
  }

  async listEndpoints(userId: string): Promise<WebhookEndpoint[]> {
    const rows = await this.db
      .select()
      .from(webhookEndpoints)
      .where(and(eq(webhookEndpoints.userId, userId), ne(webhookEndpoints.status, 'deleted')))
      .orderBy(asc(webhookEndpoints.createdAt), asc(webhookEndpoints.id));
    return rows.map(toEndpoint);
  }

  async countEndpoints(userId: string): Promise<number> {
    const [row] = await this.db
      .select({ n: count() })
      .from(webhookEndpoints)
      .where(and(eq(webhookEndpoints.userId, userId), ne(webhookEndpoints.status, 'deleted')));
    return Number(row?.n ?? 0);
  }

  async updateEndpoint(id: string, patch: WebhookEndpointPatch): Promise<WebhookEndpoint | null> {
    const [row] = await this.db
      .update(webhookEndpoints)
      .set({ ...patch, updatedAt: new Date() })
      .where(eq(webhookEndpoints.id, id))
      .returning();
    return row ? toEndpoint(row) : null;
  }

  /** Makes a paused endpoint active again; its waiting deliveries go out now, in order. */
  async resume(id: string, now: Date): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx
        .update(webhookEndpoints)
        .set({ status: 'active', pausedReason: null, consecutiveFailures: 0, updatedAt: now })
        .where(and(eq(webhookEndpoints.id, id), eq(webhookEndpoints.status, 'paused')));
      await tx
        .update(webhookDeliveries)
        .set({ nextAttemptAt: now })
        .where(and(eq(webhookDeliveries.endpointId, id), eq(webhookDeliveries.status, 'pending')));
    });
  }

  /**
   * Fans undispatched events out to the endpoints that receive them, oldest first, and marks
   * them dispatched, in one transaction. Only one dispatcher runs at a time (the others return
   * at once), so each endpoint's queue is in the order the events were stored. Answers the
   * number of events dispatched.
   */
  async dispatch(limit: number, now: Date): Promise<number> {
    // Most rounds find nothing: a plain read first spares them the locked transaction.
    const [waiting] = await queryRows<{ seq: number }>(this.db, sql`select seq from webhook_events where dispatched_at is null limit 1`);
    if (!waiting) return 0;
    return this.db.transaction(async (tx) => {
      const [lock] = await queryRows<{ locked: boolean }>(tx, sql`select pg_try_advisory_xact_lock(${DISPATCH_LOCK_ID}) as locked`);
      if (!lock?.locked) return 0;
      // One statement after the lock (taken first, so it reads what the last dispatcher committed):
      // mark the oldest events dispatched and queue their deliveries. Three plain joins rather than
      // one with OR, so each can use its index: events for one endpoint (verification, test), a
      // customer's own events, and data events for every subscriber entitled to them. A delivery's
      // id is derived from its event and endpoint: unique, and the same if fanned out again.
      const [row] = await queryRows<{ dispatched: number }>(tx, sql`
        with batch as (
          update webhook_events set dispatched_at = ${now.toISOString()}::timestamptz
          where seq in (select seq from webhook_events where dispatched_at is null order by seq limit ${limit})
          returning seq, id, type, user_id, endpoint_id
        ), targets as (
          select b.seq, b.id, b.type, e.id as endpoint_id from batch b
          join webhook_endpoints e on e.id = b.endpoint_id and e.status <> 'deleted'
          union all
          select b.seq, b.id, b.type, e.id from batch b
          join webhook_endpoints e on e.user_id = b.user_id and e.status <> 'deleted' and e.events @> jsonb_build_array(b.type)
          where b.endpoint_id is null
          union all
          select b.seq, b.id, b.type, e.id from batch b
          join webhook_endpoints e on e.status <> 'deleted' and e.events @> jsonb_build_array(b.type)
          where b.endpoint_id is null and b.user_id is null and exists (
            select 1 from subscriptions s
            join plans p on p.id = s.plan_id
            join products pr on pr.id = p.product_id
            where s.user_id = e.user_id and s.status = 'active' and pr.slug = ${DATA_EVENT_PRODUCT}
              and coalesce((p.limits->>'webhookEndpoints')::int, 1) > 0)
        ), queued as (
          insert into webhook_deliveries (id, endpoint_id, event_id, event_type, next_attempt_at)
          select 'whd_' || substr(md5(id || '/' || endpoint_id), 1, 22), endpoint_id, id, type, ${now.toISOString()}::timestamptz
          from targets
          order by seq, endpoint_id
          on conflict (id) do nothing
        )
        select count(*)::int as dispatched from batch`);
      return row?.dispatched ?? 0;
    });
  }

  /**
   * Leases up to `limit` endpoints whose next delivery is due to worker `owner` for `leaseMs`.
   * An endpoint is held by one worker at a time (a crashed worker's lease runs out), so its
   * deliveries go one after another, in order. A pending endpoint gets only its verification,
   * ahead of the events queued for it (after a URL change, say).
   */
  async claimEndpoints(owner: string, now: Date, leaseMs: number, limit: number, verificationEvent: string): Promise<ClaimedEndpoint[]> {
    const nowText = now.toISOString();
    return queryRows<ClaimedEndpoint>(
      this.db,
      sql`update webhook_endpoints set lease_owner = ${owner}, lease_until = ${new Date(now.getTime() + leaseMs).toISOString()}::timestamptz
          where id in (
            select e.id from webhook_endpoints e
            cross join lateral (
              select d.next_attempt_at from webhook_deliveries d
              where d.endpoint_id = e.id and d.status = 'pending' and (e.status = 'active' or d.event_type = ${verificationEvent})
              order by d.seq limit 1) head
            where e.status in ('active', 'pending')
              and head.next_attempt_at <= ${nowText}::timestamptz
              and (e.lease_until is null or e.lease_until < ${nowText}::timestamptz)
            order by head.next_attempt_at
            limit ${limit}
            for update of e skip locked)
          returning id, url, status, consecutive_failures as "consecutiveFailures", secret_sealed as "secretSealed",
                    previous_secret_sealed as "previousSecretSealed", previous_secret_expires_at as "previousSecretExpiresAt"`,
    ).then((rows) => rows.map((r) => ({ ...r, previousSecretExpiresAt: toDate(r.previousSecretExpiresAt) })));
  }

  /**
   * The endpoint's queue from its head, in order (due or not: the worker stops at the first not
   * due); only the deliveries of `eventType` when given.
   */
  async queuedDeliveries(endpointId: string, limit: number, eventType?: string): Promise<DeliveryToSend[]> {
    const rows = await this.db
      .select({
        id: webhookDeliveries.id,
        eventId: webhookDeliveries.eventId,
        eventType: webhookDeliveries.eventType,
        payload: webhookEvents.payload,
        occurredAt: webhookEvents.occurredAt,
        attempts: webhookDeliveries.attempts,
        roundStart: webhookDeliveries.roundStart,
        nextAttemptAt: webhookDeliveries.nextAttemptAt,
      })
      .from(webhookDeliveries)
      .innerJoin(webhookEvents, eq(webhookEvents.id, webhookDeliveries.eventId))
      .where(and(eq(webhookDeliveries.endpointId, endpointId), eq(webhookDeliveries.status, 'pending'), eventType ? eq(webhookDeliveries.eventType, eventType) : undefined))
      .orderBy(asc(webhookDeliveries.seq))
      .limit(limit);
    return rows.map((r) => ({ ...r, nextAttemptAt: r.nextAttemptAt ?? new Date(0) }));
  }

  /**
   * Stores attempts to one endpoint (in the order made) and their consequences in one
   * transaction, if worker `owner` still holds the endpoint. The endpoint's new state is the last
   * attempt's; it is applied only if nobody changed the status since the worker read it
   * (`fromStatus`: an owner pausing meanwhile wins). At most one attempt per delivery in a call.
   * Answers whether the worker may go on: false
   * when the lease was lost (the results are dropped) or the status was changed by someone else.
   */
  async recordAttempts(owner: string, fromStatus: WebhookStatus, records: readonly AttemptRecord[]): Promise<boolean> {
    const last = records.at(-1);
    if (!last) return true;
    if (new Set(records.map((r) => r.deliveryId)).size !== records.length) throw new Error('recordAttempts takes one attempt per delivery');
    const verified = records.find((r) => r.endpoint.verified);
    return this.db.transaction(async (tx) => {
      const [held] = await queryRows<{ status: string }>(
        tx,
        sql`update webhook_endpoints set
              status = case when status = ${fromStatus} then ${last.endpoint.status} else status end,
              paused_reason = case when status = ${fromStatus} then ${last.endpoint.pausedReason}::text else paused_reason end,
              consecutive_failures = ${last.endpoint.consecutiveFailures},
              last_delivery_at = ${last.startedAt.toISOString()}::timestamptz,
              lease_until = ${last.leaseUntil.toISOString()}::timestamptz,
              verified_at = coalesce(${verified ? verified.startedAt.toISOString() : null}::timestamptz, verified_at),
              updated_at = now()
            where id = ${last.endpointId} and lease_owner = ${owner} and status <> 'deleted'
            returning status`,
      );
      if (!held) return false;
      const column = <T>(pick: (r: AttemptRecord) => T) => sql.param(records.map(pick));
      // A delivery's latest attempt is on its row: a retry first moves the one before into the log.
      const retried = records.filter((r) => r.attempt > 1).map((r) => r.deliveryId);
      if (retried.length > 0) {
        await tx.execute(sql`
          insert into webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, response_excerpt)
          select id, attempts, last_attempt_at, coalesce(last_duration_ms, 0), last_status_code, last_error, last_response_excerpt
          from webhook_deliveries where id = any(${sql.param(retried)}::text[]) and last_attempt_at is not null`);
      }
      await tx.execute(sql`
        update webhook_deliveries d
        set status = v.status, attempts = v.attempts, next_attempt_at = v.next, delivered_at = coalesce(v.delivered, d.delivered_at),
            last_attempt_at = v.started, last_duration_ms = v.duration, last_status_code = v.code, last_error = v.error, last_response_excerpt = v.excerpt
        from unnest(${column((r) => r.deliveryId)}::text[], ${column((r) => r.delivery.status)}::text[], ${column((r) => r.attempt)}::int[],
                    ${column((r) => r.delivery.nextAttemptAt?.toISOString() ?? null)}::timestamptz[],
                    ${column((r) => (r.delivery.status === 'succeeded' ? new Date(r.startedAt.getTime() + r.durationMs).toISOString() : null))}::timestamptz[],
                    ${column((r) => r.startedAt.toISOString())}::timestamptz[], ${column((r) => r.durationMs)}::int[], ${column((r) => r.statusCode)}::int[],
                    ${column((r) => r.error)}::text[], ${column((r) => r.responseExcerpt)}::text[])
             as v(id, status, attempts, next, delivered, started, duration, code, error, excerpt)
        where d.id = v.id`);
      return held.status === last.endpoint.status;
    });
  }

  async release(endpointId: string, owner: string): Promise<void> {
    await this.db
      .update(webhookEndpoints)
      .set({ leaseOwner: null, leaseUntil: null })
      .where(and(eq(webhookEndpoints.id, endpointId), eq(webhookEndpoints.leaseOwner, owner)));
  }

  async listDeliveries(endpointId: string, options: { status?: DeliveryStatus; page: number; limit: number }): Promise<{ deliveries: DeliveryLogEntry[]; total: number }> {
    const where = and(eq(webhookDeliveries.endpointId, endpointId), options.status ? eq(webhookDeliveries.status, options.status) : undefined);
    const [total] = await this.db.select({ n: count() }).from(webhookDeliveries).where(where);
    const rows = await this.db
      .select()
      .from(webhookDeliveries)
      .where(where)
      .orderBy(desc(webhookDeliveries.seq))
      .limit(options.limit)
      .offset((options.page - 1) * options.limit);
    return { deliveries: await this.withAttempts(rows), total: Number(total?.n ?? 0) };
  }

  /** A delivery, if its endpoint belongs to `userId` (when given). */
  async findDelivery(id: string, userId?: string): Promise<DeliveryLogEntry | null> {
    const [row] = await this.db
      .select({ delivery: webhookDeliveries })
      .from(webhookDeliveries)
      .innerJoin(webhookEndpoints, eq(webhookEndpoints.id, webhookDeliveries.endpointId))
      .where(and(eq(webhookDeliveries.id, id), ne(webhookEndpoints.status, 'deleted'), userId ? eq(webhookEndpoints.userId, userId) : undefined));
    if (!row) return null;
    const [entry] = await this.withAttempts([row.delivery]);
    return entry ?? null;
  }

  /** Queues a delivery again, now, with a fresh retry budget; it keeps its place in the order. */
  async replay(id: string, now: Date): Promise<void> {
    await this.db
      .update(webhookDeliveries)
      .set({ status: 'pending', nextAttemptAt: now, roundStart: sql`${webhookDeliveries.attempts}` })
      .where(eq(webhookDeliveries.id, id));
  }

  /** The log of each delivery: its earlier attempts from webhook_attempts, then its latest from its row. */
  private async withAttempts(rows: (typeof webhookDeliveries.$inferSelect)[]): Promise<DeliveryLogEntry[]> {
    const ids = rows.map((r) => r.id);
    const attempts = ids.length === 0
      ? []
      : await this.db.select().from(webhookAttempts).where(inArray(webhookAttempts.deliveryId, ids)).orderBy(asc(webhookAttempts.attempt));
    const byDelivery = new Map<string, typeof attempts>();
    for (const a of attempts) byDelivery.set(a.deliveryId, [...(byDelivery.get(a.deliveryId) ?? []), a]);
    return rows.map((r) => ({
      id: r.id,
      endpointId: r.endpointId,
      eventId: r.eventId,
      eventType: r.eventType,
      status: r.status as DeliveryStatus,
      attempts: r.attempts,
      nextAttemptAt: r.status === 'pending' ? r.nextAttemptAt : null,
      lastStatusCode: r.lastStatusCode,
      createdAt: r.createdAt,
      deliveredAt: r.deliveredAt,
      attemptLog: [
        ...(byDelivery.get(r.id) ?? []).map((a) => ({
          attempt: a.attempt,
          startedAt: a.startedAt,
          durationMs: a.durationMs,
          statusCode: a.statusCode,
          error: a.error,
          responseExcerpt: a.responseExcerpt,
        })),
        ...(r.lastAttemptAt
          ? [{ attempt: r.attempts, startedAt: r.lastAttemptAt, durationMs: r.lastDurationMs ?? 0, statusCode: r.lastStatusCode, error: r.lastError, responseExcerpt: r.lastResponseExcerpt }]
          : []),
      ],
    }));
  }
}

function toDate(value: Date | string | null): Date | null {
  return value === null ? null : value instanceof Date ? value : new Date(value);
}
