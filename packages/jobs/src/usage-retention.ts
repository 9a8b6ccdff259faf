import type { Clock } from '@tollgate/core';
import type { Repositories } from '@tollgate/store';
import type { JobDefinition } from './queue.ts';

export const USAGE_RETENTION_JOB = 'usage.retention';

/**
 * Every day at 03:15 UTC, deletes call records older than `days`. Analytics read the minute
 * rollups and quotas the counters, which stay: only the per-call detail goes.
 */
export function usageRetentionJob(repos: Repositories, clock: Clock, days: number): JobDefinition {
  return {
    name: USAGE_RETENTION_JOB,
    cron: '15 3 * * *',
    async handle() {
      await repos.usage.pruneRecords(new Date(clock.now() - days * 86_400_000));
    },
  };
}
