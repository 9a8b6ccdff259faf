import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { envSettings, hasTaskset, killAllChildren, pinSelf, serverKeys, startServer } from './child.ts';
import { assertClean, callEachKeyOnce, runLoad } from './load.ts';
import { runPacedLoad } from './paced-load.ts';
import { BENCH_PATH } from './protocol.ts';

/*
 * Diagnostic: one gateway server (pinned to CPU 1 as the bench pins it) driven at an evenly paced
 * RATE for SEC seconds, long enough to span minute ends, printing the p99 of each second (of the
 * requests due in it) and the server's counters after. Where in a run the slow calls were: at
 * 100,000 keys the minute's rollup write shows as a second or two of p99 in the hundreds of ms.
 *
 *   KEYS=100000 RATE=6000 SEC=75 npx tsx bench/lib/paced-timeline.ts
 *   SERVER_ENV=BENCH_USAGE_FLUSH_INTERVAL_MS=60000 NODE_FLAGS="--trace-gc" …   (the server's settings and Node flags)
 *   SATURATE=30 …   (the server saturated that many seconds first, as the bench's rounds saturate it
 *   before its paced runs)
 */

const keyCount = Number(process.env.KEYS ?? 100_000);
const rate = Number(process.env.RATE ?? 6_000);
const seconds = Number(process.env.SEC ?? 75);
const pin = hasTaskset();
if (pin) pinSelf(0);
const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-timeline-'));
try {
  const server = await startServer({
    script: 'bench/gateway-server.ts',
    cpu: pin ? 1 : null,
    env: { BENCH_DATA_DIR: dir, BENCH_KEYS: String(keyCount), ...envSettings(process.env.SERVER_ENV ?? '') },
    nodeFlags: (process.env.NODE_FLAGS ?? '').split(' ').filter(Boolean),
    readyTimeoutMs: 300_000,
  });
  const keys = serverKeys(server);
  await callEachKeyOnce(server.url(BENCH_PATH), keys);
  const saturate = Number(process.env.SATURATE ?? 0);
  if (saturate > 0) assertClean('saturated run', await runLoad({ url: server.url(BENCH_PATH), connections: 64, pipelining: 1, durationSec: saturate, keys, timeLatencies: false }));
  const cpu0 = server.cpuSeconds() ?? 0;
  const startedAt = new Date();
  const result = await runPacedLoad({ url: server.url(BENCH_PATH), connections: 64, rate, durationSec: seconds, keys, bySecond: true });
  assertClean('paced run', result);
  const cpuUs = (((server.cpuSeconds() ?? 0) - cpu0) * 1e6) / result.requests;
  console.log(
    `from ${startedAt.toISOString()}: ${Math.round(result.rps)} req/s, p50 ${result.latencyMs?.p50.toFixed(2)} ms, p99 ${result.latencyMs?.p99.toFixed(2)} ms, ` +
      `${cpuUs.toFixed(1)} CPU µs a call; load generator's longest turn ${result.generator?.longestTurnMs.toFixed(1)} ms`,
  );
  console.log('p99 of each second (ms), by the second of the minute:');
  console.log((result.p99BySecond ?? []).map((p99, i) => `:${String((startedAt.getUTCSeconds() + i) % 60).padStart(2, '0')} ${p99.toFixed(1)}`).join('  '));
  console.log('server:', JSON.stringify(await server.stats()));
  await server.stop();
} finally {
  killAllChildren();
  rmSync(dir, { recursive: true, force: true });
}
