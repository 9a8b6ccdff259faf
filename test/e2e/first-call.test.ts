import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@tollgate/store/testing';

/* Starts the product exactly as the README says (`npm start`) and makes a first call as a new user would. */

const ROOT = path.resolve(import.meta.dirname, '../..');

async function waitReady(base: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}:\n${output()}`);
    try {
      const res = await fetch(`${base}/ready`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`not ready within 60 s:\n${output()}`);
}

describe('npm start, then a first call', () => {
  let child: ChildProcess;
  let base: string;
  let dataDir: string;
  let log = '';

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-e2e-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    child = spawn('npm', ['start'], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, DATABASE_URL: '', REDIS_URL: '', LOG_LEVEL: 'info' },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (d) => (log += d));
    child.stderr?.on('data', (d) => (log += d));
    await waitReady(base, child, () => log);
  }, 90_000);

  afterAll(async () => {
    if (child.exitCode === null && child.pid) {
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(-child.pid, 'SIGTERM');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('browses the catalog, signs up, creates a key and calls the demo API through the gateway', async () => {
    const products = (await (await fetch(`${base}/api/v1/api-marketplace/products`)).json()) as { products: unknown[] };
    expect(products.products.length).toBe(5);

    const signup = await fetch(`${base}/api/v1/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'first@example.com', password: 'a-long-password' }),
    });
    expect(signup.status).toBe(201);
    const { token } = (await signup.json()) as { token: string };

    const created = await fetch(`${base}/api/v1/api-marketplace/keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ planId: 'cm-free', label: 'my first key' }),
    });
    expect(created.status).toBe(201);
    const { key } = (await created.json()) as { key: string };

    const call = await fetch(`${base}/v1/memes`, { headers: { 'x-api-key': key } });
    expect(call.status).toBe(200);
    expect(call.headers.get('x-ratelimit-limit')).toBe('10');
    expect(call.headers.get('x-ratelimit-remaining')).toBe('19');
    expect(call.headers.get('x-request-id')).toMatch(/^req_/);
    const body = (await call.json()) as { data: unknown };
    expect(Array.isArray(body.data)).toBe(true);

    const docs = await fetch(`${base}/docs/`);
    expect(docs.status).toBe(200);

    // Usage is flushed within a second.
    await new Promise((r) => setTimeout(r, 1_500));
    const usage = (await (await fetch(`${base}/api/v1/api-marketplace/usage`, { headers: { authorization: `Bearer ${token}` } })).json()) as { totalRequests: number };
    expect(usage.totalRequests).toBe(1);
  });
});

describe('tollgate serve, stopped with SIGTERM', () => {
  it('finishes, writes the buffered usage and exits 0', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-e2e-'));
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    let log = '';
    // A long flush interval: only the shutdown flush can have written the usage record.
    const child = spawn(process.execPath, ['bin/tollgate.js', 'serve'], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, DATABASE_URL: '', USAGE_FLUSH_INTERVAL_MS: '60000' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (d) => (log += d));
    child.stderr?.on('data', (d) => (log += d));
    try {
      await waitReady(base, child, () => log);
      const signup = await fetch(`${base}/api/v1/auth/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'sig@example.com', password: 'a-long-password' }) });
      const { token } = (await signup.json()) as { token: string };
      const created = await fetch(`${base}/api/v1/api-marketplace/keys`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ planId: 'cm-free' }) });
      const { key } = (await created.json()) as { key: string };
      expect((await fetch(`${base}/v1/memes`, { headers: { 'x-api-key': key } })).status).toBe(200);

      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      const started = Date.now();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(Date.now() - started).toBeLessThan(10_000);

      const { openPglite } = await import('@tollgate/store');
      const db = await openPglite({ dataDir: path.join(dataDir, 'pglite') });
      try {
        const { rows } = (await db.db.execute('select count(*)::int as n from api_usage')) as unknown as { rows: { n: number }[] };
        expect(rows[0]?.n).toBe(1);
      } finally {
        await db.close();
      }
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);
});
