import net from 'node:net';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { partition, summarize, type LoadResult } from './load.ts';

/*
 * An open-loop load at an evenly paced rate: request n is due at start + n / rate, and its latency
 * is counted from that moment, so time spent waiting for a free connection counts too (no
 * coordinated omission). autocannon's rate mode lets each connection send its second's quota back
 * to back and then wait for the next second (its httpClient.js), so its "fixed rate" is a burst
 * at the start of every second: latency at that load is close to the saturated one. Here arrivals
 * are spread evenly, as many independent clients make them (wrk2's and k6's constant arrival
 * rate): the bench's reading of "the same load" since 2026-12-07 (near midnight), autocannon's printed beside it.
 *
 * Plain keep-alive sockets and pre-built requests: undici could not hold 26,000 req/s from one
 * core (docs/benchmarks.md). The responses must carry a Content-Length (both servers' do); any
 * other status than 2xx is counted and fails the run in `assertClean`, as with autocannon.
 */

export interface PacedLoadOptions {
  url: string;
  connections: number;
  rate: number;
  durationSec: number;
  /** null: no key header; one key: a fixed header; more: each connection cycles through its share. */
  keys: readonly string[] | null;
  /** Also give each second's p99 (of the requests due in it): where in a run the slow ones were. */
  bySecond?: boolean;
}

interface Connection {
  socket: net.Socket;
  requests: Buffer[];
  next: number;
  /** When the request in flight was due; NaN while idle. */
  dueAt: number;
  pending: Buffer | null;
}

const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = Buffer.from('\r\ncontent-length:');
const CONTENT_LENGTH_TITLE = Buffer.from('\r\nContent-Length:');

/**
 * Runs the load on a worker thread of its own: in the bench's process the generator's turns were
 * held up by collections of that process's heap (up to 25–30 ms), which counted in both servers'
 * latencies alike; in a worker, with a small heap of its own, they took 5 ms at most.
 */
export function runPacedLoad(options: PacedLoadOptions): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    // tsx's hooks are the main thread's own, and a worker started on a .ts file fails before an
    // --import runs (tsx issue #354): the worker registers them, then loads this file.
    const start = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(import.meta.url)}); })`;
    const worker = new Worker(start, { eval: true, workerData: { pacedLoad: options } });
    worker.once('message', (result: LoadResult) => resolve(result));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`the paced load's worker exited with code ${code}`));
    });
  });
}

if (!isMainThread && (workerData as { pacedLoad?: PacedLoadOptions } | null)?.pacedLoad) {
  parentPort?.postMessage(await generate((workerData as { pacedLoad: PacedLoadOptions }).pacedLoad));
}

