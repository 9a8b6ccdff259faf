import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { Redis } from 'ioredis';
import type { BusHandler, BusMessage, EventBus } from '@tollgate/core';

interface Envelope {
  from: string;
  message: BusMessage;
}

/**
 * The distributed bus: Redis pub/sub on one channel. `publish` runs this instance's handlers
 * first (so a change is in effect here when it returns, as with the in-process bus), then tells
 * the other instances, whose subscribers run theirs; an instance ignores its own messages.
 *
 * Pub/sub does not replay what was published while a subscriber was disconnected. So when the
 * subscription comes back after a drop, everything cached is treated as stale: the handlers get
 * `keys.invalidate-all` and `catalog.changed`, as if every change had been announced.
 */
export class RedisEventBus implements EventBus {
  private readonly handlers = new Set<BusHandler>();
  private readonly instanceId = randomUUID();

  private constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly channel: string,
    private readonly onError: (error: unknown, message: BusMessage) => void,
  ) {
    subscriber.on('message', (channelName: string, raw: string) => {
      if (channelName !== this.channel) return;
      let envelope: Envelope;
      try {
        envelope = JSON.parse(raw) as Envelope;
      } catch {
        return; // not ours
      }
      if (envelope.from === this.instanceId) return;
      void this.runHandlers(envelope.message);
    });
    let dropped = false;
    subscriber.on('close', () => {
      dropped = true;
    });
    subscriber.on('ready', () => {
      if (!dropped) return;
      dropped = false;
      // Subscribe again ourselves (ioredis's own resubscription leaves a promise that rejects
      // unhandled if the connection drops again at once, which would end the process).
      subscriber.subscribe(this.channel).then(
        () => this.runHandlers({ topic: 'keys.invalidate-all' }).then(() => this.runHandlers({ topic: 'catalog.changed' })),
        (error: unknown) => this.onError(error, { topic: 'keys.invalidate-all' }),
      );
    });
  }

  /** Subscribes on a second connection (a subscribed Redis connection can do nothing else). */
  static async open(redis: Redis, options: { channel?: string; onError?: (error: unknown, message: BusMessage) => void } = {}): Promise<RedisEventBus> {
    const subscriber = redis.duplicate({ autoResubscribe: false });
    // Connection errors surface as 'close' and reconnects (which resubscribe); nothing to print here.
    subscriber.on('error', () => undefined);
    if (subscriber.status === 'wait') await subscriber.connect(); // a lazily connecting original
    else if (subscriber.status !== 'ready') await once(subscriber, 'ready');
    const channel = options.channel ?? 'tollgate:bus';
    await subscriber.subscribe(channel);
    return new RedisEventBus(redis, subscriber, channel, options.onError ?? (() => undefined));
  }

  async publish(message: BusMessage): Promise<void> {
    await this.runHandlers(message);
    try {
      await this.publisher.publish(this.channel, JSON.stringify({ from: this.instanceId, message } satisfies Envelope));
    } catch (error) {
      // The change is stored and in effect here; the others catch up when their subscription
      // comes back (see above). Failing the caller would report a stored change as not made.
      this.onError(error, message);
    }
  }

  subscribe(handler: BusHandler): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  async close(): Promise<void> {
    // Not QUIT: it would wait for (or fail on) a Redis that is down.
    this.subscriber.disconnect();
  }

  private async runHandlers(message: BusMessage): Promise<void> {
    await Promise.all(
      [...this.handlers].map(async (handler) => {
        try {
          await handler(message);
        } catch (error) {
          this.onError(error, message);
        }
      }),
    );
  }
}
