import Fastify from 'fastify';
import { handleDemoRequest } from '../packages/server/src/demo-upstream/index.ts';
import { BENCH_MINT, BENCH_ROUTE_PATTERN, onStop, tell } from './lib/protocol.ts';

/*
 * The baseline: a bare Fastify app (the gateway's Fastify, logger off) with the one route the
 * bench calls. Its body is what the demo upstream answers for that call, computed once at start;
 * each request serializes it with JSON.stringify and sends the string as application/json, as the
 * gateway does, so the difference between the two servers is the gateway and nothing else.
 *
 * Started by `bench/gateway.bench.ts` in a child process; `PORT` (default 0: any free port).
 */

const started = performance.now();
const demo = handleDemoRequest({
  method: 'GET',
  routePath: BENCH_ROUTE_PATTERN,
  params: { mint: BENCH_MINT },
  query: {},
  body: undefined,
  entitlements: new Set(['tokens:basic']),
  sandbox: false,
  nowMs: Date.now(),
});
if (demo.statusCode !== 200) throw new Error(`demo upstream answered ${demo.statusCode}: ${JSON.stringify(demo.body)}`);
const body = demo.body;

const app = Fastify({ logger: false });
app.get('/v1/tokens/:mint/price', (_request, reply) => {
  const text = JSON.stringify(body);
  reply.code(200).type('application/json; charset=utf-8');
  return reply.send(text);
});

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
const address = app.server.address();
if (address === null || typeof address === 'string') throw new Error('no TCP address');
onStop(() => app.close());
tell({
  type: 'ready',
  port: address.port,
  setupMs: Math.round(performance.now() - started),
  info: { fastify: app.version, bodyBytes: Buffer.byteLength(JSON.stringify(body)) },
});
if (!process.send) console.log(`bare server on http://127.0.0.1:${address.port}`);
