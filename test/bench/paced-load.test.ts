import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { runPacedLoad } from '../../bench/lib/paced-load.ts';

/*
 * The bench's evenly paced load decides the p99 aim, so what it counts is tested here against a
 * plain Node server: the rate it sends, every answer counted by its status, each connection's
 * share of the keys, and latency counted from when a request was due (open loop).
 */

let server: http.Server | null = null;

afterEach(async () => {
  server?.closeAllConnections();
  server?.close();
  server = null;
});

async function serve(handler: http.RequestListener): Promise<string> {
  server = http.createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/thing?x=1`;
}

describe('runPacedLoad', () => {
  it('sends the rate for the duration, each connection cycling through its share of the keys, and counts every answer', async () => {
    const seen = new Map<string, number>();
    const paths = new Set<string>();
    const url = await serve((req, res) => {
      const key = String(req.headers['x-api-key']);
      seen.set(key, (seen.get(key) ?? 0) + 1);
      paths.add(req.url ?? '');
      const body = JSON.stringify({ ok: true, key });
      res.writeHead(key === 'k3' ? 429 : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    const result = await runPacedLoad({ url, connections: 4, rate: 1_000, durationSec: 1, keys: ['k0', 'k1', 'k2', 'k3'] });

    expect(result.requests).toBeGreaterThanOrEqual(990);
    expect(result.requests).toBeLessThanOrEqual(1_000);
    expect([...seen.values()].reduce((a, b) => a + b, 0)).toBe(result.requests);
    expect([...seen.keys()].sort()).toEqual(['k0', 'k1', 'k2', 'k3']);
    expect(paths).toEqual(new Set(['/v1/thing?x=1']));
    // k3 is refused: counted as it is, so that the bench fails such a run.
    expect(result.non2xx).toBe(seen.get('k3'));
    expect(result.statusCodes['429']).toBe(seen.get('k3'));
    expect(result.statusCodes['200']).toBe(result.requests - (seen.get('k3') ?? 0));
    expect(result.timeouts).toBe(0);
    expect(result.generator?.longestTurnMs).toBeGreaterThan(0);
  });

  it('counts a request from when it was due, so a stalled server delays the requests due meanwhile too', async () => {
    let calls = 0;
    const url = await serve((_req, res) => {
      // The 100th call holds the server's event loop for 300 ms: requests due meanwhile wait.
      if (++calls === 100) {
        const until = Date.now() + 300;
        while (Date.now() < until);
      }
      res.writeHead(200, { 'content-length': '2' });
      res.end('ok');
    });
    const result = await runPacedLoad({ url, connections: 2, rate: 500, durationSec: 1, keys: null });

    expect(result.non2xx).toBe(0);
    // ~150 requests (300 ms at 500 a second) were due during the stall, out of ~500: a closed-loop
    // count, from when each was sent, would have two slow requests (one a connection), not 30 %.
    expect(result.latencyMs?.p90).toBeGreaterThan(50);
    expect(result.latencyMs?.p50).toBeLessThan(result.latencyMs?.p90 ?? 0);
  });

  it('takes a response that comes in several reads, its Content-Length in any case', async () => {
    const big = 'x'.repeat(200_000);
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Length': String(big.length) });
      res.end(big);
    });
    const result = await runPacedLoad({ url, connections: 1, rate: 100, durationSec: 0.5, keys: ['only'] });

    expect(result.requests).toBeGreaterThanOrEqual(48);
    expect(result.non2xx).toBe(0);
    expect(result.timeouts).toBe(0);
  });
});
