import Fastify from 'fastify';
import { handleDemoRequest } from '../packages/server/src/demo-upstream/index.ts';
import { profileMeasuredRun } from './lib/profiler.ts';
import { BENCH_MINT, BENCH_ROUTE_PATTERN, onStop, tell } from './lib/protocol.ts';

/*
 * The baseline: a bare Fastify app (the gateway's Fastify, logger off) with the one route the
 * bench calls, answering what the gateway answers: the demo upstream's body for that call,
 * computed per request by the same function, serialized with JSON.stringify and sent as
 * application/json. The upstream's own work is on both sides, so the difference between the two
 * servers is the gateway and nothing else.
 *
 * Started by `bench/gateway.bench.ts` in a child process; `PORT` (default 0: any free port).
 */

const started = performance.now();
const entitlements = new Set(['tokens:basic']);
const answer = () =>
  handleDemoRequest({
    method: 'GET',
    routePath: BENCH_ROUTE_PATTERN,
    params: { mint: BENCH_MINT },
    query: {},
    body: undefined,
    entitlements,
    sandbox: false,
    nowMs: Date.now(),
  });
const first = answer();
if (first.statusCode !== 200) throw new Error(`demo upstream answered ${first.statusCode}: ${JSON.stringify(first.body)}`);

const app = Fastify({ logger: false });
app.get('/v1/tokens/:mint/price', (_request, reply) => {
  const demo = answer();
  const text = JSON.stringify(demo.body);
  reply.code(demo.statusCode).type('application/json; charset=utf-8');
  return reply.send(text);
});

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
const address = app.server.address();
if (address === null || typeof address === 'string') throw new Error('no TCP address');
onStop(
  () => app.close(),
  async (reset) => {
    await profileMeasuredRun(reset);
    return {};
  },
);
tell({
  type: 'ready',
  port: address.port,
  setupMs: Math.round(performance.now() - started),
  info: { fastify: app.version, bodyBytes: Buffer.byteLength(JSON.stringify(first.body)) },
});
if (!process.send) console.log(`bare server on http://127.0.0.1:${address.port}`);
