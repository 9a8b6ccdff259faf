import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { killAllChildren, serverKeys, serverVariants, startServer } from './child.ts';
import { assertClean, runLoad } from './load.ts';
import { BENCH_PATH } from './protocol.ts';

/*
 * Diagnostic: the instructions a call costs each server of the bench, counted by valgrind's
 * callgrind. Time is no measure of a change of a few per cent on these machines (the bare route's
 * speed moves by 2× within minutes, a session's median by ±5 %) and their VMs have no hardware
 * counters; callgrind counts instructions the same way whatever else the machine does.
 *
 * Each server in turn runs under callgrind (unpinned, with instrumentation off until measured),
 * gets CALLS calls to warm up, then ROUNDS rounds of CALLS calls (8 connections), each counted
 * alone; prints each round's instructions a call on the main thread (the serving one) and on all
 * threads (V8's compiler and collector, libuv, the embedded database).
 *
 *   VARIANTS="bench/bare-server.ts;bench/gateway-server.ts|BENCH_USAGE_FLUSH_INTERVAL_MS=60000" \
 *     npx tsx bench/lib/instructions-per-call.ts          (ROUNDS=5 CALLS=2000)
 *
 * Under callgrind a call takes ~100 times as long, so whatever runs by the clock (the usage
 * flush every second, timers) weighs ~100 times as much a call as at full speed: defer the flush
 * past the rounds as above, and read the main thread's count; it leaves out the usage write, and
 * the first rounds include V8 still compiling (2026-12-07: the bare route settled at ~95,000
 * instructions a call within 1 % from the third round, the gateway's main thread 127,000–135,000).
 * A gateway takes about a minute to start under callgrind. Needs valgrind (Debian: valgrind).
 * With KEEP=<folder>, each server's dumps are kept there (`<label>/callgrind.out.<round>-<thread>`),
 * to read by function with `callgrind_annotate` (V8's builtins and Node's C++ are named; code V8
 * compiled at run time is not).
 */

const rounds = Number(process.env.ROUNDS ?? 5);
const calls = Number(process.env.CALLS ?? 2_000);
const keep = process.env.KEEP;
const variants = serverVariants(process.env.VARIANTS ?? 'bench/bare-server.ts;bench/gateway-server.ts|BENCH_USAGE_FLUSH_INTERVAL_MS=60000');
if (spawnSync('valgrind', ['--version'], { stdio: 'ignore' }).status !== 0) throw new Error('valgrind is not installed (Debian: apt-get install valgrind)');

function control(pid: number, ...args: string[]): void {
  const result = spawnSync('callgrind_control', [...args, String(pid)], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`callgrind_control ${args.join(' ')} failed: ${result.stderr}`);
}

/** The instructions (Ir) of each thread in a dump: `<out>.<dump>-<thread>` files, thread 01 the main one. */
function dumpTotals(dir: string, dump: number): { main: number; all: number } {
  const files = readdirSync(dir).filter((f) => f.startsWith(`callgrind.out.${dump}-`));
  if (files.length === 0) throw new Error(`callgrind wrote no dump ${dump} in ${dir}`);
  let main = 0;
  let all = 0;
  for (const file of files) {
    const totals = /^totals: (\d+)/m.exec(readFileSync(path.join(dir, file), 'utf8'));
    const count = Number(totals?.[1] ?? 0);
    all += count;
    if (file.endsWith('-01')) main = count;
  }
  return { main, all };
}

try {
  for (const variant of variants) {
    const dir = keep ? path.resolve(keep, variant.label.replace(/[^\w.-]+/g, '_')) : mkdtempSync(path.join(os.tmpdir(), 'tollgate-callgrind-'));
    if (keep) mkdirSync(dir, { recursive: true });
    try {
      const server = await startServer({
        script: variant.script,
        cpu: null,
        env: { BENCH_DATA_DIR: dir, BENCH_KEYS: '1', ...variant.env },
        wrapper: ['valgrind', '--tool=callgrind', '--instr-atstart=no', '--separate-threads=yes', `--callgrind-out-file=${path.join(dir, 'callgrind.out')}`],
        readyTimeoutMs: 600_000,
      });
      try {
        const keys = serverKeys(server);
        const load = () => runLoad({ url: server.url(BENCH_PATH), connections: 8, pipelining: 1, amount: calls, keys, timeLatencies: false });
        assertClean(`${variant.label} warm-up`, await load());
        const mains: number[] = [];
        for (let round = 1; round <= rounds; round++) {
          control(server.pid, '--zero');
          control(server.pid, '--instr=on');
          const result = await load();
          control(server.pid, '--instr=off');
          control(server.pid, '--dump');
          assertClean(variant.label, result);
          const { main, all } = dumpTotals(dir, round);
          mains.push(main / result.requests);
          console.log(`${variant.label}, round ${round}: ${Math.round(main / result.requests)} instructions a call on the main thread, ${Math.round(all / result.requests)} on all threads`);
        }
        const settled = mains.slice(Math.min(2, mains.length - 1)).sort((a, b) => a - b);
        console.log(`${variant.label}: median ${Math.round(settled[Math.floor((settled.length - 1) / 2)] as number)} instructions a call on the main thread (rounds 3 on)`);
      } finally {
        await server.stop();
      }
    } finally {
      if (!keep) rmSync(dir, { recursive: true, force: true });
    }
  }
} finally {
  killAllChildren();
}
