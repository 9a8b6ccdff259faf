import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { ReadyMessage, StatsMessage } from './protocol.ts';

/*
 * A server under test in a child process of its own: started with this Node and tsx's loader,
 * optionally pinned to one CPU with taskset, stopped (and, failing that, killed) by the runner.
 */

export interface ServerOptions {
  script: string;
  env?: Record<string, string>;
  /** CPU to pin the child to (taskset -c); null: not pinned. */
  cpu: number | null;
  /**
   * What is pinned to `cpu`: every thread of the process (default), or only its main thread,
   * the one that serves, once it is ready; the threads it started by then (V8's helpers,
   * libuv's pool, the embedded database's) run on any CPU.
   */
  pinScope?: 'process' | 'serving-thread';
  /** Extra Node flags, e.g. --cpu-prof. */
  nodeFlags?: string[];
  /** A command Node runs under, with its arguments (valgrind's, say); not with `cpu`. */
  wrapper?: string[];
  /** How long setup may take before the start is a failure. */
  readyTimeoutMs?: number;
}

export interface RunningServer {
  pid: number;
  ready: ReadyMessage;
  url(path: string): string;
  /**
   * Asks the server for its counters (gateway only); `reset` starts them again from zero;
   * `writeUsage` has a gateway write the usage it holds first.
   */
  stats(reset?: boolean, writeUsage?: boolean): Promise<Record<string, unknown> | null>;
  /** CPU seconds (user + system, all threads) the server has used so far, from /proc; null elsewhere. */
  cpuSeconds(): number | null;
  /** Graceful stop; SIGKILL when it does not exit in time. Resolves when the process is gone. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The plain API keys a gateway server wrote for the load generator (none for the bare route). */
/** `A=1,B=x=y` as `{ A: '1', B: 'x=y' }`: a server's settings given on the command line. */
export function envSettings(list: string): Record<string, string> {
  return Object.fromEntries(
    list
      .split(',')
      .filter(Boolean)
      .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
  );
}

/** A server of a diagnostic's VARIANTS list: `<script>[|A=1,B=x]`, the whole entry as its label. */
export interface ServerVariant {
  label: string;
  script: string;
  env: Record<string, string>;
}

/** `VARIANTS="<script>[|ENV=value,…];…"` as the servers it names. */
export function serverVariants(list: string): ServerVariant[] {
  return list
    .split(';')
    .filter((entry) => entry.trim() !== '')
    .map((label) => {
      const [script, envs] = label.split('|');
      return { label, script: script as string, env: envSettings(envs ?? '') };
    });
}

export function serverKeys(server: RunningServer): string[] {
  return server.ready.keysFile ? readFileSync(server.ready.keysFile, 'utf8').split('\n').filter(Boolean) : [];
}

const CLOCK_TICKS = 100; // USER_HZ: 100 on every Linux the bench runs on (getconf CLK_TCK)

/**
 * A /proc stat file's fields after the command name (which is in parentheses and may hold
 * spaces): index 0 is field 3 (state), 11 and 12 utime and stime, 16 the nice value.
 */
export function procStatFields(file: string): string[] {
  const stat = readFileSync(file, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** utime + stime of a process or thread from its `procStatFields`, in seconds. */
export function cpuSecondsOf(fields: readonly string[]): number {
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** utime + stime of a process (all its threads), in seconds. */
export function procCpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    return cpuSecondsOf(procStatFields(`/proc/${pid}/stat`));
  } catch {
    return null;
  }
}

let tasksetAvailable: boolean | undefined;
export function hasTaskset(): boolean {
  tasksetAvailable ??= spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;
  return tasksetAvailable;
}

/** Pins every thread of this process to `cpu` (best effort). */
export function pinSelf(cpu: number): boolean {
  if (!hasTaskset()) return false;
  return spawnSync('taskset', ['-a', '-c', '-p', String(cpu), String(process.pid)], { stdio: 'ignore' }).status === 0;
}

const live = new Set<ChildProcess>();
/** Last resort for an exception or Ctrl-C in the runner: no server outlives it. */
export function killAllChildren(): void {
  for (const child of live) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const nodeArgs = [...(options.nodeFlags ?? []), '--import', 'tsx', options.script];
  const pinned = options.cpu !== null && hasTaskset();
  const servingOnly = options.pinScope === 'serving-thread';
  if (options.wrapper && pinned) throw new Error('a server run under a wrapper is not pinned');
  const [command, args] = options.wrapper
    ? [options.wrapper[0], [...options.wrapper.slice(1), process.execPath, ...nodeArgs]]
    : pinned && !servingOnly
      ? ['taskset', ['-c', String(options.cpu), process.execPath, ...nodeArgs]]
      : [process.execPath, nodeArgs];
  const child = spawn(command as string, args as string[], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...options.env },
  });
  live.add(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });

  const ready = await new Promise<ReadyMessage>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${options.script} was not ready within ${options.readyTimeoutMs ?? 120_000} ms`));
    }, options.readyTimeoutMs ?? 120_000);
    const onMessage = (message: ReadyMessage | StatsMessage) => {
      if (message.type !== 'ready') return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(message);
    };
    child.on('message', onMessage);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${options.script} exited before it was ready (code ${code}, signal ${signal})`));
    });
  });
  // Without -a, taskset sets the affinity of the one thread whose id is the pid: the main thread.
  if (pinned && servingOnly && spawnSync('taskset', ['-c', '-p', String(options.cpu), String(child.pid)], { stdio: 'ignore' }).status !== 0) {
    child.kill('SIGKILL');
    throw new Error(`could not pin ${options.script}'s serving thread to CPU ${options.cpu}`);
  }

  return {
    // taskset exec()s node, valgrind runs it in its own process: child.pid is node's either way.
    pid: child.pid ?? -1,
    ready,
    url: (path) => `http://127.0.0.1:${ready.port}${path}`,
    cpuSeconds: () => procCpuSeconds(child.pid),
    stats: (reset = false, writeUsage = false) =>
      new Promise((resolve) => {
        if (!child.connected) return resolve(null);
        const timer = setTimeout(() => {
          child.off('message', onMessage);
          resolve(null);
        }, 30_000);
        const onMessage = (message: ReadyMessage | StatsMessage) => {
          if (message.type !== 'stats') return;
          clearTimeout(timer);
          child.off('message', onMessage);
          resolve(message.stats);
        };
        child.on('message', onMessage);
        child.send({ type: 'stats', reset, writeUsage });
      }),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        if (child.connected) child.send({ type: 'stop' });
        else child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        const result = await exited;
        clearTimeout(timer);
        return result;
      }
      return exited;
    },
  };
}
