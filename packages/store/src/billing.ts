import { and, asc, count, desc, eq, inArray, isNull, lte, ne, sql, type SQL } from 'drizzle-orm';
import type { InvoiceKind, InvoiceStatus, PaymentStatus } from '@tollgate/contracts';
import { formatInvoiceNumber } from '@tollgate/core';
import { queryRows, type Db } from './database.ts';
import { rethrowUnique } from './errors.ts';
import { newId } from './ids.ts';
import { insertWebhookEvents, type NewWebhookEvent } from './webhooks.ts';
import { billingProfiles, billingRuns, invoiceLines, invoices, invoiceSequences, paymentEvents, paymentMethods, payments } from './schema.ts';

type ProfileRow = typeof billingProfiles.$inferSelect;
export type BillingProfile = ProfileRow;
export type BillingProfileInput = Pick<ProfileRow, 'name' | 'company' | 'vatNumber' | 'country' | 'email' | 'addressLines'>;

type InvoiceRow = typeof invoices.$inferSelect;
export interface Invoice extends Omit<InvoiceRow, 'status' | 'kind'> {
  status: InvoiceStatus;
  kind: InvoiceKind;
}
const toInvoice = (row: InvoiceRow): Invoice => ({ ...row, status: row.status as InvoiceStatus, kind: row.kind as InvoiceKind });

export type StoredInvoiceLine = Omit<typeof invoiceLines.$inferSelect, 'invoiceId' | 'unitPriceScale'> & {
  unitPriceScale: 'minor' | 'micros';
};

export interface NewInvoice {
  userId: string;
  kind: InvoiceKind;
  currency: string;
  periodStart: Date;
  periodEnd: Date;
  subtotalMinor: number;
  vatRateBps: number;
  vatMinor: number;
  totalMinor: number;
  buyer: Record<string, unknown>;
  dueAt: Date | null;
  metadata?: Record<string, unknown>;
  lines: Omit<StoredInvoiceLine, 'position'>[];
}

type PaymentRow = typeof payments.$inferSelect;
export interface Payment extends Omit<PaymentRow, 'status'> {
  status: PaymentStatus;
}
const toPayment = (row: PaymentRow): Payment => ({ ...row, status: row.status as PaymentStatus });

export type BillingRun = typeof billingRuns.$inferSelect;
export type StoredPaymentMethod = typeof paymentMethods.$inferSelect;

/** A subscription the monthly cycle bills, with the plans and last month's usage it needs. */
export interface BillableSubscription {
  subscriptionId: string;
  userId: string;
  userEmail: string;
  status: string;
  cancelAtPeriodEnd: boolean;
  productName: string;
  plan: BilledPlanRow;
  scheduledPlan: BilledPlanRow | null;
  calls: number;
  overageCalls: number;
}

export interface BilledPlanRow {
  id: string;
  name: string;
  currency: string;
  monthlyFeeMinor: number | null;
  perCallFeeMicros: number | null;
  monthlyQuota: number | null;
}

/** An issued invoice as the events and mails about it need it. */
export interface IssuedInvoice {
  id: string;
  userId: string;
  number: string;
  status: InvoiceStatus;
  currency: string;
  totalMinor: number;
}

const num = (v: unknown): number => Number(v);

