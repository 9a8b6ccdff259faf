import { Type, type Static } from 'typebox';
import type { Deps } from '../../deps.ts';
import type { App } from './types.ts';

/** Where rate limits are decided: in process (`embedded`), in Redis (`global`), or a failure mode while Redis is down. */
export const LIMITS = ['embedded', 'global', 'local', 'open', 'closed'] as const;
const Limits = Type.Enum([...LIMITS]);

export function limitsOf(state: ReturnType<Deps['limiter']>): (typeof LIMITS)[number] {
  return state.kind === 'embedded' ? 'embedded' : state.limits;
}
const Limiter = Type.Object({
  limits: Limits,
  since: Type.Optional(Type.String({ format: 'date-time' })),
  lastError: Type.Optional(Type.String()),
});

const Health = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
  uptimeSeconds: Type.Number(),
  database: Type.Object({ status: Type.String(), kind: Type.String(), latencyMs: Type.Optional(Type.Number()), error: Type.Optional(Type.String()) }),
  usage: Type.Object({ pending: Type.Integer(), written: Type.Integer(), dropped: Type.Integer(), rollupsHeld: Type.Integer() }),
  limiter: Limiter,
});

export interface HealthProbe {
  databaseKind: string;
  pingDatabase(): Promise<void>;
  usage(): { pending: number; written: number; dropped: number; rollupsHeld: number };
  /** False while starting up and once shutdown has begun. */
  accepting(): boolean;
  limiter(): ReturnType<Deps['limiter']>;
}

function limiterView(probe: HealthProbe): Static<typeof Limiter> {
  const state = probe.limiter();
  if (state.kind === 'embedded') return { limits: limitsOf(state) };
  return { limits: limitsOf(state), since: new Date(state.since).toISOString(), ...(state.lastError ? { lastError: state.lastError } : {}) };
}

export function healthRoutes(app: App, probe: HealthProbe): void {
  app.get('/health', {
    schema: { tags: ['health'], summary: 'Process and database health', response: { 200: Health, 503: Health } },
  }, async (_request, reply) => {
    const started = performance.now();
    let database: { status: string; kind: string; latencyMs?: number; error?: string };
    try {
      await probe.pingDatabase();
      database = { status: 'ok', kind: probe.databaseKind, latencyMs: Math.round((performance.now() - started) * 100) / 100 };
    } catch (error) {
      database = { status: 'unavailable', kind: probe.databaseKind, error: (error as Error).message };
    }
    const ok = database.status === 'ok';
    reply.code(ok ? 200 : 503);
    return { status: ok ? ('ok' as const) : ('degraded' as const), uptimeSeconds: Math.round(process.uptime()), database, usage: probe.usage(), limiter: limiterView(probe) };
  });

  app.get('/live', {
    schema: { tags: ['health'], summary: 'The process answers (for liveness probes: checks nothing else)', response: { 200: Type.Object({ live: Type.Boolean() }) } },
  }, async () => ({ live: true }));

  app.get('/ready', {
    schema: { tags: ['health'], summary: 'Ready to take traffic (for load balancers)', response: { 200: Type.Object({ ready: Type.Boolean(), limits: Limits }), 503: Type.Object({ ready: Type.Boolean(), reason: Type.String() }) } },
  }, async (_request, reply) => {
    if (!probe.accepting()) return reply.code(503).send({ ready: false, reason: 'starting or shutting down' });
    try {
      await probe.pingDatabase();
    } catch {
      return reply.code(503).send({ ready: false, reason: 'database unavailable' });
    }
    // Ready on a failure mode too: the instance serves (per-instance limits, open or 503), and the
    // state says which. Taking every instance out of the balancer would not bring Redis back.
    return { ready: true, limits: limiterView(probe).limits };
  });
}
