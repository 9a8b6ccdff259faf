import { createServer } from 'node:http';
import proxyAddr from '@fastify/proxy-addr';
import Fastify, { LogController } from 'fastify';
import pino from 'pino';
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { HTTP_METHODS } from '@tollgate/contracts';
import { KeyCache, MemoryAttemptLimiter } from '@tollgate/runtime';
import { requestIdGenerator } from '@tollgate/store';
import type { Config } from './config.ts';
import type { Deps } from './deps.ts';
import { createAuthGuards } from './http/authenticate.ts';
import { lazyChildLogger } from './http/lazy-logger.ts';
import { registerErrorHandling, sendError } from './http/error-handler.ts';
import { adminRoutes } from './http/routes/admin.ts';
import { authRoutes } from './http/routes/auth.ts';
import { catalogRoutes } from './http/routes/catalog.ts';
import { healthRoutes } from './http/routes/health.ts';
import { metricsRoutes } from './http/routes/metrics.ts';
import { keyRoutes } from './http/routes/keys.ts';
import { webhookRoutes } from './http/routes/webhooks.ts';
import { subscriptionRoutes } from './http/routes/subscriptions.ts';
import { usageRoutes } from './http/routes/usage.ts';
import type { App, RouteContext } from './http/routes/types.ts';
import { createServices } from './services/index.ts';
import { Forwarder } from './gateway/forwarder.ts';
import { KeyResolver, type ResolvedKey } from './gateway/key-resolver.ts';
import { directGatewayCalls, type ProxyTrust } from './gateway/direct-calls.ts';
import { createGatewayHandler } from './gateway/pipeline.ts';
import { keepTickObjectShape } from './http/tick-object-shape.ts';
import { RouteTable } from './gateway/route-table.ts';
import { dataApis as dataApisOf, withDataApis, type DataApis } from './http/data-api-spec.ts';
import { UsageWriter } from './gateway/usage-writer.ts';
import type { Services } from './services/index.ts';
import { billingRoutes } from './http/routes/billing.ts';

export interface BuildOptions {
  config: Config;
  deps: Deps;
  /** Where the product logs; by default a new pino logger at `config.logLevel`. */
  log?: pino.Logger;
}

export interface Tollgate {
  app: App;
  usage: UsageWriter;
  /** Re-reads the catalog's routes into the gateway. */
  reloadRoutes(): Promise<void>;
  /** What the HTTP layer calls; the CLI and tests call it too. */
  services: Services;
}

/**
 * The paths of the product's own routes. Every other path is a gateway call: served in front of
 * Fastify when it has no body (gateway/direct-calls.ts), by Fastify's catch-all route otherwise.
 * `buildApp` refuses a route outside them, so a data API can never shadow one.
 */
const PRODUCT_PATH_PREFIXES = ['/api/', '/billing/', '/docs', '/openapi.json', '/health', '/live', '/ready', '/metrics'];

/** The prefixes by their character after "/": a gateway call's path is told from them by one lookup, not eight comparisons. */
const PREFIXES_BY_SECOND_CHAR = new Map<number, string[]>();
for (const prefix of PRODUCT_PATH_PREFIXES) {
  const char = prefix.charCodeAt(1);
  PREFIXES_BY_SECOND_CHAR.set(char, [...(PREFIXES_BY_SECOND_CHAR.get(char) ?? []), prefix]);
}

function isProductPath(url: string): boolean {
  const prefixes = PREFIXES_BY_SECOND_CHAR.get(url.charCodeAt(1));
  return prefixes !== undefined && prefixes.some((prefix) => url.startsWith(prefix));
}

/** `TRUST_PROXY` as a test of each proxy: all, the N nearest, or those at the listed addresses. */
function proxyTrust(setting: Config['trustProxy']): ProxyTrust | null {
  if (setting === false) return null;
  if (setting === true) return () => true;
  if (typeof setting === 'number') return (_address, hop) => hop < setting;
  return proxyAddr.compile(setting);
}

