import type { CreateKeyBody, UpdateKeyBody } from '@tollgate/contracts';
import { generateApiKey, invalidCidrs, isFreePlan, type ApiKey, type Clock, type EventBus } from '@tollgate/core';
import { cryptoRandom, type KeyWithPlan, type NewApiKey, type NewWebhookEvent, type Repositories } from '@tollgate/store';
import { AppError, notFound } from '../http/app-error.ts';
import { sha256Hex } from './hash.ts';
import type { SubscriptionService } from './subscriptions.ts';

export interface IssuedKey {
  key: string;
  record: KeyWithPlan;
}

export class KeyService {
  constructor(
    private readonly repos: Repositories,
    private readonly subscriptions: SubscriptionService,
    private readonly bus: EventBus,
    private readonly clock: Clock,
    private readonly brand: string,
  ) {}

  /**
   * A live key on a paid plan needs an active subscription (402 otherwise); a free plan's key
   * subscribes the customer on the way. Sandbox keys need neither and are never billed.
   */
  async create(userId: string, body: CreateKeyBody): Promise<IssuedKey> {
    this.validate(body);
    const plan = await this.subscriptions.requirePlan(body.planId, userId);
    const isSandbox = body.isSandbox ?? false;
    let subscriptionId: string | null = null;
    if (!isSandbox) {
      let subscription = await this.repos.subscriptions.findLive(userId, plan.id);
      if (!subscription && isFreePlan(plan)) subscription = await this.subscriptions.subscribe(userId, plan.id);
      // past_due still serves (dunning has not suspended it yet), so it may still issue keys.
      if (!subscription || (subscription.status !== 'active' && subscription.status !== 'past_due')) {
        throw new AppError(
          'payment_required',
          subscription
            ? `Your subscription to ${plan.name} is ${subscription.status.replace('_', ' ')}; pay its invoice to issue live keys`
            : `${plan.name} needs an active subscription: subscribe and pay, or create a sandbox key (isSandbox: true)`,
          { details: { planId: plan.id, planCode: plan.code, subscriptionStatus: subscription?.status ?? null } },
        );
      }
      subscriptionId = subscription.id;
    }
    const issued = this.issue(isSandbox);
    const key = await this.repos.transaction(async (tx) => {
      const created = await tx.keys.create({
        userId,
        planId: plan.id,
        subscriptionId,
        ...issued.stored,
        label: body.label ?? null,
        ipWhitelist: body.ipWhitelist ?? [],
        scopes: body.scopes ?? [],
        metadata: body.metadata ?? {},
        isSandbox,
        expiresAt: body.expiresAt ? new Date(body.expiresAt) : null,
      });
      await tx.webhooks.emit([this.keyEvent('key.created', created)]);
      return created;
    });
    await this.webhooksPending();
    await this.audit(userId, 'key.create', key.id, { planCode: plan.code, isSandbox });
    return { key: issued.key, record: { key, plan, subscriptionStatus: null } };
  }

  list(userId: string): Promise<KeyWithPlan[]> {
    return this.repos.keys.listByUser(userId);
  }

  /** Customers reach only their own keys (`ownerId`); admins pass none. */
  async get(id: string, ownerId?: string): Promise<KeyWithPlan> {
    const found = await this.repos.keys.findById(id, ownerId);
    if (!found) throw notFound('API key', id);
    return found;
  }

  async update(id: string, ownerId: string, body: UpdateKeyBody): Promise<KeyWithPlan> {
    this.validate(body);
    const { key } = await this.get(id, ownerId);
    if (key.status === 'revoked') throw new AppError('conflict', 'A revoked key cannot be changed');
    await this.repos.keys.update(id, {
      ...(body.label !== undefined ? { label: body.label } : {}),
      ...(body.ipWhitelist !== undefined ? { ipWhitelist: body.ipWhitelist } : {}),
      ...(body.metadata !== undefined ? { metadata: body.metadata } : {}),
      ...(body.scopes !== undefined ? { scopes: body.scopes } : {}),
      ...(body.expiresAt !== undefined ? { expiresAt: body.expiresAt === null ? null : new Date(body.expiresAt) } : {}),
    });
    await this.invalidate(key);
    await this.audit(ownerId, 'key.update', id, { fields: Object.keys(body) });
    return this.get(id, ownerId);
  }

