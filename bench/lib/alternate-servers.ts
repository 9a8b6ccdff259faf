import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hasTaskset, killAllChildren, pinSelf, serverKeys, serverVariants, startServer, type RunningServer, type ServerVariant } from './child.ts';
import { assertClean, callEachKeyOnce, runLoad } from './load.ts';
import { runPacedLoad } from './paced-load.ts';
import { BENCH_PATH, IN_APP_BARE_PREFIX } from './protocol.ts';

/*
 * Diagnostic: servers of the bench measured in alternation, to tell what part of the gateway
 * costs what on a machine whose speed drifts within minutes. All servers are up at once (pinned
 * to CPU 1, the load generator to CPU 0, as in the bench); each round measures each of them
 * saturated (1 s warm-up, then SEC s), in turn, the order reversed every other round. Prints each
 * run's req/s and server CPU a call, and each server's median ratio to the first.
 *
 *   VARIANTS="<script>[|ENV=value,…];…" ROUNDS=8 SEC=4 npx tsx bench/lib/alternate-servers.ts
 *
 * e.g. the bare route, the gateway, the gateway whose usage flush is deferred past the run:
 *   VARIANTS="bench/bare-server.ts;bench/gateway-server.ts;bench/gateway-server.ts|BENCH_USAGE_FLUSH_INTERVAL_MS=60000"
 * NODE_FLAGS="--flag …" starts a variant's server with those Node flags.
 * ROUTE=bare sends a variant's load to the bare route that a gateway server started with
 * BENCH_BARE_ROUTE=1 also serves (at /api/bench-bare/…). Variants whose script and settings are the same
 * but for ROUTE share one server process, so that the gateway and the bare route can be compared
 * within one process (same memory, same JIT), which is much steadier than across processes:
 *   VARIANTS="bench/gateway-server.ts|BENCH_BARE_ROUTE=1,ROUTE=bare;bench/gateway-server.ts|BENCH_BARE_ROUTE=1"
 * CONNECTIONS (64) and PIPELINING (1) shape the load: with PIPELINING=10 the load generator
 * sleeps less, and the server pays fewer of the wake-ups that this VM charges to its writes.
 * BENCH_KEYS=<n> in a variant's settings gives its server n keys, each called once before the
 * rounds (the cold pass), and its load cycles through them as the bench's does.
 * RATE=<req/s> drives every server at that fixed rate instead (as the bench's same-load runs),
 * times each response, and prints each run's p50 and p99 and each server's median p99 against
 * the first's. With PACED=1 that rate is evenly paced (`paced-load.ts`) instead of autocannon's
 * bursts at the start of each second.
 * PIN_SCOPE=serving-thread pins only each server's main thread to CPU 1 (`ServerOptions.pinScope`).
 * SETTLE=<s> waits that long after the last round, then prints each server's CPU a call over the
 * whole session: all its runs, warm-ups included, and its background work wherever it fell. With
 * many keys the writer holds usage rows up to a minute (counters up to five), so a server's rows are
 * often written while another server is measured, and the rounds' figures mix the servers' costs.
 * A gateway writes the rows it still holds at the end before its CPU is read: they count too.
 */

const variants = serverVariants(process.env.VARIANTS ?? '');
if (variants.length === 0) throw new Error('VARIANTS lists no server; see the comment at the top of this file');
const rounds = Number(process.env.ROUNDS ?? 8);
const seconds = Number(process.env.SEC ?? 4);
const rate = process.env.RATE ? Number(process.env.RATE) : undefined;
const paced = process.env.PACED === '1';
const pinScope = process.env.PIN_SCOPE === 'serving-thread' ? 'serving-thread' : 'process';

