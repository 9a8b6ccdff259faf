import { readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cpuSecondsOf, envSettings, hasTaskset, killAllChildren, pinSelf, procStatFields, serverKeys, startServer } from './child.ts';
import { assertClean, callEachKeyOnce, type LoadResult, runLoad } from './load.ts';
import { runPacedLoad } from './paced-load.ts';
import { BENCH_PATH } from './protocol.ts';

/*
 * Diagnostic: a server's CPU a call by thread, and how often each thread gave up its core
 * (voluntary: it waited; preempted: another thread took the core), from /proc over one run,
 * saturated or evenly paced at RATE. The serving thread is the process's first; the embedded
 * database's is the one 10 nice levels below it (pglite-thread-worker.mjs); the rest are V8's
 * helpers (compilers, garbage collection) and libuv's pool. What it showed first (2026-12-08,
 * docs/benchmarks.md): paced, the database's thread at idle priority is preempted at thousands of
 * calls a second, and the usage write then costs each call ~10 µs of CPU in all, not ~1.5.
 *
 *   npx tsx bench/lib/thread-costs.ts                      (gateway, 1 key, saturated, SEC=8)
 *   RATE=20000 npx tsx bench/lib/thread-costs.ts           (evenly paced)
 *   SCRIPT=bench/bare-server.ts RATE=20000 npx tsx bench/lib/thread-costs.ts
 *   SERVER_ENV=BENCH_USAGE_FLUSH_INTERVAL_MS=60000 KEYS=1000 PIN_SCOPE=serving-thread …
 */

const script = process.env.SCRIPT ?? 'bench/gateway-server.ts';
const keyCount = Number(process.env.KEYS ?? 1);
const rate = process.env.RATE ? Number(process.env.RATE) : null;
const seconds = Number(process.env.SEC ?? 8);
const pinScope = process.env.PIN_SCOPE === 'serving-thread' ? 'serving-thread' : 'process';
if (!hasTaskset()) throw new Error('taskset is needed: the server is measured on a core of its own');

interface ThreadSample {
  cpuMs: number;
  nice: number;
  voluntary: number;
  preempted: number;
}

/** Every thread of a process now: CPU so far, nice value, context switches (Linux /proc). */
function threads(pid: number): Map<number, ThreadSample> {
  const out = new Map<number, ThreadSample>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const fields = procStatFields(`/proc/${pid}/task/${tid}/stat`);
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      out.set(Number(tid), {
        cpuMs: cpuSecondsOf(fields) * 1000,
        nice: Number(fields[16]),
        voluntary: Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1]),
        preempted: Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1]),
      });
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

pinSelf(0);
const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-threads-'));
try {
  const gateway = script.includes('gateway');
  const server = await startServer({
    script,
    cpu: 1,
    pinScope,
    env: { BENCH_DATA_DIR: dir, BENCH_KEYS: String(keyCount), ...envSettings(process.env.SERVER_ENV ?? '') },
    readyTimeoutMs: 300_000,
  });
  const keys = gateway ? serverKeys(server) : null;
  const url = server.url(BENCH_PATH);
  if (keys && keys.length > 1) {
    await callEachKeyOnce(url, keys);
  }
  const drive = (durationSec: number): Promise<LoadResult> =>
    rate === null ? runLoad({ url, connections: 64, pipelining: 1, durationSec, keys, timeLatencies: false }) : runPacedLoad({ url, connections: 64, rate, durationSec, keys });
  assertClean('warm-up', await drive(3));
  const before = threads(server.pid);
  const result = await drive(seconds);
  const after = threads(server.pid);
  assertClean('run', result);
  const serving = before.get(server.pid);
  console.log(
    `${script}, ${keyCount} key${keyCount > 1 ? 's' : ''}, ${rate === null ? 'saturated' : `evenly paced at ${rate} req/s`}: ` +
      `${Math.round(result.rps)} req/s${result.latencyMs ? `, p99 ${result.latencyMs.p99.toFixed(2)} ms` : ''}\n`,
  );
  console.log('| thread | CPU µs a call | waited (a second) | preempted (a second) |\n|---|---:|---:|---:|');
  let total = 0;
  for (const [tid, end] of after) {
    const start = before.get(tid);
    if (!start) continue;
    const cpuUs = ((end.cpuMs - start.cpuMs) * 1000) / result.requests;
    total += cpuUs;
    // Threads that did nothing in the run (libuv's pool, mostly) are left out.
    if (cpuUs === 0 && end.voluntary - start.voluntary < seconds) continue;
    const role = tid === server.pid ? 'serving' : serving && end.nice > serving.nice ? "embedded database's" : 'helper (V8, libuv)';
    console.log(`| ${tid} ${role} | ${cpuUs.toFixed(2)} | ${Math.round((end.voluntary - start.voluntary) / seconds)} | ${Math.round((end.preempted - start.preempted) / seconds)} |`);
  }
  console.log(`| all | ${total.toFixed(2)} | | |`);
  await server.stop();
} finally {
  killAllChildren();
  rmSync(dir, { recursive: true, force: true });
}
