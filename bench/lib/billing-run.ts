import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { sql, type SQL } from 'drizzle-orm';
import { PgDatabase } from 'drizzle-orm/pg-core';
import { runBillingCycle, type BillingSettings } from '@tollgate/jobs';
import { MemoryEventBus, systemClock } from '@tollgate/runtime';
import { BillingRepository, createRepositories, KeyRepository, type BillingRun, type Repositories } from '@tollgate/store';
import { openTestPglite, openTestPostgres, type TestDatabase } from '@tollgate/store/testing';
import { seedDemoCatalog } from '../../packages/server/src/demo/seed.ts';
import { cpuSecondsOf, procStatFields } from './child.ts';
import { analyze, check, cycleRowCounts, dataSummary, monthOf, runBaseline, seed, type CheckResult, type SeedStep } from './billing-data.ts';

/*
 * One run of `npm run bench:billing`, in a process of its own (so its memory figures are its
 * own): started by bench/billing.bench.ts with BENCH_BILLING_DB=pglite|postgres and
 * BENCH_BILLING_BATCH=<customers>x<invoices>, it seeds a fresh database, runs the baseline and
 * the cycle, checks the result, runs the cycle again, and sends a BillingDbResult to its parent
 * over IPC.
 */

export interface BatchSetting {
  customersPerBatch: number;
  issuePerBatch: number;
}

export interface PhaseStats {
  calls: number;
  ms: number;
  /** The longest call. */
  maxMs: number;
  /** Rows the calls answered or wrote (subscriptions, drafts, invoices…). */
  items: number;
}

export interface CycleRun {
  setting: BatchSetting;
  seconds: number;
  customers: number;
  created: number;
  issued: number;
  customersPerSecond: number;
  /**
   * Wall time of the two phases, from the progress reports: billing (with the cycle's first
   * ANALYZE) up to the last page's report, numbering (with the second ANALYZE) from there.
   */
  billSeconds: number;
  issueSeconds: number;
  /** Wall time inside each store call (nested calls are also counted in their callers). */
  phases: Record<string, PhaseStats>;
  /** This process's CPU time over the run (user + system), s. */
  cpuSeconds: number;
  /** CPU time of every PostgreSQL process on the machine over the run, s (PostgreSQL only; other sessions included). */
  postgresCpuSeconds: number | null;
  /**
   * The event loop while the cycle ran: the longest time between two turns of a 10 ms timer (what
   * a server in the same process would have waited for at worst, ms), how many times it ran, and
   * the 99th percentile of the loop's delay (monitorEventLoopDelay), ms.
   */
  eventLoop: {
    longestStallMs: number;
    /** When the longest stall ended, s from the cycle's start (compare with billSeconds). */
    longestStallEndSeconds: number;
    /** Stalls of 500 ms or more. */
    stallsOver500Ms: number;
    ticks: number;
    p99DelayMs: number;
  };
  peakRssMb: number;
  peakHeapMb: number;
  rssBeforeMb: number;
  heapBeforeMb: number;
  keyInvalidations: number;
  check: CheckResult;
  second: { seconds: number; created: number; issued: number; unchanged: boolean };
  profile: string | null;
}

