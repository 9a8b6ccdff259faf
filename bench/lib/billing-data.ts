import type { Database } from '@tollgate/store';

/*
 * The billing bench's data, written with set-based SQL (generate_series, no API calls), its
 * baseline (the same month computed by the database alone, in one statement) and the checks run
 * after the cycle. Every choice is a deterministic hash of the customer's number, so each run
 * bills the same month.
 *
 * Customers (users) each have one or two active subscriptions, in the previous month's period,
 * with one API key each and that key's counter for the previous month:
 *
 *   first subscription  35 % smi-starter (R890, 10,000 calls)     10 % smi-pro (R8,990)
 *                       15 % viralscore-starter (R1,790)          20 % cm-developer (USD 49)
 *                       15 % bench-smi-metered (R1,490, 50,000 calls, then R0.02 a call)
 *                        5 % bench-vts-per-call (R0.50 a call, no fee)
 *   second one (35 %)   cm-developer or viralscore-starter (smi-starter beside those two):
 *                       about half of these customers pay in two currencies.
 *
 * bench-smi-metered and bench-vts-per-call are public, non-custom copies of demo plans: the demo
 * catalog has no plan with overage pricing, and its per-call plans are custom. 1 % of customers
 * cancel at the period end and 1 % (a tenth of smi-pro) have a downgrade to smi-starter
 * scheduled, so the cycle changes some plans and keys. Usage: no counter for 20 % of keys; under
 * the quota for most (plans without overage pricing refuse calls past it, so some stop exactly
 * at it); 45 % of metered keys went past their quota (overage 1–30,000 calls). Billing
 * profiles for 70 % of customers (86 % of them ZA, the rest US); the others are billed to their
 * account email without VAT. 2 % have a webhook endpoint subscribed to `invoice.created`.
 */

export interface Month {
  /** The cycle's asOf: 00:00 UTC on the 1st of the month billed. */
  asOf: Date;
  /** The 1st of the month before (the subscriptions' current period start). */
  previousStart: Date;
  /** The 1st of the month after asOf (the new period's end). */
  nextStart: Date;
  /** `month:2026-10`: the counter period of the month before. */
  counterPeriod: string;
}

export function monthOf(now: Date): Month {
  const asOf = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const previousStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
  const nextStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
  const label = `${previousStart.getUTCFullYear()}-${String(previousStart.getUTCMonth() + 1).padStart(2, '0')}`;
  return { asOf, previousStart, nextStart, counterPeriod: `month:${label}` };
}

/** The tables the cycle reads or writes, for ANALYZE. */
export const BILLING_TABLES = ['users', 'plans', 'subscriptions', 'api_keys', 'usage_counters', 'billing_profiles', 'webhook_endpoints', 'invoices', 'invoice_lines', 'webhook_events'];

type Sql = Pick<Database, 'executeSql'>;

const rows = async (db: Sql, text: string, values: unknown[] = []) => (await db.executeSql(text, values)).rows;
const one = async (db: Sql, text: string, values: unknown[] = []) => (await rows(db, text, values))[0] ?? {};

export interface SeedStep {
  step: string;
  rows: number;
  ms: number;
}

/**
 * Seeds `customers` customers on a database holding the demo catalog. Answers each statement's
 * row count and time. `bench_subs` (one row per subscription, with the choices made) stays.
 */
