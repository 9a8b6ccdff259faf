import type { FastifyInstance } from 'fastify';
import { handleDemoRequest } from '../../packages/server/src/demo-upstream/index.ts';
import { BENCH_MINT, BENCH_ROUTE_PATTERN } from './protocol.ts';

const entitlements = new Set(['tokens:basic']);

/** The demo upstream's answer to the bench's call, computed afresh by the gateway's own function. */
export function benchAnswer() {
  return handleDemoRequest({ method: 'GET', routePath: BENCH_ROUTE_PATTERN, params: { mint: BENCH_MINT }, query: {}, body: undefined, entitlements, sandbox: false, nowMs: Date.now() });
}

/**
 * The bare route: the bench's call answered with the demo upstream's body and nothing else,
 * serialized and sent as the gateway sends it. `prefix` puts it beside the gateway's routes.
 */
export function addBareRoute(app: Pick<FastifyInstance, 'get'>, prefix = ''): void {
  app.get(`${prefix}/v1/tokens/:mint/price`, (_request, reply) => {
    const demo = benchAnswer();
    reply.code(demo.statusCode).type('application/json; charset=utf-8');
    return reply.send(JSON.stringify(demo.body));
  });
}
