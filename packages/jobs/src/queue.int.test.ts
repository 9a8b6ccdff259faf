import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import type { UsageRecord } from '@tollgate/core';
import { createRepositories, queryRows } from '@tollgate/store';
import { openTestPglite, openTestPostgres, postgresAvailable, testUsageRecord, type TestDatabase } from '@tollgate/store/testing';
import { JobQueue, type JobLog } from './queue.ts';
import { USAGE_RETENTION_JOB, usageRetentionJob } from './usage-retention.ts';
import { USAGE_COMPACTION_JOB, usageCompactionJob } from './usage-compaction.ts';

const silent: JobLog = { info: () => undefined, error: () => undefined };
const available = await postgresAvailable();

function queueContract(name: string, open: () => Promise<TestDatabase & { schema?: string }>) {
  describe(`job queue on ${name}`, () => {
    let database: TestDatabase & { schema?: string };
    const schemaOf = () => `${database.schema ?? 'tollgate'}_jobs`;
    beforeAll(async () => {
      database = await open();
    });
    afterAll(async () => {
      if (database.kind === 'postgres') await database.executeSql(`drop schema if exists ${schemaOf()} cascade`);
      await database.close();
    });

    it('runs a sent job once, however many workers poll for it', async () => {
      const queues = await Promise.all([0, 1, 2].map(() => JobQueue.start(database, { schema: schemaOf(), log: silent, pollingIntervalSeconds: 0.5 })));
      const ran: string[] = [];
      try {
        await Promise.all(
          queues.map((queue, i) =>
            queue.run([{ name: 'test.once', handle: async (data) => void ran.push(`${i}:${(data as { n: number }).n}`) }]),
          ),
        );
        for (let n = 0; n < 6; n++) await queues[0]?.send('test.once', { n });
        await expect.poll(() => ran.length, { timeout: 10_000, interval: 100 }).toBe(6);
        await new Promise((resolve) => setTimeout(resolve, 1_200)); // another poll round: nothing more runs
        expect(ran.map((r) => r.split(':')[1]).sort()).toEqual(['0', '1', '2', '3', '4', '5']);
      } finally {
        await Promise.all(queues.map((queue) => queue.stop(2_000)));
      }
    });

    it('retries a failing job', async () => {
      const queue = await JobQueue.start(database, { schema: schemaOf(), log: silent, pollingIntervalSeconds: 0.5 });
      let attempts = 0;
      try {
        await queue.run([
          {
            name: 'test.flaky',
            retryLimit: 2,
            handle: async () => {
              attempts++;
              if (attempts < 2) throw new Error('first attempt fails');
            },
          },
        ]);
        await queue.send('test.flaky');
        await expect.poll(() => attempts, { timeout: 15_000, interval: 100 }).toBe(2);
      } finally {
        await queue.stop(2_000);
      }
    });

    it('usage compaction folds minute rollups older than two days into hours, hourly', async () => {
      const repos = createRepositories(database.db);
      const now = Date.UTC(2026, 10, 23, 12, 5);
      const user = await repos.users.create({ email: `compact-${Math.random().toString(36).slice(2)}@example.test`, passwordHash: 'x', role: 'customer' });
      await repos.usage.writeBatch([
        testUsageRecord({ userId: user.id, createdAt: new Date(now - 72 * 3_600_000 + 17 * 60_000) }),
        testUsageRecord({ userId: user.id, createdAt: new Date(now - 72 * 3_600_000 + 23 * 60_000) }),
        testUsageRecord({ userId: user.id, createdAt: new Date(now - 60_000) }),
      ]);
      const job = usageCompactionJob(repos, { now: () => now });
      expect(job).toMatchObject({ name: USAGE_COMPACTION_JOB, cron: '5 * * * *' });
      await job.handle({});
      const rows = await queryRows<{ n: number | string; c: number | string }>(database.db, sql`select count(*) as n, sum(count) as c from usage_rollups where user_id = ${user.id}`);
      expect(rows.map((r) => [Number(r.n), Number(r.c)])).toEqual([[2, 3]]); // one hour row of 2 calls, the recent minute
    });

    it('usage retention deletes old call records and keeps recent ones and the rollups', async () => {
      const repos = createRepositories(database.db);
      const now = Date.UTC(2026, 10, 23, 3, 15);
      const tag = `req_ret_${Math.random().toString(36).slice(2)}_`;
      const record = (i: number, ageDays: number): UsageRecord =>
        testUsageRecord({ requestId: `${tag}${i}`, createdAt: new Date(now - ageDays * 86_400_000), statusCode: 401, counted: false });
      await repos.usage.writeBatch([record(1, 200), record(2, 91), record(3, 89), record(4, 1)]);
      const queue = await JobQueue.start(database, { schema: schemaOf(), log: silent, pollingIntervalSeconds: 0.5 });
      try {
        const job = usageRetentionJob(repos, { now: () => now }, 90);
        expect(job).toMatchObject({ name: USAGE_RETENTION_JOB, cron: '15 3 * * *' });
        let done = false;
        await queue.run([{ ...job, handle: async (data) => { await job.handle(data); done = true; } }]);
        await queue.send(USAGE_RETENTION_JOB);
        await expect.poll(() => done, { timeout: 10_000, interval: 100 }).toBe(true);
      } finally {
        await queue.stop(2_000);
      }
      const left = await queryRows<{ request_id: string }>(database.db, sql`select request_id from api_usage where request_id like ${`${tag}%`} order by request_id`);
      expect(left.map((r) => r.request_id)).toEqual([`${tag}3`, `${tag}4`]);
      const rolled = await queryRows<{ n: number | string }>(database.db, sql`select sum(count) as n from usage_rollups where endpoint = '/v1/memes' and minute < ${new Date(now - 90 * 86_400_000).toISOString()}::timestamptz`);
      expect(Number(rolled[0]?.n)).toBeGreaterThanOrEqual(2);
    });
  });
}

queueContract('PGlite', openTestPglite);
describe.skipIf(!available)('PostgreSQL', () => {
  queueContract('PostgreSQL', openTestPostgres);
});
