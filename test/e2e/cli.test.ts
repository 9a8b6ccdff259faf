import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createRepositories, openPglite } from '@tollgate/store';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');

describe('tollgate CLI', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-cli-'));
  const env = { ...process.env, DATA_DIR: dataDir, DATABASE_URL: '' };
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('create-admin makes an administrator, and running it again changes nothing', async () => {
    const args = ['bin/tollgate.js', 'create-admin', '--email', 'ops@example.com', '--password', 'ops-password-1'];
    const first = await run(process.execPath, args, { cwd: ROOT, env });
    expect(first.stdout).toMatch(/Administrator ready: ops@example\.com \(usr_/);
    await run(process.execPath, args, { cwd: ROOT, env });
    const db = await openPglite({ dataDir: path.join(dataDir, 'pglite') });
    try {
      const repos = createRepositories(db.db);
      expect(await repos.users.countByRole('admin')).toBe(1);
      expect((await repos.users.findByEmail('OPS@example.com'))?.role).toBe('admin');
    } finally {
      await db.close();
    }
  }, 60_000);

  it('refuses a short password and an unknown command with exit code 2', async () => {
    await expect(run(process.execPath, ['bin/tollgate.js', 'create-admin', '--email', 'a@b.co', '--password', 'short'], { cwd: ROOT, env })).rejects.toMatchObject({ code: 2 });
    await expect(run(process.execPath, ['bin/tollgate.js', 'frobnicate'], { cwd: ROOT, env })).rejects.toMatchObject({ code: 2 });
  });

  it('reports a bad setting clearly instead of starting', async () => {
    await expect(run(process.execPath, ['bin/tollgate.js', 'migrate'], { cwd: ROOT, env: { ...env, PORT: 'eighty' } })).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('PORT must be an integer'),
    });
  });

  it('worker runs the background jobs and stops on SIGTERM with exit code 0', async () => {
    const workerDir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-worker-'));
    const child = spawn(process.execPath, ['bin/tollgate.js', 'worker'], { cwd: ROOT, env: { ...env, DATA_DIR: workerDir } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      await expect.poll(() => output, { timeout: 30_000, interval: 100 }).toContain('worker running background jobs');
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const sent = Date.now();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(Date.now() - sent).toBeLessThan(10_000);
    } finally {
      child.kill('SIGKILL');
      rmSync(workerDir, { recursive: true, force: true });
    }
  }, 60_000);
});
