import autocannon from 'autocannon';

/*
 * One load run with autocannon's programmatic API, in this process (the bench's own core).
 *
 * Latency: autocannon's own histogram keeps whole milliseconds, too coarse for "p99 within 2 ms",
 * so every response's time (process.hrtime, sub-microsecond) is also kept here and the
 * percentiles are computed exactly from those. Only 2xx responses are timed, as autocannon does;
 * any other status or error fails the run (see `assertClean`).
 */

export interface LoadOptions {
  url: string;
  connections: number;
  pipelining: number;
  durationSec?: number;
  /** A fixed number of requests instead of a duration (warm-up passes). */
  amount?: number;
  /** Requests per second across all connections; omitted: as fast as the server answers. */
  rate?: number;
  /** null: no key header; one key: a fixed header; more: every request the next key of its connection's share (round-robin). */
  keys: readonly string[] | null;
  /** Keep per-response latencies (measurement runs). */
  timeLatencies: boolean;
}

export interface LoadResult {
  requests: number;
  durationSec: number;
  rps: number;
  latencyMs: { mean: number; p50: number; p90: number; p99: number; p999: number; max: number } | null;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  /** An evenly paced run's own event loop: its longest turn, and the time in turns over 1 ms (`paced-load.ts`). */
  generator?: { longestTurnMs: number; stalledMs: number };
  /** Each second's p99 of an evenly paced run with `bySecond`. */
  p99BySecond?: number[];
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const headers: Record<string, string> = {};
  const keys = options.keys;
  let setupClient: ((client: autocannon.Client) => void) | undefined;
  if (keys && keys.length === 1) headers['x-api-key'] = keys[0] as string;
  else if (keys && keys.length > 1) {
    // Connection c cycles through its own slice of the keys, so all keys are called in turn.
    // The requests are built once per connection: rebuilding one per call (`setupRequest`)
    // halves what one core of autocannon can send, and the bench would measure itself.
    const slices = partition(keys, options.connections);
    let nextClient = 0;
    setupClient = (client) => {
      const slice = slices[nextClient++ % slices.length] as string[];
      client.setRequests(slice.map((key) => ({ headers: { 'x-api-key': key } })));
    };
  }

  const instance = autocannon({
    url: options.url,
    connections: options.connections,
    pipelining: options.pipelining,
    ...(options.amount !== undefined ? { amount: options.amount } : { duration: options.durationSec ?? 10 }),
    timeout: 10,
    ...(options.rate !== undefined ? { overallRate: options.rate } : {}),
    headers,
    ...(setupClient ? { setupClient } : {}),
  });

  let latencies = new Float64Array(options.timeLatencies ? 1 << 20 : 0);
  let count = 0;
  if (options.timeLatencies) {
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTimeMs: number) => {
      if (statusCode < 200 || statusCode >= 300) return;
      if (count === latencies.length) {
        const bigger = new Float64Array(latencies.length * 2);
        bigger.set(latencies);
        latencies = bigger;
      }
      latencies[count++] = responseTimeMs;
    });
  }

  const result = await instance;
  const statusCodes: Record<string, number> = {};
  for (const [code, { count: n }] of Object.entries(result.statusCodeStats)) statusCodes[code] = n;
  const requestsDone = result['1xx'] + result['2xx'] + result['3xx'] + result['4xx'] + result['5xx'];
  return {
    requests: requestsDone,
    durationSec: result.duration,
    rps: requestsDone / result.duration,
    latencyMs: options.timeLatencies ? summarize(latencies.subarray(0, count)) : null,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
  };
}

export function summarize(values: Float64Array): LoadResult['latencyMs'] {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
  let sum = 0;
  for (const v of sorted) sum += v;
  return { mean: sum / sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: sorted[sorted.length - 1] as number };
}

/** Splits `items` into `parts` slices of near-equal size (fewer when there are fewer items). */
export function partition<T>(items: readonly T[], parts: number): T[][] {
  const n = Math.min(parts, items.length);
  const out: T[][] = Array.from({ length: n }, () => []);
  items.forEach((item, i) => out[i % n]?.push(item));
  return out;
}

/** A run that saw anything but 2xx measured the wrong thing: fail loudly. */
export function assertClean(label: string, result: LoadResult): void {
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0 || result.requests === 0) {
    throw new Error(
      `${label}: ${result.requests} responses, ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts; status codes ${JSON.stringify(result.statusCodes)}. ` +
        'A benchmark that measures refusals or failures is worthless; fix the setup and run again.',
    );
  }
}

/**
 * Calls each key once, as the bench does before it measures: a key's first call loads it from
 * the store, which is not what a run measures. autocannon wants no more connections than calls.
 */
export async function callEachKeyOnce(url: string, keys: readonly string[], label = 'cold pass'): Promise<void> {
  assertClean(label, await runLoad({ url, connections: Math.min(64, keys.length), pipelining: 1, amount: keys.length, keys, timeLatencies: false }));
}
