import type { Clock } from '@tollgate/core';
import { formatMinorAmount, MailSendError, renderInvoicePdf, type Mailer } from '@tollgate/runtime';
import type { Invoice, Repositories } from '@tollgate/store';
import type { JobDefinition, JobLog } from '../queue.ts';
import { invoiceDocument } from './documents.ts';
import type { Buyer, BillingSettings } from './invoicing.ts';

export const INVOICE_MAIL_JOB = 'billing.invoice-mail';

export interface InvoiceMailDeps {
  repos: Repositories;
  mailer: Mailer;
  clock: Clock;
  log: JobLog;
  settings: BillingSettings;
  /** Base of the links in the email. */
  publicUrl: string;
}

const utcDay = (d: Date | null) => (d ? d.toISOString().slice(0, 10) : 'on receipt');

export function invoicePdfPath(invoiceId: string): string {
  return `/api/v1/api-marketplace/billing/invoices/${invoiceId}/pdf`;
}

/** The email announcing an issued invoice, with its PDF attached. */
export async function invoiceEmail(deps: Pick<InvoiceMailDeps, 'repos' | 'settings' | 'publicUrl'>, invoice: Invoice) {
  const lines = await deps.repos.billing.lines(invoice.id);
  const pdf = await renderInvoicePdf(invoiceDocument(invoice, lines, deps.settings.seller));
  const buyer = invoice.buyer as unknown as Buyer;
  const total = formatMinorAmount(invoice.totalMinor, invoice.currency);
  return {
    to: buyer.email,
    subject: `Invoice ${invoice.number} from ${deps.settings.seller.name}: ${total}`,
    text: [
      `Hello ${buyer.name},`,
      '',
      `Invoice ${invoice.number} for ${total} is attached. It is due ${utcDay(invoice.dueAt)}.`,
      `Pay it online: sign in at ${deps.publicUrl} and open Billing, or call POST /api/v1/api-marketplace/billing/invoices/${invoice.id}/pay.`,
      `PDF: ${deps.publicUrl}${invoicePdfPath(invoice.id)}`,
      '',
      deps.settings.seller.name,
    ].join('\n'),
    attachments: [{ filename: `${invoice.number}.pdf`, content: pdf, contentType: 'application/pdf' }],
  };
}

/**
 * Sends the email of every issued invoice that has not had one (the `emailed_at` outbox), oldest
 * first. A relay that is down stops the round (the next one carries on); an address the relay
 * refuses for good is logged and not retried for ever.
 */
export async function sendInvoiceEmails(deps: InvoiceMailDeps, limit = 200): Promise<{ sent: number; refused: number }> {
  let sent = 0;
  let refused = 0;
  for (const invoice of await deps.repos.billing.unmailed(limit)) {
    try {
      await deps.mailer.send(await invoiceEmail(deps, invoice));
      sent++;
    } catch (error) {
      if (!(error instanceof MailSendError && error.permanent)) throw error;
      refused++;
      deps.log.error({ err: error, invoiceId: invoice.id }, 'invoice email refused for good; not retried');
    }
    await deps.repos.billing.markEmailed(invoice.id, new Date(deps.clock.now()));
  }
  return { sent, refused };
}

export function invoiceMailJob(deps: InvoiceMailDeps): JobDefinition {
  return {
    name: INVOICE_MAIL_JOB,
    cron: '* * * * *',
    async handle() {
      // Drains the outbox, a batch at a time, so a cycle's thousands of emails go out in one run.
      for (;;) {
        const { sent, refused } = await sendInvoiceEmails(deps);
        if (sent + refused === 0) return;
        deps.log.info({ sent, refused, left: await deps.repos.billing.countUnmailed() }, 'invoice emails sent');
      }
    },
  };
}
