import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { types, type PGlite, type Results } from '@electric-sql/pglite';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { PgliteThread, type PgliteThreadOptions } from './pglite-thread.ts';
import * as schema from './schema.ts';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface Database {
  db: Db;
  kind: 'pglite' | 'postgres';
  /** Runs a trivial query; throws when the database cannot answer. */
  ping(): Promise<void>;
  /**
   * SQL text with positional parameters, for libraries that bring their own SQL (the job queue).
   * Without parameters the text may hold several statements (the last one's rows are returned).
   * Timestamps come back as Dates on both drivers.
   */
  executeSql(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  close(): Promise<void>;
}

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../migrations', import.meta.url));

// Any constant works; it only has to be the same for every instance migrating one database.
const MIGRATION_LOCK_ID = 7_311_042_001;

export interface PostgresOptions {
  url: string;
  /** A schema to use instead of `public` (tests give each suite its own); created if missing. */
  schema?: string;
  poolSize?: number;
}

export async function openPostgres(options: PostgresOptions): Promise<Database> {
  const schemaName = options.schema;
  if (schemaName !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schemaName)) {
    throw new Error(`invalid schema name: ${schemaName}`);
  }
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    ...(schemaName ? { options: `-c search_path=${schemaName}` } : {}),
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  const client = await pool.connect();
  try {
    // Ten instances starting at once: one migrates, the others wait and then find nothing to do.
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
    try {
      if (schemaName) await client.query(`create schema if not exists ${schemaName}`);
      await migratePg(drizzlePg(client, { schema }), {
        migrationsFolder: MIGRATIONS_FOLDER,
        ...(schemaName ? { migrationsSchema: schemaName } : {}),
      });
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]);
    }
  } finally {
    client.release();
  }
  const db = drizzlePg(pool, { schema }) as unknown as Db;
  return {
    db,
    kind: 'postgres',
    ping: async () => {
      await pool.query('select 1');
    },
    executeSql: async (text, values = []) => {
      const result = (await pool.query(text, values)) as unknown as pg.QueryResult | pg.QueryResult[];
      return { rows: (Array.isArray(result) ? result.at(-1)?.rows : result.rows) ?? [] };
    },
    close: () => pool.end(),
  };
}

/**
 * Folder of the database files (omitted: in memory); where the thread's stops and reopenings
 * are told; whether the thread runs at idle priority while it keeps up (`PgliteThread`).
 */
export type PgliteOptions = Pick<PgliteThreadOptions, 'dataDir' | 'log' | 'backgroundPriority'>;

/**
 * The embedded database, on a thread of its own (`PgliteThread`). PGlite lets two processes open
 * one folder and corrupt it, so a lock file with the owner's pid guards the folder; a lock left
 * by a dead process is taken over.
 */
export async function openPglite(options: PgliteOptions = {}): Promise<Database> {
  const release = options.dataDir ? lockFolder(options.dataDir) : () => undefined;
  let client: PgliteThread;
  try {
    client = await PgliteThread.open(options);
  } catch (error) {
    release();
    throw new Error(`could not open the embedded database${options.dataDir ? ` in ${options.dataDir}` : ''}: ${(error as Error).message}`, { cause: error });
  }
  // drizzle's types ask for a PGlite; its driver calls only `query` and `transaction`. The parsers
  // drizzle passes with every query are not sent (functions do not cross threads, and PGlite
  // merging them into its table doubled a small query's cost): the thread's PGlite keeps date and
  // time values as text from its start, which is what they ask for.
  const db = drizzlePglite({ client: client as unknown as PGlite, schema }) as unknown as Db;
  try {
    await migratePglite(db as unknown as Parameters<typeof migratePglite>[0], { migrationsFolder: MIGRATIONS_FOLDER });
  } catch (error) {
    await client.close().catch(() => undefined);
    release();
    throw error;
  }
  return {
    db,
    kind: 'pglite',
    ping: async () => {
      await client.query('select 1');
    },
    executeSql: async (text, values = []) => {
      // Statement lists (often `begin; …; commit;`) run inside one transaction: should one fail,
      // the rollback happens before any other query gets the single session, which would
      // otherwise find it in an aborted transaction. (The inner begin/commit only warn.)
      const result = values.length === 0
        ? ((await client.transaction((tx) => tx.exec(text))).at(-1) ?? { rows: [], fields: [] })
        : await client.query(text, values);
      return { rows: withDates(result as Results<Record<string, unknown>>) };
    },
    close: async () => {
      await client.close();
      release();
    },
  };
}

/** This client keeps timestamps as text (for drizzle); callers of executeSql get Dates, as from `pg`. */
function withDates(result: Results<Record<string, unknown>>): Record<string, unknown>[] {
  const stamps = result.fields.filter((f) => f.dataTypeID === types.TIMESTAMPTZ || f.dataTypeID === types.TIMESTAMP).map((f) => f.name);
  if (stamps.length === 0) return result.rows;
  for (const row of result.rows) {
    for (const name of stamps) {
      const value = row[name];
      // timestamptz text ends in an offset (`+00`); timestamp text has none and holds UTC.
      if (typeof value === 'string') row[name] = new Date(/(Z|[+-]\d\d(:?\d\d)?)$/.test(value) ? value : `${value}Z`);
    }
  }
  return result.rows;
}

function lockFolder(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const lockPath = path.join(dataDir, 'tollgate.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(lockPath, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(readFileSync(lockPath, 'utf8'));
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
        throw new Error(
          `${dataDir} is in use by process ${owner}. The embedded database serves one process; ` +
            'set DATABASE_URL to run several instances.',
        );
      }
      rmSync(lockPath, { force: true });
    }
  }
  throw new Error(`could not lock ${dataDir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Rows of a raw query, on either driver (both answer `{ rows }`). */
export async function queryRows<T>(db: Db, query: ReturnType<typeof sql>): Promise<T[]> {
  const result = (await db.execute(query)) as unknown as { rows: T[] };
  return result.rows;
}
