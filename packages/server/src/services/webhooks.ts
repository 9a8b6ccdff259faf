import {
  DATA_EVENT_PRODUCT,
  WEBHOOK_EVENT_CATALOG,
  WEBHOOK_EVENT_TYPES,
  isWebhookEventType,
  type CreateWebhookBody,
  type DeliveryStatus,
  type UpdateWebhookBody,
} from '@tollgate/contracts';
import { generateWebhookSecret, isValidWebhookSecret, TEST_EVENT, VERIFICATION_EVENT, type Clock, type EventBus, type SecretBox } from '@tollgate/core';
import { checkWebhookUrl } from '@tollgate/runtime';
import { cryptoRandom, type DeliveryLogEntry, type NewWebhookEvent, type Repositories, type WebhookEndpoint } from '@tollgate/store';
import { AppError, notFound } from '../http/app-error.ts';

/** After a rotation, the previous secret keeps signing this long so receivers can switch over. */
export const SECRET_OVERLAP_MS = 24 * 3_600_000;

export interface WebhookServiceOptions {
  secretBox: SecretBox;
  /** Loopback and private targets allowed (tests, on-premise receivers). */
  allowPrivate: boolean;
  requireHttps: boolean;
  /** DNS lookup for URL checks; injectable for tests. */
  lookup?: Parameters<typeof checkWebhookUrl>[1]['lookup'];
}

export class WebhookService {
  constructor(
    private readonly repos: Repositories,
    private readonly bus: EventBus,
    private readonly clock: Clock,
    private readonly options: WebhookServiceOptions,
  ) {}

  catalog() {
    return WEBHOOK_EVENT_TYPES.map((type) => ({
      type,
      category: WEBHOOK_EVENT_CATALOG[type].category,
      description: WEBHOOK_EVENT_CATALOG[type].description,
      payloadSchema: WEBHOOK_EVENT_CATALOG[type].payload,
    }));
  }

