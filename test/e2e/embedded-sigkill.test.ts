import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe } from './serve.ts';

/*
 * The embedded database, a process killed with SIGKILL while its usage writer held the minute
 * rollups and the keys' counters of calls already in the call log (more rows than it writes at
 * once): the next process on the same folder folds them from the log before it serves, so the
 * key's daily count and the analytics go on from where the killed one left them.
 */

const PRICE = '/v1/tokens/V6FjH7P33dh7tVHHLHczC4hyG2NUA2YatLmXiDrKRgV7/price';
/**
 * Keys enough that their rollups and counters (two rows a key) pass the 1,000 rows the writer
 * writes at once, even if a timed flush (every 10 s in the first process) splits their calls in two.
 */
const KEYS = 1_100;

interface Usage {
  pending: number;
  rollupsHeld: number;
}

describe('embedded database: a process killed with SIGKILL', () => {
  let dataDir: string;
  const children: ChildProcess[] = [];

  beforeAll(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-e2e-kill-'));
  });
  afterAll(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function instance(flushIntervalMs: number): Promise<{ base: string; child: ChildProcess }> {
    const started = await startServe({ DATA_DIR: dataDir, DATABASE_URL: '', REDIS_URL: '', USAGE_FLUSH_INTERVAL_MS: String(flushIntervalMs) });
    children.push(started.child);
    return started;
  }

  const usageOf = async (base: string) => ((await (await fetch(`${base}/health`)).json()) as { usage: Usage }).usage;

  it('the next process folds what the killed one held, and the counts go on', async () => {
    const first = await instance(10_000);
    const post = (url: string, body: object, token?: string) =>
      fetch(`${first.base}${url}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
    const { token } = (await (await post('/api/v1/auth/signup', { email: `kill-${Date.now()}@example.test`, password: 'correct-horse-battery' })).json()) as { token: string };
    const keys: string[] = [];
    for (let i = 0; i < KEYS; i += 50) {
      const made = await Promise.all(Array.from({ length: Math.min(50, KEYS - i) }, (_, n) => post('/api/v1/api-marketplace/keys', { planId: 'cm-free', label: `k${i + n}` }, token).then((r) => r.json() as Promise<{ key: string }>)));
      keys.push(...made.map((m) => m.key));
    }

    // Each key once (64 at a time, so that few timed flushes fall among them), the first seven times: all admitted.
    const call = async (base: string, key: string) => {
      const res = await fetch(`${base}${PRICE}`, { headers: { 'x-api-key': key } });
      expect(res.status).toBe(200);
      return res.headers.get('x-daily-remaining');
    };
    // All in one minute: the writer writes the rows it holds as their minute ends (before the
    // first batch of the next), and the first process flushes every 10 s.
    const leftOfMinute = 60_000 - (Date.now() % 60_000);
    if (leftOfMinute < 30_000) await new Promise((resolve) => setTimeout(resolve, leftOfMinute + 100));
    for (let i = 0; i < KEYS; i += 64) await Promise.all(keys.slice(i, i + 64).map((key) => call(first.base, key)));
    let remaining: string | null = null;
    for (let i = 1; i < 7; i++) remaining = await call(first.base, keys[0] as string);
    expect(remaining).toBe('993'); // Free: 1,000 a day

    // Killed once the calls are in the call log and their rows are held, not yet written.
    await expect.poll(async () => { const usage = await usageOf(first.base); return usage.pending === 0 && usage.rollupsHeld > 1_000; }, { timeout: 20_000, interval: 50 }).toBe(true);
    const exited = new Promise((resolve) => first.child.once('exit', resolve));
    first.child.kill('SIGKILL');
    await exited;

    const second = await instance(200);
    expect(await call(second.base, keys[0] as string)).toBe('992');
    // The analytics have every call of the killed process too.
    await expect
      .poll(async () => ((await (await fetch(`${second.base}/api/v1/api-marketplace/usage`, { headers: { authorization: `Bearer ${token}` } })).json()) as { totalRequests: number }).totalRequests, { timeout: 10_000, interval: 100 })
      .toBe(KEYS + 7);
    const listed = (await (await fetch(`${second.base}/api/v1/api-marketplace/keys`, { headers: { authorization: `Bearer ${token}` } })).json()) as { label: string; usageCount: number }[];
    expect(listed.find((k) => k.label === 'k0')?.usageCount).toBe(8);
  }, 180_000);
});
