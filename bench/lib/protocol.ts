/*
 * What a server under test tells the bench process over IPC once it listens, and what the bench
 * process tells it. Shared by `bench/bare-server.ts`, `bench/gateway-server.ts` and the runner.
 */

/** The route both servers answer, and the mint every call asks for (the README's example). */
export const BENCH_MINT = 'V6FjH7P33dh7tVHHLHczC4hyG2NUA2YatLmXiDrKRgV7';
export const BENCH_ROUTE_PATTERN = '/v1/tokens/{mint}/price';
export const BENCH_PATH = `/v1/tokens/${BENCH_MINT}/price`;
/**
 * Where a gateway server started with BENCH_BARE_ROUTE=1 also serves the bare route: under the
 * product's own paths, which Fastify routes (every other path is a gateway call).
 */
export const IN_APP_BARE_PREFIX = '/api/bench-bare';

export interface ReadyMessage {
  type: 'ready';
  port: number;
  /** A file with one plain API key a line (gateway only). */
  keysFile?: string;
  keyCount?: number;
  /** Milliseconds the server took to set up (database, seed, keys), for the report. */
  setupMs: number;
  /** Free-form facts about the server (versions, settings). */
  info: Record<string, unknown>;
}

export interface StatsMessage {
  type: 'stats';
  stats: Record<string, unknown>;
}

export type ChildMessage = ReadyMessage | StatsMessage;

/**
 * `stats` answers the server's counters; with `reset`, they start again from zero; with
 * `writeUsage`, a gateway first writes the usage it holds (buffered calls, held rows), so that
 * the CPU that takes is counted before the server is stopped.
 */
export type ParentMessage = { type: 'stop' } | { type: 'stats'; reset: boolean; writeUsage?: boolean };

/** Sends a message to the parent; a no-op when the script runs on its own (no IPC channel). */
export function tell(message: ChildMessage): void {
  process.send?.(message);
}

/**
 * Calls `stop` once, on `{type:'stop'}` from the parent, SIGTERM/SIGINT, or the IPC channel
 * closing (the parent died): a server under test never outlives the bench.
 */
export function onStop(stop: () => Promise<void>, stats?: (reset: boolean, writeUsage: boolean) => Promise<Record<string, unknown>>): void {
  let stopping = false;
  const run = () => {
    if (stopping) return;
    stopping = true;
    const timer = setTimeout(() => process.exit(1), 15_000);
    timer.unref();
    stop().then(
      () => process.exit(0),
      (error) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'stop') run();
    else if (message.type === 'stats' && stats) void stats(message.reset, message.writeUsage === true).then((values) => tell({ type: 'stats', stats: values }));
  });
  process.on('disconnect', run);
  process.on('SIGTERM', run);
  process.on('SIGINT', run);
}
