import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { envSettings, hasTaskset, killAllChildren, pinSelf, serverKeys, startServer } from './child.ts';
import { assertClean, callEachKeyOnce, type LoadResult, runLoad } from './load.ts';
import { runPacedLoad } from './paced-load.ts';
import { BENCH_PATH, IN_APP_BARE_PREFIX } from './protocol.ts';

/*
 * Diagnostic: where a call's CPU goes, gateway against the bare route, in one server process,
 * sampled by Linux `perf` (cpu-clock, kernel included). V8's own profiler roughly doubled each
 * call's cost on this machine and sees neither the kernel nor the wasm of PGlite by name; perf's
 * sampling costs the server a few per cent, and `--perf-basic-prof` names the JIT's functions.
 *
 * One gateway server (BENCH_BARE_ROUTE=1, so it also serves the bare route) pinned to CPU 1;
 * for each round, each route is driven saturated for SEC s (after 2 s of warm-up), and perf
 * samples CPU 1 for the middle SEC−2 s. A part's µs a call = its share of the samples × the
 * server's CPU µs a call over the run (from /proc). Prints, for both routes and their
 * difference: CPU by kind (kernel, garbage collection, inline-cache misses, wasm, the rest),
 * and the inclusive time of the functions that make a gateway call.
 *
 *   npx tsx bench/lib/perf-routes.ts                  (ROUNDS=2 SEC=6 KEYS=1)
 *   KEYS=20000 npx tsx bench/lib/perf-routes.ts       (each connection cycles through its share of
 *   the keys, as in the bench, after a cold pass that calls each key once)
 *   SERVER_ENV=BENCH_USAGE_FLUSH_INTERVAL_MS=60000 npx tsx bench/lib/perf-routes.ts
 *   PERF_DATA=/tmp/perf npx tsx bench/lib/perf-routes.ts   (keeps each run's perf.data there, for
 *   `perf report -i /tmp/perf/gateway-1.data`)
 *   RATE=20000 npx tsx bench/lib/perf-routes.ts   (each route evenly paced at that rate instead of
 *   saturated: where a call's CPU goes when calls come one by one, as in the p99 aim's runs)
 *
 * Needs `perf` (Debian: linux-perf) and permission to sample a CPU (root, or
 * kernel.perf_event_paranoid ≤ 0).
 */

const rounds = Number(process.env.ROUNDS ?? 2);
const seconds = Number(process.env.SEC ?? 6);
const keyCount = Number(process.env.KEYS ?? 1);
const rate = process.env.RATE ? Number(process.env.RATE) : null;
if (seconds < 4) throw new Error('SEC must be at least 4 (perf samples the middle SEC−2 s)');
const serverEnv = envSettings(process.env.SERVER_ENV ?? '');
if (spawnSync('perf', ['--version'], { stdio: 'ignore' }).status !== 0) throw new Error('perf is not installed (Debian: apt-get install linux-perf)');
if (!hasTaskset()) throw new Error('taskset is needed: perf samples the server by its CPU');

/** Self time by kind of code; the first pattern that matches a symbol wins. */
const KINDS: [string, RegExp][] = [
  ['kernel', /^\[k\]/],
  ['garbage collection', /Scaveng|Heap::|MarkCompact|ConcurrentMarking|Sweeper|MemoryAllocator|MemoryChunk|GCTracer|Marking|Evacuat/],
  ['inline-cache misses', /Builtins_\w*IC/],
  ['wasm (PGlite)', /wasm/],
  ['everything else', /./],
];

/** Inclusive time of the parts of a call; a symbol counts for the first pattern it matches. */
const PARTS: [string, RegExp][] = [
  ['HTTP parser callback (the whole request)', /JS:\*?parserOnHeadersComplete node:_http_common/],
  ['gateway handler', /JS:\*?gateway .*gateway\/pipeline\.ts/],
  ['bare route handler', /JS:\*?.*bench\/lib\/bare-route\.ts/],
  ['Reply.send (headers, socket write)', /JS:\*?(Reply\.send .*fastify\/lib\/reply\.js|send .*gateway\/direct-calls\.ts)/],
  ['system calls', /^\[k\] (do_syscall_64|entry_SYSCALL_64_after_hwframe)$/],
  ['demo upstream', /JS:\*?handleDemoRequest /],
  ['usage record (pipeline)', /JS:\*?record .*gateway\/pipeline\.ts/],
  ['usage flush', /JS:\W?drain .*usage-writer\.ts/],
  ['call log blocks (encode)', /JS:\*?encodeBlocks? /],
  ['key cache', /JS:\*?get .*lru-cache/],
  ['sha256', /node::crypto::Hash::OneShotDigest/],
  ['route table', /JS:\*?match .*gateway\/route-table\.ts/],
  ['admission', /JS:\*?admit .*admission-store\.ts/],
  ['key format and checksum', /JS:\*?parseApiKey /],
];

interface Profile {
  usPerCall: number;
  kinds: Map<string, number>;
  parts: Map<string, number>;
}

/**
 * Each symbol's share of the server's samples (perf samples the whole CPU: an idle core's samples,
 * many in a paced run, are left out, so that shares times the server's CPU a call give µs).
 */
