import { describe, it, expect } from 'vitest';
import { DEMO_ROUTES, handleDemoRequest, type DemoRequest, type DemoResponse } from './index.ts';
import { universe } from './universe.ts';

const NOW = Date.UTC(2025, 5, 15, 12, 34, 56);
const FULL = new Set(['memes:full']);
const DOGE_MINT = universe().byId.get('meme_0001')?.mint ?? '';
const ANY_MINT = 'So11111111111111111111111111111111111111112';

function call(partial: Partial<DemoRequest> & Pick<DemoRequest, 'routePath'>): DemoResponse {
  return handleDemoRequest({
    method: 'GET',
    params: {},
    query: {},
    body: undefined,
    entitlements: FULL,
    sandbox: false,
    nowMs: NOW,
    ...partial,
  });
}

function body(res: DemoResponse): Record<string, unknown> {
  return res.body as Record<string, unknown>;
}

function errorOf(res: DemoResponse): { code: string; message: string; details: { field?: string } } {
  return (res.body as { error: { code: string; message: string; details: { field?: string } } }).error;
}

/** One good request per route. */
const GOOD: Record<string, Partial<DemoRequest>> = {
  'GET /smi/v1/score': { query: { symbol: 'V:GLB:POL:TRMPTAX' } },
  'GET /vts/v1/symbols': { query: { page: '1', limit: '10', search: 'za' } },
  'GET /vts/v1/symbols/{symbol}': { params: { symbol: 'V:ZA:SPT:BOKKE' } },
  'GET /viralscore/v1/score': { query: { symbol: 'V:GLB:CRY:MEMECOIN' } },
  'POST /sentiment/v1/analyze': { body: { text: 'I love this, but the fees are terrible.', language: 'en' } },
  'GET /v1/memes': { query: { sort: 'market_cap', limit: '5' } },
  'GET /v1/memes/{id}': { params: { id: 'meme_0001' } },
  'GET /v1/memes/{id}/genealogy': { params: { id: 'meme_0005' } },
  'GET /v1/memes/{id}/wiki': { params: { id: 'meme_0002' } },
  'GET /v1/tokens/{mint}': { params: { mint: DOGE_MINT } },
  'GET /v1/tokens/{mint}/price': { params: { mint: DOGE_MINT } },
  'GET /v1/tokens/{mint}/history': { params: { mint: DOGE_MINT }, query: { interval: '1h' } },
  'GET /v1/tokens/{mint}/security': { params: { mint: ANY_MINT } },
  'GET /v1/tokens/{mint}/holders': { params: { mint: DOGE_MINT } },
  'GET /v1/seals': { query: { min_score: '50' } },
  'GET /v1/seals/{meme_id}': { params: { meme_id: 'meme_0001' } },
  'GET /v1/verifications/pending': {},
  'GET /v1/sentiment/{token}': { params: { token: DOGE_MINT } },
  'GET /v1/sentiment/trending': { query: { limit: '5' } },
  'GET /v1/analytics/advanced': { query: { mint: DOGE_MINT } },
  'POST /v1/bulk/tokens': { body: { mints: [DOGE_MINT, ANY_MINT] } },
  'POST /v1/bulk/security': { body: { mints: [DOGE_MINT] } },
};

function good(route: { method: string; path: string }, extra: Partial<DemoRequest> = {}): DemoResponse {
  return call({ method: route.method, routePath: route.path, ...GOOD[`${route.method} ${route.path}`], ...extra });
}

