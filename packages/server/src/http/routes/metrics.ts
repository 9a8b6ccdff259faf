import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { DeferredPart } from '@tollgate/store';
import type { Deps } from '../../deps.ts';
import { LIMITS, limitsOf } from './health.ts';
import type { App } from './types.ts';

export interface MetricsProbe {
  usage(): {
    pending: number;
    written: number;
    dropped: number;
    rollupsHeld: number;
    writeSeconds: Readonly<Record<'calls' | DeferredPart, number>>;
    rowsWritten: Readonly<Record<DeferredPart, number>>;
  };
  limiter: Deps['limiter'];
}

/**
 * `GET /metrics` in Prometheus's text format: the process (CPU, memory, event-loop lag), the
 * usage buffer (what waits for the database, what was dropped past its bound) and where rate
 * limits are decided. One registry per app, so several apps in one process do not collide.
 */
export function metricsRoutes(app: App, probe: MetricsProbe): void {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tollgate_' });
  new Gauge({
    name: 'tollgate_usage_records_pending',
    help: 'Call records buffered, not yet written to the database',
    registers: [registry],
    collect() {
      this.set(probe.usage().pending);
    },
  });
  new Counter({
    name: 'tollgate_usage_records_written_total',
    help: 'Call records written to the database',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(probe.usage().written);
    },
  });
  new Counter({
    name: 'tollgate_usage_records_dropped_total',
    help: 'Call records dropped because the buffer was full (the database was unavailable too long)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(probe.usage().dropped);
    },
  });
  new Gauge({
    name: 'tollgate_usage_rollups_held',
    help: 'Minute rollup and key counter rows of written calls held in memory, folded, not yet written (analytics and key usage counts lag by these)',
    registers: [registry],
    collect() {
      this.set(probe.usage().rollupsHeld);
    },
  });
  new Counter({
    name: 'tollgate_usage_write_seconds_total',
    help: 'Time spent writing usage to the database, by part: calls (the call log), rollups (minute rollups), counters (the keys\' counters); wall time, on the embedded database mostly that of the database thread',
    labelNames: ['part'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [part, seconds] of Object.entries(probe.usage().writeSeconds)) this.inc({ part }, seconds);
    },
  });
  new Counter({
    name: 'tollgate_usage_rows_written_total',
    help: 'Minute rollup and key counter rows written from the rows held in memory, by part',
    labelNames: ['part'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [part, rows] of Object.entries(probe.usage().rowsWritten)) this.inc({ part }, rows);
    },
  });
  new Gauge({
    name: 'tollgate_rate_limits',
    help: 'Where rate limits are decided: 1 for the current state (embedded, global in Redis, or a failure mode)',
    labelNames: ['limits'],
    registers: [registry],
    collect() {
      const current = limitsOf(probe.limiter());
      for (const limits of LIMITS) this.set({ limits }, limits === current ? 1 : 0);
    },
  });

  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.type(registry.contentType);
    return registry.metrics();
  });
}