/** The plan columns the cycle's page query selects under a prefix (`plan_fee`, `next_fee`); null when absent. */
function billedPlan(row: Record<string, unknown>, prefix: 'plan' | 'next'): BilledPlanRow | null {
  if (!row[`${prefix}_id`]) return null;
  return {
    id: row[`${prefix}_id`] as string,
    name: row[`${prefix}_name`] as string,
    currency: row[`${prefix}_currency`] as string,
    monthlyFeeMinor: numOrNull(row[`${prefix}_fee`]),
    perCallFeeMicros: numOrNull(row[`${prefix}_micros`]),
    monthlyQuota: numOrNull(row[`${prefix}_quota`]),
  };
}
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export class BillingRepository {
  constructor(private readonly db: Db) {}

  // ------------------------------------------------------------------------------------------
  // Profiles

  async profile(userId: string): Promise<BillingProfile | null> {
    const [row] = await this.db.select().from(billingProfiles).where(eq(billingProfiles.userId, userId));
    return row ?? null;
  }

  async saveProfile(userId: string, input: BillingProfileInput): Promise<BillingProfile> {
    const [row] = await this.db
      .insert(billingProfiles)
      .values({ userId, ...input })
      .onConflictDoUpdate({ target: billingProfiles.userId, set: { ...input, updatedAt: new Date() } })
      .returning();
    return row as BillingProfile;
  }

  /** Profiles of many customers at once (the cycle addresses thousands of invoices per batch). */
  async profiles(userIds: readonly string[]): Promise<Map<string, BillingProfile>> {
    if (userIds.length === 0) return new Map();
    const rows = await this.db.select().from(billingProfiles).where(inArray(billingProfiles.userId, [...userIds]));
    return new Map(rows.map((r) => [r.userId, r]));
  }

  // ------------------------------------------------------------------------------------------
  // Invoices

  /**
   * Stores an invoice already issued: `open` with the next number of `issuedAt`'s year. Call it
   * inside a transaction, so the number is given back if anything else in the change fails.
   */
  async issue(input: NewInvoice, issuedAt: Date): Promise<Invoice> {
    const year = issuedAt.getUTCFullYear();
    const sequence = await this.allocateNumbers(year, 1);
    const id = newId('invoice');
    const [row] = await this.db
      .insert(invoices)
      .values({
        id,
        userId: input.userId,
        kind: input.kind,
        currency: input.currency,
        periodStart: input.periodStart,
        periodEnd: input.periodEnd,
        status: 'open',
        number: formatInvoiceNumber(year, sequence),
        year,
        sequence,
        subtotalMinor: input.subtotalMinor,
        vatRateBps: input.vatRateBps,
        vatMinor: input.vatMinor,
        totalMinor: input.totalMinor,
        buyer: input.buyer,
        issuedAt,
        dueAt: input.dueAt,
        metadata: input.metadata ?? {},
      })
      .returning();
    await this.insertLines([{ id, lines: input.lines }]);
    return toInvoice(row as InvoiceRow);
  }

  /**
   * Stores the cycle's invoices as drafts, skipping any that exist for the same customer,
   * currency and period (a second or concurrent run). Answers the ids it stored, by customer.
   */
  async insertCycleDrafts(drafts: readonly NewInvoice[]): Promise<{ id: string; userId: string; currency: string }[]> {
    if (drafts.length === 0) return [];
    const ids = drafts.map(() => newId('invoice'));
    const column = <T>(pick: (d: NewInvoice) => T) => sql.param(drafts.map(pick));
    const inserted = await queryRows<{ id: string; user_id: string; currency: string }>(
      this.db,
      sql`insert into invoices (id, user_id, kind, currency, period_start, period_end, status, subtotal_minor, vat_rate_bps,
                                vat_minor, total_minor, buyer, due_at, metadata)
          select id, user_id, 'cycle', currency, period_start, period_end, 'draft', subtotal, vat_rate, vat, total, buyer, null, '{}'::jsonb
          from unnest(${sql.param(ids)}::text[], ${column((d) => d.userId)}::text[], ${column((d) => d.currency)}::text[],
                      ${column((d) => d.periodStart.toISOString())}::timestamptz[], ${column((d) => d.periodEnd.toISOString())}::timestamptz[],
                      ${column((d) => d.subtotalMinor)}::bigint[], ${column((d) => d.vatRateBps)}::int[], ${column((d) => d.vatMinor)}::bigint[],
                      ${column((d) => d.totalMinor)}::bigint[], ${column((d) => JSON.stringify(d.buyer))}::jsonb[])
               as d(id, user_id, currency, period_start, period_end, subtotal, vat_rate, vat, total, buyer)
          on conflict (user_id, currency, period_start) where kind = 'cycle' do nothing
          returning id, user_id, currency`,
    );
    const byId = new Map(ids.map((id, i) => [id, drafts[i] as NewInvoice]));
    await this.insertLines(inserted.map((r) => ({ id: r.id, lines: (byId.get(r.id) as NewInvoice).lines })));
    return inserted.map((r) => ({ id: r.id, userId: r.user_id, currency: r.currency }));
  }

  private async insertLines(items: readonly { id: string; lines: NewInvoice['lines'] }[]): Promise<void> {
    const rows = items.flatMap(({ id, lines }) => lines.map((line, position) => ({ invoiceId: id, position, ...line })));
    if (rows.length === 0) return;
    const column = <T>(pick: (r: (typeof rows)[number]) => T) => sql.param(rows.map(pick));
    await this.db.execute(
      sql`insert into invoice_lines (invoice_id, position, subscription_id, kind, description, quantity, unit_price, unit_price_scale, amount_minor, proration)
          select * from unnest(${column((r) => r.invoiceId)}::text[], ${column((r) => r.position)}::int[], ${column((r) => r.subscriptionId)}::text[],
            ${column((r) => r.kind)}::text[], ${column((r) => r.description)}::text[], ${column((r) => r.quantity)}::bigint[],
            ${column((r) => r.unitPrice)}::bigint[], ${column((r) => r.unitPriceScale)}::text[], ${column((r) => r.amountMinor)}::bigint[],
            ${column((r) => (r.proration ? JSON.stringify(r.proration) : null))}::jsonb[])`,
    );
  }

  /**
   * Issues up to `limit` of a period's drafts: numbers in customer order from the year's sequence,
   * `open`, due at `dueAt`. Drafts another run is issuing are skipped (SKIP LOCKED), so two runs
   * share the work; the sequence row's lock keeps their numbers apart and without gaps. Call it
   * inside a transaction.
   */
  async issueCycleDrafts(periodStart: Date, limit: number, issuedAt: Date, dueAt: Date): Promise<IssuedInvoice[]> {
    const picked = await queryRows<{ id: string }>(
      this.db,
      sql`select id from invoices
          where kind = 'cycle' and period_start = ${periodStart.toISOString()}::timestamptz and status = 'draft'
          order by user_id, currency limit ${limit} for update skip locked`,
    );
    if (picked.length === 0) return [];
    const year = issuedAt.getUTCFullYear();
    const first = await this.allocateNumbers(year, picked.length);
    const sequences = picked.map((_, i) => first + i);
    const rows = await queryRows<{ id: string; user_id: string; number: string; currency: string; total_minor: unknown }>(
      this.db,
      sql`update invoices i set status = 'open', year = ${year}, sequence = n.seq, number = n.number,
                 issued_at = ${issuedAt.toISOString()}::timestamptz, due_at = ${dueAt.toISOString()}::timestamptz, updated_at = now()
          from unnest(${sql.param(picked.map((p) => p.id))}::text[], ${sql.param(sequences)}::bigint[],
                      ${sql.param(sequences.map((seq) => formatInvoiceNumber(year, seq)))}::text[]) as n(id, seq, number)
          where i.id = n.id and i.id = any(${sql.param(picked.map((p) => p.id))}::text[])
          returning i.id, i.user_id, i.number, i.currency, i.total_minor`,
    );
    return rows.map((r) => ({ id: r.id, userId: r.user_id, number: r.number, status: 'open', currency: r.currency, totalMinor: num(r.total_minor) }));
  }

  /** Reserves `n` consecutive numbers of `year`; answers the first. The row lock lasts until commit. */
  private async allocateNumbers(year: number, n: number): Promise<number> {
    const [row] = await queryRows<{ last: unknown }>(
      this.db,
      sql`insert into invoice_sequences (year, last) values (${year}, ${n})
          on conflict (year) do update set last = invoice_sequences.last + excluded.last
          returning last`,
    );
    return num(row?.last) - n + 1;
  }

  async find(id: string): Promise<Invoice | null> {
    const [row] = await this.db.select().from(invoices).where(eq(invoices.id, id));
    return row ? toInvoice(row) : null;
  }

  /** Locks the invoice until the transaction ends: payments of one invoice are applied one at a time. */
  async findForUpdate(id: string): Promise<Invoice | null> {
    const [row] = await this.db.select().from(invoices).where(eq(invoices.id, id)).for('update');
    return row ? toInvoice(row) : null;
  }

  async lines(invoiceId: string): Promise<StoredInvoiceLine[]> {
    return (await this.linesOf([invoiceId])).get(invoiceId) ?? [];
  }

  /** The lines of many invoices in one query (a page of the list), by invoice. */
  async linesOf(invoiceIds: readonly string[]): Promise<Map<string, StoredInvoiceLine[]>> {
    const byInvoice = new Map<string, StoredInvoiceLine[]>(invoiceIds.map((id) => [id, []]));
    if (invoiceIds.length === 0) return byInvoice;
    const rows = await this.db
      .select()
      .from(invoiceLines)
      .where(inArray(invoiceLines.invoiceId, [...invoiceIds]))
      .orderBy(asc(invoiceLines.invoiceId), asc(invoiceLines.position));
    for (const { invoiceId, ...line } of rows) byInvoice.get(invoiceId)?.push({ ...line, unitPriceScale: line.unitPriceScale as 'minor' | 'micros' });
    return byInvoice;
  }

  /** A page of invoices, newest first: one customer's, or everyone's for an admin (`userId` null). */
  async list(filter: { userId: string | null; status?: InvoiceStatus; page: number; limit: number }): Promise<{ invoices: Invoice[]; total: number }> {
    // Drafts exist only inside a billing run, between billing and numbering: never listed.
    const conditions: SQL[] = [ne(invoices.status, 'draft')];
    if (filter.userId !== null) conditions.push(eq(invoices.userId, filter.userId));
    if (filter.status) conditions.push(eq(invoices.status, filter.status));
    const where = and(...conditions);
    const [rows, [total]] = await Promise.all([
      this.db.select().from(invoices).where(where).orderBy(desc(invoices.createdAt), desc(invoices.id)).limit(filter.limit).offset((filter.page - 1) * filter.limit),
      this.db.select({ n: count() }).from(invoices).where(where),
    ]);
    return { invoices: rows.map(toInvoice), total: Number(total?.n ?? 0) };
  }

  /** The subscriptions an invoice bills: paying it activates or reinstates them. */
  async subscriptionIds(invoiceId: string): Promise<string[]> {
    const rows = await this.db
      .selectDistinct({ id: invoiceLines.subscriptionId })
      .from(invoiceLines)
      .where(and(eq(invoiceLines.invoiceId, invoiceId), sql`${invoiceLines.subscriptionId} is not null`));
    return rows.map((r) => r.id as string);
  }

  /** Open or failed invoices, other than `exceptId`, billing any of these subscriptions. */
  async unpaidInvoicesOf(subscriptionIds: readonly string[], exceptId: string): Promise<string[]> {
    if (subscriptionIds.length === 0) return [];
    const rows = await queryRows<{ id: string }>(
      this.db,
      sql`select distinct i.id from invoices i join invoice_lines l on l.invoice_id = i.id
          where l.subscription_id = any(${sql.param([...subscriptionIds])}::text[]) and i.status in ('open', 'failed') and i.id <> ${exceptId}`,
    );
    return rows.map((r) => r.id);
  }

  async setStatus(id: string, status: InvoiceStatus, patch: { paidAt?: Date; amountPaidMinor?: number } = {}): Promise<Invoice | null> {
    const [row] = await this.db
      .update(invoices)
      .set({ status, updatedAt: new Date(), ...patch })
      .where(eq(invoices.id, id))
      .returning();
    return row ? toInvoice(row) : null;
  }

  // ------------------------------------------------------------------------------------------
  // Mail outbox and dunning

  /** Issued invoices whose email has not gone out yet, oldest first. */
  async unmailed(limit: number): Promise<Invoice[]> {
    const rows = await this.db
      .select()
      .from(invoices)
      .where(and(isNull(invoices.emailedAt), ne(invoices.status, 'draft')))
      .orderBy(asc(invoices.createdAt), asc(invoices.id))
      .limit(limit);
    return rows.map(toInvoice);
  }

  async countUnmailed(): Promise<number> {
    const [row] = await this.db.select({ n: count() }).from(invoices).where(and(isNull(invoices.emailedAt), ne(invoices.status, 'draft')));
    return Number(row?.n ?? 0);
  }

  async markEmailed(id: string, at: Date): Promise<void> {
    await this.db.update(invoices).set({ emailedAt: at }).where(eq(invoices.id, id));
  }

  /**
   * Unpaid invoices past their due date whose dunning has not finished, oldest due first, a page
   * at a time after `after` (the last one of the previous page).
   */
  async overdue(now: Date, after: { dueAt: Date; id: string } | null, limit: number): Promise<Invoice[]> {
    const rows = await this.db
      .select()
      .from(invoices)
      .where(
        and(
          inArray(invoices.status, ['open', 'failed']),
          lte(invoices.dueAt, now),
          sql`${invoices.dunningStage} < 3`,
          after ? sql`(${invoices.dueAt}, ${invoices.id}) > (${after.dueAt.toISOString()}::timestamptz, ${after.id})` : undefined,
        ),
      )
      .orderBy(asc(invoices.dueAt), asc(invoices.id))
      .limit(limit);
    return rows.map(toInvoice);
  }

  /** Moves an invoice's dunning forward; false when another worker already did. */
  async advanceDunning(id: string, fromStage: number, toStage: number): Promise<boolean> {
    const rows = await this.db
      .update(invoices)
      .set({ dunningStage: toStage, updatedAt: new Date() })
      .where(and(eq(invoices.id, id), eq(invoices.dunningStage, fromStage), inArray(invoices.status, ['open', 'failed'])))
      .returning({ id: invoices.id });
    return rows.length === 1;
  }

  // ------------------------------------------------------------------------------------------
  // Payments

  async createPayment(input: Pick<PaymentRow, 'invoiceId' | 'userId' | 'gateway' | 'amountMinor' | 'currency'> & { reference?: string }): Promise<Payment> {
    const id = newId('payment');
    try {
      const [row] = await this.db
        .insert(payments)
        .values({ id, reference: input.reference ?? id, status: 'pending', invoiceId: input.invoiceId, userId: input.userId, gateway: input.gateway, amountMinor: input.amountMinor, currency: input.currency })
        .returning();
      return toPayment(row as PaymentRow);
    } catch (error) {
      rethrowUnique(error);
    }
  }

  async setPaymentSession(id: string, session: { paymentUrl: string; providerReference: string }): Promise<void> {
    await this.db.update(payments).set({ ...session, updatedAt: new Date() }).where(eq(payments.id, id));
  }

  async findPayment(reference: string): Promise<Payment | null> {
    const [row] = await this.db.select().from(payments).where(eq(payments.reference, reference));
    return row ? toPayment(row) : null;
  }

  async paymentsOf(invoiceId: string): Promise<Payment[]> {
    const rows = await this.db.select().from(payments).where(eq(payments.invoiceId, invoiceId)).orderBy(asc(payments.createdAt));
    return rows.map(toPayment);
  }

  /**
   * Records a provider's notification once: false when this gateway's event id was seen before,
   * so a callback delivered twice changes nothing twice.
   */
  async recordPaymentEvent(gateway: string, providerEventId: string, paymentId: string, status: PaymentStatus): Promise<boolean> {
    const rows = await this.db
      .insert(paymentEvents)
      .values({ gateway, providerEventId, paymentId, status })
      .onConflictDoNothing()
      .returning({ id: paymentEvents.providerEventId });
    return rows.length === 1;
  }

  async completePayment(id: string, status: 'succeeded' | 'failed', at: Date, failureReason: string | null): Promise<void> {
    await this.db.update(payments).set({ status, completedAt: at, failureReason, updatedAt: at }).where(eq(payments.id, id));
  }

  /** Keeps the customer's latest reusable method at a gateway (a newer one replaces it). */
  async saveMethod(userId: string, gateway: string, tokenSealed: string, label: string): Promise<void> {
    await this.db
      .insert(paymentMethods)
      .values({ userId, gateway, tokenSealed, label })
      .onConflictDoUpdate({ target: [paymentMethods.userId, paymentMethods.gateway], set: { tokenSealed, label, updatedAt: new Date() } });
  }

  /** The customer's saved methods, most recently saved first. */
  async savedMethods(userId: string): Promise<StoredPaymentMethod[]> {
    return this.db.select().from(paymentMethods).where(eq(paymentMethods.userId, userId)).orderBy(desc(paymentMethods.updatedAt));
  }

  // ------------------------------------------------------------------------------------------
  // The monthly cycle

  /**
   * A page of the subscriptions the cycle starting at `asOf` bills, in customer order after
   * `afterUserId`: those whose current period began before `asOf` (each is rolled forward when
   * billed, which is what makes a second run find nothing), with last month's calls on their
   * non-sandbox keys. Whole customers only: a page never splits one customer's subscriptions.
   */
  async billableSubscriptions(asOf: Date, pastMonthCounter: string, afterUserId: string, customers: number): Promise<BillableSubscription[]> {
    const rows = await queryRows<Record<string, unknown>>(
      this.db,
      sql`with page as (
            select distinct user_id from subscriptions
            where current_period_start < ${asOf.toISOString()}::timestamptz and status in ('active', 'past_due', 'suspended')
              and user_id > ${afterUserId}
            order by user_id limit ${customers}
          )
          select s.id, s.user_id, us.email as user_email, s.status, s.cancel_at_period_end, pr.name as product_name,
                 p.id as plan_id, p.name as plan_name, p.currency as plan_currency, p.monthly_fee_minor as plan_fee,
                 p.per_call_fee_micros as plan_micros, p.monthly_quota as plan_quota,
                 np.id as next_id, np.name as next_name, np.currency as next_currency, np.monthly_fee_minor as next_fee,
                 np.per_call_fee_micros as next_micros, np.monthly_quota as next_quota,
                 coalesce(u.calls, 0) as calls, coalesce(u.overage, 0) as overage
          from page join subscriptions s on s.user_id = page.user_id
          join users us on us.id = s.user_id
          join plans p on p.id = s.plan_id
          join products pr on pr.id = p.product_id
          left join plans np on np.id = s.scheduled_plan_id
          left join lateral (
            select sum(c.count) as calls, sum(c.overage) as overage
            from api_keys k join usage_counters c on c.api_key_id = k.id and c.period = ${pastMonthCounter}
            where k.subscription_id = s.id and not k.is_sandbox
          ) u on true
          where s.current_period_start < ${asOf.toISOString()}::timestamptz and s.status in ('active', 'past_due', 'suspended')
          order by s.user_id, s.created_at, s.id`,
    );
    return rows.map((r) => ({
      subscriptionId: r.id as string,
      userId: r.user_id as string,
      userEmail: r.user_email as string,
      status: r.status as string,
      cancelAtPeriodEnd: r.cancel_at_period_end as boolean,
      productName: r.product_name as string,
      plan: billedPlan(r, 'plan') as BilledPlanRow,
      scheduledPlan: billedPlan(r, 'next'),
      calls: num(r.calls),
      overageCalls: num(r.overage),
    }));
  }

  /**
   * Starts the subscriptions' new period at `asOf`: scheduled downgrades take effect (their keys
   * move to the new plan) and cancellations end them. Only subscriptions still in an older
   * period change, so a concurrent or repeated run changes nothing twice. Answers the ids of the
   * subscriptions whose plan or status changed (their keys' cached records must go).
   */
  async startPeriod(subscriptionIds: readonly string[], asOf: Date, periodEnd: Date): Promise<string[]> {
    if (subscriptionIds.length === 0) return [];
    const changed = await queryRows<{ id: string; plan_id: string; changed: boolean }>(
      this.db,
      sql`update subscriptions s set
            current_period_start = ${asOf.toISOString()}::timestamptz,
            current_period_end = ${periodEnd.toISOString()}::timestamptz,
            plan_id = coalesce(s.scheduled_plan_id, s.plan_id),
            status = case when s.cancel_at_period_end then 'cancelled' else s.status end,
            scheduled_plan_id = null,
            updated_at = now()
          from (select id, scheduled_plan_id is not null or cancel_at_period_end as changed from subscriptions
                where id = any(${sql.param([...subscriptionIds])}::text[]) for update) old
          where s.id = old.id and s.id = any(${sql.param([...subscriptionIds])}::text[])
            and s.current_period_start < ${asOf.toISOString()}::timestamptz
          returning s.id, s.plan_id, old.changed`,
    );
    const moved = changed.filter((r) => r.changed);
    if (moved.length > 0) {
      await this.db.execute(
        sql`update api_keys k set plan_id = m.plan_id, updated_at = now()
            from unnest(${sql.param(moved.map((m) => m.id))}::text[], ${sql.param(moved.map((m) => m.plan_id))}::text[]) as m(id, plan_id)
            where k.subscription_id = m.id and k.plan_id <> m.plan_id`,
      );
    }
    return moved.map((m) => m.id);
  }

  /**
   * Refreshes the planner's statistics of the tables the cycle reads. PostgreSQL's autovacuum
   * keeps them roughly current; PGlite has none, and without them the cycle's page and numbering
   * queries fall back to scanning whole tables for every batch.
   */
  async analyzeForCycle(): Promise<void> {
    await this.db.execute(sql`analyze subscriptions, api_keys, usage_counters, invoices, billing_profiles`);
  }

  async startRun(period: string, asOf: Date, now: Date): Promise<BillingRun> {
    const [row] = await this.db
      .insert(billingRuns)
      .values({ period, asOf, status: 'running', startedAt: now })
      .onConflictDoUpdate({ target: billingRuns.period, set: { status: 'running', asOf, startedAt: now, finishedAt: null, error: null } })
      .returning();
    return row as BillingRun;
  }

  async updateRun(period: string, patch: Partial<Pick<BillingRun, 'status' | 'finishedAt' | 'error'>> & { addCustomers?: number; addCreated?: number; addIssued?: number }): Promise<BillingRun | null> {
    const { addCustomers = 0, addCreated = 0, addIssued = 0, ...rest } = patch;
    const [row] = await this.db
      .update(billingRuns)
      .set({
        ...rest,
        customers: sql`${billingRuns.customers} + ${addCustomers}`,
        invoicesCreated: sql`${billingRuns.invoicesCreated} + ${addCreated}`,
        invoicesIssued: sql`${billingRuns.invoicesIssued} + ${addIssued}`,
      })
      .where(eq(billingRuns.period, period))
      .returning();
    return row ?? null;
  }

  async run(period: string): Promise<BillingRun | null> {
    const [row] = await this.db.select().from(billingRuns).where(eq(billingRuns.period, period));
    return row ?? null;
  }

  async runs(limit: number): Promise<BillingRun[]> {
    return this.db.select().from(billingRuns).orderBy(desc(billingRuns.period)).limit(limit);
  }

  /**
   * Stores the events whose customer has an endpoint subscribed to their type, and only those:
   * nobody else could receive them, and the cycle announces an invoice to every customer.
   */
  async emitToSubscribers(events: readonly NewWebhookEvent[]): Promise<number> {
    const users = [...new Set(events.map((e) => e.userId).filter((u): u is string => u !== null))];
    if (users.length === 0) return 0;
    const endpoints = await queryRows<{ user_id: string; events: string[] }>(
      this.db,
      sql`select user_id, events from webhook_endpoints where user_id = any(${sql.param(users)}::text[]) and status <> 'deleted'`,
    );
    const wants = new Set(endpoints.flatMap((e) => e.events.map((type) => `${e.user_id} ${type}`)));
    const wanted = events.filter((e) => wants.has(`${e.userId} ${e.type}`));
    return (await insertWebhookEvents(this.db, wanted)).length;
  }
}

