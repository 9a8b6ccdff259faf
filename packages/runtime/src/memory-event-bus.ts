import type { BusHandler, BusMessage, EventBus } from '@tollgate/core';

/** The embedded bus: publish resolves when every handler has finished, so a change is in effect. */
export class MemoryEventBus implements EventBus {
  private readonly handlers = new Set<BusHandler>();

  async publish(message: BusMessage): Promise<void> {
    await Promise.all([...this.handlers].map((handler) => handler(message)));
  }

  subscribe(handler: BusHandler): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }
}
