import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

/* Tests of threads' scheduling (background-priority.ts): what Linux tells of a thread, and threads to watch. */

/** Whether a test can set a thread's scheduling policy here: Linux's /proc and util-linux's `chrt`. */
export const canSetThreadPolicy = existsSync('/proc/thread-self') && spawnSync('chrt', ['--version']).status === 0;

/** The kernel's policy of a thread of this process (/proc's stat, field 41): 5 SCHED_IDLE, 0 SCHED_OTHER. */
export function threadPolicy(tid: number | string): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]);
}

/** A worker thread that tells its id in the kernel, then runs `body` (a CommonJS script, which sees `workerData`). */
export async function workerWithThreadId(body: string, workerData?: unknown): Promise<{ worker: Worker; tid: number }> {
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     parentPort.postMessage(Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop()));
     ${body}`,
    { eval: true, workerData },
  );
  const tid = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return { worker, tid };
}