export async function seed(db: Sql, customers: number, month: Month): Promise<SeedStep[]> {
  const steps: SeedStep[] = [];
  const step = async (name: string, text: string, values: unknown[] = []) => {
    const started = performance.now();
    const result = await one(db, `with ins as (${text} returning 1) select count(*) as n from ins`, values).catch((error: Error) => {
      throw new Error(`seed step "${name}": ${error.message}`);
    });
    steps.push({ step: name, rows: Number(result.n), ms: performance.now() - started });
  };
  const prev = month.previousStart.toISOString();
  const asOf = month.asOf.toISOString();

  await step(
    'plans (2 bench copies)',
    `insert into plans (id, product_id, code, name, description, currency, monthly_fee_minor, per_call_fee_micros, rate_limit_per_minute,
                        burst, rate_limit_algorithm, daily_cap, monthly_quota, entitlements, limits, is_custom, is_active)
     select 'plan_bench_metered', product_id, 'bench-smi-metered', 'Metered', 'R1,490 with 50,000 calls, then R0.02 a call', currency,
            149000, 20000, rate_limit_per_minute, burst, rate_limit_algorithm, daily_cap, 50000, entitlements, limits, false, true
     from plans where code = 'smi-starter'
     union all
     select 'plan_bench_percall', product_id, 'bench-vts-per-call', 'Pay per call', 'R0.50 a call', currency,
            null, per_call_fee_micros, rate_limit_per_minute, burst, rate_limit_algorithm, daily_cap, null, entitlements, limits, false, true
     from plans where code = 'vts-enterprise'`,
  );
  // One row per subscription with every choice made for it; hashint4 of the customer's number
  // (xor a salt per choice) makes the choices look random and stay the same from run to run.
  await rows(
    db,
    `create table bench_subs as
     with c as (
       select i, 'usr_' || substr(md5('u' || i), 1, 22) as user_id,
              abs(hashint4(i)) % 100 as r1, abs(hashint4(i # 1540483477)) % 100 as r2, abs(hashint4(i # 374761393)) % 100 as r3
       from generate_series(1, $1::int) i
     ), first as (
       select i, user_id, 1 as n, r2, r3,
              case when r1 < 35 then 'smi-starter' when r1 < 45 then 'smi-pro' when r1 < 60 then 'viralscore-starter'
                   when r1 < 80 then 'cm-developer' when r1 < 95 then 'bench-smi-metered' else 'bench-vts-per-call' end as code
       from c
     ), second as (
       select i, user_id, 2 as n, r2, r3,
              case when code = 'cm-developer' then 'smi-starter' when r2 < 18 then 'cm-developer'
                   when code = 'viralscore-starter' then 'smi-starter' else 'viralscore-starter' end as code
       from first where r2 < 35
     ), subs as (select * from first union all select * from second)
     select s.i, s.n, s.user_id, s.code, p.id as plan_id, p.monthly_quota as quota,
            'sub_' || substr(md5('s' || s.n || '-' || s.i), 1, 22) as sub_id,
            'key_' || substr(md5('k' || s.n || '-' || s.i), 1, 22) as key_id,
            s.n = 1 and s.r3 = 0 as cancel_at_period_end,
            case when s.n = 1 and s.code = 'smi-pro' and s.r3 between 1 and 10 then (select id from plans where code = 'smi-starter') end as scheduled_plan_id,
            abs(hashint4((s.i * 2 + s.n) # 668265263)) % 1000 as u,
            abs(hashint4((s.i * 2 + s.n) # 1274126177)) % 1000000 as v
     from subs s join plans p on p.code = s.code`,
    [customers],
  );
  await step(
    'users',
    `insert into users (id, email, password_hash, role, created_at, updated_at)
     select 'usr_' || substr(md5('u' || i), 1, 22), 'customer' || i || '@bench.example', 'scrypt$bench$not-a-real-hash', 'customer',
            $2::timestamptz - (i % 400) * interval '1 day', $2::timestamptz - (i % 400) * interval '1 day'
     from generate_series(1, $1::int) i`,
    [customers, prev],
  );
  await step(
    'subscriptions',
    `insert into subscriptions (id, user_id, plan_id, status, current_period_start, current_period_end, created_at, updated_at,
                                scheduled_plan_id, cancel_at_period_end)
     select sub_id, user_id, plan_id, 'active', $1::timestamptz, $2::timestamptz,
            $1::timestamptz - (i % 400) * interval '1 day' + n * interval '1 minute', $1::timestamptz,
            scheduled_plan_id, cancel_at_period_end
     from bench_subs`,
    [prev, asOf],
  );
  await step(
    'api_keys (one per subscription)',
    `insert into api_keys (id, user_id, plan_id, subscription_id, key_hash, display_prefix, last_four, label, created_at, updated_at)
     select key_id, user_id, plan_id, sub_id, md5('h' || key_id) || md5('g' || key_id), 'tg_live_' || substr(md5('p' || key_id), 1, 4),
            substr(md5('l' || key_id), 1, 4), 'production', $1::timestamptz, $1::timestamptz
     from bench_subs`,
    [prev],
  );
  // count/overage as the gateway leaves them: plans without overage pricing stop at their quota.
  await step(
    'usage_counters (previous month)',
    `insert into usage_counters (api_key_id, period, count, overage, updated_at)
     select key_id, $1, calls, greatest(calls - coalesce(quota, calls), 0), $2::timestamptz
     from (
       select key_id, quota,
              case when code = 'bench-vts-per-call' then 1 + v % 20000
                   when code = 'bench-smi-metered' and u >= 550 then 50000 + 1 + v % 30000
                   when u >= 900 then quota
                   else v % least(quota, 400000) end as calls
       from bench_subs where u >= 200
     ) k`,
    [month.counterPeriod, asOf],
  );
  await step(
    'billing_profiles (70 %)',
    `insert into billing_profiles (user_id, name, company, vat_number, country, email, address_lines)
     select 'usr_' || substr(md5('u' || i), 1, 22), 'Customer ' || i, case when i % 3 = 0 then 'Company ' || i || ' (Pty) Ltd' end,
            case when i % 6 = 0 then '4' || lpad((i % 1000000000)::text, 9, '0') end,
            case when abs(hashint4(i # 1103515245)) % 100 < 86 then 'ZA' else 'US' end,
            'billing' || i || '@bench.example', '["1 Long Street", "Cape Town", "8001"]'::jsonb
     from generate_series(1, $1::int) i where abs(hashint4(i # 1013904223)) % 100 >= 30`,
    [customers],
  );
  await step(
    'webhook_endpoints (2 %, invoice.created)',
    `insert into webhook_endpoints (id, user_id, url, events, secret_sealed, status, verified_at)
     select 'wh_' || substr(md5('w' || i), 1, 22), 'usr_' || substr(md5('u' || i), 1, 22), 'https://hooks.bench.example/' || i,
            '["invoice.created"]'::jsonb, 'sealed-bench-secret', 'active', $2::timestamptz
     from generate_series(1, $1::int) i where abs(hashint4(i # 1664525)) % 100 between 50 and 51`,
    [customers, prev],
  );
  return steps;
}

