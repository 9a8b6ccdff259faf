import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import type pino from 'pino';
import { Pool } from 'undici';
import type { Clock } from '@tollgate/core';
import { ManualClock } from '@tollgate/runtime';
import { openTestPglite, openTestPostgres, reopenTestPglite, type TestDatabase } from '@tollgate/store/testing';
import { buildApp, type Tollgate } from '../app.ts';
import { loadConfig, type Config } from '../config.ts';
import { assembleDeps, type Deps } from '../deps.ts';
import { seedDemoCatalog } from '../demo/seed.ts';
import { ensureAdminAccount } from '../services/accounts.ts';

/*
 * Builds the whole product in process on a fresh database of its own (PGlite by default), for
 * `app.inject()` tests, and over a real socket when asked (`request`). Nothing is mocked: the same
 * services, store and gateway as `npm start`.
 */

/** What a test reads of an answer, from `inject` or `request` alike. */
export type CallResponse = Pick<LightMyRequestResponse, 'statusCode' | 'headers' | 'body' | 'json'>;

export interface TestAppOptions {
  env?: Record<string, string>;
  /** A manual clock to move time by hand; the system clock otherwise. */
  clock?: Clock;
  database?: 'pglite' | 'postgres';
  /** Seed the two demo catalogs (default true). */
  seed?: boolean;
  /** Run on this database (several instances on one store); the caller closes it. */
  shared?: TestDatabase;
  /** Where the product logs (silent by default). */
  log?: pino.Logger;
  /** Called with the app before it is ready, e.g. to add a route. */
  beforeReady?: (app: Tollgate['app']) => void;
}

export interface TestApp {
  tollgate: Tollgate;
  app: Tollgate['app'];
  deps: Deps;
  config: Config;
  database: TestDatabase;
  inject(options: InjectOptions): Promise<LightMyRequestResponse>;
  /**
   * The same call over a real socket, the app listening on a free port from the first one. A
   * gateway call without a body is then served in front of Fastify (gateway/direct-calls.ts),
   * where `inject` always goes through Fastify's routes.
   */
  request(options: InjectOptions & { url: string }): Promise<CallResponse>;
  /** Signs up a new customer; returns the bearer token and user. */
  signup(email?: string): Promise<{ token: string; userId: string; email: string }>;
  /** A signed-in administrator's bearer token. */
  adminToken(): Promise<string>;
  /** Creates a key through the API as `token`'s user; throws unless 201. */
  createKey(token: string, body: Record<string, unknown>): Promise<{ key: string; id: string; body: Record<string, unknown> }>;
  /** Grants a plan to a customer through the admin API. */
  grant(email: string, planCode: string): Promise<void>;
  /** Writes the buffered usage records now. */
  flushUsage(): Promise<void>;
  /** Stops this app (flushing usage) and starts a new one on the same data, as a restart would. */
  restart(): Promise<TestApp>;
  close(): Promise<void>;
}

let counter = 0;
export const uniqueEmail = (tag = 'user') => `${tag}-${process.pid}-${Date.now()}-${++counter}@example.test`;

export async function createTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  if (options.shared) return startOn(options.shared, options);
  const database = options.database === 'postgres' ? await openTestPostgres() : await openTestPglite();
  return startOn(database, options);
}

async function startOn(database: TestDatabase, options: TestAppOptions): Promise<TestApp> {
  const config = loadConfig({ LOG_LEVEL: 'silent', DATA_DIR: database.dataDir ?? '/tmp', ...options.env });
  const deps = await assembleDeps(database, config, { clock: options.clock ?? { now: () => Date.now() } });
  const { repos } = deps;
  if (options.seed ?? true) await seedDemoCatalog(repos);
  const tollgate = await buildApp({ config, deps, ...(options.log ? { log: options.log } : {}) });
  const closeAll = async () => {
    await tollgate.app.close();
    await deps.close();
    if (!options.shared) await database.close();
  };
  try {
    options.beforeReady?.(tollgate.app);
    await tollgate.app.ready();
  } catch (error) {
    await closeAll();
    throw error;
  }
  const { app } = tollgate;

  const inject = (opts: InjectOptions) => app.inject(opts);
  let admin: string | null = null;
  // The first `request` starts listening; calls made meanwhile wait for the same pool.
  let pool: Promise<Pool> | null = null;
  const stopListening = async () => {
    await (await pool)?.close();
    pool = null;
  };

  const self: TestApp = {
    tollgate,
    app,
    deps,
    config,
    database,
    inject,
    async request({ method = 'GET', url, headers = {}, payload }) {
      pool ??= app.listen({ port: 0, host: '127.0.0.1' }).then((url) => new Pool(url));
      const client = await pool;
      const body = payload === undefined || typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
      const json = body !== undefined && typeof payload === 'object' && !Buffer.isBuffer(payload) ? { 'content-type': 'application/json' } : {};
      const res = await client.request({ method: method as 'GET', path: url, headers: { ...json, ...(headers as Record<string, string>) }, body: body as string | Buffer | undefined });
      const text = await res.body.text();
      return { statusCode: res.statusCode, headers: res.headers, body: text, json: () => JSON.parse(text) };
    },
    async signup(email = uniqueEmail()) {
      const res = await inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email, password: 'correct-horse-battery' } });
      if (res.statusCode !== 201) throw new Error(`signup failed: ${res.statusCode} ${res.body}`);
      const body = res.json() as { token: string; user: { id: string } };
      return { token: body.token, userId: body.user.id, email };
    },
    async adminToken() {
      if (admin) return admin;
      const email = uniqueEmail('admin');
      await ensureAdminAccount(repos, email, 'admin-password-1');
      const res = await inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: 'admin-password-1' } });
      if (res.statusCode !== 200) throw new Error(`admin login failed: ${res.statusCode} ${res.body}`);
      admin = (res.json() as { token: string }).token;
      return admin;
    },
    async createKey(token, body) {
      const res = await inject({ method: 'POST', url: '/api/v1/api-marketplace/keys', headers: { authorization: `Bearer ${token}` }, payload: body });
      if (res.statusCode !== 201) throw new Error(`key creation failed: ${res.statusCode} ${res.body}`);
      const json = res.json() as { key: string; apiKey: Record<string, unknown> & { id: string } };
      return { key: json.key, id: json.apiKey.id, body: json.apiKey };
    },
    async grant(email, planCode) {
      const res = await inject({
        method: 'POST',
        url: '/api/v1/admin/subscriptions',
        headers: { authorization: `Bearer ${await self.adminToken()}` },
        payload: { email, planCode },
      });
      if (res.statusCode !== 201) throw new Error(`grant failed: ${res.statusCode} ${res.body}`);
    },
    flushUsage: () => tollgate.usage.flush(),
    async restart() {
      await stopListening();
      await app.close();
      await deps.close();
      await database.closeKeepingData();
      const dataDir = database.dataDir;
      if (dataDir === undefined) throw new Error('restart() is for PGlite test apps');
      return startOn(await reopenTestPglite(dataDir), { ...options, seed: false });
    },
    async close() {
      await stopListening();
      await closeAll();
    },
  };
  return self;
}

export { ManualClock };