  /**
   * Registers an endpoint (pending until it answers the verification event with 2xx) within the
   * customer's plan limit. The secret is given or generated, returned this once, stored sealed.
   */
  async create(userId: string, body: CreateWebhookBody): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    this.validateEvents(body.events);
    await this.validateUrl(body.url);
    if (body.secret !== undefined && !isValidWebhookSecret(body.secret)) {
      throw new AppError('invalid_request', 'secret must be whsec_ followed by the base64 of 24 to 64 random bytes; leave it out to have one generated', { details: { field: 'secret' } });
    }
    const entitlement = await this.entitlement(userId);
    this.requireDataEntitlement(body.events, entitlement.dataEvents);
    const current = await this.repos.webhooks.countEndpoints(userId);
    if (current >= entitlement.limit) {
      throw new AppError(
        'insufficient_tier',
        entitlement.limit === 0
          ? 'Your plans include no webhook endpoints; subscribe to a plan with webhooks (e.g. CryptoMeme Professional)'
          : `Your plans allow ${entitlement.limit} webhook endpoints and you have ${current}; delete one or upgrade`,
        { details: { limit: entitlement.limit, current } },
      );
    }
    const secret = body.secret ?? generateWebhookSecret(cryptoRandom);
    const paused = body.isActive === false;
    const endpoint = await this.repos.transaction(async (tx) => {
      const created = await tx.webhooks.createEndpoint({
        userId,
        url: body.url,
        description: body.description ?? null,
        events: body.events,
        secretSealed: this.options.secretBox.seal(secret),
        status: paused ? 'paused' : 'pending',
        pausedReason: paused ? 'owner' : null,
      });
      await tx.webhooks.emit([this.verificationEvent(created)]);
      return created;
    });
    await this.audit(userId, 'webhook.create', endpoint.id, { events: body.events });
    await this.announce();
    return { endpoint, secret };
  }

  list(userId: string): Promise<WebhookEndpoint[]> {
    return this.repos.webhooks.listEndpoints(userId);
  }

  async get(id: string, userId: string): Promise<WebhookEndpoint> {
    const endpoint = await this.repos.webhooks.findEndpoint(id, userId);
    if (!endpoint) throw notFound('Webhook', id);
    return endpoint;
  }

  /**
   * A new URL must be verified again. `isActive: false` pauses; `true` resumes a paused
   * endpoint (its waiting deliveries go out, in order), or verifies again one that answered 410.
   */
  async update(id: string, userId: string, body: UpdateWebhookBody): Promise<WebhookEndpoint> {
    const endpoint = await this.get(id, userId);
    if (body.events) {
      this.validateEvents(body.events);
      this.requireDataEntitlement(body.events, (await this.entitlement(userId)).dataEvents);
    }
    const urlChanged = body.url !== undefined && body.url !== endpoint.url;
    if (urlChanged) await this.validateUrl(body.url as string);
    const now = new Date(this.clock.now());
    await this.repos.transaction(async (tx) => {
      await tx.webhooks.updateEndpoint(id, {
        ...(body.url !== undefined ? { url: body.url } : {}),
        ...(body.events !== undefined ? { events: body.events } : {}),
        ...(body.description !== undefined ? { description: body.description } : {}),
        ...(urlChanged ? { status: 'pending', pausedReason: null, consecutiveFailures: 0 } : {}),
      });
      if (urlChanged) await tx.webhooks.emit([this.verificationEvent(endpoint)]);
      if (body.isActive === false && !urlChanged) {
        await tx.webhooks.updateEndpoint(id, { status: 'paused', pausedReason: 'owner' });
      } else if (body.isActive === true && !urlChanged && endpoint.status === 'paused') {
        await tx.webhooks.resume(id, now);
      }
    });
    await this.audit(userId, 'webhook.update', id, { fields: Object.keys(body) });
    await this.announce();
    return this.get(id, userId);
  }

  /** The endpoint stops receiving; its log stays readable to admins. Idempotent per id. */
  async remove(id: string, userId: string): Promise<void> {
    await this.get(id, userId);
    await this.repos.webhooks.updateEndpoint(id, { status: 'deleted' });
    await this.audit(userId, 'webhook.delete', id);
  }

  /**
   * Queues a signed `webhook.test` event for this endpoint alone (a pending endpoint gets its
   * verification event again instead). Answers the event's id, to find it in the delivery log.
   */
  async test(id: string, userId: string): Promise<{ eventId: string; event: string }> {
    const endpoint = await this.get(id, userId);
    const event: NewWebhookEvent =
      endpoint.status === 'pending'
        ? this.verificationEvent(endpoint)
        : { type: TEST_EVENT, userId, endpointId: id, payload: { webhookId: id, message: 'Test event sent from Tollgate' }, occurredAt: new Date(this.clock.now()) };
    const [stored] = await this.repos.webhooks.emit([event]);
    await this.announce();
    return { eventId: stored as string, event: event.type };
  }

  /** A new secret, returned this once; the old one signs alongside it for 24 hours. */
  async rotateSecret(id: string, userId: string): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    const endpoint = await this.get(id, userId);
    const secret = generateWebhookSecret(cryptoRandom);
    const updated = await this.repos.webhooks.updateEndpoint(id, {
      secretSealed: this.options.secretBox.seal(secret),
      previousSecretSealed: endpoint.secretSealed,
      previousSecretExpiresAt: new Date(this.clock.now() + SECRET_OVERLAP_MS),
    });
    await this.audit(userId, 'webhook.rotate_secret', id);
    return { endpoint: updated as WebhookEndpoint, secret };
  }

  async deliveries(id: string, userId: string, query: { status?: DeliveryStatus; page: number; limit: number }) {
    await this.get(id, userId);
    return this.repos.webhooks.listDeliveries(id, query);
  }

  /** Sends a delivery again now (a fresh retry budget), whatever its state. */
  async replay(deliveryId: string, userId: string): Promise<DeliveryLogEntry> {
    const delivery = await this.repos.webhooks.findDelivery(deliveryId, userId);
    if (!delivery) throw notFound('Webhook delivery', deliveryId);
    await this.repos.webhooks.replay(deliveryId, new Date(this.clock.now()));
    await this.announce();
    return (await this.repos.webhooks.findDelivery(deliveryId, userId)) as DeliveryLogEntry;
  }

  /** Tells the delivery workers (of every instance) that events were stored. */
  private async announce(): Promise<void> {
    await this.bus.publish({ topic: 'webhooks.pending' });
  }

  private verificationEvent(endpoint: WebhookEndpoint): NewWebhookEvent {
    return {
      type: VERIFICATION_EVENT,
      userId: endpoint.userId,
      endpointId: endpoint.id,
      payload: { webhookId: endpoint.id, message: 'Answer 2xx to activate this endpoint' },
      occurredAt: new Date(this.clock.now()),
    };
  }

  /**
   * The customer's endpoint limit is the highest among their active subscriptions' plans (a plan
   * that sets none allows any number); data events need a subscription to the product that
   * produces them, on a plan with webhooks.
   */
  private async entitlement(userId: string): Promise<{ limit: number; dataEvents: boolean }> {
    const plans = await this.repos.subscriptions.activePlanLimits(userId);
    let limit = 0;
    let dataEvents = false;
    for (const plan of plans) {
      const allowed = plan.limits.webhookEndpoints ?? Number.POSITIVE_INFINITY;
      limit = Math.max(limit, allowed);
      if (plan.productSlug === DATA_EVENT_PRODUCT && allowed > 0) dataEvents = true;
    }
    return { limit, dataEvents };
  }

  private requireDataEntitlement(events: readonly string[], entitled: boolean): void {
    const data = events.filter((e) => isWebhookEventType(e) && WEBHOOK_EVENT_CATALOG[e].category === 'data');
    if (data.length > 0 && !entitled) {
      throw new AppError('insufficient_tier', `${data.join(', ')} ${data.length === 1 ? 'is a' : 'are'} CryptoMeme data event${data.length === 1 ? '' : 's'}: they need a CryptoMeme plan with webhooks (Professional or Enterprise)`, {
        details: { events: data },
      });
    }
  }

  private validateEvents(events: readonly string[]): void {
    const index = events.findIndex((e) => !isWebhookEventType(e));
    if (index !== -1) {
      throw new AppError('invalid_request', `events[${index}] "${events[index]}" is not an event type; GET /api/v1/api-marketplace/webhooks/events lists them`, {
        details: { field: `events[${index}]` },
      });
    }
  }

  private async validateUrl(url: string): Promise<void> {
    const checked = await checkWebhookUrl(url, { allowPrivate: this.options.allowPrivate, requireHttps: this.options.requireHttps, ...(this.options.lookup ? { lookup: this.options.lookup } : {}) });
    if (!checked.ok) throw new AppError('invalid_request', checked.reason, { details: { field: 'url' } });
  }

  private async audit(actorId: string, action: string, resourceId: string, data?: Record<string, unknown>): Promise<void> {
    await this.repos.audit.append({ actorId, action, resourceType: 'webhook', resourceId, ...(data ? { data } : {}) });
  }
}