const pin = hasTaskset();
if (pin) pinSelf(0);
const dirs: string[] = [];
const servers: { variant: ServerVariant; server: RunningServer; keys: string[]; path: string }[] = [];
try {
  const started = new Map<string, { server: RunningServer; keys: string[] }>();
  for (const variant of variants) {
    const { ROUTE: route, NODE_FLAGS: nodeFlags, ...env } = variant.env;
    const id = JSON.stringify([variant.script, env, nodeFlags]);
    let running = started.get(id);
    if (!running) {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-alternate-'));
      dirs.push(dir);
      const server = await startServer({ script: variant.script, cpu: pin ? 1 : null, pinScope, env: { BENCH_DATA_DIR: dir, BENCH_KEYS: '1', ...env }, nodeFlags: nodeFlags?.split(' ').filter(Boolean) ?? [], readyTimeoutMs: 300_000 });
      running = { server, keys: serverKeys(server) };
      started.set(id, running);
      // Each key called once before anything is measured, as in the bench: a key's first call
      // loads it from the store, which is not what the rounds measure.
      if (running.keys.length > 1 && route !== 'bare') {
        await callEachKeyOnce(server.url(BENCH_PATH), running.keys, `${variant.label} cold pass`);
      }
    }
    servers.push({ variant, ...running, path: route === 'bare' ? `${IN_APP_BARE_PREFIX}${BENCH_PATH}` : BENCH_PATH });
  }
  const run = async (s: (typeof servers)[number], durationSec: number) => {
    const cpu0 = s.server.cpuSeconds();
    const connections = Number(process.env.CONNECTIONS ?? 64);
    const result =
      rate !== undefined && paced
        ? await runPacedLoad({ url: s.server.url(s.path), connections, rate, durationSec, keys: s.keys })
        : await runLoad({ url: s.server.url(s.path), connections, pipelining: Number(process.env.PIPELINING ?? 1), durationSec, keys: s.keys, timeLatencies: rate !== undefined, ...(rate !== undefined ? { rate } : {}) });
    assertClean(s.variant.label, result);
    const cpu = (s.server.cpuSeconds() ?? 0) - (cpu0 ?? 0);
    return { rps: result.rps, requests: result.requests, cpuUsPerCall: (cpu * 1e6) / result.requests, latency: result.latencyMs, generator: result.generator };
  };
  const session = new Map(servers.map((s) => [s.server, { cpu0: s.server.cpuSeconds() ?? 0, calls: 0 }]));
  const counted = async (s: (typeof servers)[number], durationSec: number) => {
    const result = await run(s, durationSec);
    (session.get(s.server) as { calls: number }).calls += result.requests;
    return result;
  };
  for (const s of servers) await counted(s, 3);
  const ratios: number[][] = servers.map(() => []);
  const p99Differences: number[][] = servers.map(() => []);
  for (let round = 1; round <= rounds; round++) {
    const order = servers.map((_, i) => i);
    if (round % 2 === 0) order.reverse();
    const results: Awaited<ReturnType<typeof run>>[] = [];
    for (const i of order) {
      const s = servers[i] as (typeof servers)[number];
      await counted(s, 1);
      results[i] = await counted(s, seconds);
    }
    const first = results[0] as (typeof results)[number];
    results.forEach((r, i) => {
      ratios[i]?.push(r.rps / first.rps);
      if (r.latency && first.latency) p99Differences[i]?.push(r.latency.p99 - first.latency.p99);
    });
    const latency = (r: (typeof results)[number]) =>
      (r.latency ? `, p50 ${r.latency.p50.toFixed(2)} ms, p99 ${r.latency.p99.toFixed(2)} ms` : '') +
      (r.generator ? ` (load generator's longest turn ${r.generator.longestTurnMs.toFixed(1)} ms)` : '');
    console.log(`round ${round}: ${results.map((r, i) => `${variants[i]?.label}: ${Math.round(r.rps)} req/s, ${r.cpuUsPerCall.toFixed(1)} µs a call${latency(r)}`).join(' | ')}`);
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)] as number;
  variants.forEach((v, i) =>
    console.log(rate === undefined ? `${v.label}: median ${(median(ratios[i] as number[]) * 100).toFixed(1)} % of the first` : `${v.label}: median p99 ${median(p99Differences[i] as number[]) >= 0 ? '+' : ''}${median(p99Differences[i] as number[]).toFixed(2)} ms against the first's`),
  );
  if (process.env.SETTLE) {
    await new Promise((resolve) => setTimeout(resolve, Number(process.env.SETTLE) * 1000));
    for (const [server, { cpu0, calls }] of session) {
      await server.stats(false, true); // a gateway writes the usage it still holds: its cost counts too
      const label = servers.filter((s) => s.server === server).map((s) => s.variant.label).join(' + ');
      console.log(`${label}: ${((((server.cpuSeconds() ?? 0) - cpu0) * 1e6) / calls).toFixed(1)} CPU µs a call over the whole session (${calls} calls)`);
    }
  }
} finally {
  for (const s of new Set(servers.map((x) => x.server))) await s.stop();
  killAllChildren();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}
