import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMailer, FileMailer, MailSendError, SmtpMailer, type MailMessage } from './mailer.ts';
import { startSmtpServer } from './testing-documents.ts';

const USER = 'billing';
const PASSWORD = 'p@ss:word/1';
const FROM = 'Tollgate Billing <billing@tollgate.example>';


// Bytes that are not text, so any re-encoding along the way would show.
const pdfBytes = Buffer.concat([Buffer.from('%PDF-1.3\n'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 37) % 256))]);

const message: MailMessage = {
  to: 'accounts@acme.example',
  subject: 'Tax invoice INV-2026-000042 from Tollgate',
  text: 'Hello,\n\nYour invoice INV-2026-000042 for R3,898.50 is attached.\n',
  html: '<p>Your invoice <b>INV-2026-000042</b> for R3,898.50 is attached.</p>',
  attachments: [{ filename: 'INV-2026-000042.pdf', content: pdfBytes, contentType: 'application/pdf' }],
};

describe('SmtpMailer', () => {
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  const mailers: SmtpMailer[] = [];
  const mailer = (url: string) => {
    const m = new SmtpMailer({ url, from: FROM, timeoutMs: 5_000 });
    mailers.push(m);
    return m;
  };

  beforeAll(async () => {
    smtp = await startSmtpServer({ user: USER, password: PASSWORD, rejectRecipient: 'nobody@acme.example' });
  });
  afterEach(async () => {
    await Promise.all(mailers.splice(0).map((m) => m.close()));
  });
  afterAll(async () => {
    await smtp.close();
  });

  it('delivers the message with its PDF attachment byte for byte, authenticated', async () => {
    const { messageId } = await mailer(smtp.url(USER, PASSWORD)).send(message);
    expect(messageId).toMatch(/^<.+@.+>$/);
    expect(smtp.received).toHaveLength(1);
    const [got] = smtp.received;
    expect(got!.from).toBe('billing@tollgate.example');
    expect(got!.to).toEqual(['accounts@acme.example']);

    const parsed = await simpleParser(got!.raw);
    expect(parsed.messageId).toBe(messageId);
    expect(parsed.from?.value).toEqual([{ name: 'Tollgate Billing', address: 'billing@tollgate.example' }]);
    expect(parsed.to && !Array.isArray(parsed.to) ? parsed.to.text : null).toBe('accounts@acme.example');
    expect(parsed.subject).toBe(message.subject);
    expect(parsed.text).toBe(message.text);
    expect(parsed.html).toContain('<b>INV-2026-000042</b>');
    expect(parsed.attachments).toHaveLength(1);
    const [attachment] = parsed.attachments;
    expect(attachment!.filename).toBe('INV-2026-000042.pdf');
    expect(attachment!.contentType).toBe('application/pdf');
    expect(Buffer.compare(attachment!.content, pdfBytes)).toBe(0);
  });

  it('rejects with a permanent error naming the recipient when the server refuses it', async () => {
    const error = await mailer(smtp.url(USER, PASSWORD))
      .send({ ...message, to: 'nobody@acme.example' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MailSendError);
    expect(error).toMatchObject({ code: 'rejected', permanent: true, responseCode: 550 });
    expect((error as Error).message).toMatch(/could not send mail to nobody@acme\.example: the SMTP server rejected the recipient \(550 5\.1\.1 No such user here\)/);
  });

  it('rejects with an auth error, without the password, when the credentials are wrong', async () => {
    const error = await mailer(smtp.url(USER, 'wrong-secret')).send(message).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MailSendError);
    expect(error).toMatchObject({ code: 'auth', permanent: true, responseCode: 535 });
    expect((error as Error).message).toContain('refused the credentials in SMTP_URL');
    expect((error as Error).message).not.toContain('wrong-secret');
  });

  it('rejects with a transient connection error when nothing listens', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const error = await mailer(`smtp://127.0.0.1:${port}`).send(message).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MailSendError);
    expect(error).toMatchObject({ code: 'connection', permanent: false });
  });

  it('refuses a URL that is not smtp:// or smtps://, and never shows the password', () => {
    expect(() => new SmtpMailer({ url: 'http://u:secret@mail.example', from: FROM })).toThrow(/must start with smtp:\/\/ or smtps:\/\//);
    expect(() => new SmtpMailer({ url: 'not a url', from: FROM })).toThrow(/not a valid URL/);
    expect(mailer('smtps://u:secret@mail.example:465').description).toBe('SMTP smtps://u:***@mail.example:465');
  });
});

describe('FileMailer', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'tollgate-mail-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('writes each message as a private, parseable .eml file with its attachment', async () => {
    const dir = join(root, 'outbox', 'mail');
    const mailer = new FileMailer({ dir, from: FROM });
    const first = await mailer.send(message);
    const second = await mailer.send({ ...message, subject: 'Second', attachments: [] });

    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    const files = (await readdir(dir)).sort();
    expect(files).toHaveLength(2);
    expect(files.map((f) => join(dir, f))).toEqual([first.path, second.path].sort());
    expect(files[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z-[A-Za-z0-9._-]+\.eml$/);
    expect((await stat(first.path)).mode & 0o777).toBe(0o600);

    const parsed = await simpleParser(await readFile(first.path));
    expect(parsed.messageId).toBe(first.messageId);
    expect(parsed.from?.value).toEqual([{ name: 'Tollgate Billing', address: 'billing@tollgate.example' }]);
    expect(parsed.to && !Array.isArray(parsed.to) ? parsed.to.text : null).toBe('accounts@acme.example');
    expect(parsed.subject).toBe(message.subject);
    expect(parsed.text).toBe(message.text);
    expect(parsed.attachments).toHaveLength(1);
    expect(parsed.attachments[0]!.filename).toBe('INV-2026-000042.pdf');
    expect(Buffer.compare(parsed.attachments[0]!.content, pdfBytes)).toBe(0);
  });
});

describe('createMailer', () => {
  it('uses SMTP when a URL is configured and .eml files otherwise', async () => {
    const smtp = createMailer({ smtpUrl: 'smtp://u:p@mail.example:587', from: FROM, fileDir: '/tmp/unused' });
    expect(smtp).toBeInstanceOf(SmtpMailer);
    await smtp.close();
    expect(createMailer({ smtpUrl: null, from: FROM, fileDir: '/tmp/mail' })).toBeInstanceOf(FileMailer);
    expect(createMailer({ smtpUrl: '  ', from: FROM, fileDir: '/tmp/mail' })).toBeInstanceOf(FileMailer);
    expect(createMailer({ from: FROM, fileDir: '/tmp/mail' }).description).toBe('.eml files in /tmp/mail');
  });
});