export interface BillingDbResult {
  type: 'result';
  database: 'pglite' | 'postgres';
  customers: number;
  /** The bench's own ANALYZE after seeding (standing for autovacuum; the cycle runs its own as well). */
  analyzed: boolean;
  /** How long that ANALYZE took (part of the set-up). */
  analyzeSeconds: number | null;
  extraSql: string | null;
  setupSeconds: number;
  openSeconds: number;
  seedSteps: SeedStep[];
  data: Record<string, number>;
  baselineSeconds: number[];
  baselineRows: number;
  /** One run (a process per database and batch setting). */
  runs: CycleRun[];
  processMaxRssMb: number;
  error?: string;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const database = process.env.BENCH_BILLING_DB === 'postgres' ? 'postgres' : 'pglite';
const customers = Number(process.env.BENCH_BILLING_CUSTOMERS ?? 100_000);
const [perBatch, issuePerBatch] = (process.env.BENCH_BILLING_BATCH || '2000x1000').split('x').map(Number);
const setting: BatchSetting = { customersPerBatch: perBatch as number, issuePerBatch: issuePerBatch as number };
// The cycle analyzes the tables it reads itself (BillingRepository.analyzeForCycle, before billing
// and, when it drafted anything, before numbering; timed as part of the cycle). The bench's own
// ANALYZE after seeding stands for autovacuum: on PostgreSQL it would have analyzed a month's data
// long before the 1st, and without it autovacuum would start on the freshly loaded tables in the
// middle of the baseline or the cycle, at a moment that changes from run to run. PGlite has no
// autovacuum, so there the tables have no statistics until the cycle's own ANALYZE (the product's
// real situation).
const analyzeMode = process.env.BENCH_BILLING_ANALYZE ?? 'auto';
const analyzed = analyzeMode === 'auto' ? database === 'postgres' : analyzeMode === '1';
const cpuProfile = process.env.BENCH_CPU_PROF === '1';
const baselineRepeats = Number(process.env.BENCH_BILLING_BASELINE_REPEATS ?? 3);

const BILLING: BillingSettings = {
  vatRates: { ZA: 1500 },
  defaultCountry: null,
  paymentTermsDays: 7,
  seller: { name: 'Tollgate', addressLines: [], vatNumber: null, email: null, country: null },
};

const started = performance.now();
function log(message: string): void {
  process.stderr.write(`[billing ${database} ${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s] ${message}\n`);
}
const mb = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;
const thousands = (n: number) => Math.round(n).toLocaleString('en-US');

// ---------------------------------------------------------------------------------------------
// Where the time goes: the store calls the cycle makes, timed on the repositories' prototypes
// (the cycle's transactions build repositories of their own, so instances cannot be wrapped).

const phases = new Map<string, PhaseStats>();
/** BENCH_BILLING_EXPLAIN: calls so far of each explained statement in this run. */
const explainCalls = new Map<string, number>();
/** The report's order: the cycle's own. */
const PHASE_ORDER = [
  'analyzeForCycle (ANALYZE)',
  'billableSubscriptions (page query)',
  'profiles',
  'transaction (begin … commit)',
  'insertCycleDrafts (invoices + lines)',
  '  of which insertLines',
  'startPeriod',
  'hashesForSubscriptions',
  'updateRun',
  'issueCycleDrafts (numbering)',
  'emitToSubscribers (invoice.created)',
];
function clearPhases(): void {
  phases.clear();
  explainCalls.clear();
  for (const name of PHASE_ORDER) phases.set(name, { calls: 0, ms: 0, maxMs: 0, items: 0 });
}
function timed(target: object, method: string, label: string, items: (args: unknown[], result: unknown) => number): void {
  const proto = target as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const original = proto[method];
  if (typeof original !== 'function') throw new Error(`no method ${method} to time`);
  proto[method] = async function (this: unknown, ...args: unknown[]) {
    const t0 = performance.now();
    const result = await original.apply(this, args);
    const stats = phases.get(label) ?? { calls: 0, ms: 0, maxMs: 0, items: 0 };
    const elapsed = performance.now() - t0;
    stats.calls += 1;
    stats.ms += elapsed;
    stats.maxMs = Math.max(stats.maxMs, elapsed);
    stats.items += items(args, result);
    phases.set(label, stats);
    return result;
  };
}
const len = (x: unknown) => (Array.isArray(x) ? x.length : 0);
timed(BillingRepository.prototype, 'analyzeForCycle', 'analyzeForCycle (ANALYZE)', () => 0);
timed(BillingRepository.prototype, 'billableSubscriptions', 'billableSubscriptions (page query)', (_, r) => len(r));
timed(BillingRepository.prototype, 'profiles', 'profiles', (_, r) => (r instanceof Map ? r.size : 0));
timed(BillingRepository.prototype, 'insertCycleDrafts', 'insertCycleDrafts (invoices + lines)', (_, r) => len(r));
timed(BillingRepository.prototype, 'insertLines', '  of which insertLines', (a) => (a[0] as { lines: unknown[] }[]).reduce((n, x) => n + x.lines.length, 0));
timed(BillingRepository.prototype, 'startPeriod', 'startPeriod', (a) => len(a[0]));
timed(BillingRepository.prototype, 'issueCycleDrafts', 'issueCycleDrafts (numbering)', (_, r) => len(r));
timed(BillingRepository.prototype, 'emitToSubscribers', 'emitToSubscribers (invoice.created)', (_, r) => (typeof r === 'number' ? r : 0));
timed(BillingRepository.prototype, 'updateRun', 'updateRun', () => 0);
timed(KeyRepository.prototype, 'hashesForSubscriptions', 'hashesForSubscriptions', (_, r) => len(r));

function timeTransactions(repos: Repositories): Repositories {
  const original = repos.transaction;
  repos.transaction = async (work) => {
    const t0 = performance.now();
    const result = await original(work);
    const stats = phases.get('transaction (begin … commit)') ?? { calls: 0, ms: 0, maxMs: 0, items: 0 };
    const elapsed = performance.now() - t0;
    stats.calls += 1;
    stats.ms += elapsed;
    stats.maxMs = Math.max(stats.maxMs, elapsed);
    phases.set('transaction (begin … commit)', stats);
    return result;
  };
  return repos;
}

// BENCH_BILLING_EXPLAIN=1 (diagnostic, not a reference run): prints the plan of the cycle's
// statements on their 1st, 25th, 50th and 100th call, EXPLAIN ANALYZE for reads (run once more
// before the real query), plain EXPLAIN for writes (which must run once).
const EXPLAINED: [RegExp, string, boolean][] = [
  [/^\s*with page as/, 'page query (billableSubscriptions)', true],
  [/^\s*select id from invoices/, 'drafts to number (issueCycleDrafts)', true],
  [/^\s*update subscriptions s set/, 'startPeriod', false],
  [/^\s*insert into invoices/, 'insertCycleDrafts', false],
  [/^\s*insert into invoice_lines/, 'insertLines', false],
  [/^\s*update invoices i set status = 'open'/, 'number drafts (issueCycleDrafts)', false],
];
if (process.env.BENCH_BILLING_EXPLAIN === '1') {
  const proto = PgDatabase.prototype as unknown as { execute(query: SQL): PromiseLike<unknown>; dialect: { sqlToQuery(q: SQL): { sql: string } } };
  const original = proto.execute;
  const calls = explainCalls;
  proto.execute = function (this: typeof proto, query: SQL) {
    const text = typeof query === 'string' ? query : this.dialect.sqlToQuery(query.getSQL()).sql;
    const match = EXPLAINED.find(([pattern]) => pattern.test(text));
    if (!match) return original.call(this, query);
    const [, name, analyzeIt] = match;
    const n = (calls.get(name) ?? 0) + 1;
    calls.set(name, n);
    if (![1, 25, 50, 100].includes(n)) return original.call(this, query);
    return (async () => {
      const plan = (await original.call(this, sql`explain ${sql.raw(analyzeIt ? '(analyze, buffers) ' : '')}${query}`)) as { rows: Record<string, string>[] };
      log(`plan of ${name}, call ${n}:\n${plan.rows.map((r) => `      ${String(Object.values(r)[0]).slice(0, 240)}`).join('\n')}`);
      return original.call(this, query);
    })();
  };
}

/** utime + stime of every process called postgres, s (the server is on this machine). */
function postgresCpu(): number | null {
  if (database !== 'postgres') return null;
  let total = 0;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'postgres') continue;
      total += cpuSecondsOf(procStatFields(`/proc/${pid}/stat`));
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<BillingDbResult> {
  const month = monthOf(new Date());
  const setupStart = performance.now();
  log(`${thousands(customers)} customers, billing ${month.asOf.toISOString().slice(0, 10)} (usage of ${month.counterPeriod}), ${analyzed ? 'ANALYZE after seeding' : 'no ANALYZE after seeding'} (the cycle runs its own)`);
  const db: TestDatabase = database === 'postgres' ? await openTestPostgres() : await openTestPglite();
  const openSeconds = (performance.now() - setupStart) / 1000;
  try {
    const repos = timeTransactions(createRepositories(db.db));
    await seedDemoCatalog(repos);
    const seedSteps = await seed(db, customers, month);
    for (const s of seedSteps) log(`seed ${s.step}: ${thousands(s.rows)} rows in ${(s.ms / 1000).toFixed(2)} s`);
    let analyzeSeconds: number | null = null;
    if (analyzed) {
      const t0 = performance.now();
      await analyze(db);
      analyzeSeconds = (performance.now() - t0) / 1000;
      log(`ANALYZE of the cycle's tables: ${analyzeSeconds.toFixed(2)} s`);
    }
    // Diagnostic: statements run after seeding (e.g. an index to try), `;`-separated.
    for (const statement of (process.env.BENCH_BILLING_EXTRA_SQL ?? '').split(';').map((x) => x.trim()).filter(Boolean)) {
      log(`extra SQL: ${statement}`);
      await db.executeSql(statement, []);
    }
    const setupSeconds = (performance.now() - setupStart) / 1000;
    const data = await dataSummary(db, month);
    log(`set-up ${setupSeconds.toFixed(1)} s: ${JSON.stringify(data)}`);

    // Baseline: the same month in one statement, a few times (the best is the figure).
    const baselineSeconds: number[] = [];
    let baselineRows = 0;
    for (let i = 0; i < baselineRepeats; i++) {
      const t0 = performance.now();
      baselineRows = await runBaseline(db, month);
      baselineSeconds.push((performance.now() - t0) / 1000);
    }
    log(`baseline: ${thousands(baselineRows)} (customer, currency) totals in ${baselineSeconds.map((s) => s.toFixed(2)).join(' / ')} s`);

    const runs = [await measuredCycle(db, repos, month, setting)];
    return {
      type: 'result',
      database,
      customers,
      analyzed,
      analyzeSeconds,
      extraSql: process.env.BENCH_BILLING_EXTRA_SQL || null,
      setupSeconds,
      openSeconds,
      seedSteps,
      data,
      baselineSeconds,
      baselineRows,
      runs,
      processMaxRssMb: mb(process.resourceUsage().maxRSS * 1024),
    };
  } finally {
    await db.close();
  }
}

async function measuredCycle(db: TestDatabase, repos: Repositories, month: ReturnType<typeof monthOf>, setting: BatchSetting): Promise<CycleRun> {
  const label = `${setting.customersPerBatch} customers / ${setting.issuePerBatch} invoices a batch`;
  log(`cycle (${label})`);
  const bus = new MemoryEventBus();
  let keyInvalidations = 0;
  bus.subscribe((message) => {
    if (message.topic === 'keys.invalidate') keyInvalidations += message.keyHashes.length;
  });
  clearPhases();
  global.gc?.();
  const before = process.memoryUsage();
  let peakRss = before.rss;
  let peakHeap = before.heapUsed;
  // A 10 ms timer: memory samples, and the stalls of the event loop (the longest, when it ended,
  // how many lasted 500 ms or more).
  let lastTick = performance.now();
  let longestStall = 0;
  let longestStallEnd = lastTick;
  let stallsOver500Ms = 0;
  const stall = (now: number) => {
    const gap = now - lastTick;
    if (gap > longestStall) {
      longestStall = gap;
      longestStallEnd = now;
    }
    if (gap >= 500) stallsOver500Ms += 1;
    lastTick = now;
  };
  let ticks = 0;
  const sampler = setInterval(() => {
    stall(performance.now());
    ticks += 1;
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  }, 10);

  let session: Session | null = null;
  if (cpuProfile) {
    session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 500 });
    await session.post('Profiler.start');
  }

  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const events: { t: number; run: BillingRun }[] = [];
  let nextCustomerLog = customers / 10;
  let nextIssueLog = 0;
  const cpu0 = process.cpuUsage();
  const pg0 = postgresCpu();
  const t0 = performance.now();
  const run = await runBillingCycle(
    { repos, bus, clock: systemClock, settings: BILLING },
    {
      asOf: month.asOf,
      customersPerBatch: setting.customersPerBatch,
      issuePerBatch: setting.issuePerBatch,
      onProgress: (r) => {
        const t = performance.now() - t0;
        events.push({ t, run: r });
        const m = process.memoryUsage();
        peakRss = Math.max(peakRss, m.rss);
        peakHeap = Math.max(peakHeap, m.heapUsed);
        if (r.invoicesIssued === 0 && r.customers >= nextCustomerLog) {
          log(`  ${(t / 1000).toFixed(1)} s: billed ${thousands(r.customers)} customers, ${thousands(r.invoicesCreated)} drafts`);
          nextCustomerLog += customers / 10;
        } else if (r.invoicesIssued > 0 && r.invoicesIssued >= nextIssueLog) {
          log(`  ${(t / 1000).toFixed(1)} s: issued ${thousands(r.invoicesIssued)} of ${thousands(r.invoicesCreated)}`);
          nextIssueLog = r.invoicesIssued + r.invoicesCreated / 10;
        }
      },
    },
  );
  const seconds = (performance.now() - t0) / 1000;
  stall(performance.now());
  loopDelay.disable();
  const cpu = process.cpuUsage(cpu0);
  const pg1 = postgresCpu();
  clearInterval(sampler);
  const m = process.memoryUsage();
  peakRss = Math.max(peakRss, m.rss);
  peakHeap = Math.max(peakHeap, m.heapUsed);

  let profile: string | null = null;
  if (session) {
    const { profile: data } = await session.post('Profiler.stop');
    session.disconnect();
    const dir = path.join(ROOT, 'bench', 'results', 'profiles');
    mkdirSync(dir, { recursive: true });
    profile = path.join(dir, `billing-${database}-${setting.customersPerBatch}x${setting.issuePerBatch}.cpuprofile`);
    writeFileSync(profile, JSON.stringify(data));
  }

  const lastBill = events.filter((e) => e.run.invoicesIssued === 0 && e.run.status === 'running').at(-1)?.t ?? 0;
  const lastIssue = events.filter((e) => e.run.status === 'running').at(-1)?.t ?? lastBill;
  log(`  done in ${seconds.toFixed(1)} s: ${thousands(run.customers)} customers, ${thousands(run.invoicesIssued)} invoices (${thousands(run.customers / seconds)} customers/s), peak RSS ${mb(peakRss)} MB`);
  for (const [name, s] of phases) log(`    ${name.padEnd(40)} ${String(s.calls).padStart(5)} calls ${(s.ms / 1000).toFixed(2).padStart(7)} s ${thousands(s.items).padStart(9)} items, longest ${thousands(s.maxMs)} ms`);
  log(`    event loop: longest stall ${thousands(longestStall)} ms (ending ${((longestStallEnd - t0) / 1000).toFixed(1)} s into the cycle, billing done at ${(lastBill / 1000).toFixed(1)} s), ${stallsOver500Ms} stalls of 500 ms or more, ${ticks} turns of a 10 ms timer in ${seconds.toFixed(1)} s`);

  const year = new Date(systemClock.now()).getUTCFullYear();
  const result = await check(db, month, year, customers);
  log(`  check: ${result.ok ? 'ok' : `FAILED: ${result.failures.join('; ')}`}`);

  const runPhases = Object.fromEntries([...phases].map(([name, stats]) => [name, { ...stats }]));
  const counts = await cycleRowCounts(db);
  const s0 = performance.now();
  const second = await runBillingCycle({ repos, bus, clock: systemClock, settings: BILLING }, { asOf: month.asOf, ...setting });
  const secondSeconds = (performance.now() - s0) / 1000;
  const after = await cycleRowCounts(db);
  const unchanged = JSON.stringify(counts) === JSON.stringify(after);
  const secondCreated = second.invoicesCreated - run.invoicesCreated;
  const secondIssued = second.invoicesIssued - run.invoicesIssued;
  log(`  second run: ${secondSeconds.toFixed(2)} s, ${secondCreated} created, ${secondIssued} issued, rows ${unchanged ? 'unchanged' : `CHANGED ${JSON.stringify(counts)} → ${JSON.stringify(after)}`}`);

  return {
    setting,
    seconds,
    customers: run.customers,
    created: run.invoicesCreated,
    issued: run.invoicesIssued,
    customersPerSecond: run.customers / seconds,
    billSeconds: lastBill / 1000,
    issueSeconds: (lastIssue - lastBill) / 1000,
    phases: runPhases,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    eventLoop: {
      longestStallMs: longestStall,
      longestStallEndSeconds: (longestStallEnd - t0) / 1000,
      stallsOver500Ms,
      ticks,
      p99DelayMs: loopDelay.count > 0 ? loopDelay.percentile(99) / 1e6 : longestStall,
    },
    postgresCpuSeconds: pg0 === null || pg1 === null ? null : pg1 - pg0,
    peakRssMb: mb(peakRss),
    peakHeapMb: mb(peakHeap),
    rssBeforeMb: mb(before.rss),
    heapBeforeMb: mb(before.heapUsed),
    keyInvalidations,
    check: result,
    second: { seconds: secondSeconds, created: secondCreated, issued: secondIssued, unchanged },
    profile,
  };
}

main().then(
  (result) => {
    process.send?.(result);
    process.exitCode = result.runs.every((r) => r.check.ok && r.second.unchanged && r.second.created === 0) ? 0 : 1;
  },
  (error: Error) => {
    log(`failed: ${error.stack ?? error.message}`);
    process.send?.({ type: 'result', database, customers, error: error.message } as Partial<BillingDbResult>);
    process.exitCode = 1;
  },
);
