import { monthPeriod, monthStartMs, type Clock, type EventBus } from '@tollgate/core';
import type { Repositories } from '@tollgate/store';
import type { JobDefinition } from './queue.ts';

export const QUOTA_RESET_JOB = 'quota.reset';

/**
 * At 00:00 UTC on the 1st, announces `quota.reset` for the keys with a monthly quota (to the
 * customers who subscribed to it). The counts themselves need no reset: each month has its own
 * counter. Running twice in a month stores nothing new.
 */
export function quotaResetJob(repos: Repositories, clock: Clock, bus: EventBus): JobDefinition {
  return {
    name: QUOTA_RESET_JOB,
    cron: '0 0 1 * *',
    async handle() {
      const now = clock.now();
      // Last month's calls into the counters first: a gateway holds a key's counter up to five minutes (usage writer).
      await repos.usage.replayRollups({ lastBefore: new Date(monthStartMs(now)) });
      const stored = await repos.webhooks.emitQuotaResets(monthPeriod(now), monthPeriod(monthStartMs(now) - 1), new Date(now));
      if (stored > 0) await bus.publish({ topic: 'webhooks.pending' });
    },
  };
}
