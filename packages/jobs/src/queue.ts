import PgBoss from 'pg-boss';
import type { Database } from '@tollgate/store';

/*
 * Background work on one job queue in both modes: pg-boss, on the application's own database
 * (PGlite or PostgreSQL) through `Database.executeSql`. Jobs are rows taken with
 * `FOR UPDATE SKIP LOCKED`, so any number of workers (instances running `tollgate worker`, or
 * `serve`) share them and no job runs twice at once; cron schedules fire once per slot across
 * all of them.
 */

export interface JobLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface JobDefinition<T extends object = object> {
  name: string;
  /** Runs on this schedule (cron, UTC) as well as when sent. */
  cron?: string;
  /** Attempts after the first, with exponential backoff. */
  retryLimit?: number;
  handle(data: T): Promise<void>;
}

export interface JobQueueOptions {
  /** pg-boss's own schema (its tables stay apart from the application's). */
  schema: string;
  log: JobLog;
  /**
   * How often an idle worker asks for work (default 10 s). The jobs are scheduled by the minute, so
   * one starts at most this late; pg-boss's default of 2 s made an idle process ask ~4 times a
   * second (one query per queue each time), ~1 % of a core on PGlite.
   */
  pollingIntervalSeconds?: number;
}

/**
 * Instances starting together race on pg-boss's set-up: installing its schema, creating a
 * queue's table. The losers fail ("already exists", or a PostgreSQL deadlock); trying again
 * finds the work done.
 */
async function settle<T>(step: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (error) {
      if (attempt >= 5) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt + Math.random() * 200));
    }
  }
}

export class JobQueue {
  private constructor(
    private readonly boss: PgBoss,
    private readonly options: JobQueueOptions,
  ) {}

  /** Creates (or migrates) the queue's tables and starts its maintenance. */
  static async start(database: Database, options: JobQueueOptions): Promise<JobQueue> {
    return settle(async () => {
      const boss = new PgBoss({
        db: { executeSql: (text, values) => database.executeSql(text, values) },
        schema: options.schema,
        // Completed jobs are kept a week for inspection, then removed by pg-boss's maintenance.
        deleteAfterDays: 7,
      });
      boss.on('error', (error) => options.log.error({ err: error }, 'job queue error'));
      try {
        await boss.start();
      } catch (error) {
        await boss.stop({ graceful: false, wait: false }).catch(() => undefined);
        throw error;
      }
      return new JobQueue(boss, options);
    });
  }

  /** Creates each job's queue and schedule, and works it in this process. */
  async run(definitions: JobDefinition[]): Promise<void> {
    for (const definition of definitions) {
      await settle(() => this.boss.createQueue(definition.name, { name: definition.name, retryLimit: definition.retryLimit ?? 3, retryBackoff: true }));
      if (definition.cron) await settle(() => this.boss.schedule(definition.name, definition.cron as string, {}, { tz: 'UTC' }));
      await this.boss.work<object>(definition.name, { pollingIntervalSeconds: this.options.pollingIntervalSeconds ?? 10 }, async (jobs) => {
        for (const job of jobs) {
          const started = Date.now();
          try {
            await definition.handle(job.data);
            this.options.log.info({ job: definition.name, id: job.id, ms: Date.now() - started }, 'job done');
          } catch (error) {
            this.options.log.error({ err: error, job: definition.name, id: job.id }, 'job failed; it will be retried');
            throw error;
          }
        }
      });
    }
  }

  /** Queues a job now; answers its id (null when a singleton of it is already queued). */
  send(name: string, data: object = {}): Promise<string | null> {
    return this.boss.send(name, data);
  }

  /** Stops taking jobs and waits (up to `timeoutMs`) for the ones running. */
  async stop(timeoutMs = 8_000): Promise<void> {
    await this.boss.stop({ graceful: true, wait: true, timeout: timeoutMs });
  }
}
