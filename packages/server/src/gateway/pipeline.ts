import type { IncomingHttpHeaders } from 'node:http';
import type { ErrorCode, SubscriptionStatus } from '@tollgate/contracts';
import {
  checkHistoryWindow,
  ipAllowed,
  nextMonthStartMs,
  nextDayStartMs,
  parseTimestampMs,
  parseApiKey,
  quotaEventOfRefusal,
  quotaEventsOfAdmitted,
  retryAfterSeconds,
  routeAccess,
  type AdmissionResult,
  type AdmissionStore,
  type Clock,
  type QuotaEvent,
  type RateDecision,
} from '@tollgate/core';
import type { MemoryAttemptLimiter } from '@tollgate/runtime';
import { sendError, type ErrorLog, type ErrorReply } from '../http/error-handler.ts';
import { AppError } from '../http/app-error.ts';
import { sha256Hex } from '../services/hash.ts';
import { handleDemoRequest } from '../demo-upstream/index.ts';
import type { Forwarder } from './forwarder.ts';
import type { KeyResolver, ResolvedKey } from './key-resolver.ts';
import type { MatchedRoute, RouteTable } from './route-table.ts';
import type { UsageWriter } from './usage-writer.ts';

export interface GatewayDeps {
  routes: RouteTable;
  keys: KeyResolver;
  admission: AdmissionStore;
  usage: UsageWriter;
  forwarder: Forwarder;
  authFailures: MemoryAttemptLimiter;
  clock: Clock;
  brand: string;
}

/**
 * What the pipeline reads of a call: Fastify's request, or the gateway's own for the calls it
 * serves without Fastify (direct-calls.ts).
 */
export interface GatewayRequest {
  readonly id: string;
  readonly method: string;
  /** Path and query, as the client sent them. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** The client's address, after the trusted proxies. */
  readonly ip: string;
  readonly query: unknown;
  readonly body: unknown;
  readonly log: ErrorLog;
}

/** What the pipeline writes: Fastify's reply, or the gateway's own (direct-calls.ts). */
export interface GatewayReply extends ErrorReply {
  statusCode: number;
  header(name: string, value: string): this;
  headers(values: Record<string, string>): this;
}

interface CallContext {
  startedAt: number;
  /** The request's path, without the query. */
  path: string;
  /** The client's address (Fastify derives it per access when proxies are trusted). */
  ip: string;
  matched: MatchedRoute | null;
  key: ResolvedKey | null;
  counted: boolean;
  overage: boolean;
  errorCode: ErrorCode | null;
  quotaEvents: QuotaEvent[] | null;
}

const KEY_STATUS_MESSAGE = {
  revoked: 'This API key has been revoked',
  suspended: 'This API key is suspended; contact the provider',
  expired: 'This API key has expired',
} as const;

const SUBSCRIPTION_STATUS_MESSAGE: Record<Exclude<SubscriptionStatus, 'active' | 'past_due'>, string> = {
  pending_payment: 'The subscription behind this key starts when its first invoice is paid',
  suspended: 'The subscription behind this key is suspended for an unpaid invoice; pay it to resume',
  expired: 'The subscription behind this key has expired; subscribe again',
  cancelled: 'The subscription behind this key was cancelled; subscribe again',
};

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** The client's path and query for the upstream, without the `api_key` credential. */
function upstreamPathAndQuery(url: string): string {
  const q = url.indexOf('?');
  if (q === -1 || !url.includes('api_key=')) return url;
  const params = new URLSearchParams(url.slice(q + 1));
  params.delete('api_key');
  const rest = params.toString();
  return url.slice(0, q) + (rest ? `?${rest}` : '');
}

/**
 * A header's value as text, remembered while it stays the same: limits and resets change once a
 * second at most, and Node converts a number value twice (to check it, then to write it).
 */
function headerText(): (value: number) => string {
  let last = NaN;
  let text = '';
  return (value) => {
    if (value !== last) {
      last = value;
      text = String(value);
    }
    return text;
  };
}

