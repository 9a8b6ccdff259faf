import type { Clock, EventBus } from '@tollgate/core';
import type { JobDefinition } from '@tollgate/jobs';
import type { Repositories } from '@tollgate/store';
import { DEMO_EVENT_INTERVAL_MS, demoEventsBetween } from '../demo-upstream/event-stream.ts';

export const DEMO_DATA_EVENTS_JOB = 'demo.data-events';

/** How far back each run looks: a worker down for less than this misses no demo event. */
const LOOKBACK_MS = 10 * 60_000;

/**
 * Every minute, stores the demo upstream's data events (meme.created, token.rug_detected, …) of
 * the last ten minutes as webhook events for every entitled subscriber. The stream is the same
 * in every process and each event has its own dedupe key, so overlapping runs, or several
 * workers, store each event once.
 */
export function demoDataEventsJob(repos: Repositories, clock: Clock, bus: EventBus): JobDefinition {
  return {
    name: DEMO_DATA_EVENTS_JOB,
    cron: '* * * * *',
    async handle() {
      const now = clock.now();
      const events = demoEventsBetween(now - LOOKBACK_MS, now, DEMO_EVENT_INTERVAL_MS);
      const stored = await repos.webhooks.emit(
        events.map((event) => ({
          type: event.type,
          userId: null,
          dedupeKey: `demo:${event.type}:${event.slot}`,
          payload: event.payload,
          occurredAt: event.occurredAt,
        })),
      );
      if (stored.length > 0) await bus.publish({ topic: 'webhooks.pending' });
    },
  };
}