function perfReport(file: string, pid: number, children: boolean): { percent: number; symbol: string }[] {
  const out = spawnSync('perf', ['report', '-i', file, '--pid', String(pid), '--percentage', 'relative', children ? '--children' : '--no-children', '-g', 'none', '--sort', 'sym', '--stdio'], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  }).stdout;
  const rows: { percent: number; symbol: string }[] = [];
  for (const line of out.split('\n')) {
    const match = children ? /^\s+([\d.]+)%\s+[\d.]+%\s+(\[.\] .*)$/.exec(line) : /^\s+([\d.]+)%\s+(\[.\] .*)$/.exec(line);
    if (match) rows.push({ percent: Number(match[1]), symbol: (match[2] as string).trim() });
  }
  return rows;
}

function analyse(file: string, pid: number, usPerCall: number): Profile {
  const kinds = new Map<string, number>();
  for (const { percent, symbol } of perfReport(file, pid, false)) {
    const kind = KINDS.find(([, pattern]) => pattern.test(symbol))?.[0] as string;
    kinds.set(kind, (kinds.get(kind) ?? 0) + (percent / 100) * usPerCall);
  }
  const parts = new Map<string, number>();
  for (const { percent, symbol } of perfReport(file, pid, true)) {
    const part = PARTS.find(([, pattern]) => pattern.test(symbol))?.[0];
    // A part's first (largest) match: the same function can appear under several JIT tiers.
    if (part !== undefined && !parts.has(part)) parts.set(part, (percent / 100) * usPerCall);
  }
  return { usPerCall, kinds, parts };
}

function sampleCpu1(file: string, forSeconds: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const perf = spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', '4999', '-C', '1', '-g', '-o', file, '--', 'sleep', String(forSeconds)], { stdio: 'ignore' });
    perf.on('error', reject);
    perf.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`perf record exited with ${code}`))));
  });
}

pinSelf(0);
if (process.env.PERF_DATA) mkdirSync(process.env.PERF_DATA, { recursive: true });
const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-perf-'));
const server = await startServer({
  script: 'bench/gateway-server.ts',
  cpu: 1,
  env: { BENCH_DATA_DIR: dir, BENCH_KEYS: String(keyCount), BENCH_BARE_ROUTE: '1', NODE_OPTIONS: '--perf-basic-prof', ...serverEnv },
  readyTimeoutMs: 300_000,
});
const keys = serverKeys(server);
const routes = { bare: `${IN_APP_BARE_PREFIX}${BENCH_PATH}`, gateway: BENCH_PATH } as const;
const profiles: Record<keyof typeof routes, Profile[]> = { bare: [], gateway: [] };
try {
  if (keyCount > 1) {
    console.log(`cold pass: calling each of the ${keyCount} keys once`);
    await callEachKeyOnce(server.url(routes.gateway), keys);
  }
  for (let round = 1; round <= rounds; round++) {
    const order: (keyof typeof routes)[] = round % 2 === 1 ? ['bare', 'gateway'] : ['gateway', 'bare'];
    for (const route of order) {
      const url = server.url(routes[route]);
      const drive = (durationSec: number): Promise<LoadResult> =>
        rate === null
          ? runLoad({ url, connections: 64, pipelining: 1, durationSec, keys, timeLatencies: false })
          : runPacedLoad({ url, connections: 64, rate, durationSec, keys });
      await drive(2);
      const file = path.join(process.env.PERF_DATA ?? dir, `${route}-${round}.data`);
      const cpu0 = server.cpuSeconds() ?? 0;
      const sampled = new Promise<void>((resolve, reject) => setTimeout(() => sampleCpu1(file, seconds - 2).then(resolve, reject), 1000));
      const result = await drive(seconds);
      await sampled;
      assertClean(route, result);
      const usPerCall = (((server.cpuSeconds() ?? 0) - cpu0) * 1e6) / result.requests;
      profiles[route].push(analyse(file, server.pid, usPerCall));
      console.log(`round ${round}, ${route}: ${Math.round(result.rps)} req/s, ${usPerCall.toFixed(1)} CPU µs a call`);
    }
  }
} finally {
  await server.stop();
  killAllChildren();
  rmSync(dir, { recursive: true, force: true });
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const row = (label: string, pick: (p: Profile) => number) => {
  const bare = mean(profiles.bare.map(pick));
  const gateway = mean(profiles.gateway.map(pick));
  return `| ${label} | ${bare.toFixed(2)} | ${gateway.toFixed(2)} | ${(gateway - bare >= 0 ? '+' : '') + (gateway - bare).toFixed(2)} |`;
};
console.log(`\nCPU µs a call, mean of ${rounds} rounds${rate === null ? ', saturated' : `, evenly paced at ${rate} req/s`} (perf cpu-clock samples × the server's CPU a call)\n`);
console.log('| part | bare route | gateway | difference |\n|---|---:|---:|---:|');
console.log(row('**all**', (p) => p.usPerCall));
for (const [kind] of KINDS) console.log(row(`self: ${kind}`, (p) => p.kinds.get(kind) ?? 0));
for (const [part] of PARTS) console.log(row(`incl.: ${part}`, (p) => p.parts.get(part) ?? 0));