export async function analyze(db: Sql): Promise<void> {
  for (const table of [...BILLING_TABLES, 'bench_subs']) await rows(db, `analyze ${table}`);
}

/** What the data holds, for the report. */
export async function dataSummary(db: Sql, month: Month): Promise<Record<string, number>> {
  const r = await one(
    db,
    `select (select count(*) from users) as users, (select count(*) from subscriptions) as subscriptions,
            (select count(*) from api_keys) as api_keys, (select count(*) from usage_counters where period = $1) as counters,
            (select count(*) from usage_counters where period = $1 and overage > 0) as counters_with_overage,
            (select count(*) from billing_profiles) as profiles, (select count(*) from webhook_endpoints) as endpoints,
            (select count(*) from subscriptions where cancel_at_period_end) as cancelling,
            (select count(*) from subscriptions where scheduled_plan_id is not null) as downgrading`,
    [month.counterPeriod],
  );
  return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Number(v)]));
}

// ---------------------------------------------------------------------------------------------
// Baseline

/**
 * The month in one statement: each subscription's fee (the plan in force next month) and last
 * month's usage charge (per-call plans: every call; metered: the overage), summed per customer
 * and currency, VAT from the billing profile's country, written to a table. The rounding is the
 * cycle's (each usage line half-up once, VAT half-up on the subtotal), so the checks compare
 * amounts exactly. What it leaves out is what the cycle adds: lines, buyer copies, numbers,
 * events, the new periods, paging and transactions.
 */
