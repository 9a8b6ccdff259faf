import { computeInvoice, monthlyCycleLines, monthPeriod, monthStartMs, nextMonthStartMs, type Clock, type EventBus, type InvoiceLine } from '@tollgate/core';
import type { BillableSubscription, BillingRun, NewInvoice, Repositories } from '@tollgate/store';
import type { JobDefinition } from '../queue.ts';
import { invalidateKeys } from '../key-invalidation.ts';
import { buyerOf, dueDateFor, feeDescription, invoiceEvent, toNewInvoice, usageDescription, vatRateFor, type BillingSettings } from './invoicing.ts';

/*
 * The monthly cycle, for the month that contains `asOf` (the scheduled run: 00:00 UTC on the 1st).
 *
 * 1. Bill: customers in pages; for each, one draft invoice per currency with each subscription's
 *    fee for the coming month (the plan in force then: downgrades and cancellations take effect
 *    here) and last month's overage or per-call usage. In the same transaction each billed
 *    subscription starts its new period. That is what makes the cycle idempotent: a second run,
 *    even a concurrent one, finds no subscription left in an older period, and the unique
 *    (customer, currency, period) index refuses a draft twice.
 * 2. Issue: drafts get their numbers in customer order, become `open` with a due date, and
 *    `invoice.created` is stored, in batches; PDFs and emails follow from the mail job.
 *
 * A suspended subscription starts a new period without a fee (it serves nothing until paid) but
 * still pays last month's usage. Customers whose month costs nothing get no invoice.
 */

export interface CycleOptions {
  asOf: Date;
  /** Who started the run, for the audit log (null: the schedule or the CLI). */
  actorId?: string | null;
  /** Customers billed per transaction. */
  customersPerBatch?: number;
  /** Drafts numbered per transaction. */
  issuePerBatch?: number;
  onProgress?: (run: BillingRun) => void;
}

export interface CycleDeps {
  repos: Repositories;
  bus: EventBus;
  clock: Clock;
  settings: BillingSettings;
}

/** `2026-12`: the month a run bills, and its key in `billing_runs`. */
export function billingPeriodOf(asOf: Date): string {
  return monthPeriod(asOf.getTime());
}

export async function runBillingCycle(deps: CycleDeps, options: CycleOptions): Promise<BillingRun> {
  const { repos, clock } = deps;
  const periodStartMs = monthStartMs(options.asOf.getTime());
  const periodStart = new Date(periodStartMs);
  const periodEnd = new Date(nextMonthStartMs(periodStartMs));
  const period = billingPeriodOf(periodStart);
  const pastMonthCounter = `month:${monthPeriod(periodStartMs - 1)}`;
  // 2,000 a batch: as fast as larger batches once statistics are fresh (docs/benchmarks.md), and
  // on PGlite each batch holds the database's one session for about half a second rather than 1.3 s.
  const customersPerBatch = options.customersPerBatch ?? 2_000;
  const report = (run: BillingRun | null) => run && options.onProgress?.(run);

  report(await repos.billing.startRun(period, periodStart, new Date(clock.now())));
  try {
    // Last month's calls into the counters first: a gateway holds a key's counter up to five minutes (usage writer).
    await repos.usage.replayRollups({ lastBefore: periodStart });
    await repos.billing.analyzeForCycle();
    let after = '';
    let created = 0;
    for (;;) {
      const page = await repos.billing.billableSubscriptions(periodStart, pastMonthCounter, after, customersPerBatch);
      if (page.length === 0) break;
      after = (page.at(-1) as BillableSubscription).userId;
      const drafts = await draftsFor(deps, page, periodStart, periodEnd);
      const batch = await repos.transaction(async (tx) => ({
        created: await tx.billing.insertCycleDrafts(drafts),
        changed: await tx.billing.startPeriod(page.map((s) => s.subscriptionId), periodStart, periodEnd),
      }));
      created += batch.created.length;
      await invalidateKeys(deps, batch.changed);
      report(await repos.billing.updateRun(period, { addCustomers: new Set(page.map((s) => s.userId)).size, addCreated: batch.created.length }));
    }
    // The new drafts' statistics, so numbering walks them by index rather than scanning every invoice.
    if (created > 0) {
      await repos.billing.analyzeForCycle();
    }
    await issueDrafts(deps, periodStart, period, options);
    const run = await repos.billing.updateRun(period, { status: 'completed', finishedAt: new Date(clock.now()) });
    report(run);
    await repos.audit.append({
      actorId: options.actorId ?? null,
      action: 'billing.run',
      resourceType: 'billing_run',
      resourceId: period,
      data: { asOf: options.asOf.toISOString(), invoicesIssued: run?.invoicesIssued ?? 0 },
    });
    return run as BillingRun;
  } catch (error) {
    await repos.billing.updateRun(period, { status: 'failed', error: (error as Error).message, finishedAt: new Date(clock.now()) }).catch(() => undefined);
    throw error;
  }
}

