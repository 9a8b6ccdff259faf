import { createServer } from 'node:http';
import { keepTickObjectShape } from '../../packages/server/src/http/tick-object-shape.ts';
import { benchAnswer } from './bare-route.ts';
import { onStop, tell } from './protocol.ts';

/*
 * Diagnostic, for `alternate-servers.ts`: the bench's call answered by Node's HTTP server alone,
 * without Fastify or the gateway: the demo upstream's body, computed per request as the bare
 * route computes it, sent with `writeHead` and `end` as the gateway's direct calls send theirs.
 * The ceiling of what any gateway written on Node's server can reach on a machine, and, with
 * RAW_HEADERS=gateway, what the six headers of a gateway answer (request id, the three rate
 * limit headers, type and length) cost Node against the bare route's two:
 *
 *   VARIANTS="bench/bare-server.ts;bench/lib/raw-node-server.ts;bench/lib/raw-node-server.ts|RAW_HEADERS=gateway;bench/gateway-server.ts" \
 *     npx tsx bench/lib/alternate-servers.ts
 *
 * `PORT` (default 0: any free port).
 */

const gatewayHeaders = process.env.RAW_HEADERS === 'gateway';
let calls = 0;

keepTickObjectShape();
const server = createServer((_request, response) => {
  const demo = benchAnswer();
  const text = JSON.stringify(demo.body);
  calls++;
  // Values that change as the gateway's do: an id a call, the remaining count, a reset second.
  const headers: Record<string, string> = gatewayHeaders
    ? {
        'x-request-id': `req_raw${calls}`,
        'x-ratelimit-limit': '1000000000',
        'x-ratelimit-remaining': String(1_000_000_000 - calls),
        'x-ratelimit-reset': String(Math.ceil(Date.now() / 60_000) * 60),
        'content-type': 'application/json; charset=utf-8',
        'content-length': String(Buffer.byteLength(text)),
      }
    : { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)) };
  response.writeHead(demo.statusCode, headers);
  response.end(text);
});
// Fastify's default, which both bench servers have.
server.keepAliveTimeout = 72_000;

await new Promise<void>((resolve) => server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', resolve));
const address = server.address();
if (address === null || typeof address === 'string') throw new Error('no TCP address');
onStop(
  () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  async () => ({}),
);
tell({ type: 'ready', port: address.port, setupMs: 0, info: { headers: gatewayHeaders ? 'gateway' : 'bare' } });