/** The rate limit and quota headers of an admitted or rate-limited call. */
function limitHeaders() {
  const rateLimit = headerText();
  const rateReset = headerText();
  const quotaLimit = headerText();
  const quotaReset = headerText();
  const dailyLimit = headerText();
  const dailyReset = headerText();
  return {
    rate(reply: GatewayReply, rate: RateDecision): void {
      reply.header('x-ratelimit-limit', rateLimit(rate.limit));
      reply.header('x-ratelimit-remaining', String(rate.remaining));
      reply.header('x-ratelimit-reset', rateReset(Math.ceil(rate.resetAtMs / 1000)));
    },
    quota(reply: GatewayReply, key: ResolvedKey, dayUsed: number, monthUsed: number, now: number): void {
      const { dailyCap, monthlyQuota } = key.limits.quota;
      if (monthlyQuota !== null) {
        reply.header('x-quota-limit', quotaLimit(monthlyQuota));
        reply.header('x-quota-remaining', String(Math.max(0, monthlyQuota - monthUsed)));
        reply.header('x-quota-reset', quotaReset(Math.floor(nextMonthStartMs(now) / 1000)));
      }
      if (dailyCap !== null) {
        reply.header('x-daily-limit', dailyLimit(dailyCap));
        reply.header('x-daily-remaining', String(Math.max(0, dailyCap - dayUsed)));
        reply.header('x-daily-reset', dailyReset(Math.floor(nextDayStartMs(now) / 1000)));
      }
    },
  };
}

/**
 * The hot path, in DESIGN.md's order: route, key (format and checksum before any store lookup),
 * status, IP allowlist, entitlement, rate limit + quota, forward, record. A warm key costs no
 * database round trip: the cache answers and usage is recorded in a buffer.
 */