async function draftsFor(deps: CycleDeps, page: readonly BillableSubscription[], periodStart: Date, periodEnd: Date): Promise<NewInvoice[]> {
  const profiles = await deps.repos.billing.profiles([...new Set(page.map((s) => s.userId))]);
  // customer → currency → lines, each line remembering the subscription it bills.
  const grouped = new Map<string, Map<string, { lines: InvoiceLine[]; subscriptions: string[] }>>();
  const emails = new Map<string, string>();
  for (const sub of page) {
    emails.set(sub.userId, sub.userEmail);
    const coming = sub.cancelAtPeriodEnd || sub.status === 'suspended' ? null : (sub.scheduledPlan ?? sub.plan);
    const lines = monthlyCycleLines({
      comingPlan: coming,
      pastPlan: sub.plan,
      usageLastMonth: { calls: sub.calls, overageCalls: sub.overageCalls },
      feeDescription: feeDescription(coming?.name ?? sub.plan.name, sub.productName),
      usageDescription: (n) => usageDescription(sub.plan.monthlyQuota === null ? 'per_call' : 'overage', sub.productName, n),
    });
    for (const line of lines) {
      const byCurrency = grouped.get(sub.userId) ?? new Map();
      grouped.set(sub.userId, byCurrency);
      const bucket = byCurrency.get(line.currency) ?? { lines: [], subscriptions: [] };
      byCurrency.set(line.currency, bucket);
      bucket.lines.push(line);
      bucket.subscriptions.push(sub.subscriptionId);
    }
  }
  const drafts: NewInvoice[] = [];
  for (const [userId, byCurrency] of grouped) {
    const buyer = buyerOf(profiles.get(userId), emails.get(userId) as string, deps.settings);
    for (const [currency, bucket] of byCurrency) {
      const amounts = computeInvoice({ currency, lines: bucket.lines, vatRateBps: vatRateFor(buyer, deps.settings) });
      if (amounts.totalMinor === 0) continue;
      drafts.push(toNewInvoice({ userId, kind: 'cycle', periodStart, periodEnd, amounts, buyer, dueAt: null, subscriptionOfLine: (_, i) => bucket.subscriptions[i] ?? null }));
    }
  }
  return drafts;
}

async function issueDrafts(deps: CycleDeps, periodStart: Date, period: string, options: CycleOptions): Promise<void> {
  const { repos, clock, settings } = deps;
  const batch = options.issuePerBatch ?? 1_000;
  for (;;) {
    const issuedAt = new Date(clock.now());
    const issued = await repos.transaction(async (tx) => {
      const invoices = await tx.billing.issueCycleDrafts(periodStart, batch, issuedAt, dueDateFor(issuedAt, settings));
      await tx.billing.emitToSubscribers(invoices.map((invoice) => invoiceEvent('invoice.created', invoice, issuedAt)));
      return invoices;
    });
    if (issued.length === 0) return;
    const run = await repos.billing.updateRun(period, { addIssued: issued.length });
    if (run) options.onProgress?.(run);
    await deps.bus.publish({ topic: 'webhooks.pending' });
  }
}

export const BILLING_CYCLE_JOB = 'billing.cycle';

/** 00:00 UTC on the 1st: bills the month that starts. A retry after a failure carries on where it stopped. */
export function billingCycleJob(deps: CycleDeps & { log: { info(obj: object, msg: string): void } }): JobDefinition {
  return {
    name: BILLING_CYCLE_JOB,
    cron: '0 0 1 * *',
    async handle() {
      const run = await runBillingCycle(deps, { asOf: new Date(deps.clock.now()) });
      deps.log.info({ period: run.period, customers: run.customers, invoices: run.invoicesIssued }, 'billing cycle done');
    },
  };
}