/** Builds the whole product on the given adapters; `main.ts` listens, tests inject. */
export async function buildApp({ config, deps, log = pino({ level: config.logLevel }) }: BuildOptions): Promise<Tollgate> {
  // Before any call: a process whose tick queue lost its shape serves every call slower for good.
  keepTickObjectShape();
  const trust = proxyTrust(config.trustProxy);
  const nextRequestId = requestIdGenerator();
  const app = Fastify({
    // Node's server as Fastify makes it, with the gateway's direct calls in front while the app
    // accepts calls; Fastify answers those that come during the close (503, `Connection: close`).
    serverFactory: (fastifyHandler, options) => {
      const server = createServer((req, res) => {
        if (!accepting || !serveDirect(req, res)) fastifyHandler(req, res);
      });
      server.keepAliveTimeout = options.keepAliveTimeout as number;
      server.requestTimeout = options.requestTimeout as number;
      server.setTimeout(options.connectionTimeout as number);
      return server;
    },
    // The product logs errors, not requests (an access log would cost the gateway a third of its
    // throughput). Fastify is given no logger of its own: with one, it times every response and
    // listens for its end (~3 % of the gateway's throughput, measured in alternation); each
    // request's `request.log` is still the product's, through `childLoggerFactory`.
    logger: false,
    // Fastify would still log each request through `childLoggerFactory`.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimit,
    // A hop count N trusts the N proxies nearest to us.
    trustProxy: trust ?? false,
    requestIdHeader: false,
    genReqId: nextRequestId,
    childLoggerFactory: (_fastifyLogger, bindings, options) => lazyChildLogger(log, bindings, options),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  const { repos, bus, clock, admission } = deps;
  let accepting = false;

  app.addHook('onRoute', (route) => {
    if (route.url !== '/*' && !isProductPath(route.url)) throw new Error(`${route.url} is not under the product's paths (PRODUCT_PATH_PREFIXES in app.ts)`);
  });
  app.decorateRequest('user', null);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Tollgate API',
        version: '1.0.0',
        description:
          'Management API of Tollgate: catalog, accounts, subscriptions, API keys, usage, webhooks and billing (invoices, payments, provider callbacks). Data APIs, tagged by product, are called with an API key (x-api-key header or api_key query parameter) at their own paths.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'Session token from /api/v1/auth/login' },
          session: { type: 'apiKey', in: 'cookie', name: 'tg_session' },
          apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
        },
      },
      security: [{ bearer: [] }, { session: [] }],
    },
  });
  // The catalog's data APIs join the document; updated with the gateway's routes (below).
  let dataApis: DataApis = { paths: {}, tags: [] };
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true }, transformSpecification: (spec) => withDataApis(spec, dataApis) });
  app.get('/openapi.json', { schema: { hide: true } }, async () => withDataApis(app.swagger(), dataApis));

  registerErrorHandling(app);
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  // Gateway calls may carry any body; it is forwarded as it came.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  app.setNotFoundHandler((request, reply) => sendError(reply, 'resource_not_found', `No route ${request.method} ${request.url.split('?')[0]}`));

  const loginLimiter = new MemoryAttemptLimiter(config.authFailureBurst, config.authFailuresPerMinute);
  const services = createServices({
    repos,
    bus,
    clock,
    loginLimiter,
    sessionTtlMs: config.sessionTtlHours * 3_600_000,
    keyPrefix: config.keyPrefix,
    webhooks: { secretBox: deps.secretBox, allowPrivate: config.webhooks.allowPrivate, requireHttps: config.webhooks.requireHttps },
    billing: { settings: config.billing, publicUrl: config.publicUrl, gateways: deps.gateways, secretBox: deps.secretBox },
  });
  const context: RouteContext = { services, guards: createAuthGuards(services.accounts), clock, config };

  const usageStats = () => ({ pending: usage.pending, written: usage.written, dropped: usage.dropped, rollupsHeld: usage.heldRollups, writeSeconds: usage.writeSeconds, rowsWritten: usage.rowsWritten });
  healthRoutes(app, {
    databaseKind: deps.database.kind,
    pingDatabase: () => deps.database.ping(),
    usage: usageStats,
    accepting: () => accepting,
    limiter: () => deps.limiter(),
  });
  metricsRoutes(app, { usage: usageStats, limiter: () => deps.limiter() });
  // Cookies (sessions) only where they mean something: the gateway's calls skip the cookie hooks.
  await app.register(async (scope) => {
    await scope.register(cookie);
    const management = scope.withTypeProvider<TypeBoxTypeProvider>();
    authRoutes(management, context);
    catalogRoutes(management, context);
    subscriptionRoutes(management, context);
    keyRoutes(management, context);
    webhookRoutes(management, context);
    billingRoutes(management, context);
    usageRoutes(management, context);
    adminRoutes(management, context);
  });

  // ---- the gateway ----
  const routes = new RouteTable();
  const reloadRoutes = async () => {
    const { items } = await repos.catalog.listProducts({ active: true, page: 1, limit: 10_000 });
    const active = await repos.catalog.listRoutes({ productIds: items.map((p) => p.id), activeOnly: true });
    routes.load(active);
    dataApis = dataApisOf(items, active);
  };
  await reloadRoutes();
  const unsubscribe = bus.subscribe(async (message) => {
    if (message.topic !== 'catalog.changed') return;
    try {
      await reloadRoutes();
    } catch (error) {
      log.error({ err: error }, 'route reload failed; the gateway keeps the routes it had');
    }
  });
  const keyCache = new KeyCache<ResolvedKey>(bus);
  const usage = new UsageWriter(repos.usage, log, {
    flushIntervalMs: config.usageFlushIntervalMs,
    // With limits in Redis, a key Redis lost is seeded from the counters: they lag a minute at
    // most there, as the rollups. In process, only a restart seeds them, after folding what was held.
    counterHoldMs: config.redisUrl ? 60_000 : undefined,
    // Quota events are stored with the calls: the delivery workers look for them at once.
    onWebhookEvents: () => {
      bus.publish({ topic: 'webhooks.pending' }).catch((error: unknown) => log.warn({ err: error }, 'could not wake the webhook workers; they find the events at their next poll'));
    },
  });
  const forwarder = new Forwarder(config.upstreamTimeoutMs);
  const gateway = createGatewayHandler({
    routes,
    keys: new KeyResolver(keyCache, repos, admission, clock),
    admission,
    usage,
    forwarder,
    authFailures: new MemoryAttemptLimiter(config.authFailureBurst, config.authFailuresPerMinute),
    clock,
    brand: config.keyPrefix,
  });
  app.route({ method: [...HTTP_METHODS], url: '/*', schema: { hide: true }, handler: gateway });
  const serveDirect = directGatewayCalls({ gateway, nextRequestId, trust, log, isProductPath });

  app.addHook('onReady', async () => {
    await usage.recover();
    usage.start();
    accepting = true;
  });
  app.addHook('preClose', async () => {
    accepting = false;
  });
  app.addHook('onClose', async () => {
    unsubscribe();
    keyCache.close();
    await usage.stop();
    await forwarder.close();
  });

  return { app, usage, reloadRoutes, services };
}