  /** Idempotent: revoking a revoked key changes nothing. */
  async revoke(id: string, actorId: string, ownerId?: string): Promise<KeyWithPlan> {
    const { key } = await this.get(id, ownerId);
    if (key.status !== 'revoked') {
      await this.repos.transaction(async (tx) => {
        await tx.keys.update(id, { status: 'revoked' });
        await tx.webhooks.emit([this.keyEvent('key.revoked', key)]);
      });
      await this.invalidate(key);
      await this.webhooksPending();
      await this.audit(actorId, 'key.revoke', id);
    }
    return this.get(id, ownerId);
  }

  /** The new key keeps the old one's plan and settings; the old one stops on its next call. */
  async rotate(id: string, ownerId: string): Promise<IssuedKey> {
    const { key, plan } = await this.get(id, ownerId);
    if (key.status === 'revoked') throw new AppError('conflict', 'A revoked key cannot be rotated; create a new key');
    const issued = this.issue(key.isSandbox);
    const replacement: NewApiKey = {
      userId: key.userId,
      planId: key.planId,
      subscriptionId: key.subscriptionId,
      ...issued.stored,
      label: key.label,
      ipWhitelist: key.ipWhitelist,
      scopes: key.scopes,
      metadata: { ...key.metadata, rotatedFrom: key.id },
      isSandbox: key.isSandbox,
      expiresAt: key.expiresAt,
    };
    const created = await this.repos.transaction(async (tx) => {
      const issuedKey = await tx.keys.rotate(key.id, replacement);
      await tx.webhooks.emit([
        { type: 'key.rotated', userId: key.userId, payload: { apiKeyId: key.id, replacedBy: issuedKey.id, planId: key.planId }, occurredAt: new Date(this.clock.now()) },
      ]);
      return issuedKey;
    });
    await this.invalidate(key);
    await this.webhooksPending();
    await this.audit(ownerId, 'key.rotate', key.id, { replacedBy: created.id });
    return { key: issued.key, record: { key: created, plan, subscriptionStatus: null } };
  }

  async setSuspended(id: string, actorId: string, suspended: boolean): Promise<KeyWithPlan> {
    const { key } = await this.get(id);
    if (key.status === 'revoked') throw new AppError('conflict', 'A revoked key cannot be suspended or reactivated');
    const status = suspended ? 'suspended' : 'active';
    if (key.status !== status) {
      await this.repos.keys.update(id, { status });
      await this.invalidate(key);
      await this.audit(actorId, suspended ? 'key.suspend' : 'key.reactivate', id);
    }
    return this.get(id);
  }

  private keyEvent(type: 'key.created' | 'key.revoked', key: ApiKey): NewWebhookEvent {
    return {
      type,
      userId: key.userId,
      payload: { apiKeyId: key.id, planId: key.planId, label: key.label, displayPrefix: key.displayPrefix, lastFour: key.lastFour, isSandbox: key.isSandbox },
      occurredAt: new Date(this.clock.now()),
    };
  }

  private async webhooksPending(): Promise<void> {
    await this.bus.publish({ topic: 'webhooks.pending' });
  }

  private issue(isSandbox: boolean) {
    const generated = generateApiKey(this.brand, isSandbox ? 'test' : 'live', cryptoRandom);
    return {
      key: generated.key,
      stored: {
        keyHash: sha256Hex(generated.key),
        displayPrefix: generated.displayPrefix,
        lastFour: generated.lastFour,
      } satisfies Partial<NewApiKey>,
    };
  }

  private validate(body: { ipWhitelist?: string[]; expiresAt?: string | null }): void {
    const bad = body.ipWhitelist ? invalidCidrs(body.ipWhitelist) : [];
    if (bad.length > 0) {
      const index = body.ipWhitelist?.indexOf(bad[0] as string) ?? 0;
      throw new AppError('invalid_request', `body.ipWhitelist[${index}] "${bad[0]}" is not an IP address or CIDR block`, {
        details: { field: `body.ipWhitelist[${index}]`, invalid: bad },
      });
    }
    if (body.expiresAt && new Date(body.expiresAt).getTime() <= this.clock.now()) {
      throw new AppError('invalid_request', 'body.expiresAt must be in the future', { details: { field: 'body.expiresAt' } });
    }
  }

  private async invalidate(key: ApiKey): Promise<void> {
    await this.bus.publish({ topic: 'keys.invalidate', keyHashes: [key.keyHash] });
  }

  private audit(actorId: string, action: string, keyId: string, data?: Record<string, unknown>): Promise<void> {
    return this.repos.audit.append({ actorId, action, resourceType: 'api_key', resourceId: keyId, ...(data ? { data } : {}) });
  }
}
