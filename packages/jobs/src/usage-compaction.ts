import type { Clock } from '@tollgate/core';
import type { Repositories } from '@tollgate/store';
import type { JobDefinition } from './queue.ts';

export const USAGE_COMPACTION_JOB = 'usage.compact';

/** Minute rollups are kept this long; older ones are folded into hours. */
export const MINUTE_ROLLUPS_KEPT_MS = 48 * 3_600_000;

/**
 * Every hour (at :05), folds minute rollups older than two days into hour rows, so analytics
 * over months read sixty times fewer rows. Totals do not change; only old sub-hour detail goes.
 */
export function usageCompactionJob(repos: Repositories, clock: Clock): JobDefinition {
  return {
    name: USAGE_COMPACTION_JOB,
    cron: '5 * * * *',
    async handle() {
      await repos.usage.compactRollups(new Date(clock.now() - MINUTE_ROLLUPS_KEPT_MS));
    },
  };
}
