import { createHash, randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SubscriptionStatus } from '@tollgate/contracts';
import type { ApiKey, Plan, Product, ProductRoute, Subscription, UsageRecord, User } from '@tollgate/core';
import { MIGRATIONS_FOLDER, openPglite, openPostgres, queryRows, type Database } from './database.ts';
import { UniqueViolationError } from './errors.ts';
import { createRepositories, PendingRollups, type Repositories } from './index.ts';
import type { NewApiKey } from './keys.ts';
import type { NewPlan, NewProduct, NewRoute } from './catalog.ts';
import { TEST_DATABASE_URL, testUsageRecord, type TestDatabase } from './testing.ts';

/*
 * One contract for the store, run unchanged against each adapter (PGlite, PostgreSQL), like
 * hono's `src/router/common.case.test.ts`. Each adapter's suite opens its own database; each test
 * makes its own users, products, plans and keys, so no test depends on another's data.
 */

const GENESIS = '0'.repeat(64);
const MIGRATION_COUNT = (
  JSON.parse(readFileSync(path.join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] }
).entries.length;

let counter = 0;
/** Unique per call and per process: lower-case letters and digits. */
const uid = () => `${(++counter).toString(36)}${randomUUID().slice(0, 8)}`;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const at = (iso: string) => new Date(iso);