describe('demo upstream', () => {
  it('serves exactly the documented route patterns', () => {
    expect(DEMO_ROUTES.map((r) => `${r.method} ${r.path}`).sort()).toEqual(Object.keys(GOOD).sort());
  });

  it.each(DEMO_ROUTES.map((r) => [`${r.method} ${r.path}`, r] as const))('%s answers 200', (_, route) => {
    const res = good(route);
    expect(res.statusCode, JSON.stringify(res.body)).toBe(200);
    expect(typeof res.body).toBe('object');
    expect(JSON.stringify(res.body)).not.toContain('null,null');
  });

  it('is deterministic for the same input, and prices move with the minute', () => {
    for (const route of DEMO_ROUTES) expect(good(route)).toEqual(good(route));
    const price = (nowMs: number) => body(call({ routePath: '/v1/tokens/{mint}/price', params: { mint: DOGE_MINT }, nowMs }))['price'];
    expect(price(NOW)).toBe(price(NOW + 1_000)); // same minute
    expect(price(NOW)).not.toBe(price(NOW + 60_000));
  });

  it('keeps list universes fixed: 200 memes, 50 VTS symbols', () => {
    expect((body(call({ routePath: '/v1/memes' }))['pagination'] as { total: number }).total).toBe(200);
    expect((body(call({ routePath: '/vts/v1/symbols' }))['pagination'] as { total: number }).total).toBe(50);
  });

  it('returns basic meme fields without memes:full and full fields with it', () => {
    const basic = body(call({ routePath: '/v1/memes/{id}', params: { id: 'meme_0001' }, entitlements: new Set(['memes:basic']) }));
    expect(basic['detail']).toBe('basic');
    expect(Object.keys(basic).sort()).toEqual(['category', 'detail', 'id', 'image_url', 'name', 'symbol', 'token_mint', 'verified']);
    const full = body(call({ routePath: '/v1/memes/{id}', params: { id: 'meme_0001' } }));
    expect(full['detail']).toBe('full');
    for (const field of ['market_cap', 'holders_count', 'origin', 'description', 'social', 'culture_seal', 'created_at', 'updated_at']) expect(full).toHaveProperty(field);
    const list = body(call({ routePath: '/v1/memes', entitlements: new Set() }));
    expect(list['detail']).toBe('basic');
    expect((list['data'] as object[])[0]).not.toHaveProperty('market_cap');
  });

  it('filters, sorts and paginates memes', () => {
    const verified = body(call({ routePath: '/v1/memes', query: { verified_only: 'true', category: 'animals', limit: '100' } }));
    const data = verified['data'] as { verified: boolean; category: string }[];
    expect(data.length).toBeGreaterThan(0);
    expect(data.every((m) => m.verified && m.category === 'animals')).toBe(true);
    const byCap = body(call({ routePath: '/v1/memes', query: { sort: 'market_cap', limit: '10' } }))['data'] as { market_cap: number }[];
    expect(byCap.map((m) => m.market_cap)).toEqual([...byCap.map((m) => m.market_cap)].sort((a, b) => b - a));
    const search = body(call({ routePath: '/v1/memes', query: { search: 'doge' } }))['data'] as { name: string }[];
    expect(search.some((m) => m.name === 'Doge')).toBe(true);
    const page = body(call({ routePath: '/v1/memes', query: { page: '3', limit: '7' } }));
    expect(page['pagination']).toEqual({ page: 3, limit: 7, total: 200, pages: 29 });
  });

  it('answers lists with the HLD pagination headers, links keeping the other query parameters', () => {
    const middle = call({ routePath: '/v1/memes', path: '/v1/memes', query: { page: '3', limit: '7', sort: 'market_cap', tag: ['a', 'b'] } });
    expect(middle.headers).toEqual({
      'x-total-count': String((body(middle)['pagination'] as { total: number }).total),
      'x-page': '3',
      'x-per-page': '7',
      link: expect.stringContaining('page=2&limit=7>; rel="prev"') as unknown as string,
    });
    const total = Number(middle.headers?.['x-total-count']);
    const last = Math.ceil(total / 7);
    expect(middle.headers?.link?.split(', ')).toEqual([
      '</v1/memes?sort=market_cap&tag=a&tag=b&page=1&limit=7>; rel="first"',
      '</v1/memes?sort=market_cap&tag=a&tag=b&page=2&limit=7>; rel="prev"',
      '</v1/memes?sort=market_cap&tag=a&tag=b&page=4&limit=7>; rel="next"',
      `</v1/memes?sort=market_cap&tag=a&tag=b&page=${last}&limit=7>; rel="last"`,
    ]);
    // The first page has no prev, the last no next; an empty list is one (empty) page.
    const first = call({ routePath: '/vts/v1/symbols', query: { limit: '50' } }).headers?.link ?? '';
    expect(first).not.toContain('rel="prev"');
    expect(first).not.toContain('rel="next"');
    expect(first).toContain('</vts/v1/symbols?page=1&limit=50>; rel="last"');
    expect(call({ routePath: '/v1/memes/{id}', params: { id: 'meme_0001' } }).headers).toBeUndefined();
  });

  it('marks every sandbox response and uses a different seed', () => {
    for (const route of DEMO_ROUTES) {
      const res = good(route, { sandbox: true });
      expect(res.statusCode).toBe(200);
      expect(body(res)['sandbox']).toBe(true);
      expect(body(good(route))).not.toHaveProperty('sandbox');
    }
    const live = body(call({ routePath: '/smi/v1/score', query: { symbol: 'V:GLB:POL:TRMPTAX' } }));
    const sandbox = body(call({ routePath: '/smi/v1/score', query: { symbol: 'V:GLB:POL:TRMPTAX' }, sandbox: true }));
    const sandboxError = call({ routePath: '/smi/v1/score', sandbox: true });
    expect(sandboxError.statusCode).toBe(400);
    expect(body(sandboxError)['sandbox']).toBe(true);
    expect(sandbox['score']).not.toBe(live['score']);
    // Identities stay stable so ids copied from sandbox work live.
    const sbMeme = body(call({ routePath: '/v1/memes/{id}', params: { id: 'meme_0001' }, sandbox: true }));
    expect(sbMeme['token_mint']).toBe(DOGE_MINT);
  });

  it.each([
    ['GET', '/smi/v1/score', {}, {}, undefined, 'symbol'],
    ['GET', '/smi/v1/score', {}, { symbol: 'TRUMP' }, undefined, 'symbol'],
    ['GET', '/smi/v1/score', {}, { symbol: ['V:GLB:POL:TRMPTAX', 'V:ZA:SPT:BOKKE'] }, undefined, 'symbol'],
    ['GET', '/viralscore/v1/score', {}, {}, undefined, 'symbol'],
    ['GET', '/vts/v1/symbols', {}, { limit: '0' }, undefined, 'limit'],
    ['GET', '/vts/v1/symbols', {}, { page: 'two' }, undefined, 'page'],
    ['GET', '/v1/memes', {}, { limit: '101' }, undefined, 'limit'],
    ['GET', '/v1/memes', {}, { sort: 'hot' }, undefined, 'sort'],
    ['GET', '/v1/memes', {}, { category: 'dogs' }, undefined, 'category'],
    ['GET', '/v1/memes', {}, { verified_only: 'maybe' }, undefined, 'verified_only'],
    ['GET', '/v1/memes/{id}', { id: 'doge' }, {}, undefined, 'id'],
    ['GET', '/v1/tokens/{mint}/price', { mint: 'not-a-mint' }, {}, undefined, 'mint'],
    ['GET', '/v1/tokens/{mint}', { mint: '0OIl'.repeat(10) }, {}, undefined, 'mint'],
    ['GET', '/v1/analytics/advanced', {}, { mint: 'abc' }, undefined, 'mint'],
    ['GET', '/v1/sentiment/{token}', { token: '!!' }, {}, undefined, 'token'],
    ['POST', '/sentiment/v1/analyze', {}, {}, undefined, 'body'],
    ['POST', '/sentiment/v1/analyze', {}, {}, 'just text', 'body'],
    ['POST', '/sentiment/v1/analyze', {}, {}, { text: '' }, 'text'],
    ['POST', '/sentiment/v1/analyze', {}, {}, { text: 42 }, 'text'],
    ['POST', '/sentiment/v1/analyze', {}, {}, { text: 'x'.repeat(10_001) }, 'text'],
    ['POST', '/sentiment/v1/analyze', {}, {}, { text: 'fine', language: 7 }, 'language'],
    ['POST', '/v1/bulk/tokens', {}, {}, [DOGE_MINT], 'body'],
    ['POST', '/v1/bulk/tokens', {}, {}, { mints: DOGE_MINT }, 'mints'],
    ['POST', '/v1/bulk/security', {}, {}, { mints: [DOGE_MINT, 5] }, 'mints[1]'],
  ] as const)('%s %s with bad input → 400 naming %#', (method, routePath, params, query, reqBody, field) => {
    const res = call({ method, routePath, params: { ...params }, query: { ...query }, body: reqBody });
    expect(res.statusCode).toBe(400);
    const error = errorOf(res);
    expect(error.code).toBe('invalid_request');
    expect(error.details.field).toBe(field);
    expect(error.message).toContain(field.replace(/\[\d+\]$/, '') === 'body' ? 'body' : field);
  });

  it('answers 404 for unknown memes, seals and symbols', () => {
    for (const [routePath, params, query] of [
      ['/v1/memes/{id}', { id: 'meme_9999' }, {}],
      ['/v1/memes/{id}/wiki', { id: 'meme_0201' }, {}],
      ['/v1/seals/{meme_id}', { meme_id: 'meme_0000' }, {}],
      ['/vts/v1/symbols/{symbol}', { symbol: 'V:ZA:POL:NOPE' }, {}],
      ['/smi/v1/score', {}, { symbol: 'V:ZA:POL:NOPE' }],
      ['/v1/sentiment/{token}', { token: 'NOPE' }, {}],
    ] as const) {
      const res = call({ routePath, params: { ...params }, query: { ...query } });
      expect(res.statusCode, routePath).toBe(404);
      expect(errorOf(res).code).toBe('resource_not_found');
    }
    const unverified = universe().memes.find((m) => !m.verified);
    expect(call({ routePath: '/v1/seals/{meme_id}', params: { meme_id: unverified?.id ?? '' } }).statusCode).toBe(404);
    expect(call({ routePath: '/v1/nothing' }).statusCode).toBe(404);
  });

  it('never throws, whatever the input', () => {
    const weird: unknown[] = [undefined, null, 0, 'x', [], {}, { text: null }, { mints: [] }, { mints: new Array(101).fill(DOGE_MINT) }];
    for (const route of DEMO_ROUTES) {
      for (const value of weird) {
        const res = handleDemoRequest({
          method: route.method,
          routePath: route.path,
          params: { id: String(value), mint: String(value), symbol: String(value), token: String(value), meme_id: String(value) },
          query: { symbol: value, page: value, limit: value, from: value, interval: value, mint: value },
          body: value,
          entitlements: new Set(),
          sandbox: false,
          nowMs: NOW,
        });
        expect([200, 400, 404]).toContain(res.statusCode);
      }
    }
    const broken = handleDemoRequest({ method: 'GET', routePath: '/v1/tokens/{mint}/price', params: { mint: DOGE_MINT }, query: {}, body: undefined, entitlements: FULL, sandbox: false, nowMs: Number.NaN });
    expect(broken.statusCode).toBe(400);
  });

  describe('price history', () => {
    const history = (query: Record<string, unknown>) => call({ routePath: '/v1/tokens/{mint}/history', params: { mint: DOGE_MINT }, query });

    it('defaults to 1h candles over the last 24 h, ending at the current price', () => {
      const res = body(history({}));
      expect(res['interval']).toBe('1h');
      const points = res['points'] as { t: string; close: number; open: number; high: number; low: number }[];
      expect(points.length).toBe(25); // the candle containing `from` .. the current one
      const price = body(call({ routePath: '/v1/tokens/{mint}/price', params: { mint: DOGE_MINT } }))['price'];
      expect(points.at(-1)?.close).toBe(price);
      for (const p of points) expect(p.high >= Math.max(p.open, p.close) && p.low <= Math.min(p.open, p.close)).toBe(true);
    });

    it('accepts ISO-8601 and unix seconds', () => {
      const iso = body(history({ interval: '1d', from: '2025-06-01T00:00:00Z', to: '2025-06-10T00:00:00Z' }));
      expect(iso['count']).toBe(10);
      const unix = body(history({ interval: '1d', from: String(Date.UTC(2025, 5, 1) / 1000), to: String(Date.UTC(2025, 5, 10) / 1000) }));
      expect(unix['points']).toEqual(iso['points']);
    });

    it('caps at 1000 points and says so', () => {
      const res = body(history({ interval: '1m', from: '2025-06-01T00:00:00Z' }));
      expect(res['count']).toBe(1000);
      expect(res['truncated']).toBe(true);
      expect((res['truncation'] as { message: string }).message).toContain('1000');
      expect(body(history({ interval: '5m' }))['truncated']).toBe(false);
    });

    it.each([
      [{ interval: '2h' }, 'interval'],
      [{ from: 'yesterday' }, 'from'],
      [{ to: '2025-02-30T00:00:00Z' }, 'to'],
      [{ from: '2025-06-10T00:00:00Z', to: '2025-06-01T00:00:00Z' }, 'from'],
      [{ from: '2030-01-01T00:00:00Z', to: '2030-02-01T00:00:00Z' }, 'from'],
    ])('400 for %j', (query, field) => {
      const res = history(query);
      expect(res.statusCode).toBe(400);
      expect(errorOf(res).details.field).toBe(field);
    });
  });

  describe('bulk', () => {
    it('returns one entry per mint, in order', () => {
      const res = body(call({ method: 'POST', routePath: '/v1/bulk/tokens', body: { mints: [ANY_MINT, DOGE_MINT] } }));
      expect((res['data'] as { mint: string }[]).map((t) => t.mint)).toEqual([ANY_MINT, DOGE_MINT]);
      expect(res['count']).toBe(2);
    });

    it('accepts 100 mints and refuses 0 or 101', () => {
      const mints = (n: number) => Array.from({ length: n }, () => DOGE_MINT);
      expect(call({ method: 'POST', routePath: '/v1/bulk/security', body: { mints: mints(100) } }).statusCode).toBe(200);
      for (const n of [0, 101]) {
        const res = call({ method: 'POST', routePath: '/v1/bulk/tokens', body: { mints: mints(n) } });
        expect(res.statusCode).toBe(400);
        expect(errorOf(res).details.field).toBe('mints');
      }
    });
  });

  describe('text analysis', () => {
    const analyze = (text: string) => body(call({ method: 'POST', routePath: '/sentiment/v1/analyze', body: { text } }));
    const sentiment = (text: string) => analyze(text)['sentiment'] as { score: number; label: string };
    const deception = (text: string) => analyze(text)['deception'] as { probability: number; signals: { type: string }[] };

    it('follows the words, including negation', () => {
      expect(sentiment('This is a great, wonderful project and I love it').label).toBe('positive');
      expect(sentiment('Terrible team, the token crashed and I lost everything').label).toBe('negative');
      expect(sentiment('This is not good at all').score).toBeLessThan(0);
      expect(sentiment('The meeting is on Tuesday').label).toBe('neutral');
      expect(sentiment('The meeting is on Tuesday').score).not.toBe(sentiment('The meeting is on Wednesday').score);
    });

    it('flags deception cues', () => {
      const scam = deception('Trust me, GUARANTEED 100x!!! Act now, last chance, free money, no risk!');
      expect(scam.probability).toBeGreaterThan(0.6);
      expect(scam.signals.map((s) => s.type)).toContain('financial_promise');
      expect(deception('The quarterly report shows revenue grew four percent.').probability).toBeLessThan(0.3);
    });
  });

  it('keeps the benchmarked routes cheap', () => {
    const smi = { method: 'GET', routePath: '/smi/v1/score', params: {}, query: { symbol: 'V:GLB:POL:TRMPTAX' }, body: undefined, entitlements: FULL, sandbox: false, nowMs: NOW };
    const price = { ...smi, routePath: '/v1/tokens/{mint}/price', params: { mint: DOGE_MINT }, query: {} };
    handleDemoRequest(smi);
    const started = performance.now();
    for (let i = 0; i < 20_000; i++) {
      handleDemoRequest({ ...smi, nowMs: NOW + i * 1000 });
      handleDemoRequest({ ...price, nowMs: NOW + i * 1000 });
    }
    // ~40k calls; generous bound so slow CI machines pass, but a per-call universe build would not.
    expect(performance.now() - started).toBeLessThan(4_000);
  });
});
