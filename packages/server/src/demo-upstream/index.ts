import { advancedAnalytics, resolveToken, sentimentReport, trending } from './insights.ts';
import { historyWindow, priceHistory } from './history.ts';
import { detailFor, genealogy, listMemes, memeView, requireMeme, wiki } from './memes.ts';
import { listSeals, pendingVerifications, sealDetail } from './seals.ts';
import { analyzeText } from './text-analysis.ts';
import { holderAnalysis, securityReport, tokenDetail, tokenPrice, tokenProfile } from './tokens.ts';
import { DemoError, paginationHeaders, requireMint, requireMintList } from './validate.ts';
import { listSymbols, smiScore, symbolDetail, viralScore } from './viralfx.ts';

/*
 * The built-in demo upstream: routes without an upstream URL are answered in-process with
 * deterministic synthetic data, so every documented call of both demo catalogs works right after
 * `npm start`. Pure functions of the request: no I/O, no clock, no Math.random().
 */

export interface DemoRequest {
  method: string; // 'GET' | 'POST'
  routePath: string; // the route PATTERN, e.g. '/v1/tokens/{mint}/price'
  path?: string; // the request's path without the query (pagination links), routePath when absent
  params: Record<string, string>; // path params, e.g. { mint: 'So1...' }
  query: Record<string, unknown>; // parsed query string (values are string or string[])
  body: unknown; // parsed JSON body for POST (may be undefined or anything: validate!)
  entitlements: ReadonlySet<string>; // the caller's plan entitlements
  sandbox: boolean; // sandbox key: return sandbox data (different seed, `sandbox: true` marker)
  nowMs: number; // current time (use it instead of Date.now(), so output is deterministic for a given time)
}

export interface DemoResponse {
  statusCode: number;
  body: unknown;
  /** Response headers beyond the gateway's own (HLD §7.4 pagination headers on lists). */
  headers?: Record<string, string>;
}

type Handler = (req: DemoRequest) => object;

const mintOf = (req: DemoRequest) => tokenProfile(requireMint(req.params['mint'], 'mint'), req.sandbox);

const HANDLERS: Record<string, Handler> = {
  // ViralFX marketplace (ZAR)
  'GET /smi/v1/score': (r) => smiScore(r.query, r.sandbox, r.nowMs),
  'GET /vts/v1/symbols': (r) => listSymbols(r.query, r.sandbox, r.nowMs),
  'GET /vts/v1/symbols/{symbol}': (r) => symbolDetail(r.params['symbol'], r.sandbox, r.nowMs),
  'GET /viralscore/v1/score': (r) => viralScore(r.query, r.sandbox, r.nowMs),
  'POST /sentiment/v1/analyze': (r) => analyzeText(r.body, r.sandbox, r.nowMs),
  // CryptoMeme premium API (HLD §7.1)
  'GET /v1/memes': (r) => listMemes(r.query, detailFor(r.entitlements), r.sandbox, r.nowMs),
  'GET /v1/memes/{id}': (r) => {
    const detail = detailFor(r.entitlements);
    return { detail, ...memeView(requireMeme(r.params['id'], 'id'), detail, r.sandbox, r.nowMs) };
  },
  'GET /v1/memes/{id}/genealogy': (r) => genealogy(requireMeme(r.params['id'], 'id'), r.query),
  'GET /v1/memes/{id}/wiki': (r) => wiki(requireMeme(r.params['id'], 'id'), r.sandbox, r.nowMs),
  'GET /v1/tokens/{mint}': (r) => tokenDetail(mintOf(r), r.nowMs),
  'GET /v1/tokens/{mint}/price': (r) => tokenPrice(mintOf(r), r.nowMs),
  'GET /v1/tokens/{mint}/history': (r) => {
    const profile = mintOf(r);
    return priceHistory(profile, historyWindow(r.query, r.nowMs), r.nowMs);
  },
  'GET /v1/tokens/{mint}/security': (r) => securityReport(mintOf(r), r.nowMs),
  'GET /v1/tokens/{mint}/holders': (r) => holderAnalysis(mintOf(r), r.nowMs),
  'GET /v1/seals': (r) => listSeals(r.query, r.sandbox),
  'GET /v1/seals/{meme_id}': (r) => sealDetail(requireMeme(r.params['meme_id'], 'meme_id'), r.sandbox),
  'GET /v1/verifications/pending': (r) => pendingVerifications(r.query, r.sandbox, r.nowMs),
  'GET /v1/sentiment/trending': (r) => trending(r.query, r.sandbox, r.nowMs),
  'GET /v1/sentiment/{token}': (r) => sentimentReport(resolveToken(r.params['token'], r.sandbox), r.sandbox, r.nowMs),
  'GET /v1/analytics/advanced': (r) => advancedAnalytics(r.query, r.sandbox, r.nowMs),
  'POST /v1/bulk/tokens': (r) => {
    const data = requireMintList(r.body).map((mint) => tokenDetail(tokenProfile(mint, r.sandbox), r.nowMs));
    return { data, count: data.length };
  },
  'POST /v1/bulk/security': (r) => {
    const data = requireMintList(r.body).map((mint) => securityReport(tokenProfile(mint, r.sandbox), r.nowMs));
    return { data, count: data.length };
  },
};

/** Route patterns served, `${method} ${path}`. */
export const DEMO_ROUTES: readonly { method: 'GET' | 'POST'; path: string }[] = Object.freeze(
  Object.keys(HANDLERS).map((key) => {
    const space = key.indexOf(' ');
    return Object.freeze({ method: key.slice(0, space) as 'GET' | 'POST', path: key.slice(space + 1) });
  }),
);

/** HLD §10.3 error body; the gateway adds `request_id`. Sandbox errors carry the marker too. */
function errorBody(code: string, message: string, details: Record<string, unknown>, sandbox: boolean) {
  return sandbox ? { error: { code, message, details }, sandbox: true } : { error: { code, message, details } };
}

export function handleDemoRequest(req: DemoRequest): DemoResponse {
  try {
    const method = typeof req.method === 'string' ? req.method.toUpperCase() : '';
    const handler = HANDLERS[`${method} ${req.routePath}`];
    if (handler === undefined) {
      return { statusCode: 404, body: errorBody('resource_not_found', `The demo upstream does not serve ${method} ${req.routePath}`, { resource: 'route', id: `${method} ${req.routePath}` }, req?.sandbox === true) };
    }
    // Defensive defaults: the contract says these are objects, but a missing one must not throw.
    const safe: DemoRequest =
      req.params && req.query && req.entitlements
        ? req
        : { ...req, params: req.params ?? {}, query: req.query ?? {}, entitlements: req.entitlements ?? new Set<string>() };
    const body = handler(safe);
    const { pagination } = body as { pagination?: Parameters<typeof paginationHeaders>[0] };
    return {
      statusCode: 200,
      body: req.sandbox ? { ...body, sandbox: true } : body,
      ...(pagination ? { headers: paginationHeaders(pagination, safe.path ?? safe.routePath, safe.query) } : {}),
    };
  } catch (error) {
    if (error instanceof DemoError) return { statusCode: error.statusCode, body: errorBody(error.code, error.message, error.details, req?.sandbox === true) };
    // Never throw to the gateway: anything unexpected is reported as a request the demo cannot serve.
    const message = error instanceof Error ? error.message : String(error);
    return { statusCode: 400, body: errorBody('invalid_request', `The demo upstream could not process this request: ${message}`, { field: 'request' }, req?.sandbox === true) };
  }
}
