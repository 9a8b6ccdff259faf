import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createTransport } from 'nodemailer';

/*
 * Outgoing email (invoices, receipts). With SMTP_URL set, mail goes to that relay. Without it, the
 * embedded default writes each message as an .eml file, so a demo install needs no mail server and
 * its operator can still open exactly what a customer would have received.
 */

export interface MailAttachment {
  filename: string;
  content: Buffer;
  contentType: string;
}

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html?: string;
  attachments?: MailAttachment[];
}

export interface Mailer {
  send(message: MailMessage): Promise<{ messageId: string }>;
  /** Releases connections; sending after close is a bug. */
  close?(): Promise<void>;
}

export type MailSendErrorCode = 'rejected' | 'auth' | 'timeout' | 'connection' | 'failed';

/**
 * A message that was not delivered to the relay. `permanent` means retrying the same message will
 * fail the same way (a 5xx answer, such as an unknown recipient); otherwise a later try may work.
 */
export class MailSendError extends Error {
  constructor(
    message: string,
    readonly code: MailSendErrorCode,
    readonly permanent: boolean,
    /** The SMTP reply code, when the server gave one. */
    readonly responseCode: number | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MailSendError';
  }
}

interface NodemailerError {
  code?: string;
  responseCode?: number;
  response?: string;
  permanent?: boolean;
  message?: string;
  /** Set on EENVELOPE when recipients were refused (rather than the sender). */
  rejected?: unknown[];
}

const errorCodes: Record<string, MailSendErrorCode> = {
  EENVELOPE: 'rejected',
  EMESSAGE: 'rejected',
  EAUTH: 'auth',
  ENOAUTH: 'auth',
  ETIMEDOUT: 'timeout',
  ECONNECTION: 'connection',
  ESOCKET: 'connection',
  EDNS: 'connection',
  ETLS: 'connection',
  EREQUIRETLS: 'connection',
  EPROTOCOL: 'connection',
};

const explanations: Record<MailSendErrorCode, string> = {
  rejected: 'the SMTP server rejected the message',
  auth: 'the SMTP server refused the credentials in SMTP_URL',
  timeout: 'the SMTP server did not answer in time',
  connection: 'the SMTP server could not be reached',
  failed: 'sending failed',
};

function toMailSendError(error: unknown, to: string): MailSendError {
  const e = (typeof error === 'object' && error !== null ? error : {}) as NodemailerError;
  const code = (e.code && errorCodes[e.code]) || 'failed';
  const responseCode = typeof e.responseCode === 'number' ? e.responseCode : null;
  // Without a reply code it was the network or the setup: worth another try unless it was auth.
  const permanent = e.permanent ?? (responseCode !== null ? responseCode >= 500 : code === 'auth');
  const detail = e.response ?? e.message ?? String(error);
  const explanation = e.code === 'EENVELOPE' && e.rejected?.length ? 'the SMTP server rejected the recipient' : explanations[code];
  return new MailSendError(`could not send mail to ${to}: ${explanation} (${detail})`, code, permanent, responseCode, { cause: error });
}

function toNodemailerMessage(from: string, message: MailMessage) {
  return {
    from,
    to: message.to,
    subject: message.subject,
    text: message.text,
    ...(message.html !== undefined ? { html: message.html } : {}),
    attachments: (message.attachments ?? []).map((a) => ({ filename: a.filename, content: a.content, contentType: a.contentType })),
  };
}

// ---------------------------------------------------------------------------------------------
// SMTP

export interface SmtpMailerOptions {
  /** SMTP_URL: `smtp://user:pass@host:587` (STARTTLS when offered) or `smtps://…:465` (TLS). */
  url: string;
  /** The From header, e.g. `Tollgate Billing <billing@example.com>`. */
  from: string;
  /** Limit for connecting, the greeting and each later socket wait. Default 30_000. */
  timeoutMs?: number;
}

/** `smtp://user:secret@host` → `smtp://user:***@host`, for logs and errors. */
export function redactSmtpUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable SMTP URL)';
  }
}

export class SmtpMailer implements Mailer {
  /** Where mail goes, without the password: for the startup log. */
  readonly description: string;
  private readonly from: string;
  private readonly transport: ReturnType<typeof createTransport>;

  constructor(options: SmtpMailerOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch {
      throw new RangeError('SMTP_URL is not a valid URL; expected smtp://user:pass@host:587 or smtps://user:pass@host:465');
    }
    if (parsed.protocol !== 'smtp:' && parsed.protocol !== 'smtps:') {
      throw new RangeError(`SMTP_URL must start with smtp:// or smtps://, got ${parsed.protocol}//`);
    }
    const timeoutMs = options.timeoutMs ?? 30_000;
    this.description = `SMTP ${redactSmtpUrl(options.url)}`;
    this.from = options.from;
    // nodemailer parses the URL itself (credentials are percent-decoded, query options applied).
    this.transport = createTransport({
      url: options.url,
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
    });
  }

  async send(message: MailMessage): Promise<{ messageId: string }> {
    try {
      const info = await this.transport.sendMail(toNodemailerMessage(this.from, message));
      return { messageId: info.messageId };
    } catch (error) {
      throw toMailSendError(error, message.to);
    }
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Files

export interface FileMailerOptions {
  /** Created with mode 0700 when missing: the messages carry invoices and addresses. */
  dir: string;
  from: string;
}

/** `<uuid@host>` → `uuid_host`: safe as part of a file name on every platform. */
function fileSafe(messageId: string): string {
  return messageId.replace(/^<|>$/g, '').replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 120);
}

export class FileMailer implements Mailer {
  readonly description: string;
  private readonly dir: string;
  private readonly from: string;
  private readonly transport = createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
  private ready: Promise<unknown> | null = null;

  constructor(options: FileMailerOptions) {
    this.dir = resolve(options.dir);
    this.from = options.from;
    this.description = `.eml files in ${this.dir}`;
  }

  /** Also answers the file written, which the log can point the operator to. */
  async send(message: MailMessage): Promise<{ messageId: string; path: string }> {
    this.ready ??= mkdir(this.dir, { recursive: true, mode: 0o700 });
    await this.ready;
    const info = await this.transport.sendMail(toNodemailerMessage(this.from, message));
    if (!Buffer.isBuffer(info.message)) throw new Error('nodemailer stream transport did not buffer the message');
    // Colons in the ISO time would make the name invalid on Windows and awkward in shells.
    const stamp = new Date().toISOString().replace(/:/g, '-');
    const path = join(this.dir, `${stamp}-${fileSafe(info.messageId)}.eml`);
    await writeFile(path, info.message, { mode: 0o600, flag: 'wx' });
    return { messageId: info.messageId, path };
  }

  async close(): Promise<void> {}
}

// ---------------------------------------------------------------------------------------------

/** SMTP when a URL is configured, else .eml files in `fileDir` (the embedded default). */
export function createMailer(options: { smtpUrl?: string | null; from: string; fileDir: string }): SmtpMailer | FileMailer {
  const url = options.smtpUrl?.trim();
  return url ? new SmtpMailer({ url, from: options.from }) : new FileMailer({ dir: options.fileDir, from: options.from });
}
