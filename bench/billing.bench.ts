import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { postgresAvailable, TEST_DATABASE_URL } from '@tollgate/store/testing';
import type { BillingDbResult, CycleRun } from './lib/billing-run.ts';
import { machine } from './lib/report.ts';
import { fixed, markdown, thousands } from './lib/webhooks-report.ts';

/*
 * `npm run bench:billing` (and the last part of `npm run bench`): the monthly billing cycle
 * (`runBillingCycle`, packages/jobs/src/billing/cycle.ts) for 100,000 customers with last month's
 * usage. The issue's aim: under a minute.
 *
 * For each database and batch setting, a process of its own (bench/lib/billing-run.ts, so memory
 * figures are that run's alone) builds a fresh database (PGlite: a copy of the migrated test template;
 * PostgreSQL: a fresh schema at TEST_DATABASE_URL, when it answers) with the demo catalog, and
 * fills it with set-based SQL (bench/lib/billing-data.ts: customers, 1–2 paid subscriptions
 * each, one key per subscription, last month's counters, billing profiles, a few webhook
 * endpoints). Not timed; its duration is reported. Then, timed:
 *
 *  - baseline: the same month in one SQL statement (fees and usage summed per customer and
 *    currency, VAT, written to a table), the best of BENCH_BILLING_BASELINE_REPEATS (3): what
 *    the database alone needs for one pass over the same rows;
 *  - the cycle, asOf = 00:00 UTC on the 1st of this month, as the scheduled job runs it
 *    (MemoryEventBus, system clock), its own ANALYZE before billing and (when it drafted
 *    anything) before numbering included; meanwhile, the longest stall of the event loop (the
 *    cycle yields after each ANALYZE and each batch). Then, not timed, its invoices are checked
 *    against the baseline's totals (count, every amount, lines, events, gapless numbers 1..N,
 *    periods rolled, plan changes applied); then a second run, timed, which must create nothing.
 *
 * Env: BENCH_BILLING_CUSTOMERS (100000), BENCH_BILLING_BATCHES (customers x invoices a batch,
 * comma-separated, "2000x1000": the cycle's defaults), BENCH_BILLING_DATABASES ("pglite,postgres";
 * PostgreSQL is skipped when it does not answer), BENCH_BILLING_ANALYZE (the bench's own ANALYZE
 * after seeding, standing for autovacuum, apart from the one the cycle runs itself; auto: on
 * PostgreSQL, whose autovacuum would have analyzed a month's data, not on PGlite, which has none;
 * 1 or 0 for both), BENCH_BILLING_BASELINE_REPEATS (3). Diagnostics (not reference runs):
 * BENCH_CPU_PROF=1 (V8 CPU profile of each cycle run in bench/results/profiles/; `npx tsx
 * bench/profile-summary.ts <file>`), BENCH_BILLING_EXPLAIN=1 (plans of the cycle's statements),
 * BENCH_BILLING_EXTRA_SQL (statements run after seeding, e.g. an index to try).
 * Method and figures: docs/benchmarks.md, "Billing cycle".
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = path.join(ROOT, 'bench', 'results');
const AIM_SECONDS = 60;

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

const customers = Number((process.env.BENCH_BILLING_CUSTOMERS || '100000').replace(/_/g, ''));
if (!Number.isInteger(customers) || customers < 1) throw new Error(`BENCH_BILLING_CUSTOMERS must be a positive integer, got "${process.env.BENCH_BILLING_CUSTOMERS}"`);
const batches = (process.env.BENCH_BILLING_BATCHES || '2000x1000').split(',').map((s) => s.trim());
for (const b of batches) if (!/^\d+x\d+$/.test(b) || b.split('x').some((n) => Number(n) < 1)) throw new Error(`BENCH_BILLING_BATCHES: "${b}" is not <customers>x<invoices>`);
const databases = (process.env.BENCH_BILLING_DATABASES || 'pglite,postgres').split(',').map((s) => s.trim());

function runDatabase(database: string, batch: string): Promise<BillingDbResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', path.join(ROOT, 'bench', 'lib', 'billing-run.ts')], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, BENCH_BILLING_DB: database, BENCH_BILLING_CUSTOMERS: String(customers), BENCH_BILLING_BATCH: batch },
    });
    let result: BillingDbResult | null = null;
    child.on('message', (message: BillingDbResult) => {
      if (message.type === 'result') result = message;
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (result) resolve(result);
      else reject(new Error(`${database} run exited without a result (code ${code}, signal ${signal})`));
    });
  });
}

function codeState(): { commit: string | null; productChanged: string[] } {
  const git = (...args: string[]) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' });
  const head = git('rev-parse', '--short', 'HEAD');
  const status = git('status', '--porcelain', '--', 'packages');
  return { commit: head.status === 0 ? head.stdout.trim() : null, productChanged: status.status === 0 ? status.stdout.split('\n').filter(Boolean).map((l) => l.slice(3)) : [] };
}

const setting = (r: CycleRun) => `${thousands(r.setting.customersPerBatch)} / ${thousands(r.setting.issuePerBatch)}`;

function resultsTable(results: BillingDbResult[]): string {
  const head = ['database', 'batch (customers / invoices)', 'set-up s', 'baseline s', 'cycle s', 'cycle ÷ baseline', 'customers/s', 'invoices', 'bill s', 'number s', 'second run s', 'longest stall ms', 'peak RSS MB', 'peak heap MB', 'checks'];
  const body = results.flatMap((res) => {
    const baseline = Math.min(...res.baselineSeconds);
    return res.runs.map((r) => [
      res.database,
      setting(r),
      fixed(res.setupSeconds, 1),
      fixed(baseline, 2),
      fixed(r.seconds, 1),
      `${fixed(r.seconds / baseline, 1)} ×`,
      thousands(r.customersPerSecond),
      thousands(r.issued),
      fixed(r.billSeconds, 1),
      fixed(r.issueSeconds, 1),
      fixed(r.second.seconds, 2),
      thousands(r.eventLoop.longestStallMs),
      thousands(r.peakRssMb),
      thousands(r.peakHeapMb),
      r.check.ok && r.second.unchanged && r.second.created === 0 ? 'ok' : 'FAILED',
    ]);
  });
  return markdown(head, body);
}

function phaseTable(res: BillingDbResult, r: CycleRun): string {
  const head = ['store call', 'calls', 'wall s', 'share', 'rows', 'µs a row', 'longest call ms'];
  const body = Object.entries(r.phases)
    .filter(([, s]) => s.calls > 0)
    .map(([name, s]) => [name, thousands(s.calls), fixed(s.ms / 1000, 2), `${fixed((s.ms / 1000 / r.seconds) * 100, 0)} %`, thousands(s.items), s.items > 0 ? fixed((s.ms * 1000) / s.items, 0) : '', thousands(s.maxMs)]);
  const inStore = ['analyzeForCycle (ANALYZE)', 'billableSubscriptions (page query)', 'profiles', 'transaction (begin … commit)', 'hashesForSubscriptions', 'updateRun'].reduce((t, n) => t + (r.phases[n]?.ms ?? 0), 0) / 1000;
  body.push(['everything else (drafting in JS, events, the run loop)', '', fixed(r.seconds - inStore, 2), `${fixed(((r.seconds - inStore) / r.seconds) * 100, 0)} %`, '', '', '']);
  const cpu = `CPU: this process ${fixed(r.cpuSeconds, 1)} s${r.postgresCpuSeconds === null ? '' : `, PostgreSQL processes ${fixed(r.postgresCpuSeconds, 1)} s`} over ${fixed(r.seconds, 1)} s; event loop: longest stall ${thousands(r.eventLoop.longestStallMs)} ms ending ${fixed(r.eventLoop.longestStallEndSeconds, 1)} s into the cycle (billing done at ${fixed(r.billSeconds, 1)} s), ${thousands(r.eventLoop.stallsOver500Ms)} stalls of 500 ms or more, p99 delay ${fixed(r.eventLoop.p99DelayMs, 0)} ms, ${thousands(r.eventLoop.ticks)} turns of a 10 ms timer`;
  return `${res.database}, ${setting(r)} a batch (${cpu}):\n\n${markdown(head, body)}`;
}

async function main(): Promise<void> {
  const code = codeState();
  const pgUp = databases.includes('postgres') ? await postgresAvailable() : false;
  if (databases.includes('postgres') && !pgUp) log(`PostgreSQL at ${TEST_DATABASE_URL} does not answer: PGlite only`);
  const order = databases.filter((d) => d === 'pglite' || (d === 'postgres' && pgUp));
  log(`billing cycle: ${thousands(customers)} customers, batches ${batches.join(', ')}, databases ${order.join(', ')}`);

  const results: BillingDbResult[] = [];
  let failed = false;
  for (const database of order) {
    for (const batch of batches) {
      const result = await runDatabase(database, batch);
      if (result.error) {
        log(`${database} ${batch}: ${result.error}`);
        failed = true;
        continue;
      }
      results.push(result);
    }
  }

  const m = machine();
  const lines = [
    '',
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGb} GB, ${m.platform}, Node ${m.node}; ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    `code: commit ${code.commit ?? '?'}${code.productChanged.length > 0 ? ` with uncommitted changes to ${code.productChanged.join(', ')}` : ''}`,
    '',
    resultsTable(results),
    '',
  ];
  for (const res of results) {
    lines.push(`${res.database}, ${res.runs.map(setting).join('')}: ${Object.entries(res.data).map(([k, v]) => `${k} ${thousands(v)}`).join(', ')}; ${res.analyzed ? `ANALYZE after seeding (${fixed(res.analyzeSeconds, 1)} s)` : 'no ANALYZE after seeding'} (the cycle runs its own)${res.extraSql ? `; extra SQL: ${res.extraSql}` : ''}`);
    lines.push(`  set-up ${fixed(res.setupSeconds, 1)} s (${res.seedSteps.map((s) => `${s.step.split(' ')[0]} ${fixed(s.ms / 1000, 1)}`).join(', ')}); baseline ${res.baselineSeconds.map((s) => fixed(s, 2)).join(' / ')} s for ${thousands(res.baselineRows)} totals; process max RSS ${thousands(res.processMaxRssMb)} MB`);
  }
  for (const res of results) for (const r of res.runs) lines.push('', phaseTable(res, r));
  for (const res of results) {
    for (const r of res.runs) {
      if (!r.check.ok) lines.push('', `${res.database} ${setting(r)}: checks FAILED: ${r.check.failures.join('; ')}`);
      if (!r.second.unchanged || r.second.created !== 0) lines.push('', `${res.database} ${setting(r)}: the second run changed rows (${r.second.created} created, ${r.second.issued} issued)`);
      failed ||= !r.check.ok || !r.second.unchanged || r.second.created !== 0;
    }
  }
  const best = results.flatMap((res) => res.runs.map((r) => ({ database: res.database, r })));
  lines.push('');
  for (const { database, r } of best) {
    if (customers === 100_000) lines.push(`${database}, ${setting(r)}: ${fixed(r.seconds, 1)} s, the aim (under ${AIM_SECONDS} s for 100,000 customers) is ${r.seconds < AIM_SECONDS ? 'met' : 'missed'}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);

  mkdirSync(RESULTS, { recursive: true });
  const file = path.join(RESULTS, 'billing-latest.json');
  writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), machine: m, code, settings: { customers, batches, databases: order }, results }, null, 2));
  log(`wrote ${path.relative(ROOT, file)}`);
  if (failed) process.exitCode = 1;
}

await main();
