import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import proxyAddr from '@fastify/proxy-addr';
import { Pool } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../http/app-error.ts';
import { capturedLog } from '../testing/captured-log.ts';
import { directGatewayCalls, type ProxyTrust } from './direct-calls.ts';
import type { GatewayReply, GatewayRequest } from './pipeline.ts';

/*
 * The dispatcher in front of Fastify, on a real socket: which calls it takes, what the gateway
 * reads of them and how their answers are written. The product's gateway runs through it in
 * gateway.test.ts (its "socket" half); here the gateway is a function that shows what it was given.
 */

type Behaviour = (request: GatewayRequest, reply: GatewayReply) => Promise<void> | undefined;

describe('direct gateway calls', () => {
  const { lines, log } = capturedLog('warn');
  let behaviour: Behaviour;
  let trust: ProxyTrust | null = null;
  let server: Server;
  let pool: Pool;
  let ids = 0;

  beforeAll(async () => {
    const serve = (withTrust: ProxyTrust | null) =>
      directGatewayCalls({
        gateway: (request, reply) => behaviour(request, reply),
        nextRequestId: () => `req_test${++ids}`,
        trust: withTrust,
        log,
        isProductPath: (url) => url.startsWith('/api/') || url.startsWith('/health'),
      });
    const direct = { none: serve(null), trusted: null as ReturnType<typeof serve> | null };
    server = createServer((req, res) => {
      const serveDirect = trust === null ? direct.none : (direct.trusted ??= serve(trust));
      if (!serveDirect(req, res)) res.writeHead(299, { 'x-served-by': 'fastify' }).end('fastify');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  afterAll(async () => {
    await pool.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  afterEach(() => {
    trust = null;
    lines.length = 0;
  });

  async function get(path: string, options: { method?: 'GET' | 'POST' | 'DELETE'; headers?: Record<string, string>; body?: string | Readable } = {}) {
    const res = await pool.request({ method: options.method ?? 'GET', path, headers: options.headers ?? {}, body: options.body });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  }

  /** The gateway answers with what it read of the call. */
  const echo: Behaviour = (request, reply) => {
    reply.code(200).type('application/json; charset=utf-8').header('x-ratelimit-limit', '10');
    reply.send(JSON.stringify({ id: request.id, method: request.method, url: request.url, ip: request.ip, query: request.query, key: request.headers['x-api-key'] ?? null }));
    return undefined;
  };

  it('serves a call without a body: id, method, url, parsed query, client address, headers', async () => {
    behaviour = echo;
    const res = await get('/v1/memes?limit=5&tag=a&tag=b&empty=', { headers: { 'x-api-key': 'tg_live_x' } });
    expect(res.status).toBe(200);
    const seen = JSON.parse(res.text);
    expect(seen).toMatchObject({ method: 'GET', url: '/v1/memes?limit=5&tag=a&tag=b&empty=', ip: '127.0.0.1', key: 'tg_live_x' });
    expect(seen.id).toMatch(/^req_test\d+$/);
    expect(seen.query).toEqual({ limit: '5', tag: ['a', 'b'], empty: '' });
    expect(res.headers['x-request-id']).toBe(seen.id);
    expect(res.headers['x-ratelimit-limit']).toBe('10');
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.text));
  });

  it('gives every call its own id from the shared generator', async () => {
    behaviour = echo;
    const first = JSON.parse((await get('/v1/a')).text).id;
    const second = JSON.parse((await get('/v1/a')).text).id;
    expect(first).not.toBe(second);
  });

  it('an empty query is an empty object', async () => {
    behaviour = echo;
    expect(JSON.parse((await get('/v1/memes')).text).query).toEqual({});
  });

  it.each([
    ['a body with a length', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' }],
    ['a chunked body (of unknown length)', { method: 'POST', body: Readable.from(['x']) }],
    ['a content type without a body', { headers: { 'content-type': 'application/json' } }],
  ] as const)('leaves %s to Fastify (its parsers and body limit)', async (_name, options) => {
    behaviour = echo;
    const res = await get('/v1/bulk/tokens', options);
    expect(res.status).toBe(299);
    expect(res.text).toBe('fastify');
  });

  it.each(['/api/v1/api-marketplace/products', '/health', '/healthz'])('leaves the product path %s to Fastify', async (path) => {
    behaviour = echo;
    expect((await get(path)).text).toBe('fastify');
  });

  it('takes DELETE and other methods without a body too', async () => {
    behaviour = echo;
    expect(JSON.parse((await get('/v1/thing', { method: 'DELETE' })).text).method).toBe('DELETE');
  });

  it('reads the client address through trusted proxies only', async () => {
    behaviour = echo;
    trust = proxyAddr.compile(['127.0.0.1']);
    expect(JSON.parse((await get('/v1/a', { headers: { 'x-forwarded-for': '203.0.113.9, 198.51.100.1' } })).text).ip).toBe('198.51.100.1');
  });

  it('ignores X-Forwarded-For without trusted proxies', async () => {
    behaviour = echo;
    expect(JSON.parse((await get('/v1/a', { headers: { 'x-forwarded-for': '203.0.113.9' } })).text).ip).toBe('127.0.0.1');
  });

  it('a header set twice is sent once, with the last value', async () => {
    behaviour = (_request, reply) => {
      reply.header('x-page', '1').headers({ 'x-page': '2' }).type('text/plain').send('ok');
      return undefined;
    };
    const res = await get('/v1/a');
    expect(res.headers['x-page']).toBe('2');
    expect(res.text).toBe('ok');
  });

  it('bytes are sent as they are, objects as JSON', async () => {
    behaviour = (_request, reply) => {
      reply.type('application/octet-stream').send(Buffer.from([1, 2, 3]));
      return undefined;
    };
    expect((await get('/v1/a')).headers['content-length']).toBe('3');
    behaviour = (_request, reply) => {
      reply.code(201).type('application/json').send({ made: true });
      return undefined;
    };
    const made = await get('/v1/a');
    expect(made.status).toBe(201);
    expect(JSON.parse(made.text)).toEqual({ made: true });
  });

  it('an error the gateway throws is a logged 500 in the error shape, with the request id', async () => {
    behaviour = () => {
      throw new Error('boom');
    };
    const res = await get('/v1/a');
    expect(res.status).toBe(500);
    const body = JSON.parse(res.text);
    expect(body.error.code).toBe('internal_error');
    expect(body.request_id).toBe(res.headers['x-request-id']);
    expect(lines.some((line) => line.msg === 'unhandled error' && line.reqId === body.request_id && (line.err as { message: string }).message === 'boom')).toBe(true);
  });

  it('a header Node refuses to write makes a 500 without the headers set before it', async () => {
    behaviour = (_request, reply) => {
      reply.header('x-ratelimit-limit', '10').header('x-upstream', 'bad\nvalue').type('text/plain').send('never');
      return undefined;
    };
    const res = await get('/v1/a');
    expect(res.status).toBe(500);
    expect(JSON.parse(res.text).error.code).toBe('internal_error');
    expect(res.headers['x-ratelimit-limit']).toBeUndefined();
    expect(res.headers['x-request-id']).toMatch(/^req_test/);
  });

  it('a rejected answer is handled the same way; an AppError keeps its code', async () => {
    behaviour = () => Promise.reject(new AppError('upstream_timeout', 'The upstream did not answer in time'));
    const res = await get('/v1/a');
    expect(res.status).toBe(504);
    expect(JSON.parse(res.text).error).toEqual({ code: 'upstream_timeout', message: 'The upstream did not answer in time' });
  });

  it('an error after the answer was sent is logged, and the answer stands', async () => {
    behaviour = async (_request, reply) => {
      reply.type('text/plain').send('sent');
      throw new Error('late');
    };
    const res = await get('/v1/a');
    expect(res.status).toBe(200);
    expect(res.text).toBe('sent');
    await expect.poll(() => lines.some((line) => line.msg === 'gateway call failed after its answer was sent')).toBe(true);
  });
});
