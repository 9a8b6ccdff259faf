import type { BusMessage, EventBus } from '@tollgate/core';

/** The embedded bus: handlers run synchronously, so an invalidation is done when publish returns. */
export class MemoryEventBus implements EventBus {
  private readonly handlers = new Set<(message: BusMessage) => void>();

  async publish(message: BusMessage): Promise<void> {
    for (const handler of this.handlers) handler(message);
  }

  subscribe(handler: (message: BusMessage) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }
}
