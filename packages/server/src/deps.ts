import path from 'node:path';
import type { AdmissionStore, Clock, EventBus } from '@tollgate/core';
import { MemoryAdmissionStore, MemoryEventBus, systemClock } from '@tollgate/runtime';
import { createRepositories, openPglite, openPostgres, type Database, type Repositories } from '@tollgate/store';
import type { Config } from './config.ts';

export interface Deps {
  database: Database;
  repos: Repositories;
  admission: AdmissionStore;
  bus: EventBus;
  clock: Clock;
  close(): Promise<void>;
}

/** Picks the adapters for the configuration: PGlite in DATA_DIR by default, PostgreSQL with DATABASE_URL. */
export async function createDeps(config: Config, overrides: Partial<Pick<Deps, 'clock'>> = {}): Promise<Deps> {
  const database = config.databaseUrl
    ? await openPostgres({ url: config.databaseUrl, ...(config.databaseSchema ? { schema: config.databaseSchema } : {}) })
    : await openPglite({ dataDir: path.join(config.dataDir, 'pglite') });
  return {
    database,
    repos: createRepositories(database.db),
    admission: new MemoryAdmissionStore(),
    bus: new MemoryEventBus(),
    clock: overrides.clock ?? systemClock,
    close: () => database.close(),
  };
}