export const BASELINE_SQL = `
create table bench_baseline as
with usage as (
  select k.subscription_id, sum(c.count)::bigint as calls, sum(c.overage)::bigint as overage
  from usage_counters c join api_keys k on k.id = c.api_key_id
  where c.period = $2 and not k.is_sandbox
  group by k.subscription_id
), lines as (
  select s.user_id, coming.currency,
         case when s.cancel_at_period_end or s.status = 'suspended' then 0 else coalesce(coming.monthly_fee_minor, 0) end as amount,
         case when s.cancel_at_period_end or s.status = 'suspended' then 0 when coalesce(coming.monthly_fee_minor, 0) > 0 then 1 else 0 end as n
  from subscriptions s join plans coming on coming.id = coalesce(s.scheduled_plan_id, s.plan_id)
  where s.current_period_start < $1::timestamptz and s.status in ('active', 'past_due', 'suspended')
  union all
  select s.user_id, p.currency,
         ((case when p.monthly_quota is null then u.calls else u.overage end) * p.per_call_fee_micros * 200 + 1000000) / 2000000,
         1
  from subscriptions s join plans p on p.id = s.plan_id join usage u on u.subscription_id = s.id
  where s.current_period_start < $1::timestamptz and s.status in ('active', 'past_due', 'suspended')
    and coalesce(p.per_call_fee_micros, 0) > 0 and (case when p.monthly_quota is null then u.calls else u.overage end) > 0
), totals as (
  select user_id, currency, sum(amount)::bigint as subtotal, sum(n)::bigint as lines from lines group by user_id, currency having sum(amount) > 0
)
select t.user_id, t.currency, t.subtotal, t.lines, r.vat_rate, (t.subtotal * r.vat_rate * 2 + 10000) / 20000 as vat,
       t.subtotal + (t.subtotal * r.vat_rate * 2 + 10000) / 20000 as total
from totals t left join billing_profiles b on b.user_id = t.user_id
cross join lateral (select case when b.country = 'ZA' then 1500 else 0 end as vat_rate) r`;

/** Runs the baseline (timed by the caller); answers the rows it wrote. */
export async function runBaseline(db: Sql, month: Month): Promise<number> {
  await rows(db, 'drop table if exists bench_baseline');
  await rows(db, BASELINE_SQL, [month.asOf.toISOString(), month.counterPeriod]);
  return Number((await one(db, 'select count(*) as n from bench_baseline')).n);
}

// ---------------------------------------------------------------------------------------------
// Checks

export interface CheckResult {
  ok: boolean;
  failures: string[];
  invoices: number;
  expectedInvoices: number;
  lines: number;
  expectedLines: number;
  events: number;
  expectedEvents: number;
  numbers: { min: number; max: number; distinct: number };
}

