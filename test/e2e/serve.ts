import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { expect } from 'vitest';
import { freePort } from '@tollgate/store/testing';

const ROOT = path.resolve(import.meta.dirname, '../..');

/**
 * `tollgate serve` in a process of its own on a free port, with `env` on top of this process's
 * (without background jobs, logging warnings only); resolves once `/ready` answers 200, and
 * fails with the process's output if it exits first. The caller stops the child.
 */
export async function startServe(env: Record<string, string>): Promise<{ base: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['bin/tollgate.js', 'serve'], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', WORKERS: 'false', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const base = `http://127.0.0.1:${port}`;
  try {
    await expect
      .poll(async () => {
        if (child.exitCode !== null) throw new Error(`instance exited with ${child.exitCode}:\n${output}`);
        return fetch(`${base}/ready`).then((r) => r.status, () => 0);
      }, { timeout: 60_000, interval: 250 })
      .toBe(200);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return { base, child };
}