async function generate(options: PacedLoadOptions): Promise<LoadResult> {
  const url = new URL(options.url);
  const port = Number(url.port || 80);
  const request = (key: string | null) =>
    Buffer.from(`GET ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n${key === null ? '' : `x-api-key: ${key}\r\n`}\r\n`, 'latin1');
  const slices = options.keys === null || options.keys.length === 0 ? [[null]] : partition<string | null>(options.keys, options.connections);

  const idle: Connection[] = [];
  /** Due times of requests that found every connection busy, oldest first. */
  const backlog: number[] = [];
  let backlogHead = 0;
  let latencies = new Float64Array(1 << 20);
  /** The second of the run each timed request was due in (`bySecond`). */
  let dueSeconds = new Uint16Array(options.bySecond ? latencies.length : 0);
  let count = 0;
  const statusCodes: Record<string, number> = {};
  let responses = 0;
  /** When the first request was due (set once the connections are open). */
  let start = NaN;
  let non2xx = 0;
  let errors = 0;
  let inFlight = 0;
  let drained: (() => void) | null = null;

  const send = (connection: Connection, dueAt: number) => {
    connection.dueAt = dueAt;
    inFlight++;
    connection.socket.write(connection.requests[connection.next] as Buffer);
    connection.next = (connection.next + 1) % connection.requests.length;
  };
  const answered = (connection: Connection, status: number) => {
    const latency = performance.now() - connection.dueAt;
    inFlight--;
    responses++;
    statusCodes[status] = (statusCodes[status] ?? 0) + 1;
    if (status >= 200 && status < 300) {
      if (count === latencies.length) {
        const bigger = new Float64Array(latencies.length * 2);
        bigger.set(latencies);
        latencies = bigger;
        if (options.bySecond) {
          const biggerSeconds = new Uint16Array(bigger.length);
          biggerSeconds.set(dueSeconds);
          dueSeconds = biggerSeconds;
        }
      }
      if (options.bySecond) dueSeconds[count] = Math.floor((connection.dueAt - start) / 1000);
      latencies[count++] = latency;
    } else {
      non2xx++;
    }
    connection.dueAt = NaN;
    if (backlogHead < backlog.length) send(connection, backlog[backlogHead++] as number);
    else idle.push(connection);
    if (inFlight === 0 && drained) drained();
  };
  /** Takes whole responses off the front of what the connection received, reading bytes (no string a response). */
  const receive = (connection: Connection, chunk: Buffer) => {
    const data = connection.pending === null ? chunk : Buffer.concat([connection.pending, chunk]);
    let at = 0;
    for (;;) {
      const headerEnd = data.indexOf(HEADER_END, at);
      if (headerEnd === -1) break;
      let field = data.indexOf(CONTENT_LENGTH, at);
      if (field === -1 || field > headerEnd) field = data.indexOf(CONTENT_LENGTH_TITLE, at);
      if (field === -1 || field > headerEnd) throw new Error(`a response without a content-length: ${data.toString('latin1', at, Math.min(headerEnd, at + 200))}`);
      let length = 0;
      for (let i = field + CONTENT_LENGTH.length; i < headerEnd; i++) {
        const byte = data[i] as number;
        if (byte >= 48 && byte <= 57) length = length * 10 + byte - 48;
        else if (byte !== 32 && byte !== 9) break;
      }
      const end = headerEnd + HEADER_END.length + length;
      if (data.length < end) break;
      // "HTTP/1.1 200 …": the status is bytes 9 to 11.
      answered(connection, ((data[at + 9] as number) - 48) * 100 + ((data[at + 10] as number) - 48) * 10 + ((data[at + 11] as number) - 48));
      at = end;
    }
    // `data` may be the shared read buffer, which the next read overwrites: a partial response is copied.
    connection.pending = at === data.length ? null : Buffer.from(data.subarray(at));
  };

  const readBuffer = Buffer.alloc(64 * 1024);
  const connections = await Promise.all(
    Array.from({ length: options.connections }, (_, c) => {
      const keys = slices[c % slices.length] as (string | null)[];
      return new Promise<Connection>((resolve, reject) => {
        // Every read into one buffer, rather than a new 64 kB one a read (Node's default).
        const onread = {
          buffer: readBuffer,
          callback: (bytes: number) => {
            receive(connection, readBuffer.subarray(0, bytes));
            return true;
          },
        };
        const socket = net.connect({ host: url.hostname, port, noDelay: true, onread }, () => resolve(connection));
        const connection: Connection = { socket, requests: keys.map(request), next: 0, dueAt: NaN, pending: null };
        socket.on('error', (error) => {
          errors++;
          reject(error);
        });
      });
    }),
  );
  idle.push(...connections);

  const intervalMs = 1000 / options.rate;
  start = performance.now();
  const end = start + options.durationSec * 1000;
  let sent = 0;
  // The generator's own stalls (a turn of its event loop longer than 1 ms): requests due
  // meanwhile go out late, which counts in their latency whichever server is measured.
  let previousTick = start;
  let longestTurnMs = 0;
  let stalledMs = 0;

  await new Promise<void>((resolve) => {
    // A turn of the event loop each time: due requests go out, answers come in between.
    const tick = () => {
      const now = performance.now();
      const turn = now - previousTick;
      previousTick = now;
      if (turn > longestTurnMs) longestTurnMs = turn;
      if (turn > 1) stalledMs += turn;
      for (let dueAt = start + sent * intervalMs; dueAt <= now && dueAt < end; dueAt = start + sent * intervalMs) {
        sent++;
        const connection = idle.pop();
        if (connection) send(connection, dueAt);
        else backlog.push(dueAt);
      }
      if (now < end) setImmediate(tick);
      else resolve();
    };
    setImmediate(tick);
  });
  const timedOut = await new Promise<boolean>((resolve) => {
    if (inFlight === 0 && backlogHead === backlog.length) return resolve(false);
    const timer = setTimeout(() => resolve(true), 10_000);
    drained = () => {
      if (backlogHead < backlog.length) return;
      clearTimeout(timer);
      resolve(false);
    };
  });
  for (const connection of connections) connection.socket.destroy();
  return {
    requests: responses,
    durationSec: options.durationSec,
    rps: responses / options.durationSec,
    latencyMs: summarize(latencies.subarray(0, count)),
    non2xx,
    errors,
    timeouts: timedOut ? inFlight + backlog.length - backlogHead : 0,
    statusCodes,
    generator: { longestTurnMs, stalledMs },
    ...(options.bySecond ? { p99BySecond: p99BySecond(latencies.subarray(0, count), dueSeconds.subarray(0, count)) } : {}),
  };
}

function p99BySecond(latencies: Float64Array, seconds: Uint16Array): number[] {
  const bySecond: number[][] = [];
  seconds.forEach((second, i) => (bySecond[second] ??= []).push(latencies[i] as number));
  return Array.from(bySecond, (values) => summarize(Float64Array.from(values ?? []))?.p99 ?? NaN);
}