export function repositoryContract(name: string, open: () => Promise<Database>): void {
  describe(name, () => {
    let database: Database;
    let repos: Repositories;

    beforeAll(async () => {
      database = await open();
      repos = createRepositories(database.db);
    });
    afterAll(async () => {
      await database?.close();
    });

    // ---------- factories ----------

    const makeUser = (email = `user-${uid()}@example.test`): Promise<User> =>
      repos.users.create({ email, passwordHash: `scrypt$${uid()}`, role: 'customer' });

    const makeProduct = (change: Partial<NewProduct> = {}): Promise<Product> =>
      repos.catalog.createProduct({
        slug: `product-${uid()}`,
        name: 'Meme Index',
        description: null,
        publicDocs: null,
        category: 'analytics',
        defaultPlan: null,
        features: ['scores'],
        currency: 'USD',
        isActive: true,
        ...change,
      });

    const makePlan = (productId: string, change: Partial<NewPlan> = {}): Promise<Plan> =>
      repos.catalog.createPlan({
        productId,
        code: `plan-${uid()}`,
        name: 'Starter',
        description: null,
        currency: 'USD',
        monthlyFeeMinor: 0,
        perCallFeeMicros: null,
        rateLimitPerMinute: 60,
        burst: 10,
        rateLimitAlgorithm: 'token-bucket',
        dailyCap: 1_000,
        monthlyQuota: 10_000,
        entitlements: ['memes:basic'],
        limits: { historyDays: 7 },
        isCustom: false,
        isActive: true,
        ...change,
      });

    const makeRoute = (productId: string, change: Partial<NewRoute> = {}): Promise<ProductRoute> =>
      repos.catalog.createRoute({
        productId,
        method: 'GET',
        path: `/v1/${uid()}/{id}`,
        upstreamUrl: null,
        entitlement: null,
        costWeight: 1,
        historyParam: null,
        description: null,
        isActive: true,
        ...change,
      });

    const makeSubscription = (userId: string, planId: string, status: SubscriptionStatus = 'active'): Promise<Subscription> =>
      repos.subscriptions.create({
        userId,
        planId,
        status,
        currentPeriodStart: at('2026-11-01T00:00:00Z'),
        currentPeriodEnd: at('2026-12-01T00:00:00Z'),
      });

    const keyInput = (userId: string, planId: string, subscriptionId: string | null, change: Partial<NewApiKey> = {}): NewApiKey => ({
      userId,
      planId,
      subscriptionId,
      keyHash: sha256(`tg_live_${uid()}`),
      displayPrefix: 'tg_live_',
      lastFour: 'abcd',
      label: 'production',
      ipWhitelist: [],
      scopes: [],
      metadata: {},
      isSandbox: false,
      expiresAt: null,
      ...change,
    });

    /** A customer with an active subscription to a fresh plan and one key on it. */
    async function makeKeyOwner() {
      const user = await makeUser();
      const product = await makeProduct();
      const plan = await makePlan(product.id);
      const subscription = await makeSubscription(user.id, plan.id);
      const key = await repos.keys.create(keyInput(user.id, plan.id, subscription.id));
      return { user, product, plan, subscription, key };
    }

    const usage = testUsageRecord;

    const scalar = async (query: ReturnType<typeof sql>): Promise<number> => {
      const [row] = await queryRows<{ n: string | number | bigint }>(database.db, query);
      return Number(row?.n ?? 0);
    };

    /** A key's persisted day and month counts, read as the gateway's cold path reads them. */
    const countsOf = async (key: ApiKey, nowMs: number) => (await repos.keys.findForGateway(key.keyHash, nowMs))?.counts;

    const overageOf = (keyId: string, period: string) =>
      scalar(sql`select coalesce(sum(overage), 0) as n from usage_counters where api_key_id = ${keyId} and period = ${period}`);

    // ---------- raw SQL for libraries (the job queue) ----------

    describe('executeSql', () => {
      it('runs parameterized SQL and several statements, with timestamps as Dates', async () => {
        const tag = `exec_${uid()}`;
        const { rows } = await database.executeSql('select $1::text as tag, $2::int + 1 as n, $3::timestamptz as at', [tag, 41, '2026-11-23T10:00:00.123Z']);
        expect(rows).toEqual([{ tag, n: 42, at: new Date('2026-11-23T10:00:00.123Z') }]);
        const table = `exec_${uid()}`;
        const last = await database.executeSql(`create temp table ${table} (v int); insert into ${table} values (1), (2); select sum(v)::int as total from ${table}`);
        expect(last.rows).toEqual([{ total: 3 }]);
        await expect(database.executeSql('select * from no_such_table_here', [1])).rejects.toThrow(/no_such_table_here/);
      });
    });

    // ---------- migrations ----------

    describe('migrations', () => {
      it('are idempotent: a second open applies nothing twice and keeps the data', async () => {
        if (database.kind === 'postgres') {
          const schema = `t_mig_${uid()}`;
          try {
            // Two instances starting at once against a schema that does not exist yet.
            const [a, b] = await Promise.all([
              openPostgres({ url: TEST_DATABASE_URL, schema, poolSize: 2 }),
              openPostgres({ url: TEST_DATABASE_URL, schema, poolSize: 2 }),
            ]);
            const email = `restart-${uid()}@example.test`;
            try {
              await createRepositories(a.db).users.create({ email, passwordHash: 'h', role: 'customer' });
              expect((await createRepositories(b.db).users.findByEmail(email))?.email).toBe(email);
              const applied = await queryRows<{ n: string }>(
                a.db,
                sql`select count(*) as n from ${sql.identifier(schema)}.${sql.identifier('__drizzle_migrations')}`,
              );
              expect(Number(applied[0]?.n)).toBe(MIGRATION_COUNT);
            } finally {
              await Promise.all([a.close(), b.close()]);
            }
            // A later restart on the migrated schema.
            const c = await openPostgres({ url: TEST_DATABASE_URL, schema, poolSize: 2 });
            try {
              expect((await createRepositories(c.db).users.findCredentials(email.toUpperCase()))?.user.email).toBe(email);
              const applied = await queryRows<{ n: string }>(
                c.db,
                sql`select count(*) as n from ${sql.identifier(schema)}.${sql.identifier('__drizzle_migrations')}`,
              );
              expect(Number(applied[0]?.n)).toBe(MIGRATION_COUNT);
            } finally {
              await c.close();
            }
          } finally {
            const { default: pg } = await import('pg');
            const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
            await client.connect();
            await client.query(`drop schema if exists ${schema} cascade`);
            await client.end();
          }
        } else {
          const first = (await open()) as TestDatabase;
          const dataDir = first.dataDir;
          expect(dataDir, 'a PGlite test database has a folder').toBeTypeOf('string');
          if (dataDir === undefined) return;
          try {
            const email = `restart-${uid()}@example.test`;
            await createRepositories(first.db).users.create({ email, passwordHash: 'h', role: 'customer' });
            await first.closeKeepingData();
            const again = await openPglite({ dataDir });
            try {
              expect((await createRepositories(again.db).users.findCredentials(email))?.user.email).toBe(email);
              const applied = await queryRows<{ n: string | number }>(
                again.db,
                sql`select count(*) as n from drizzle.__drizzle_migrations`,
              );
              expect(Number(applied[0]?.n)).toBe(MIGRATION_COUNT);
            } finally {
              await again.close();
            }
          } finally {
            rmSync(dataDir, { recursive: true, force: true });
          }
        }
      });

      it('leave room on the pages of the tables the usage writer updates, so its updates stay on the page', async () => {
        const options = await queryRows<{ name: string; options: string[] | string | null }>(
          database.db,
          sql`select relname as name, reloptions as options from pg_class
              where relname in ('api_keys', 'usage_counters', 'usage_rollups') and relnamespace = to_regnamespace(current_schema())::oid
              order by relname`,
        );
        expect(options.map((r) => ({ name: r.name, options: String(r.options) }))).toEqual(
          ['api_keys', 'usage_counters', 'usage_rollups'].map((name) => ({ name, options: expect.stringContaining('fillfactor=70') })),
        );
      });
    });

    // ---------- users and sessions ----------

    describe('users', () => {
      it('creates a customer and finds it by id and by email in any case', async () => {
        const email = `Mixed.${uid()}@Example.test`;
        const user = await makeUser(email);
        expect(user.id).toMatch(/^usr_/);
        expect(user).toMatchObject({ email, role: 'customer' });
        expect(user.createdAt).toBeInstanceOf(Date);
        expect(await repos.users.findById(user.id)).toEqual(user);
        expect(await repos.users.findByEmail(email.toLowerCase())).toEqual(user);
        expect(await repos.users.findById('usr_missing')).toBeNull();
      });

      it('refuses a second account whose email differs only in case', async () => {
        const email = `dup-${uid()}@example.test`;
        await makeUser(email);
        const error = await makeUser(email.toUpperCase()).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(UniqueViolationError);
        expect((error as UniqueViolationError).constraint).toBe('users_email_key');
      });

      it('findCredentials returns the password hash for the email in any case, null when unknown', async () => {
        const email = `creds-${uid()}@example.test`;
        const user = await repos.users.create({ email, passwordHash: 'scrypt$salt$hash', role: 'admin' });
        const found = await repos.users.findCredentials(email.toUpperCase());
        expect(found).toEqual({ user, passwordHash: 'scrypt$salt$hash' });
        expect(found?.user.role).toBe('admin');
        expect(await repos.users.findCredentials(`nobody-${uid()}@example.test`)).toBeNull();
      });

      it('update changes the role and the password hash', async () => {
        const user = await makeUser();
        const updated = await repos.users.update(user.id, { role: 'admin', passwordHash: 'new-hash' });
        expect(updated?.role).toBe('admin');
        expect((await repos.users.findCredentials(user.email))?.passwordHash).toBe('new-hash');
        expect(await repos.users.update('usr_missing', { role: 'admin' })).toBeNull();
      });
    });

    describe('sessions', () => {
      it('finds the user of a live session and not of an expired one', async () => {
        const user = await makeUser();
        const live = sha256(uid());
        const expired = sha256(uid());
        const now = at('2026-11-23T10:00:00Z');
        await repos.sessions.create(user.id, live, at('2026-11-24T10:00:00Z'));
        await repos.sessions.create(user.id, expired, at('2026-11-23T09:59:59Z'));
        expect((await repos.sessions.findUser(live, now))?.id).toBe(user.id);
        expect(await repos.sessions.findUser(expired, now)).toBeNull();
        // At the instant of expiry the session is already over.
        expect(await repos.sessions.findUser(live, at('2026-11-24T10:00:00Z'))).toBeNull();
        expect(await repos.sessions.findUser(sha256(uid()), now)).toBeNull();
      });

      it('delete ends a session (logout) and leaves the user\'s others', async () => {
        const user = await makeUser();
        const a = sha256(uid());
        const b = sha256(uid());
        const expires = at('2030-01-01T00:00:00Z');
        await repos.sessions.create(user.id, a, expires);
        await repos.sessions.create(user.id, b, expires);
        await repos.sessions.delete(a);
        const now = at('2026-11-23T10:00:00Z');
        expect(await repos.sessions.findUser(a, now)).toBeNull();
        expect((await repos.sessions.findUser(b, now))?.id).toBe(user.id);
      });
    });

    // ---------- catalog ----------

    describe('catalog', () => {
      it('creates a product and finds it by id and by slug', async () => {
        const product = await makeProduct({ description: 'Scores for memes', features: ['a', 'b'] });
        expect(product.id).toMatch(/^prod_/);
        expect(product).toMatchObject({ description: 'Scores for memes', features: ['a', 'b'], isActive: true });
        expect(await repos.catalog.findProduct(product.id)).toEqual(product);
        expect(await repos.catalog.findProduct(product.slug)).toEqual(product);
        expect(await repos.catalog.findProduct(`missing-${uid()}`)).toBeNull();
      });

      it('refuses a duplicate slug', async () => {
        const product = await makeProduct();
        await expect(makeProduct({ slug: product.slug })).rejects.toBeInstanceOf(UniqueViolationError);
      });

      it('listProducts filters by category and active flag and pages with the full total', async () => {
        const category = `cat-${uid()}`;
        const made: Product[] = [];
        for (let i = 0; i < 5; i++) made.push(await makeProduct({ category, isActive: i !== 2 }));
        await makeProduct({ category: `other-${uid()}` });

        const all = await repos.catalog.listProducts({ category, page: 1, limit: 50 });
        expect(all.total).toBe(5);
        expect(all.items.map((p) => p.id)).toEqual(made.map((p) => p.id));

        const active = await repos.catalog.listProducts({ category, active: true, page: 1, limit: 50 });
        expect(active.total).toBe(4);
        expect(active.items.every((p) => p.isActive && p.category === category)).toBe(true);
        const inactive = await repos.catalog.listProducts({ category, active: false, page: 1, limit: 50 });
        expect(inactive.items.map((p) => p.id)).toEqual([made[2]?.id]);

        const page1 = await repos.catalog.listProducts({ category, page: 1, limit: 2 });
        const page2 = await repos.catalog.listProducts({ category, page: 2, limit: 2 });
        const page3 = await repos.catalog.listProducts({ category, page: 3, limit: 2 });
        expect([page1.total, page2.total, page3.total]).toEqual([5, 5, 5]);
        expect([page1.items.length, page2.items.length, page3.items.length]).toEqual([2, 2, 1]);
        expect([...page1.items, ...page2.items, ...page3.items].map((p) => p.id)).toEqual(made.map((p) => p.id));
        const beyond = await repos.catalog.listProducts({ category, page: 4, limit: 2 });
        expect(beyond).toEqual({ items: [], total: 5 });
      });

      it('updateProduct changes fields and returns null for an unknown id', async () => {
        const product = await makeProduct();
        const updated = await repos.catalog.updateProduct(product.id, { name: 'Renamed', isActive: false });
        expect(updated).toMatchObject({ id: product.id, name: 'Renamed', isActive: false, slug: product.slug });
        expect(await repos.catalog.updateProduct('prod_missing', { name: 'x' })).toBeNull();
      });

      it('finds a plan by id or by code, with its numbers and JSON fields intact', async () => {
        const product = await makeProduct();
        const plan = await makePlan(product.id, {
          monthlyFeeMinor: 4_900,
          perCallFeeMicros: 250,
          monthlyQuota: 5_000_000_000,
          dailyCap: null,
          rateLimitAlgorithm: 'sliding-window',
          entitlements: ['memes:full', 'sentiment'],
          limits: { websocketChannels: 3, webhookEndpoints: null, historyDays: 30 },
        });
        expect(plan.id).toMatch(/^plan_/);
        expect(await repos.catalog.findPlan(plan.id)).toEqual(plan);
        const byCode = await repos.catalog.findPlan(plan.code);
        expect(byCode).toEqual(plan);
        expect(byCode).toMatchObject({
          monthlyFeeMinor: 4_900,
          perCallFeeMicros: 250,
          monthlyQuota: 5_000_000_000,
          dailyCap: null,
          rateLimitAlgorithm: 'sliding-window',
          entitlements: ['memes:full', 'sentiment'],
          limits: { websocketChannels: 3, webhookEndpoints: null, historyDays: 30 },
        });
        expect(await repos.catalog.findPlan(`missing-${uid()}`)).toBeNull();
      });

      it('refuses a duplicate plan code', async () => {
        const product = await makeProduct();
        const plan = await makePlan(product.id);
        await expect(makePlan(product.id, { code: plan.code })).rejects.toBeInstanceOf(UniqueViolationError);
      });

      it('listPlans filters by products and active flag', async () => {
        const p1 = await makeProduct();
        const p2 = await makeProduct();
        const p3 = await makeProduct();
        const a = await makePlan(p1.id);
        const b = await makePlan(p1.id, { isActive: false });
        const c = await makePlan(p2.id);
        await makePlan(p3.id);

        const both = await repos.catalog.listPlans({ productIds: [p1.id, p2.id] });
        expect(new Set(both.map((p) => p.id))).toEqual(new Set([a.id, b.id, c.id]));
        expect(both).toHaveLength(3);
        const activeOnly = await repos.catalog.listPlans({ productIds: [p1.id, p2.id], activeOnly: true });
        expect(new Set(activeOnly.map((p) => p.id))).toEqual(new Set([a.id, c.id]));
        expect(await repos.catalog.listPlans({ productIds: [] })).toEqual([]);
        const everything = await repos.catalog.listPlans();
        expect(everything.map((p) => p.id)).toEqual(expect.arrayContaining([a.id, b.id, c.id]));
        const everythingActive = await repos.catalog.listPlans({ activeOnly: true });
        expect(everythingActive.some((p) => p.id === b.id)).toBe(false);
      });

      it("lists a product's plans as a pricing page does: by monthly fee, custom pricing last, whatever their creation order", async () => {
        const product = await makeProduct();
        // Created in another order, within a clock tick or not.
        const custom = await makePlan(product.id, { code: `z-custom-${uid()}`, monthlyFeeMinor: null, isCustom: true });
        const pro = await makePlan(product.id, { code: `a-pro-${uid()}`, monthlyFeeMinor: 29_900 });
        const free = await makePlan(product.id, { code: `m-free-${uid()}`, monthlyFeeMinor: 0 });
        const developer = await makePlan(product.id, { code: `b-dev-${uid()}`, monthlyFeeMinor: 4_900 });
        expect((await repos.catalog.listPlans({ productIds: [product.id] })).map((p) => p.id)).toEqual([free.id, developer.id, pro.id, custom.id]);
      });

      it('routes: one product owns a method and path; another method on the path is fine', async () => {
        const p1 = await makeProduct();
        const p2 = await makeProduct();
        const route = await makeRoute(p1.id, { entitlement: 'memes:full', costWeight: 3, historyParam: 'from' });
        expect(route.id).toMatch(/^rte_/);
        expect(await repos.catalog.findRoute(route.id)).toEqual(route);
        await expect(makeRoute(p2.id, { method: 'GET', path: route.path })).rejects.toBeInstanceOf(UniqueViolationError);
        await expect(makeRoute(p1.id, { method: 'GET', path: route.path })).rejects.toBeInstanceOf(UniqueViolationError);
        const post = await makeRoute(p2.id, { method: 'POST', path: route.path });
        expect(post.path).toBe(route.path);

        const inactive = await makeRoute(p1.id, { isActive: false });
        const ofP1 = await repos.catalog.listRoutes({ productIds: [p1.id] });
        expect(new Set(ofP1.map((r) => r.id))).toEqual(new Set([route.id, inactive.id]));
        const activeOfP1 = await repos.catalog.listRoutes({ productIds: [p1.id], activeOnly: true });
        expect(activeOfP1.map((r) => r.id)).toEqual([route.id]);
        expect(await repos.catalog.listRoutes({ productIds: [] })).toEqual([]);
        expect((await repos.catalog.updateRoute(route.id, { costWeight: 5 }))?.costWeight).toBe(5);
      });
    });

    // ---------- subscriptions ----------

    describe('subscriptions', () => {
      it('allows one live subscription per customer and plan, and a new one once it is cancelled', async () => {
        const user = await makeUser();
        const product = await makeProduct();
        const plan = await makePlan(product.id);
        const first = await makeSubscription(user.id, plan.id);
        expect(first.id).toMatch(/^sub_/);
        await expect(makeSubscription(user.id, plan.id)).rejects.toBeInstanceOf(UniqueViolationError);
        // past_due is still live
        await repos.subscriptions.setStatus(first.id, 'past_due');
        await expect(makeSubscription(user.id, plan.id, 'active')).rejects.toBeInstanceOf(UniqueViolationError);
        expect((await repos.subscriptions.findLive(user.id, plan.id))?.id).toBe(first.id);

        const cancelled = await repos.subscriptions.setStatus(first.id, 'cancelled');
        expect(cancelled?.status).toBe('cancelled');
        expect(await repos.subscriptions.findLive(user.id, plan.id)).toBeNull();
        const second = await makeSubscription(user.id, plan.id);
        expect(second.id).not.toBe(first.id);
        expect((await repos.subscriptions.findLive(user.id, plan.id))?.id).toBe(second.id);

        // Another customer on the same plan is independent.
        const other = await makeUser();
        await expect(makeSubscription(other.id, plan.id)).resolves.toMatchObject({ userId: other.id, status: 'active' });
      });

      it('an expired subscription does not block a new one', async () => {
        const user = await makeUser();
        const plan = await makePlan((await makeProduct()).id);
        const old = await makeSubscription(user.id, plan.id, 'expired');
        const fresh = await makeSubscription(user.id, plan.id);
        expect(fresh.id).not.toBe(old.id);
      });

      it('listByUser carries the plan code and product, newest first, and only the user\'s own', async () => {
        const user = await makeUser();
        const product = await makeProduct();
        const a = await makePlan(product.id);
        const b = await makePlan(product.id);
        const subA = await makeSubscription(user.id, a.id);
        await new Promise((resolve) => setTimeout(resolve, 5)); // PGlite's clock ticks in milliseconds
        const subB = await makeSubscription(user.id, b.id);
        await makeSubscription((await makeUser()).id, a.id);

        const list = await repos.subscriptions.listByUser(user.id);
        expect(list.map((s) => s.id)).toEqual([subB.id, subA.id]);
        expect(list[0]).toMatchObject({ planId: b.id, planCode: b.code, productId: product.id, status: 'active' });
        expect(list[1]).toMatchObject({ planId: a.id, planCode: a.code, productId: product.id });
        expect(await repos.subscriptions.findById(subA.id)).toEqual(subA);
        expect(await repos.subscriptions.findById('sub_missing')).toBeNull();
      });
    });

    // ---------- keys ----------

    describe('keys', () => {
      it('findForGateway returns the key with its plan, subscription status and counts', async () => {
        const { user, plan, subscription, key } = await makeKeyOwner();
        expect(key).toMatchObject({ userId: user.id, planId: plan.id, subscriptionId: subscription.id, status: 'active', usageCount: 0, lastUsedAt: null });
        expect(key.id).toMatch(/^key_/);

        const found = await repos.keys.findForGateway(key.keyHash, Date.now());
        expect(found?.key).toEqual(key);
        expect(found?.plan).toEqual(plan);
        expect(found?.subscriptionStatus).toBe('active');
        expect(found?.counts).toEqual({ day: 0, month: 0 });

        await repos.subscriptions.setStatus(subscription.id, 'past_due');
        expect((await repos.keys.findForGateway(key.keyHash, Date.now()))?.subscriptionStatus).toBe('past_due');
        expect(await repos.keys.findForGateway(sha256(uid()), Date.now())).toBeNull();

        // The counts are those of the day and month asked about.
        const at = (iso: string) => Date.parse(iso);
        const call = (iso: string, counted = true): UsageRecord => usage({ apiKeyId: key.id, userId: user.id, createdAt: new Date(at(iso)), counted });
        await repos.usage.writeBatch([call('2026-10-31T23:00:00Z'), call('2026-11-02T10:00:00Z'), call('2026-11-03T09:00:00Z'), call('2026-11-03T09:30:00Z'), call('2026-11-03T09:40:00Z', false)]);
        expect((await repos.keys.findForGateway(key.keyHash, at('2026-11-03T12:00:00Z')))?.counts).toEqual({ day: 2, month: 3 });
        expect((await repos.keys.findForGateway(key.keyHash, at('2026-10-31T12:00:00Z')))?.counts).toEqual({ day: 1, month: 1 });
        expect((await repos.keys.findForGateway(key.keyHash, at('2026-12-01T00:00:00Z')))?.counts).toEqual({ day: 0, month: 0 });
      });

      it('findManyForGateway finds many keys in one query, each with its own plan, status and counts', async () => {
        const owners = [await makeKeyOwner(), await makeKeyOwner(), await makeKeyOwner()];
        const [first, second, third] = owners as [(typeof owners)[number], (typeof owners)[number], (typeof owners)[number]];
        await repos.subscriptions.setStatus(second.subscription.id, 'past_due');
        const at = Date.parse('2026-11-03T12:00:00Z');
        await repos.usage.writeBatch([
          usage({ apiKeyId: third.key.id, userId: third.user.id, createdAt: new Date(at - 60_000) }),
          usage({ apiKeyId: third.key.id, userId: third.user.id, createdAt: new Date(at - 86_400_000) }),
        ]);
        const unknown = sha256(uid());
        const found = await repos.keys.findManyForGateway([first.key.keyHash, unknown, second.key.keyHash, third.key.keyHash, first.key.keyHash], at);
        expect([...found.keys()].sort()).toEqual([first.key.keyHash, second.key.keyHash, third.key.keyHash].sort());
        for (const owner of owners) {
          expect(found.get(owner.key.keyHash)?.key).toEqual(owner.key);
          expect(found.get(owner.key.keyHash)?.plan).toEqual(owner.plan);
        }
        expect(found.get(first.key.keyHash)?.subscriptionStatus).toBe('active');
        expect(found.get(second.key.keyHash)?.subscriptionStatus).toBe('past_due');
        expect(found.get(third.key.keyHash)?.counts).toEqual({ day: 1, month: 2 });
        expect(found.get(first.key.keyHash)?.counts).toEqual({ day: 0, month: 0 });
        expect((await repos.keys.findManyForGateway([], at)).size).toBe(0);
      });

      it('a sandbox key without a subscription has a null subscription status', async () => {
        const user = await makeUser();
        const plan = await makePlan((await makeProduct()).id);
        const key = await repos.keys.create(
          keyInput(user.id, plan.id, null, {
            isSandbox: true,
            displayPrefix: 'tg_test_',
            ipWhitelist: ['10.0.0.0/8'],
            scopes: ['read'],
            metadata: { team: 'data' },
            expiresAt: at('2027-01-01T00:00:00Z'),
          }),
        );
        const found = await repos.keys.findForGateway(key.keyHash, Date.now());
        expect(found?.subscriptionStatus).toBeNull();
        expect(found?.key).toMatchObject({
          isSandbox: true,
          ipWhitelist: ['10.0.0.0/8'],
          scopes: ['read'],
          metadata: { team: 'data' },
          expiresAt: at('2027-01-01T00:00:00Z'),
        });
      });

      it('findById is owner-scoped: another customer\'s key is not found', async () => {
        const { user, key } = await makeKeyOwner();
        const stranger = await makeUser();
        expect((await repos.keys.findById(key.id, user.id))?.key.id).toBe(key.id);
        expect(await repos.keys.findById(key.id, stranger.id)).toBeNull();
        expect((await repos.keys.findById(key.id))?.key.id).toBe(key.id);
        expect(await repos.keys.findById('key_missing')).toBeNull();
        expect(await repos.keys.listByUser(stranger.id)).toEqual([]);
        expect((await repos.keys.listByUser(user.id)).map((k) => k.key.id)).toEqual([key.id]);
      });

      it('update revokes a key and changes its label', async () => {
        const { key } = await makeKeyOwner();
        const revoked = await repos.keys.update(key.id, { status: 'revoked', label: 'old laptop' });
        expect(revoked).toMatchObject({ id: key.id, status: 'revoked', label: 'old laptop' });
        expect((await repos.keys.findForGateway(key.keyHash, Date.now()))?.key.status).toBe('revoked');
        expect(await repos.keys.update('key_missing', { status: 'revoked' })).toBeNull();
      });

      it('rotate revokes the old key and issues the new one', async () => {
        const { user, plan, subscription, key } = await makeKeyOwner();
        const replacement = await repos.keys.rotate(key.id, keyInput(user.id, plan.id, subscription.id, { label: 'rotated' }));
        expect(replacement.id).not.toBe(key.id);
        expect(replacement).toMatchObject({ status: 'active', label: 'rotated' });
        expect((await repos.keys.findForGateway(key.keyHash, Date.now()))?.key.status).toBe('revoked');
        expect((await repos.keys.findForGateway(replacement.keyHash, Date.now()))?.key.status).toBe('active');
      });

      it('a rotation that cannot issue the new key leaves the old one active', async () => {
        const { user, plan, subscription, key } = await makeKeyOwner();
        const taken = await repos.keys.create(keyInput(user.id, plan.id, subscription.id));
        // The replacement's hash collides with an existing key: the insert fails, so must the revoke.
        await expect(
          repos.keys.rotate(key.id, keyInput(user.id, plan.id, subscription.id, { keyHash: taken.keyHash })),
        ).rejects.toThrow();
        expect((await repos.keys.findForGateway(key.keyHash, Date.now()))?.key.status).toBe('active');
        expect(await repos.keys.listByUser(user.id)).toHaveLength(2);
      });

      it('hashesForPlan and hashesForSubscription list every key of the plan or subscription', async () => {
        const { user, plan, subscription, key } = await makeKeyOwner();
        const second = await repos.keys.create(keyInput(user.id, plan.id, subscription.id));
        const other = await makeUser();
        const otherSub = await makeSubscription(other.id, plan.id);
        const third = await repos.keys.create(keyInput(other.id, plan.id, otherSub.id));
        await makeKeyOwner(); // a key on another plan

        expect(new Set(await repos.keys.hashesForPlan(plan.id))).toEqual(new Set([key.keyHash, second.keyHash, third.keyHash]));
        expect(await repos.keys.hashesForPlan(plan.id)).toHaveLength(3);
        expect(new Set(await repos.keys.hashesForSubscription(subscription.id))).toEqual(new Set([key.keyHash, second.keyHash]));
        expect(await repos.keys.hashesForSubscription(otherSub.id)).toEqual([third.keyHash]);
        expect(await repos.keys.hashesForPlan('plan_missing')).toEqual([]);
      });
    });

    // ---------- usage ----------

    describe('usage', () => {
      it('writeBatch stores every call and counts only admitted ones toward the day and month', async () => {
        const { user, product, key } = await makeKeyOwner();
        const { key: otherKey } = await makeKeyOwner();
        const tag = `req_batch_${uid()}_`;
        const day1 = Date.UTC(2026, 10, 23, 10, 0, 0); // 2026-11-23
        const day2 = Date.UTC(2026, 10, 24, 9, 0, 0); // 2026-11-24
        const dec1 = Date.UTC(2026, 11, 1, 0, 0, 0); // 2026-12-01

        const records: UsageRecord[] = [];
        const expected = { d1: 0, d2: 0, dec: 0, overNov: 0, refused: 0, other: 0, otherD2: 0, otherNov: 0, noKey: 0 };
        let last = 0;
        for (let i = 0; i < 2_500; i++) {
          const base = i < 1_500 ? day1 : i < 2_000 ? day2 : dec1;
          const createdAtMs = base + (i % 600) * 1_000;
          if (i % 97 === 0) {
            // a malformed key: no key id, never counted
            records.push(usage({ requestId: `${tag}${i}`, createdAt: new Date(createdAtMs), statusCode: 401, counted: false }));
            expected.noKey++;
            continue;
          }
          if (i % 89 === 0) {
            records.push(usage({ requestId: `${tag}${i}`, apiKeyId: otherKey.id, createdAt: new Date(createdAtMs) }));
            expected.other++;
            if (base === day2) expected.otherD2++;
            if (base !== dec1) expected.otherNov++;
            continue;
          }
          const refused = i % 5 === 0;
          const overage = !refused && i % 7 === 0;
          records.push(
            usage({
              requestId: `${tag}${i}`,
              apiKeyId: key.id,
              userId: user.id,
              productId: product.id,
              createdAt: new Date(createdAtMs),
              statusCode: refused ? 429 : 200,
              errorCode: refused ? 'rate_limit_exceeded' : null,
              counted: !refused,
              overage,
            }),
          );
          last = Math.max(last, createdAtMs);
          if (refused) {
            expected.refused++;
            continue;
          }
          if (base === day1) expected.d1++;
          else if (base === day2) expected.d2++;
          else expected.dec++;
          if (overage && base !== dec1) expected.overNov++;
        }
        expect(expected.refused).toBeGreaterThan(0);
        expect(expected.overNov).toBeGreaterThan(0);

        await repos.usage.writeBatch(records);

        expect(await scalar(sql`select count(*) as n from api_usage where request_id like ${`${tag}%`}`)).toBe(2_500);
        expect(await scalar(sql`select count(*) as n from api_usage where api_key_id = ${key.id}`)).toBe(
          2_500 - expected.noKey - expected.other,
        );
        // A month keeps the count of its latest day only: a daily cap needs today's, no other.
        expect(await countsOf(key, day2 + 3_600_000)).toEqual({ day: expected.d2, month: expected.d1 + expected.d2 });
        expect(await countsOf(key, day1)).toEqual({ day: 0, month: expected.d1 + expected.d2 });
        expect(await countsOf(key, dec1)).toEqual({ day: expected.dec, month: expected.dec });
        expect(await countsOf(key, Date.UTC(2026, 10, 25))).toEqual({ day: 0, month: expected.d1 + expected.d2 });
        expect(expected.otherD2).toBeGreaterThan(0);
        expect(await countsOf(otherKey, day2)).toEqual({ day: expected.otherD2, month: expected.otherNov });
        expect(await overageOf(key.id, 'month:2026-11')).toBe(expected.overNov);

        const stored = await repos.keys.findById(key.id);
        expect(stored?.key.usageCount).toBe(2_500 - expected.noKey - expected.other);
        expect(stored?.key.lastUsedAt?.getTime()).toBe(last);
        expect((await repos.keys.findById(otherKey.id))?.key.usageCount).toBe(expected.other);

        // A second batch adds to the counts; older calls do not move last use back, nor count
        // toward a later day's cap.
        await repos.usage.writeBatch([
          usage({ apiKeyId: key.id, userId: user.id, createdAt: new Date(day1 + 1_000) }),
          usage({ apiKeyId: key.id, userId: user.id, createdAt: new Date(day1 + 2_000), overage: true }),
          usage({ apiKeyId: key.id, userId: user.id, createdAt: new Date(day1 + 3_000), counted: false, statusCode: 429 }),
        ]);
        expect(await countsOf(key, day2 + 3_600_000)).toEqual({ day: expected.d2, month: expected.d1 + expected.d2 + 2 });
        expect(await overageOf(key.id, 'month:2026-11')).toBe(expected.overNov + 1);
        const after = await repos.keys.findById(key.id);
        expect(after?.key.usageCount).toBe(2_500 - expected.noKey - expected.other + 3);
        expect(after?.key.lastUsedAt?.getTime()).toBe(last);

        // A batch of the same day adds to its count; one of a later day starts the count again.
        await repos.usage.writeBatch([usage({ apiKeyId: key.id, userId: user.id, createdAt: new Date(day2 + 7_200_000) })]);
        expect(await countsOf(key, day2 + 3_600_000)).toEqual({ day: expected.d2 + 1, month: expected.d1 + expected.d2 + 3 });
        const day3 = Date.UTC(2026, 10, 25, 8);
        await repos.usage.writeBatch([
          usage({ apiKeyId: key.id, userId: user.id, createdAt: new Date(day3) }),
          usage({ apiKeyId: key.id, userId: user.id, createdAt: new Date(day3 + 1), counted: false, statusCode: 429 }),
        ]);
        expect(await countsOf(key, day3)).toEqual({ day: 1, month: expected.d1 + expected.d2 + 4 });
        expect(await countsOf(key, day2)).toEqual({ day: 0, month: expected.d1 + expected.d2 + 4 });
        const latest = await repos.keys.findById(key.id);
        expect(latest?.key.usageCount).toBe(2_500 - expected.noKey - expected.other + 6);
        expect(latest?.key.lastUsedAt?.getTime()).toBe(last); // December's calls are later
      });

      it('the call log gives back every field of every call as written, whatever the text in it', async () => {
        const { user, product, key } = await makeKeyOwner();
        const tag = `req_fields_${uid()}_`;
        const at = Date.UTC(2026, 10, 23, 10, 59, 59, 998);
        const written = [
          usage({ requestId: `${tag}0`, apiKeyId: key.id, userId: user.id, productId: product.id, routeId: 'rte_x', routePath: '/v1/{id}',
            path: '/v1/a\tb\n"c",{d}\\e é', method: 'POST', statusCode: 201, errorCode: null, bytesIn: 12, bytesOut: 3_456, latencyMs: 78,
            ip: '2001:db8::1', isSandbox: true, createdAt: new Date(at) }),
          // No key, product, route or address; the next hour's call goes to a block of its own.
          usage({ requestId: `${tag}1`, routePath: null, routeId: null, ip: null, path: '', statusCode: 401, errorCode: 'invalid_api_key',
            latencyMs: 2, createdAt: new Date(at + 3) }),
          usage({ requestId: `${tag}2`, apiKeyId: key.id, userId: user.id, path: 'NULL', method: 'GET', createdAt: new Date(at + 1) }),
          // The first call's shape again, with a request id whose end holds a tab and a line break.
          usage({ requestId: `${tag}3\tx\ny`, apiKeyId: key.id, userId: user.id, productId: product.id, routeId: 'rte_x', routePath: '/v1/{id}',
            path: '/v1/a\tb\n"c",{d}\\e é', method: 'POST', statusCode: 201, errorCode: null, bytesIn: 0, bytesOut: 1, latencyMs: 0,
            ip: '2001:db8::1', isSandbox: true, createdAt: new Date(at + 2) }),
        ];
        await repos.usage.writeBatch(written);
        const rows = await queryRows<Record<string, unknown>>(
          database.db,
          sql`select request_id, api_key_id, user_id, product_id, route_id, route_path, path, method, status_code, error_code,
                     bytes_in, bytes_out, latency_ms, ip, is_sandbox, created_at
              from api_usage where request_id like ${`${tag}%`} order by request_id`,
        );
        expect(rows.map((r) => ({ ...r, created_at: new Date(r.created_at as string | Date).getTime() }))).toEqual(
          written.map((r) => ({
            request_id: r.requestId, api_key_id: r.apiKeyId, user_id: r.userId, product_id: r.productId, route_id: r.routeId,
            route_path: r.routePath, path: r.path, method: r.method, status_code: r.statusCode, error_code: r.errorCode,
            bytes_in: r.bytesIn, bytes_out: r.bytesOut, latency_ms: r.latencyMs, ip: r.ip, is_sandbox: r.isSandbox,
            created_at: r.createdAt.getTime(),
          })),
        );
      });

      describe('rollups deferred by the writer', () => {
        /**
         * The same calls for each way of writing them, told apart by `way` in every key, user and
         * product id: several keys, calls without a key, three minutes, refusals, a call with no
         * route path (its path is its endpoint), one with a blank route path, bytes and latencies.
         */
        const calls = (way: string, from: number, count: number): UsageRecord[] =>
          Array.from({ length: count }, (_, n) => {
            const i = from + n;
            const keyless = i % 11 === 0;
            return usage({
              requestId: `req_${way}_${i}`,
              apiKeyId: keyless ? null : `key_${way}_${i % 4}`,
              userId: keyless ? null : `usr_${way}_${i % 2}`,
              productId: `prd_${way}`,
              routePath: i % 13 === 0 ? null : i % 17 === 0 ? '' : `/v1/things/${i % 3}`,
              path: `/v1/things/${i % 3}/x${i % 5}`,
              statusCode: i % 7 === 0 ? 429 : 200,
              errorCode: i % 7 === 0 ? 'rate_limit_exceeded' : null,
              counted: i % 7 !== 0,
              overage: i % 7 !== 0 && i % 5 === 0,
              bytesIn: i % 3,
              bytesOut: 100 + i,
              latencyMs: i % 9,
              // The last calls on the next day, and the next month: a key's day count restarts, its month has a counter of its own.
              createdAt: new Date(Date.UTC(2005, 4, 1, 10, 0, 30) + i * 400 + (i >= 400 ? 86_400_000 : 0) + (i >= 450 ? 31 * 86_400_000 : 0)),
            });
          });
        /** The rollups of a way's calls, its name taken out of the ids, in one order. */
        const rollupsOf = async (way: string) =>
          (
            await queryRows<{ key: string; minute: string | Date; endpoint: string; status: number; user: string; count: string | number; bytes: string | number; latency: string | number }>(
              database.db,
              sql`select api_key_id as key, minute, endpoint, status_code as status, user_id as user, count, bytes, latency_ms_sum as latency
                  from usage_rollups where product_id = ${`prd_${way}`} order by 1, 2, 3, 4, 5`,
            )
          ).map((r) => [r.key.replace(way, '*'), new Date(r.minute).toISOString(), r.endpoint, Number(r.status), r.user.replace(way, '*'), Number(r.count), Number(r.bytes), Number(r.latency)].join(' '));
        /** The counters of a way's keys, its name taken out of the ids, in one order. */
        const countersOf = async (way: string) =>
          (
            await queryRows<{ key: string; period: string; count: string | number; overage: string | number; day: string | Date; dayCount: string | number; calls: string | number; last: string | Date }>(
              database.db,
              sql`select api_key_id as key, period, count, overage, day::text as day, day_count as "dayCount", calls, last_used_at as last
                  from usage_counters where api_key_id like ${`key_${way}_%`} order by 1, 2`,
            )
          ).map((r) => [r.key.replace(way, '*'), r.period, Number(r.count), Number(r.overage), String(r.day), Number(r.dayCount), Number(r.calls), new Date(r.last).toISOString()].join(' '));
        const pendingBlocks = (ids: readonly number[]) =>
          scalar(sql`select count(*) as n from api_usage_blocks where id = any(${sql.param(ids.map(String))}::bigint[]) and (rollup_pending or counters_pending)`);

        it('held and folded across batches, or folded from the log, they are the rollups and counters a direct write makes', async () => {
          const [direct, held, replayed] = [`d${uid()}`, `h${uid()}`, `r${uid()}`];
          await repos.usage.writeBatch(calls(direct, 0, 250));
          await repos.usage.writeBatch(calls(direct, 250, 250));
          const expected = await rollupsOf(direct);
          expect(expected.length).toBeGreaterThan(20);
          const expectedCounters = await countersOf(direct);
          // Four keys, each with a counter of two months; the day's count restarted on the later day.
          expect(expectedCounters.map((row) => row.split(' ').slice(0, 2).join(' '))).toEqual(
            ['0', '1', '2', '3'].flatMap((k) => [`key_*_${k} month:2005-05`, `key_*_${k} month:2005-06`]),
          );
          expect(expectedCounters[0]).toMatch(/^key_\*_0 month:2005-05 \d+ \d+ 2005-05-02 /);

          const pending = new PendingRollups();
          pending.add(await repos.usage.writeBatch(calls(held, 0, 250), undefined, { deferRollups: true }), Date.now());
          pending.add(await repos.usage.writeBatch(calls(held, 250, 250), undefined, { deferRollups: true }), Date.now());
          expect(await rollupsOf(held)).toEqual([]); // the calls are stored, their rollups and counters not yet
          expect(await countersOf(held)).toEqual([]);
          expect(await scalar(sql`select count(*) as n from api_usage where request_id like ${`req_${held}_%`}`)).toBe(500);
          const taken = await pending.take();
          expect(await pendingBlocks(taken.blockIds)).toBe(taken.blockIds.length);
          expect(await repos.usage.writeRollups(taken)).toBe('written');
          expect(await rollupsOf(held)).toEqual(expected);
          expect(await countersOf(held)).toEqual(expectedCounters);
          expect(await pendingBlocks(taken.blockIds)).toBe(0);

          // A writer that stopped before writing them: its blocks are folded from their lines.
          const first = await repos.usage.writeBatch(calls(replayed, 0, 250), undefined, { deferRollups: true });
          const second = await repos.usage.writeBatch(calls(replayed, 250, 250), undefined, { deferRollups: true });
          expect(await repos.usage.replayRollups({ blockIds: [...first.blockIds, ...second.blockIds] })).toBe(first.blockIds.length + second.blockIds.length);
          expect(await rollupsOf(replayed)).toEqual(expected);
          expect(await countersOf(replayed)).toEqual(expectedCounters);
          expect(await repos.usage.replayRollups({ blockIds: first.blockIds })).toBe(0); // nothing is folded twice
          expect(await rollupsOf(replayed)).toEqual(expected);
          expect(await countersOf(replayed)).toEqual(expectedCounters);
        });

        it('held apart, the rollups written before the counters, or the counters alone folded from the log, they are what a direct write makes', async () => {
          const [direct, apart, stopped] = [`d${uid()}`, `a${uid()}`, `s${uid()}`];
          await repos.usage.writeBatch(calls(direct, 0, 250));
          await repos.usage.writeBatch(calls(direct, 250, 250));
          const expected = await rollupsOf(direct);
          const expectedCounters = await countersOf(direct);
          /** Two batches of a way's calls, deferred, each added to both holders. */
          const holdApart = async (way: string) => {
            const rollups = new PendingRollups('rollups');
            const counters = new PendingRollups('counters');
            for (const from of [0, 250]) {
              const deferred = await repos.usage.writeBatch(calls(way, from, 250), undefined, { deferRollups: true });
              rollups.add(deferred, Date.now());
              counters.add(deferred, Date.now());
            }
            return { rollups: await rollups.take(), counters: await counters.take() };
          };

          const held = await holdApart(apart);
          expect(held.rollups.counters).toEqual([]);
          expect(held.counters.rollups).toEqual([]);
          expect(await repos.usage.writeRollups(held.rollups)).toBe('written');
          expect(await rollupsOf(apart)).toEqual(expected);
          expect(await countersOf(apart)).toEqual([]);
          expect(await pendingBlocks(held.counters.blockIds)).toBe(held.counters.blockIds.length); // pending for their counters
          expect(await repos.usage.writeRollups(held.counters)).toBe('written');
          expect(await countersOf(apart)).toEqual(expectedCounters);
          expect(await rollupsOf(apart)).toEqual(expected);
          expect(await pendingBlocks(held.counters.blockIds)).toBe(0);

          // A writer that stopped once its rollups were written, holding the counters: only they are folded from the log.
          const left = await holdApart(stopped);
          await repos.usage.writeRollups(left.rollups);
          expect(await repos.usage.replayRollups({ blockIds: left.counters.blockIds })).toBe(left.counters.blockIds.length);
          expect(await rollupsOf(stopped)).toEqual(expected);
          expect(await countersOf(stopped)).toEqual(expectedCounters);
          // Had it not stopped, its counters find their blocks folded, and are not written twice.
          expect(await repos.usage.writeRollups(left.counters)).toBe('replayed');
          expect(await countersOf(stopped)).toEqual(expectedCounters);
        });

        it('a writer whose blocks were folded from the log meanwhile writes nothing twice', async () => {
          const [direct, raced, retried] = [`d${uid()}`, `x${uid()}`, `t${uid()}`];
          await repos.usage.writeBatch(calls(direct, 0, 300));
          const expected = await rollupsOf(direct);
          const expectedCounters = await countersOf(direct);

          const pending = new PendingRollups();
          pending.add(await repos.usage.writeBatch(calls(raced, 0, 150), undefined, { deferRollups: true }), Date.now());
          const late = await repos.usage.writeBatch(calls(raced, 150, 150), undefined, { deferRollups: true });
          pending.add(late, Date.now());
          await repos.usage.replayRollups({ blockIds: late.blockIds }); // as for a writer believed stopped
          expect(await repos.usage.writeRollups(await pending.take())).toBe('replayed');
          expect(await rollupsOf(raced)).toEqual(expected);
          expect(await countersOf(raced)).toEqual(expectedCounters);

          // At the same time (on PostgreSQL, on two connections): whichever goes first, once.
          for (let round = 0; round < 3; round++) {
            const both = `b${uid()}`;
            const held = new PendingRollups();
            held.add(await repos.usage.writeBatch(calls(both, 0, 150), undefined, { deferRollups: true }), Date.now());
            held.add(await repos.usage.writeBatch(calls(both, 150, 150), undefined, { deferRollups: true }), Date.now());
            const taken = await held.take();
            await Promise.all([repos.usage.writeRollups(taken), repos.usage.replayRollups({ blockIds: taken.blockIds })]);
            expect(await rollupsOf(both)).toEqual(expected);
            expect(await countersOf(both)).toEqual(expectedCounters);
          }

          // A retry of a batch whose first write did commit: nothing to fold, and the first write's
          // blocks, still pending, are found by their age.
          const batchId = `usage_${uid()}`;
          const once = await repos.usage.writeBatch(calls(retried, 0, 300), batchId, { deferRollups: true });
          const again = await repos.usage.writeBatch(calls(retried, 0, 300), batchId, { deferRollups: true });
          expect(again).toEqual({ blockIds: [], rollups: [], counters: [] });
          expect(await repos.usage.replayRollups({ lastBefore: new Date(Date.UTC(2005, 4, 1, 11)) })).toBeGreaterThanOrEqual(once.blockIds.length);
          expect(await pendingBlocks(once.blockIds)).toBe(0);
          expect(await rollupsOf(retried)).toEqual(expected);
          expect(await countersOf(retried)).toEqual(expectedCounters);
        });
      });

      it('a batch larger than a block is written whole, or not at all', async () => {
        const { user, key } = await makeKeyOwner();
        const tag = `req_large_${uid()}_`;
        const start = Date.UTC(2026, 8, 1);
        // 2,400 calls in 1,200 minutes: three blocks of the call log, 1,200 rollup rows.
        const batch = Array.from({ length: 2_400 }, (_, i) =>
          usage({ requestId: `${tag}${i}`, apiKeyId: key.id, userId: user.id, createdAt: new Date(start + Math.floor(i / 2) * 60_000) }),
        );
        const stored = () => scalar(sql`select count(*) as n from api_usage where request_id like ${`${tag}%`}`);
        const rollupRows = () => scalar(sql`select count(*) as n from usage_rollups where api_key_id = ${key.id}`);

        // The last call's rollup cannot be stored (a latency PostgreSQL cannot take): nothing of the batch stays.
        const failing = batch.map((r, i) => (i === batch.length - 1 ? { ...r, latencyMs: 0.5 } : r));
        await expect(repos.usage.writeBatch(failing)).rejects.toThrow();
        expect(await stored()).toBe(0);
        expect(await rollupRows()).toBe(0);
        expect(await countsOf(key, start)).toEqual({ day: 0, month: 0 });

        // Written in two statements (two blocks, then the last with the rollups and counters);
        // under the same id again, nothing of it is written twice.
        const id = `use_${uid()}`;
        await repos.usage.writeBatch(batch, id);
        await repos.usage.writeBatch(batch, id);
        expect(await stored()).toBe(2_400);
        expect(await rollupRows()).toBe(1_200);
        expect(await countsOf(key, start)).toEqual({ day: 2_400, month: 2_400 });
        expect((await repos.keys.findById(key.id))?.key.usageCount).toBe(2_400);
      });

      it('a batch of several blocks (written in several statements) is deferred whole: every block pending, its counts answered', async () => {
        const { user, key } = await makeKeyOwner();
        const tag = `req_turns_${uid()}_`;
        const start = Date.UTC(2026, 8, 2);
        // 5,000 calls: five blocks, three statements of up to two blocks.
        const batch = Array.from({ length: 5_000 }, (_, i) => usage({ requestId: `${tag}${i}`, apiKeyId: key.id, userId: user.id, createdAt: new Date(start + i) }));
        const deferred = await repos.usage.writeBatch(batch, `use_${uid()}`, { deferRollups: true });
        expect(deferred.blockIds).toHaveLength(5);
        const ids = sql.param(deferred.blockIds.map(String));
        expect(await scalar(sql`select count(*) as n from api_usage_blocks where id = any(${ids}::bigint[]) and rollup_pending and counters_pending`)).toBe(5);
        expect(await scalar(sql`select count(*) as n from api_usage where request_id like ${`${tag}%`}`)).toBe(5_000);
        expect(deferred.counters).toEqual([expect.objectContaining({ keyId: key.id, count: 5_000, calls: 5_000 })]);
      });

      it('a batch of interleaved keys is stored grouped by key: a block holds only its own calls\' keys', async () => {
        const owners = [await makeKeyOwner(), await makeKeyOwner(), await makeKeyOwner()];
        const tag = `req_keys_${uid()}_`;
        const start = Date.UTC(2005, 2, 1, 10); // an hour no other test writes, after the prune tests' cutoffs
        // 2,400 calls, the three keys in turn, as a gateway with many keys records them.
        const batch = Array.from({ length: 2_400 }, (_, i) => {
          const { user, key } = owners[i % 3] as (typeof owners)[number];
          return usage({ requestId: `${tag}${i}`, apiKeyId: key.id, userId: user.id, createdAt: new Date(start + i) });
        });
        await repos.usage.writeBatch(batch);

        const blocks = await queryRows<{ strings: string[] }>(
          database.db,
          sql`select strings from api_usage_blocks where first_at >= ${new Date(start).toISOString()}::timestamptz
              and last_at < ${new Date(start + 3_600_000).toISOString()}::timestamptz order by first_at`,
        );
        const keyIds = owners.map((owner) => owner.key.id);
        // Blocks of 1,000 calls over 800 calls a key: {first}, {first, second}... never all three.
        expect(blocks.map((block) => keyIds.filter((id) => block.strings.includes(id)).length).sort()).toEqual([1, 2, 2]);
        const rows = await queryRows<{ request_id: string; api_key_id: string; created_at: string | Date }>(
          database.db,
          sql`select request_id, api_key_id, created_at from api_usage where request_id like ${`${tag}%`}`,
        );
        const read = (r: { request_id: string; api_key_id: string | null; created_at: string | Date | number }) => `${r.request_id} ${r.api_key_id} ${new Date(r.created_at).getTime()}`;
        expect(rows.map(read).sort()).toEqual(batch.map((r) => read({ request_id: r.requestId, api_key_id: r.apiKeyId, created_at: r.createdAt.getTime() })).sort());
        for (const { key } of owners) expect(await countsOf(key, start)).toEqual({ day: 800, month: 800 });
      });

      it('a batch written again under the same id is not counted twice', async () => {
        const { user, key } = await makeKeyOwner();
        const at = Date.UTC(2026, 10, 23, 15);
        const batch = [usage({ apiKeyId: key.id, userId: user.id, createdAt: new Date(at) }), usage({ apiKeyId: key.id, userId: user.id, createdAt: new Date(at + 1) })];
        const id = `use_${uid()}`;
        await repos.usage.writeBatch(batch, id);
        await repos.usage.writeBatch(batch, id);
        expect(await countsOf(key, at)).toEqual({ day: 2, month: 2 });
        expect(await scalar(sql`select count(*) as n from api_usage where api_key_id = ${key.id}`)).toBe(2);
        expect((await repos.keys.findById(key.id))?.key.usageCount).toBe(2);
        await repos.usage.writeBatch(batch, `use_${uid()}`); // another id: another batch
        expect(await countsOf(key, at)).toEqual({ day: 4, month: 4 });
      });

      it('writeBatch counts calls without a product and with an empty product in one rollup', async () => {
        const { user, key } = await makeKeyOwner();
        const mine = { apiKeyId: key.id, userId: user.id, routePath: '/v1/memes', createdAt: new Date(Date.UTC(2003, 0, 1, 10)) };
        await repos.usage.writeBatch([usage({ ...mine, productId: null }), usage({ ...mine, productId: '' }), usage({ ...mine, productId: null })]);
        const rows = await queryRows<{ count: number | string }>(database.db, sql`select count from usage_rollups where api_key_id = ${key.id}`);
        expect(rows.map((r) => Number(r.count))).toEqual([3]);
      });

      it('writeBatch counts calls without a key and with an empty key in one rollup, whatever their order', async () => {
        const productId = `prd_${uid()}`;
        const none = { userId: null, productId, routePath: '/v1/memes', createdAt: new Date(Date.UTC(2003, 0, 2, 10)) };
        await repos.usage.writeBatch([usage({ ...none, apiKeyId: '' }), usage({ ...none, apiKeyId: null }), usage({ ...none, apiKeyId: 'key_between' }), usage({ ...none, apiKeyId: '' })]);
        const rows = await queryRows<{ key: string; count: number | string }>(database.db, sql`select api_key_id as key, count from usage_rollups where product_id = ${productId} order by 1`);
        expect(rows.map((r) => [r.key, Number(r.count)])).toEqual([['', 3], ['key_between', 1]]);
      });

      it('pruneRecords deletes the call records before a time, a batch at a time, and keeps the rest', async () => {
        const { user, key } = await makeKeyOwner();
        const mine = { apiKeyId: key.id, userId: user.id };
        // Years before anything the other tests write, so only these records are old enough.
        const old = Array.from({ length: 5 }, (_, i) => usage({ ...mine, createdAt: new Date(Date.UTC(2001, 0, 1 + i)) }));
        await repos.usage.writeBatch([...old, usage({ ...mine, createdAt: new Date(Date.UTC(2002, 0, 2)) })]);
        expect(await repos.usage.pruneRecords(new Date(Date.UTC(2002, 0, 1)), 2)).toBe(5);
        const left = await queryRows<{ created_at: string | Date }>(database.db, sql`select created_at from api_usage where api_key_id = ${key.id}`);
        expect(left.map((r) => new Date(r.created_at).toISOString())).toEqual(['2002-01-02T00:00:00.000Z']);
      });

      it('pruneRecords keeps a block that holds any call at or after the cutoff', async () => {
        const { user, key } = await makeKeyOwner();
        const mine = { apiKeyId: key.id, userId: user.id };
        const hour = Date.UTC(2000, 5, 1, 10);
        await repos.usage.writeBatch([0, 10, 20, 59].map((minute) => usage({ ...mine, createdAt: new Date(hour + minute * 60_000) })));
        const calls = () => scalar(sql`select count(*) as n from api_usage where api_key_id = ${key.id}`);
        expect(await repos.usage.pruneRecords(new Date(hour + 30 * 60_000))).toBe(0); // the hour's last call is newer
        expect(await calls()).toBe(4);
        expect(await repos.usage.pruneRecords(new Date(hour + 60 * 60_000))).toBe(4);
        expect(await calls()).toBe(0);
      });

      it('compactRollups folds old minutes into hours and keeps the totals', async () => {
        const { user, key } = await makeKeyOwner();
        const at = (iso: string) => new Date(iso);
        const mine = { apiKeyId: key.id, userId: user.id, routePath: '/v1/memes' };
        await repos.usage.writeBatch([
          usage({ ...mine, createdAt: at('2026-09-01T10:00:10Z'), latencyMs: 10, bytesOut: 100 }), // already on the hour
          usage({ ...mine, createdAt: at('2026-09-01T10:17:00Z'), latencyMs: 20, bytesOut: 100 }),
          usage({ ...mine, createdAt: at('2026-09-01T10:59:59Z'), latencyMs: 30, bytesOut: 100, statusCode: 429, counted: false }),
          usage({ ...mine, createdAt: at('2026-09-01T11:05:00Z'), latencyMs: 40, bytesOut: 100 }),
          usage({ ...mine, createdAt: at('2026-11-23T10:17:00Z'), latencyMs: 50, bytesOut: 100 }), // recent: untouched
        ]);
        const window = { apiKeyId: key.id, start: at('2026-09-01T00:00:00Z'), end: at('2026-12-01T00:00:00Z') };
        const before = await repos.usage.stats({ ...window, groupBy: 'day' });

        // Other tests' old rollups in this database are folded too: at least this key's three.
        expect(await repos.usage.compactRollups(at('2026-11-21T00:00:00Z'))).toBeGreaterThanOrEqual(3);
        const minutes = await queryRows<{ minute: string | Date }>(database.db, sql`select minute from usage_rollups where api_key_id = ${key.id} order by minute`);
        expect(minutes.map((r) => new Date(r.minute).toISOString())).toEqual([
          '2026-09-01T10:00:00.000Z', // 200 and 429 rows of the hour
          '2026-09-01T10:00:00.000Z',
          '2026-09-01T11:00:00.000Z',
          '2026-11-23T10:17:00.000Z',
        ]);
        const after = await repos.usage.stats({ ...window, groupBy: 'day' });
        expect(after).toEqual(before);
        expect(after.totalRequests).toBe(5);
        expect(await repos.usage.compactRollups(at('2026-11-21T00:00:00Z'))).toBe(0); // nothing twice
      });

      it('an empty batch writes nothing', async () => {
        const { key } = await makeKeyOwner();
        await repos.usage.writeBatch([]);
        expect(await countsOf(key, Date.UTC(2026, 10, 23))).toEqual({ day: 0, month: 0 });
      });

      it('concurrent batches lose no counts', async () => {
        // Gateway instances flushing at once, each batch meeting the keys and days in its own
        // order; several rounds, since an interleaving that goes wrong need not happen every time.
        const owners = await Promise.all(Array.from({ length: 4 }, () => makeKeyOwner()));
        const days = Array.from({ length: 8 }, (_, d) => Date.UTC(2026, 10, 1 + d, 12, 0, 0));
        const combos = owners.flatMap((owner) => days.map((day) => ({ owner, day })));
        const rounds = 10;
        const perCombo = 2;
        for (let round = 0; round < rounds; round++) {
          const batches = Array.from({ length: 5 }, (_, b) => {
            const order = b % 2 === 0 ? combos : [...combos].reverse();
            return order.flatMap(({ owner, day }) =>
              Array.from({ length: perCombo }, (_, i) =>
                usage({ apiKeyId: owner.key.id, userId: owner.user.id, createdAt: new Date(day + round * 10_000 + b * 1_000 + i), overage: i === 0 }),
              ),
            );
          });
          await Promise.all(batches.map((batch) => repos.usage.writeBatch(batch)));
        }

        const perDay = rounds * 5 * perCombo;
        for (const owner of owners) {
          // The month keeps its latest day's count.
          expect(await countsOf(owner.key, days.at(-1) ?? 0)).toEqual({ day: perDay, month: perDay * days.length });
          expect((await repos.keys.findById(owner.key.id))?.key.usageCount).toBe(perDay * days.length);
          expect(await overageOf(owner.key.id, 'month:2026-11')).toBe(rounds * 5 * days.length);
        }
        expect(await scalar(sql`select count(*) as n from api_usage where user_id = ${owners[0]?.user.id ?? ''}`)).toBe(perDay * days.length);
        // Batches landing in the same minute add up in the rollups the analytics read.
        const stats = await repos.usage.stats({ userId: owners[0]?.user.id ?? '', start: new Date(days[0] ?? 0), end: new Date(Date.UTC(2026, 11, 1)), groupBy: 'day' });
        expect(stats.totalRequests).toBe(perDay * days.length);
        expect(stats.requestsByHour.map((b) => b.count)).toEqual(days.map(() => perDay));
      });

      it('two batches meeting the same keys in opposite orders both succeed', async () => {
        // The race above, made certain: batch X meets keys a, c, b and batch Y meets b, c, a. A third
        // writer holds c's counters, so X waits holding a and Y waits holding b; when it commits,
        // a writer that locks rows in the order of its batch deadlocks here.
        const [a, b, c] = await Promise.all([makeKeyOwner(), makeKeyOwner(), makeKeyOwner()]);
        const now = Date.UTC(2026, 10, 23, 12, 0, 0);
        const batch = (owners: (typeof a)[], n: number) =>
          owners.map((o, i) => usage({ apiKeyId: o.key.id, userId: o.user.id, createdAt: new Date(now + n * 100 + i) }));
        await repos.usage.writeBatch(batch([a, b, c], 0)); // every key's counters exist

        let writes: Promise<PromiseSettledResult<void>[]> | undefined;
        await database.db.transaction(async (tx) => {
          await tx.execute(sql`select 1 from usage_counters where api_key_id = ${c.key.id} for update`);
          writes = Promise.allSettled([repos.usage.writeBatch(batch([a, c, b], 1)), repos.usage.writeBatch(batch([b, c, a], 2))]);
          await new Promise((resolve) => setTimeout(resolve, 300)); // both batches reach c and wait
        });
        const results = await writes;
        expect(results?.map((r) => (r.status === 'rejected' ? String((r.reason as Error)?.cause ?? r.reason) : 'ok'))).toEqual(['ok', 'ok']);
        for (const o of [a, b, c]) expect(await countsOf(o.key, now)).toEqual({ day: 3, month: 3 });
      });

      describe('stats', () => {
        const start = at('2026-11-23T00:00:00Z');
        const end = at('2026-12-03T00:00:00Z');

        /** One customer's calls across two keys and products, another customer's call, calls outside the window. */
        async function seed() {
          const user = await makeUser();
          const p1 = await makeProduct();
          const p2 = await makeProduct();
          const plan1 = await makePlan(p1.id);
          const plan2 = await makePlan(p2.id);
          const k1 = await repos.keys.create(keyInput(user.id, plan1.id, null));
          const k2 = await repos.keys.create(keyInput(user.id, plan2.id, null));
          const other = await makeUser();
          const k3 = await repos.keys.create(keyInput(other.id, plan1.id, null));
          const mine = { userId: user.id, apiKeyId: k1.id, productId: p1.id };
          const price = { routePath: '/v1/tokens/{mint}/price' };
          await repos.usage.writeBatch([
            usage({ ...mine, createdAt: at('2026-11-23T00:00:00Z'), latencyMs: 40 }),
            usage({ ...mine, createdAt: at('2026-11-23T10:05:00Z'), latencyMs: 10, bytesIn: 10, bytesOut: 100 }),
            usage({ ...mine, createdAt: at('2026-11-23T10:55:00Z'), latencyMs: 20, bytesIn: 10, bytesOut: 100 }),
            usage({ ...mine, ...price, path: '/v1/tokens/abc/price', createdAt: at('2026-11-23T11:10:00Z'), statusCode: 429, latencyMs: 1, bytesOut: 50, counted: false }),
            usage({ ...mine, ...price, path: '/v1/tokens/def/price', createdAt: at('2026-11-24T00:30:00Z'), latencyMs: 30, bytesOut: 200 }),
            usage({ userId: user.id, apiKeyId: k2.id, productId: p2.id, routePath: null, path: '/v2/unknown', createdAt: at('2026-12-02T08:00:00Z'), statusCode: 404, latencyMs: 5, bytesOut: 20 }),
            // outside the window: just before the start, and exactly at the (exclusive) end
            usage({ ...mine, createdAt: at('2026-11-22T23:59:59.999Z'), latencyMs: 999 }),
            usage({ ...mine, createdAt: at('2026-12-03T00:00:00Z'), latencyMs: 999 }),
            // another customer, same product
            usage({ userId: other.id, apiKeyId: k3.id, productId: p1.id, createdAt: at('2026-11-23T10:30:00Z'), statusCode: 500, latencyMs: 100, bytesOut: 10 }),
          ]);
          return { user, p1, p2, k1, k2, k3 };
        }

        it('totals, error rate, latency, top endpoints, hourly buckets and statuses of one customer', async () => {
          const { user } = await seed();
          const stats = await repos.usage.stats({ userId: user.id, start, end, groupBy: 'hour' });
          expect(stats).toEqual({
            totalRequests: 6,
            totalBandwidth: 490,
            averageLatency: 17.67,
            errorRate: 33.33,
            topEndpoints: [
              { path: '/v1/memes', count: 3 },
              { path: '/v1/tokens/{mint}/price', count: 2 },
              { path: '/v2/unknown', count: 1 },
            ],
            requestsByHour: [
              { hour: '2026-11-23T00:00:00Z', count: 1 },
              { hour: '2026-11-23T10:00:00Z', count: 2 },
              { hour: '2026-11-23T11:00:00Z', count: 1 },
              { hour: '2026-11-24T00:00:00Z', count: 1 },
              { hour: '2026-12-02T08:00:00Z', count: 1 },
            ],
            statusCodeDistribution: { '200': 4, '404': 1, '429': 1 },
          });
        });

        it('groups by UTC day and month', async () => {
          const { user } = await seed();
          const byDay = await repos.usage.stats({ userId: user.id, start, end, groupBy: 'day' });
          expect(byDay.requestsByHour).toEqual([
            { hour: '2026-11-23T00:00:00Z', count: 4 },
            { hour: '2026-11-24T00:00:00Z', count: 1 },
            { hour: '2026-12-02T00:00:00Z', count: 1 },
          ]);
          const byMonth = await repos.usage.stats({ userId: user.id, start, end, groupBy: 'month' });
          expect(byMonth.requestsByHour).toEqual([
            { hour: '2026-11-01T00:00:00Z', count: 5 },
            { hour: '2026-12-01T00:00:00Z', count: 1 },
          ]);
          expect(byMonth.totalRequests).toBe(6);
        });

        it('filters by key, by product and by time window', async () => {
          const { user, p1, p2, k2, k3 } = await seed();
          const byKey = await repos.usage.stats({ apiKeyId: k2.id, start, end, groupBy: 'hour' });
          expect(byKey).toMatchObject({ totalRequests: 1, errorRate: 100, averageLatency: 5, statusCodeDistribution: { '404': 1 } });
          expect(byKey.topEndpoints).toEqual([{ path: '/v2/unknown', count: 1 }]);

          // Without a user: every customer's calls to the product (an admin's view).
          const byProduct = await repos.usage.stats({ productId: p1.id, start, end, groupBy: 'hour' });
          expect(byProduct.totalRequests).toBe(6);
          expect(byProduct.statusCodeDistribution).toEqual({ '200': 4, '429': 1, '500': 1 });
          expect(byProduct.requestsByHour).toContainEqual({ hour: '2026-11-23T10:00:00Z', count: 3 });

          // A customer sees only their own calls, even to a shared product or with another's key.
          expect((await repos.usage.stats({ userId: user.id, productId: p1.id, start, end, groupBy: 'hour' })).totalRequests).toBe(5);
          expect((await repos.usage.stats({ userId: user.id, productId: p2.id, start, end, groupBy: 'hour' })).totalRequests).toBe(1);
          expect((await repos.usage.stats({ userId: user.id, apiKeyId: k3.id, start, end, groupBy: 'hour' })).totalRequests).toBe(0);

          const window = await repos.usage.stats({
            userId: user.id,
            start: at('2026-11-23T10:00:00Z'),
            end: at('2026-11-23T11:00:00Z'),
            groupBy: 'hour',
          });
          expect(window).toMatchObject({ totalRequests: 2, totalBandwidth: 220, averageLatency: 15, errorRate: 0 });
          expect(window.requestsByHour).toEqual([{ hour: '2026-11-23T10:00:00Z', count: 2 }]);
        });

        it('is all zeros for a customer without calls', async () => {
          const user = await makeUser();
          expect(await repos.usage.stats({ userId: user.id, start, end, groupBy: 'day' })).toEqual({
            totalRequests: 0,
            totalBandwidth: 0,
            averageLatency: 0,
            errorRate: 0,
            topEndpoints: [],
            requestsByHour: [],
            statusCodeDistribution: {},
          });
        });
      });
    });

    // ---------- audit and settings ----------

    describe('audit', () => {
      it('chains every event to the one before it, from a genesis of 64 zeros, even when appended concurrently', async () => {
        const actor = await makeUser();
        const resourceId = `key_${uid()}`;
        await repos.audit.append({ actorId: actor.id, action: 'key.created', resourceType: 'api_key', resourceId, data: { label: 'x' } });
        await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            repos.audit.append({ actorId: i % 2 ? null : actor.id, action: 'key.updated', resourceType: 'api_key', resourceId, data: { i } }),
          ),
        );
        const rows = (await repos.audit.list(100_000)).reverse(); // oldest first
        const mine = rows.filter((r) => r.resourceId === resourceId);
        expect(mine).toHaveLength(21);
        expect(mine[0]).toMatchObject({ action: 'key.created', actorId: actor.id, data: { label: 'x' } });
        expect(new Set(mine.slice(1).map((r) => (r.data as { i: number }).i))).toEqual(new Set(Array.from({ length: 20 }, (_, i) => i)));

        expect(rows[0]?.prevHash).toBe(GENESIS);
        for (let i = 0; i < rows.length; i++) {
          const row = rows[i];
          expect(row?.hash).toMatch(/^[0-9a-f]{64}$/);
          if (i > 0) expect(row?.prevHash, `row ${row?.seq} follows row ${rows[i - 1]?.seq}`).toBe(rows[i - 1]?.hash);
        }
        expect(new Set(rows.map((r) => r.hash)).size).toBe(rows.length);
      });

      it('verifies the stored chain, whatever key order jsonb gives back, and finds a tampered row', async () => {
        await repos.audit.append({ actorId: null, action: 'plan.update', resourceType: 'plan', resourceId: `plan_${uid()}`, data: { zeta: 1, alpha: { b: 2, a: [3, { y: 1, x: 2 }] }, mid: 'm' } });
        expect(await repos.audit.verify()).toMatchObject({ ok: true });
        const [last] = await repos.audit.list(1);
        await database.db.execute(sql`update audit_events set data = '{"zeta": 2}'::jsonb where id = ${last?.id ?? ''}`);
        expect(await repos.audit.verify()).toEqual({ ok: false, brokenAt: last?.id });
        // Put it back so later tests see an intact chain.
        await database.db.execute(sql`update audit_events set data = ${JSON.stringify({ zeta: 1, alpha: { b: 2, a: [3, { y: 1, x: 2 }] }, mid: 'm' })}::jsonb where id = ${last?.id ?? ''}`);
        expect(await repos.audit.verify()).toMatchObject({ ok: true });
      });
    });

    describe('settings', () => {
      it('setIfAbsent sets a key once and then reports it taken', async () => {
        const key = `demo-seeded-${uid()}`;
        expect(await repos.settings.get(key)).toBeUndefined();
        expect(await repos.settings.setIfAbsent(key, { at: 1 })).toBe(true);
        expect(await repos.settings.setIfAbsent(key, { at: 2 })).toBe(false);
        expect(await repos.settings.get(key)).toEqual({ at: 1 });
        await repos.settings.set(key, { at: 3 });
        expect(await repos.settings.get(key)).toEqual({ at: 3 });
      });

      it('of concurrent setIfAbsent calls exactly one wins', async () => {
        const key = `leader-${uid()}`;
        const results = await Promise.all(Array.from({ length: 5 }, (_, i) => repos.settings.setIfAbsent(key, i)));
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await repos.settings.get(key)).toBe(results.indexOf(true));
      });
    });
  });
}
