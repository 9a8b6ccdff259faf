import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { PgliteThread } from './pglite-thread.ts';
import { canSetThreadPolicy, threadPolicy, workerWithThreadId } from './testing-threads.ts';

describe('PgliteThread (the embedded database on its own thread)', () => {
  // One database for the tests of statements (a new one takes seconds), a table of its own for each.
  let thread: PgliteThread;
  beforeAll(async () => {
    thread = await PgliteThread.open();
  });
  afterAll(() => thread.close());
  let table = '';
  beforeEach(async () => {
    table = `t${Math.random().toString(36).slice(2, 10)}`;
    await thread.exec(`create table ${table} (n int primary key)`);
  });
  const stored = async (db: PgliteThread) => (await db.query<{ n: number }>(`select n from ${table} order by n`)).rows.map((r) => r.n);

  it('a statement asked for while a transaction runs waits for it to end: a rollback does not take it along', async () => {
    const db = thread;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let begun!: () => void;
    const inside = new Promise<void>((resolve) => (begun = resolve));
    const failed = db.transaction(async (tx) => {
      await tx.query(`insert into ${table} values (1)`);
      begun();
      await held;
      throw new Error('changed my mind');
    });
    await inside;
    // Asked for while the transaction is open: sent between its statements, it would be rolled back with them.
    const outside = db.query(`insert into ${table} values (2)`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    release();
    await expect(failed).rejects.toThrow('changed my mind');
    await outside;
    expect(await stored(db)).toEqual([2]);
  });

  it('commits what a transaction wrote, and answers what its callback answered', async () => {
    const db = thread;
    const answer = await db.transaction(async (tx) => {
      await tx.query(`insert into ${table} values ($1), ($2)`, [3, 4]);
      return (await tx.query<{ n: number }>(`select count(*)::int as n from ${table}`)).rows[0]?.n;
    });
    expect(answer).toBe(2);
    expect(await stored(db)).toEqual([3, 4]);
  });

  it("keeps PostgreSQL's fields on an error (the store reads code and constraint), and the session usable after it", async () => {
    const db = thread;
    await db.query(`insert into ${table} values (1)`);
    const error = await db.transaction((tx) => tx.query(`insert into ${table} values (1)`)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ code: '23505', constraint: `${table}_pkey`, message: expect.stringContaining('duplicate key') });
    await expect(db.query('selec 1')).rejects.toMatchObject({ code: '42601' });
    await db.query(`insert into ${table} values (2)`);
    expect(await stored(db)).toEqual([1, 2]);
  });

  it('gives timestamps as PostgreSQL writes them (drizzle parses them), and rows as arrays when asked', async () => {
    const db = thread;
    const { rows } = await db.query<unknown[]>(`select '2026-12-07 10:00:00+00'::timestamptz as at, 7 as n`, [], { rowMode: 'array' });
    expect(rows).toEqual([['2026-12-07 10:00:00+00', 7]]);
  });

  /** Threads of this process at the nice value a database's thread gives itself: 10 above the calling (serving) thread's. */
  const databaseThreads = () =>
    readdirSync('/proc/self/task').filter((tid) => {
      try {
        return os.getPriority(Number(tid)) === Math.min(19, os.getPriority() + 10);
      } catch {
        return false; // ended meanwhile
      }
    });
  /** Ends a database's thread as a crash would (its worker is private). */
  const stopThread = (db: PgliteThread) => (db as unknown as { worker: Worker }).worker.terminate();

  it.runIf(existsSync('/proc/thread-self'))("runs below the serving thread's priority: the calls go first on a core they share", async () => {
    const before = databaseThreads().length;
    const db = await PgliteThread.open();
    try {
      expect(databaseThreads().length).toBe(before + 1);
    } finally {
      await db.close();
    }
    expect(databaseThreads().length).toBe(before);
  });

  it.runIf(canSetThreadPolicy)('with backgroundPriority, runs at idle priority while it gets a core, at its nice value while it starves', async () => {
    let known = new Set(readdirSync('/proc/self/task'));
    // The database's thread: the new one at the nice value it gives itself.
    const newThread = () => {
      const [tid] = databaseThreads().filter((t) => !known.has(t));
      expect(tid).toBeDefined();
      return tid as string;
    };
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-thread-'));
    const logged: string[] = [];
    const log = { info: (_fields: object, message: string) => logged.push(message), error: (_fields: object, message: string) => logged.push(message) };
    const db = await PgliteThread.open({ dataDir, restartDelaysMs: [0], log, backgroundPriority: { raiseAfterMs: 100, lowerAfterMs: 300 } });
    try {
      const tid = newThread();
      expect(threadPolicy(tid)).toBe(5);
      // A statement on a core held by a busy thread at this process's priority: at idle priority
      // the database's thread would wait for it for as long as it spins, so it is raised.
      const stop = new Int32Array(new SharedArrayBuffer(4));
      const { worker: busy, tid: busyTid } = await workerWithThreadId('while (Atomics.load(workerData, 0) === 0);', stop);
      let long: Promise<unknown>;
      try {
        const cpu = /Cpus_allowed_list:\s*(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
        for (const t of [busyTid, Number(tid)]) expect(spawnSync('taskset', ['-p', '-c', cpu, String(t)]).status).toBe(0);
        long = db.query('select count(*) from generate_series(1, 1000000)');
        await vi.waitFor(() => expect(threadPolicy(tid)).toBe(0), { timeout: 5_000, interval: 20 });
      } finally {
        Atomics.store(stop, 0, 1);
        await busy.terminate();
      }
      await long;
      // The core free again, it waits no more: back at idle.
      await vi.waitFor(() => expect(threadPolicy(tid)).toBe(5), { timeout: 5_000, interval: 50 });
      expect(databaseThreads()).toContain(tid); // at its nice value

      // A thread that stops is replaced by one in the background too.
      known = new Set(readdirSync('/proc/self/task'));
      await stopThread(db);
      await vi.waitFor(() => db.query('select 1'), { timeout: 30_000, interval: 100 });
      expect(threadPolicy(newThread())).toBe(5);
      // Only the stop and the reopening: the policy of the thread that stopped was not asked for in vain.
      expect(logged).toEqual(['the embedded database stopped; opening it again on a new thread', 'the embedded database is open again']);
    } finally {
      await db.close();
    }
  }, 60_000);

  it("fails to open with the database's error when the folder cannot hold a database", async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'tollgate-thread-')), 'not-a-folder');
    writeFileSync(file, 'x');
    await expect(PgliteThread.open({ dataDir: file })).rejects.toThrow(/ErrnoError \(errno \d+\)/);
  });

  it('opens a database in a folder again on a new thread when its thread stops: what was committed is kept, what awaited the thread fails', async () => {
    const logged: string[] = [];
    const log = { error: (_fields: object, message: string) => logged.push(message), info: (_fields: object, message: string) => logged.push(message) };
    const db = await PgliteThread.open({ dataDir: mkdtempSync(path.join(os.tmpdir(), 'tollgate-thread-')), log });
    try {
      await db.exec('create table kept (n int primary key)');
      await db.query('insert into kept values (1)');
      // The thread stops inside a transaction, as if PGlite's WebAssembly had aborted.
      const stopped = db.transaction(async (tx) => {
        await tx.query('insert into kept values (2)');
        await stopThread(db);
        await tx.query('insert into kept values (3)');
      });
      await expect(stopped).rejects.toThrow("the embedded database's thread stopped");
      // Asked for while it opens again: refused at once, with the reason.
      await expect(db.query('select 1')).rejects.toThrow("the embedded database's thread stopped");
      let rows: { n: number }[] | null = null;
      for (let waited = 0; rows === null && waited < 30_000; waited += 100) {
        rows = await db.query<{ n: number }>('select n from kept order by n').then((r) => r.rows, () => null);
        if (rows === null) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      // The row committed is there; the transaction left open was rolled back.
      expect(rows).toEqual([{ n: 1 }]);
      await db.query('insert into kept values (4)');
      expect((await db.query<{ n: number }>('select n from kept order by n')).rows).toEqual([{ n: 1 }, { n: 4 }]);
      expect(logged).toEqual(['the embedded database stopped; opening it again on a new thread', 'the embedded database is open again']);
    } finally {
      await db.close();
    }
  }, 60_000);

  it('closes at once while it waits to open a stopped database again', async () => {
    const db = await PgliteThread.open({ dataDir: mkdtempSync(path.join(os.tmpdir(), 'tollgate-thread-')), restartDelaysMs: [120_000] });
    await stopThread(db);
    await expect(db.query('select 1')).rejects.toThrow("the embedded database's thread stopped");
    await db.close(); // within the test's time, not after the two minutes' wait
    await expect(db.query('select 1')).rejects.toThrow('the embedded database is closed');
  }, 30_000);

  it('does not open a database in memory again: its data went with its thread', async () => {
    const db = await PgliteThread.open();
    await stopThread(db);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await expect(db.query('select 1')).rejects.toThrow("the embedded database's thread stopped");
    await db.close();
  });

  it('refuses statements once closed, with an error that says so', async () => {
    const db = await PgliteThread.open();
    await db.close();
    await expect(db.query('select 1')).rejects.toThrow('the embedded database is closed');
  });

  it('keeps a process alive while a statement or the close is awaited, and not once none is', () => {
    const module = fileURLToPath(new URL('./pglite-thread.ts', import.meta.url));
    const run = (close: boolean) => {
      const script = `import { PgliteThread } from ${JSON.stringify(module)};
        const db = await PgliteThread.open();
        const { rows } = await db.query("select 'answered' as word");
        console.log(rows[0].word);
        ${close ? `await db.close(); console.log('closed');` : ''}`;
      // A top-level await that nothing keeps alive ends the process with code 13, before its output.
      return spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    };
    // Never closed: the process must still end once nothing is awaited.
    const open = run(false);
    expect(open.stderr).toBe('');
    expect(open.stdout.trim()).toBe('answered');
    expect(open.status).toBe(0);
    const closed = run(true);
    expect(closed.stderr).toBe('');
    expect(closed.stdout.trim().split('\n')).toEqual(['answered', 'closed']);
    expect(closed.status).toBe(0);
  }, 120_000);
});