export function createGatewayHandler(deps: GatewayDeps) {
  const { routes, keys, admission, usage, forwarder, authFailures, clock, brand } = deps;
  const headers = limitHeaders();

  function refuse(
    request: GatewayRequest,
    reply: GatewayReply,
    ctx: CallContext,
    code: ErrorCode,
    message: string,
    details?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): undefined {
    ctx.errorCode = code;
    sendError(reply, code, message, details, headers);
    record(request, reply, ctx);
    return undefined;
  }

  function record(request: GatewayRequest, reply: GatewayReply, ctx: CallContext, bytesOut = 0): void {
    const key = ctx.key;
    usage.record({
      requestId: String(request.id),
      apiKeyId: key?.id ?? null,
      userId: key?.userId ?? null,
      productId: ctx.matched?.route.productId ?? null,
      routeId: ctx.matched?.route.id ?? null,
      routePath: ctx.matched?.route.path ?? null,
      path: ctx.path.slice(0, 500),
      method: request.method,
      statusCode: reply.statusCode,
      errorCode: ctx.errorCode,
      bytesIn: Number(request.headers['content-length'] ?? 0) || 0,
      bytesOut,
      latencyMs: Math.round(clock.now() - ctx.startedAt),
      ip: ctx.ip,
      isSandbox: key?.isSandbox ?? false,
      createdAt: new Date(ctx.startedAt),
      counted: ctx.counted,
      overage: ctx.overage,
      quotaEvents: ctx.quotaEvents,
    });
  }

  function authFailure(request: GatewayRequest, reply: GatewayReply, ctx: CallContext, message: string, now: number) {
    authFailures.recordFailure(ctx.ip, now);
    return refuse(request, reply, ctx, 'invalid_api_key', message);
  }

  /*
   * Synchronous up to the answer on a warm key (no promise, no microtask); a cold key or a
   * forwarded call returns a promise. Fastify sends nothing for an `undefined` result.
   */
  return function gateway(request: GatewayRequest, reply: GatewayReply): Promise<void> | undefined {
    const now = clock.now();
    const path = pathOf(request.url);
    const ctx: CallContext = { startedAt: now, path, ip: request.ip, matched: null, key: null, counted: false, overage: false, errorCode: null, quotaEvents: null };
    const matched = routes.match(request.method, path);
    if (!matched) {
      const allowed = routes.allowedMethods(path);
      if (allowed.length > 0) {
        sendError(reply, 'method_not_allowed', `${path} answers ${allowed.join(', ')}, not ${request.method}`, { allowed }, { allow: allowed.join(', ') });
      } else {
        sendError(reply, 'resource_not_found', `No API at ${request.method} ${path}`);
      }
      return undefined;
    }
    ctx.matched = matched;

    const blockedMs = authFailures.blockedForMs(ctx.ip, now);
    if (blockedMs > 0) {
      const seconds = retryAfterSeconds(blockedMs);
      return refuse(request, reply, ctx, 'rate_limit_exceeded', `Too many failed authentications from this address; retry in ${seconds} s`, { reason: 'failed_authentications', retryAfter: seconds }, { 'retry-after': String(seconds) });
    }

    const header = request.headers['x-api-key'];
    const rawKey = typeof header === 'string' ? header : (request.query as Record<string, unknown> | undefined)?.api_key;
    if (typeof rawKey !== 'string' || rawKey.length === 0) {
      return refuse(request, reply, ctx, 'invalid_api_key', 'An API key is required: send it in the x-api-key header or the api_key query parameter');
    }
    const hash = sha256Hex(rawKey);
    const cached = keys.cached(hash);
    // The cache holds only keys the store was asked about, all well-formed: a key's format and
    // checksum are checked when it is not cached, before the store is asked.
    if (cached !== undefined) return withKey(request, reply, ctx, cached, now);
    if (!parseApiKey(rawKey, brand).ok) {
      return authFailure(request, reply, ctx, 'The API key is malformed; check that it was copied whole', now);
    }
    return keys.load(hash).then(
      (key) => withKey(request, reply, ctx, key, now),
      (error: unknown) => {
        // The store is down: warm keys keep working, a key not cached cannot be checked.
        request.log.error({ err: error }, 'key lookup failed');
        return refuse(request, reply, ctx, 'service_unavailable', 'The API key cannot be checked right now; retry shortly', { reason: 'store_unavailable' }, { 'retry-after': '1' });
      },
    );
  };

  function withKey(request: GatewayRequest, reply: GatewayReply, ctx: CallContext, key: ResolvedKey | null, now: number): Promise<void> | undefined {
    const matched = ctx.matched as MatchedRoute;
    if (key === null) return authFailure(request, reply, ctx, 'The API key is not valid', now);
    ctx.key = key;

    if (key.status !== 'active') return refuse(request, reply, ctx, 'invalid_api_key', KEY_STATUS_MESSAGE[key.status]);
    if (key.expiresAtMs !== null && key.expiresAtMs <= now) return refuse(request, reply, ctx, 'invalid_api_key', KEY_STATUS_MESSAGE.expired);
    // past_due still serves: dunning suspends the subscription 14 days after the due date.
    if (key.subscriptionStatus !== null && key.subscriptionStatus !== 'active' && key.subscriptionStatus !== 'past_due') {
      return refuse(request, reply, ctx, 'payment_required', SUBSCRIPTION_STATUS_MESSAGE[key.subscriptionStatus], { subscriptionStatus: key.subscriptionStatus });
    }
    if (!ipAllowed(ctx.ip, key.allowlist)) {
      return refuse(request, reply, ctx, 'ip_not_allowed', `Calls from ${ctx.ip} are not allowed for this key`, { ip: ctx.ip });
    }
    const access = routeAccess(matched.route, { productId: key.productId }, key.entitlements);
    if (!access.ok) {
      return refuse(
        request,
        reply,
        ctx,
        'insufficient_tier',
        access.reason === 'other_product'
          ? `This key's plan (${key.planCode}) is for another product`
          : `This endpoint needs a plan with ${matched.route.entitlement}; ${key.planCode} does not include it`,
        { plan: key.planCode, requiredEntitlement: matched.route.entitlement },
      );
    }
    if (matched.route.historyParam !== null) {
      const raw = (request.query as Record<string, unknown>)[matched.route.historyParam];
      const fromMs = typeof raw === 'string' ? parseTimestampMs(raw) : NaN;
      if (!Number.isNaN(fromMs)) {
        const window = checkHistoryWindow(fromMs, key.historyDays, now);
        if (!window.ok) {
          return refuse(request, reply, ctx, 'insufficient_tier', `${key.planCode} includes ${window.historyDays} days of history; ${matched.route.historyParam} may not be before ${new Date(window.earliestMs).toISOString()}`, { plan: key.planCode, historyDays: window.historyDays, earliest: new Date(window.earliestMs).toISOString() });
        }
      }
    }

    const admitted = admission.admit(key.id, key.limits.rate, key.limits.quota, now);
    // In process the decision is at hand; from Redis it comes back with the script's answer.
    if (admitted instanceof Promise) return admitted.then((result) => answer(request, reply, ctx, key, now, result));
    return answer(request, reply, ctx, key, now, admitted);
  }

  /** The admission's outcome: a refusal, or the call served (demo upstream) or forwarded. */
  function answer(request: GatewayRequest, reply: GatewayReply, ctx: CallContext, key: ResolvedKey, now: number, admitted: AdmissionResult): Promise<void> | undefined {
    const matched = ctx.matched as MatchedRoute;
    if (admitted.outcome === 'unavailable') {
      return refuse(request, reply, ctx, 'service_unavailable', 'Rate limits cannot be checked right now; retry shortly', { reason: 'limiter_unavailable' }, { 'retry-after': '1' });
    }
    headers.rate(reply, admitted.rate);
    if (admitted.outcome === 'rate_limited') {
      const seconds = retryAfterSeconds(admitted.rate.retryAfterMs);
      return refuse(request, reply, ctx, 'rate_limit_exceeded', `Rate limit of ${admitted.rate.limit} requests per minute exceeded; retry in ${seconds} s`, { limit: admitted.rate.limit, retryAfter: seconds, reset_at: new Date(now + admitted.rate.retryAfterMs).toISOString() }, { 'retry-after': String(seconds) });
    }
    if (admitted.outcome === 'quota_exceeded') {
      ctx.quotaEvents = [quotaEventOfRefusal(admitted.quota, now)];
      const seconds = retryAfterSeconds(admitted.quota.resetAtMs - now);
      return refuse(request, reply, ctx, 'quota_exceeded', admitted.quota.limit === 'daily' ? `Daily cap of ${admitted.quota.cap} calls reached` : `Monthly quota of ${admitted.quota.cap} calls reached`, { limit: admitted.quota.limit, cap: admitted.quota.cap, reset_at: new Date(admitted.quota.resetAtMs).toISOString() }, { 'retry-after': String(seconds) });
    }
    ctx.counted = true;
    ctx.overage = admitted.overage;
    ctx.quotaEvents = quotaEventsOfAdmitted(key.limits.quota, admitted.dayUsed, admitted.monthUsed, now);
    headers.quota(reply, key, admitted.dayUsed, admitted.monthUsed, now);

    const route = matched.route;
    if (route.upstreamUrl === null) {
      const demo = handleDemoRequest({
        method: request.method,
        routePath: route.path,
        path: ctx.path,
        params: matched.params,
        query: (request.query ?? {}) as Record<string, unknown>,
        body: request.body,
        entitlements: key.entitlements,
        sandbox: key.isSandbox,
        nowMs: now,
      });
      const body = addRequestId(demo.body, String(request.id));
      const text = JSON.stringify(body);
      const bytes = Buffer.byteLength(text);
      reply.code(demo.statusCode).type('application/json; charset=utf-8').header('content-length', String(bytes));
      if (demo.headers) reply.headers(demo.headers);
      record(request, reply, ctx, bytes);
      reply.send(text);
      return undefined;
    }
    return forward(request, reply, ctx, key, route.upstreamUrl);
  }

  async function forward(request: GatewayRequest, reply: GatewayReply, ctx: CallContext, key: ResolvedKey, upstreamUrl: string): Promise<void> {
    try {
      const upstream = await forwarder.forward({
        upstreamUrl,
        method: request.method,
        pathAndQuery: upstreamPathAndQuery(request.url),
        headers: request.headers,
        extraHeaders: {
          'x-request-id': String(request.id),
          'x-tollgate-key-id': key.id,
          'x-tollgate-plan': key.planCode,
          'x-tollgate-entitlements': key.entitlementsHeader,
          'x-tollgate-sandbox': String(key.isSandbox),
          'x-forwarded-for': ctx.ip,
        },
        body: request.body === undefined ? undefined : typeof request.body === 'string' || Buffer.isBuffer(request.body) ? request.body : JSON.stringify(request.body),
      });
      reply.code(upstream.statusCode).headers(upstream.headers);
      record(request, reply, ctx, upstream.body.length);
      reply.send(upstream.body);
    } catch (error) {
      if (error instanceof AppError) {
        request.log.warn({ err: error.cause, upstream: upstreamUrl }, error.message);
        refuse(request, reply, ctx, error.code, error.message);
        return;
      }
      throw error;
    }
  }
}

/** Error bodies from the demo upstream get the request id, like every error Tollgate sends. */
function addRequestId(body: unknown, requestId: string): unknown {
  if (body && typeof body === 'object' && 'error' in body && !('request_id' in body)) {
    return { ...(body as object), request_id: requestId };
  }
  return body;
}
