import Fastify from 'fastify';
import { keepTickObjectShape } from '../packages/server/src/http/tick-object-shape.ts';
import { addBareRoute, benchAnswer } from './lib/bare-route.ts';
import { profileMeasuredRun } from './lib/profiler.ts';
import { onStop, tell } from './lib/protocol.ts';

/*
 * The baseline: a bare Fastify app (the gateway's Fastify, logger off) with the one route the
 * bench calls, answering what the gateway answers: the demo upstream's body for that call,
 * computed per request by the same function, serialized with JSON.stringify and sent as
 * application/json. The upstream's own work is on both sides, so the difference between the two
 * servers is the gateway and nothing else. It keeps a `process.nextTick` entry alive, as the
 * gateway does (tick-object-shape.ts): without it, V8 built every tick entry in its runtime in
 * most bare servers of `alternate-servers.ts`' sessions (18.0–19.0 against 15.0–15.8 CPU µs a
 * call, 2026-12-07), a cost of Node's, not Fastify's, that would otherwise count for the gateway.
 *
 * Started by `bench/gateway.bench.ts` in a child process; `PORT` (default 0: any free port).
 */

const started = performance.now();
const first = benchAnswer();
if (first.statusCode !== 200) throw new Error(`demo upstream answered ${first.statusCode}: ${JSON.stringify(first.body)}`);

keepTickObjectShape();
const app = Fastify({ logger: false });
addBareRoute(app);

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