/** After the cycle (not timed): the cycle's invoices against the baseline's totals, and the numbering. */
export async function check(db: Sql, month: Month, year: number, customers: number): Promise<CheckResult> {
  const failures: string[] = [];
  const asOf = month.asOf.toISOString();
  const counts = await one(
    db,
    `select (select count(*) from invoices where kind = 'cycle' and period_start = $1::timestamptz) as invoices,
            (select count(*) from invoices where kind = 'cycle' and period_start = $1::timestamptz and status <> 'open') as not_open,
            (select count(*) from bench_baseline) as expected,
            (select count(*) from invoice_lines l join invoices i on i.id = l.invoice_id where i.kind = 'cycle' and i.period_start = $1::timestamptz) as lines,
            (select coalesce(sum(lines), 0) from bench_baseline) as expected_lines,
            (select count(*) from webhook_events where type = 'invoice.created') as events,
            (select count(*) from bench_baseline b where exists (select 1 from webhook_endpoints w where w.user_id = b.user_id)) as expected_events,
            (select count(*) from subscriptions where current_period_start <> $1::timestamptz) as not_rolled,
            (select count(*) from subscriptions where cancel_at_period_end and status <> 'cancelled') as not_cancelled,
            (select count(*) from subscriptions where scheduled_plan_id is not null) as still_scheduled,
            (select count(*) from api_keys k join subscriptions s on s.id = k.subscription_id where k.plan_id <> s.plan_id) as keys_on_old_plan`,
    [asOf],
  );
  const n = (key: string) => Number(counts[key]);
  const mismatched = Number(
    (
      await one(
        db,
        `select count(*) as n from (select * from invoices where kind = 'cycle' and period_start = $1::timestamptz) i
         full join bench_baseline b on b.user_id = i.user_id and b.currency = i.currency
         where i.id is null or b.user_id is null or i.subtotal_minor <> b.subtotal or i.vat_rate_bps <> b.vat_rate
            or i.vat_minor <> b.vat or i.total_minor <> b.total`,
        [asOf],
      )
    ).n,
  );
  const numbering = await one(
    db,
    `select count(*) as n, coalesce(min(sequence), 0) as min, coalesce(max(sequence), 0) as max, count(distinct sequence) as distinct,
            count(*) filter (where number <> 'INV-' || year || '-' || lpad(sequence::text, 6, '0')) as misformatted,
            (select last from invoice_sequences where year = $1) as last
     from invoices where year = $1`,
    [year],
  );
  const run = await one(db, `select status, customers, invoices_created, invoices_issued from billing_runs where as_of = $1::timestamptz`, [asOf]);

  if (n('invoices') !== n('expected')) failures.push(`${n('invoices')} invoices, expected ${n('expected')} (customer, currency) pairs with an amount`);
  if (mismatched > 0) failures.push(`${mismatched} invoices differ from the baseline's totals (or have no counterpart)`);
  if (n('not_open') > 0) failures.push(`${n('not_open')} cycle invoices are not open`);
  if (n('lines') !== n('expected_lines')) failures.push(`${n('lines')} invoice lines, expected ${n('expected_lines')}`);
  if (n('events') !== n('expected_events')) failures.push(`${n('events')} invoice.created events, expected ${n('expected_events')}`);
  if (n('not_rolled') > 0) failures.push(`${n('not_rolled')} subscriptions did not start the new period`);
  if (n('not_cancelled') + n('still_scheduled') > 0) failures.push(`${n('not_cancelled')} cancellations and ${n('still_scheduled')} downgrades not applied`);
  if (n('keys_on_old_plan') > 0) failures.push(`${n('keys_on_old_plan')} keys not moved to their subscription's plan`);
  const total = Number(numbering.n);
  if (Number(numbering.min) !== 1 || Number(numbering.max) !== total || Number(numbering.distinct) !== total || Number(numbering.last) !== total) {
    failures.push(`numbers of ${year}: ${total} invoices, min ${numbering.min}, max ${numbering.max}, distinct ${numbering.distinct}, sequence at ${numbering.last}`);
  }
  if (Number(numbering.misformatted) > 0) failures.push(`${numbering.misformatted} numbers not INV-YYYY-NNNNNN`);
  if (run.status !== 'completed' || Number(run.customers) !== customers || Number(run.invoices_issued) !== n('expected')) {
    failures.push(`billing run: ${JSON.stringify(run)}, expected completed with ${customers} customers and ${n('expected')} issued`);
  }
  return {
    ok: failures.length === 0,
    failures,
    invoices: n('invoices'),
    expectedInvoices: n('expected'),
    lines: n('lines'),
    expectedLines: n('expected_lines'),
    events: n('events'),
    expectedEvents: n('expected_events'),
    numbers: { min: Number(numbering.min), max: Number(numbering.max), distinct: Number(numbering.distinct) },
  };
}

/** Counts after a second run must be what they were after the first. */
export async function cycleRowCounts(db: Sql): Promise<{ invoices: number; lines: number; events: number; sequence: number }> {
  const r = await one(
    db,
    `select (select count(*) from invoices) as invoices, (select count(*) from invoice_lines) as lines,
            (select count(*) from webhook_events) as events, (select coalesce(max(last), 0) from invoice_sequences) as sequence`,
  );
  return { invoices: Number(r.invoices), lines: Number(r.lines), events: Number(r.events), sequence: Number(r.sequence) };
}
