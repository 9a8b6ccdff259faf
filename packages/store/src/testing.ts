import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from 'drizzle-orm/pglite/migrator';
import pg from 'pg';
import { MIGRATIONS_FOLDER, openPglite, openPostgres, type Database, type Db } from './database.ts';
import * as schema from './schema.ts';
import type { UsageRecord } from '@tollgate/core';
import { newId } from './ids.ts';
import type { PgliteThread } from './pglite-thread.ts';
import type { Worker } from 'node:worker_threads';

/*
 * Test databases, one per suite so no test sees another's data. PGlite: a copy of a migrated
 * template folder (opening a copy costs ~0.5 s; creating a database from nothing ~5 s).
 * PostgreSQL: a fresh schema on the server at TEST_DATABASE_URL, dropped on close.
 */

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function migrationsHash(): string {
  const hash = createHash('sha256');
  for (const file of readdirSync(MIGRATIONS_FOLDER, { recursive: true }).map(String).sort()) {
    const full = path.join(MIGRATIONS_FOLDER, file);
    if (file.endsWith('.sql') || file.endsWith('.json')) hash.update(file).update(readFileSync(full));
  }
  return hash.digest('hex').slice(0, 16);
}

async function templateDir(): Promise<string> {
  const root = path.join(os.tmpdir(), 'tollgate-test-templates');
  const dir = path.join(root, `pglite-${migrationsHash()}`);
  if (existsSync(path.join(dir, 'PG_VERSION'))) return dir;
  // Built aside and renamed into place, so parallel suites never copy a half-made template.
  mkdirSync(root, { recursive: true });
  const building = mkdtempSync(path.join(root, 'building-'));
  const db = await openPglite({ dataDir: building });
  await db.close();
  try {
    renameSync(building, dir);
  } catch (error) {
    rmSync(building, { recursive: true, force: true });
    if (!existsSync(path.join(dir, 'PG_VERSION'))) throw error; // not a lost race: a real failure
  }
  return dir;
}

export interface TestDatabase extends Database {
  /** Where a PGlite test database lives (to reopen it, as after a restart). */
  dataDir?: string;
  /** Closes the connection but keeps the data, to reopen it as a restarted process would. */
  closeKeepingData(): Promise<void>;
  /** Ends the embedded database's thread as a crash would (PGlite only); it is opened again on a new one. */
  stopThread?(): Promise<void>;
}

export async function openTestPglite(): Promise<TestDatabase> {
  const template = await templateDir();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-test-db-'));
  cpSync(template, dataDir, { recursive: true });
  rmSync(path.join(dataDir, 'tollgate.lock'), { force: true });
  return reopenTestPglite(dataDir);
}

