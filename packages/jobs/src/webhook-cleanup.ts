import type { Clock } from '@tollgate/core';
import type { Repositories } from '@tollgate/store';
import type { JobDefinition } from './queue.ts';

export const WEBHOOK_CLEANUP_JOB = 'webhooks.cleanup';

/** An endpoint paused by failures is deleted after this long unless its owner resumes it. */
export const ABANDONED_ENDPOINT_MS = 7 * 86_400_000;

/** Daily at 03:30 UTC: the HLD's "Paused → Deleted: auto-cleanup (7 days)". */
export function webhookCleanupJob(repos: Repositories, clock: Clock): JobDefinition {
  return {
    name: WEBHOOK_CLEANUP_JOB,
    cron: '30 3 * * *',
    async handle() {
      await repos.webhooks.deleteAbandoned(new Date(clock.now() - ABANDONED_ENDPOINT_MS));
    },
  };
}
