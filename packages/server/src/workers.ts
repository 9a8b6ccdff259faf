import { JobQueue, usageCompactionJob, usageRetentionJob, type JobLog } from '@tollgate/jobs';
import type { Config } from './config.ts';
import type { Deps } from './deps.ts';

/** pg-boss's schema: beside the application's, one per DATABASE_SCHEMA. */
export function jobSchema(config: Config): string {
  return `${config.databaseSchema ?? 'tollgate'}_jobs`;
}

/** Starts the job queue on the application's database and works every background job. */
export async function startWorkers(config: Config, deps: Deps, log: JobLog): Promise<JobQueue> {
  const queue = await JobQueue.start(deps.database, { schema: jobSchema(config), log });
  await queue.run([usageRetentionJob(deps.repos, deps.clock, config.usageRetentionDays), usageCompactionJob(deps.repos, deps.clock)]);
  return queue;
}