/** Opens a test database's folder again, as a restarted process would; closing removes it. */
export async function reopenTestPglite(dataDir: string): Promise<TestDatabase> {
  const db = await openPglite({ dataDir });
  return {
    ...db,
    dataDir,
    closeKeepingData: () => db.close(),
    stopThread: async () => {
      // drizzle keeps its client as `$client`; the thread's worker is private to it.
      const thread = (db.db as unknown as { $client: PgliteThread }).$client as unknown as { worker: Worker };
      await thread.worker.terminate();
    },
    close: async () => {
      await db.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function openTestPostgres(): Promise<TestDatabase & { schema: string }> {
  const schema = `t_${newId('request').slice(4).toLowerCase()}`;
  const dropSchema = async () => {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      await client.query(`drop schema if exists ${schema} cascade`);
    } finally {
      await client.end();
    }
  };
  let db: Database;
  try {
    db = await openPostgres({ url: TEST_DATABASE_URL, schema, poolSize: 4 });
  } catch (error) {
    await dropSchema(); // a failed migration must not leave a half-made schema behind
    throw error;
  }
  return {
    ...db,
    schema,
    closeKeepingData: () => db.close(),
    close: async () => {
      await db.close();
      await dropSchema();
    },
  };
}

/**
 * Whether PostgreSQL answers. With REQUIRE_SERVICES=1 (CI) an unreachable server is an error,
 * so suites that need it fail instead of skipping.
 */
export async function postgresAvailable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch (error) {
    if (process.env.REQUIRE_SERVICES === '1') {
      throw new Error(`REQUIRE_SERVICES=1 but PostgreSQL at ${TEST_DATABASE_URL} is unreachable: ${(error as Error).message}`);
    }
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface DatabaseBeforeMigration {
  client: PGlite;
  db: Db;
  /** Applies the migrations from `tag` on, as the next start would. */
  migrateRest(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A fresh in-memory PGlite migrated up to, not including, the migration `tag`: a test stores data
 * as it was before that migration, then migrates the rest of the way.
 */
export async function openPgliteBefore(tag: string): Promise<DatabaseBeforeMigration> {
  const folder = mkdtempSync(path.join(os.tmpdir(), 'tollgate-migrations-'));
  const client = new PGlite();
  const close = async () => {
    rmSync(folder, { recursive: true, force: true });
    await client.close();
  };
  try {
    cpSync(MIGRATIONS_FOLDER, folder, { recursive: true });
    const journalFile = path.join(folder, 'meta', '_journal.json');
    const journal = JSON.parse(readFileSync(journalFile, 'utf8')) as { entries: { tag: string }[] };
    const at = journal.entries.findIndex((entry) => entry.tag === tag);
    if (at < 0) throw new Error(`no migration ${tag}`);
    for (const entry of journal.entries.slice(at)) rmSync(path.join(folder, `${entry.tag}.sql`));
    journal.entries = journal.entries.slice(0, at);
    writeFileSync(journalFile, JSON.stringify(journal));
    const db = drizzle({ client, schema });
    await migrate(db, { migrationsFolder: folder });
    return { client, db: db as unknown as Db, migrateRest: () => migrate(db, { migrationsFolder: MIGRATIONS_FOLDER }), close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** A gateway call record for tests: an admitted GET /v1/memes by nobody in particular, changed as given. */
export function testUsageRecord(change: Partial<UsageRecord> & { createdAt: Date }): UsageRecord {
  return {
    requestId: newId('request'),
    apiKeyId: null,
    userId: null,
    productId: null,
    routeId: null,
    routePath: '/v1/memes',
    path: '/v1/memes',
    method: 'GET',
    statusCode: 200,
    errorCode: null,
    bytesIn: 0,
    bytesOut: 0,
    latencyMs: 0,
    ip: '203.0.113.7',
    isSandbox: false,
    counted: true,
    overage: false,
    ...change,
  };
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface PrivatePostgres {
  url: string;
  /** Stops the server at once (`pg_ctl stop -m immediate`): clients lose their connections. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it and removes its files. */
  destroy(): Promise<void>;
}

/**
 * A PostgreSQL server of the test's own (initdb in a temporary folder, a free port), to stop and
 * start again: failure tests cannot stop the shared one. Uses the machine's PostgreSQL binaries;
 * as root, runs them as the `postgres` user.
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const { chownSync } = await import('node:fs');
  const run = promisify(execFile);
  const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error('no PostgreSQL binaries under /usr/lib/postgresql');
  const bin = path.join('/usr/lib/postgresql', versions[0] as string, 'bin');
  const asRoot = process.getuid?.() === 0;
  const exec = (command: string, args: string[]) => (asRoot ? run('runuser', ['-u', 'postgres', '--', path.join(bin, command), ...args]) : run(path.join(bin, command), args));

  const port = await freePort();
  const root = mkdtempSync(path.join(os.tmpdir(), 'tollgate-pg-'));
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(root, Number(stdout.trim()), Number(gid.trim()));
  }
  const data = path.join(root, 'data');
  await exec('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const options = `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off`;
  const self: PrivatePostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start: async () => {
      await exec('pg_ctl', ['-D', data, '-o', options, '-l', path.join(root, 'log'), '-w', 'start']);
    },
    stop: async () => {
      await exec('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    },
    destroy: async () => {
      await self.stop().catch(() => undefined);
      rmSync(root, { recursive: true, force: true });
    },
  };
  await self.start();
  return self;
}
