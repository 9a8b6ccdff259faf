import type { ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRecordingServer, unreachableUrl, type ReceivedRequest, type RecordingServer } from './testing-http.ts';
import { checkWebhookUrl, isForbiddenAddress, WebhookHttpClient, type WebhookHttpOptions } from './webhook-http.ts';

// A customer's receiver, stood in for by a real server on 127.0.0.1.
let received: ReceivedRequest[];
let connections = 0;
let streamClosedEarly: Promise<boolean> = Promise.resolve(false);
let hungRequestClosed: Promise<void> = Promise.resolve();
let receiver: RecordingServer;
let port: number;
let closedPort: number;

function answer({ path }: ReceivedRequest, res: ServerResponse): void {
  if (path === '/ok') res.end('received');
  else if (path === '/fail') res.writeHead(500).end('boom');
  else if (path === '/redirect') res.writeHead(302, { location: `http://127.0.0.1:${port}/target` }).end();
  else if (path === '/mebibyte') res.end('a'.repeat(1024 * 1024));
  else if (path === '/endless') {
    // Streams until the client hangs up; a client reading it all would never finish.
    const chunk = Buffer.alloc(64 * 1024, 'b');
    let finished = false;
    streamClosedEarly = new Promise((resolve) => res.on('close', () => resolve(!finished)));
    const pump = () => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once('drain', pump);
    };
    pump();
    res.on('finish', () => (finished = true));
  } else if (path === '/hang') {
    hungRequestClosed = new Promise((resolve) => res.on('close', () => resolve()));
  } else res.writeHead(404).end();
}

beforeAll(async () => {
  receiver = await startRecordingServer(answer);
  receiver.server.on('connection', () => connections++);
  received = receiver.received;
  port = Number(new URL(receiver.url).port);
  closedPort = Number(new URL(await unreachableUrl()).port);
});

afterAll(() => receiver.close());

const clients: WebhookHttpClient[] = [];
function client(options: WebhookHttpOptions): WebhookHttpClient {
  const created = new WebhookHttpClient(options);
  clients.push(created);
  return created;
}
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

/** Answers every name with the given addresses, as a DNS server under an attacker's control would. */
const resolvesTo =
  (...addresses: string[]) =>
  async () =>
    addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

describe('WebhookHttpClient', () => {
  it('delivers the exact body and headers to a local receiver when private targets are allowed', async () => {
    const before = received.length;
    const body = JSON.stringify({ type: 'key.created', data: { id: 'key_1', note: 'héllo' } });
    const result = await client({ allowPrivate: true }).post(`http://127.0.0.1:${port}/ok`, { 'Webhook-Id': 'whd_1', 'webhook-signature': 'v1,abc' }, body);

    expect(result).toMatchObject({ ok: true, statusCode: 200, responseExcerpt: 'received', error: null });
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    expect(received.length).toBe(before + 1);
    const seen = received.at(-1);
    expect(seen?.method).toBe('POST');
    expect(seen?.body).toBe(body);
    expect(seen?.headers['content-type']).toBe('application/json');
    expect(seen?.headers['user-agent']).toBe('Tollgate-Webhooks/1.0');
    expect(seen?.headers['webhook-id']).toBe('whd_1');
    expect(seen?.headers['webhook-signature']).toBe('v1,abc');
  });

  it('keeps a user-agent the caller gives', async () => {
    await client({ allowPrivate: true }).post(`http://127.0.0.1:${port}/ok`, { 'User-Agent': 'Custom/2' }, '{}');
    expect(received.at(-1)?.headers['user-agent']).toBe('Custom/2');
  });

  it.each([`http://127.0.0.1:PORT/ok`, `http://[::1]:PORT/ok`, `http://[::ffff:127.0.0.1]:PORT/ok`, `http://2130706433:PORT/ok`])(
    'refuses the loopback literal %s without connecting when private targets are not allowed',
    async (template) => {
      const before = { received: received.length, connections };
      const result = await client({ allowPrivate: false }).post(template.replace('PORT', String(port)), {}, '{}');
      expect(result).toMatchObject({ ok: false, statusCode: null, responseExcerpt: null, error: { code: 'blocked_address' } });
      expect({ received: received.length, connections }).toEqual(before);
    },
  );

  it('refuses a hostname that resolves to 127.0.0.1 at send time (DNS rebinding), and reaches it when private targets are allowed', async () => {
    // Public when the URL is registered, loopback by the time it is delivered to.
    let calls = 0;
    const rebinding = async () => [{ address: calls++ === 0 ? '93.184.216.34' : '127.0.0.1', family: 4 }];
    const url = `http://hooks.customer.test:${port}/ok`;
    expect(await checkWebhookUrl(url, { allowPrivate: false, requireHttps: false, lookup: rebinding })).toEqual({ ok: true });

    const before = { received: received.length, connections };
    const blocked = await client({ allowPrivate: false, lookup: rebinding }).post(url, {}, '{}');
    expect(blocked).toMatchObject({ ok: false, statusCode: null, error: { code: 'blocked_address' } });
    expect(blocked.error?.message).toContain('127.0.0.1');
    expect({ received: received.length, connections }).toEqual(before);

    const allowed = await client({ allowPrivate: true, lookup: resolvesTo('127.0.0.1') }).post(url, {}, '{}');
    expect(allowed).toMatchObject({ ok: true, statusCode: 200 });
    expect(received.at(-1)?.headers.host).toBe(`hooks.customer.test:${port}`);
  });

  it('refuses a hostname when any of its addresses is private', async () => {
    const before = connections;
    const result = await client({ allowPrivate: false, lookup: resolvesTo('8.8.8.8', '10.0.0.5') }).post(`http://mixed.test:${port}/ok`, {}, '{}');
    expect(result.error?.code).toBe('blocked_address');
    expect(connections).toBe(before);
  });

  it('does not follow a redirect: the 302 is the result and its target gets no request', async () => {
    const result = await client({ allowPrivate: true }).post(`http://127.0.0.1:${port}/redirect`, {}, '{}');
    expect(result).toMatchObject({ ok: false, statusCode: 302, error: null });
    expect(received.at(-1)?.path).toBe('/redirect');
    expect(received.some((r) => r.path === '/target')).toBe(false);
  });

  it('keeps the first 4096 bytes of a 1 MiB answer and resolves promptly', async () => {
    const result = await client({ allowPrivate: true }).post(`http://127.0.0.1:${port}/mebibyte`, {}, '{}');
    expect(result).toMatchObject({ ok: true, statusCode: 200, error: null });
    expect(result.responseExcerpt).toBe('a'.repeat(4096));
    expect(result.durationMs).toBeLessThan(2000);
  });

  it('stops reading a receiver that streams without end and hangs up on it', async () => {
    const result = await client({ allowPrivate: true, maxResponseBytes: 100, timeoutMs: 5000 }).post(`http://127.0.0.1:${port}/endless`, {}, '{}');
    expect(result).toMatchObject({ ok: true, statusCode: 200, error: null });
    expect(result.responseExcerpt).toBe('b'.repeat(100));
    expect(await streamClosedEarly).toBe(true);
  });

  it('times out a receiver that never answers and drops the connection', async () => {
    const result = await client({ allowPrivate: true, timeoutMs: 200 }).post(`http://127.0.0.1:${port}/hang`, {}, '{}');
    expect(result).toMatchObject({ ok: false, statusCode: null, responseExcerpt: null, error: { code: 'timeout' } });
    expect(result.durationMs).toBeGreaterThanOrEqual(150);
    expect(result.durationMs).toBeLessThan(2000);
    await hungRequestClosed; // would hang (and fail the test by its timeout) if the socket stayed open
  });

  it('times out a lookup that never answers', async () => {
    // undici honours an abort only once connected, and its own connect timer is coarse (~0.5 s).
    const result = await client({ allowPrivate: false, timeoutMs: 100, lookup: () => new Promise(() => undefined) }).post('http://slow-dns.test/', {}, '{}');
    expect(result.error?.code).toBe('timeout');
    expect(result.durationMs).toBeLessThan(400);
  });

  it('reports connection_failed for a closed port and for a name that does not resolve', async () => {
    const refused = await client({ allowPrivate: true }).post(`http://127.0.0.1:${closedPort}/ok`, {}, '{}');
    expect(refused).toMatchObject({ ok: false, statusCode: null, error: { code: 'connection_failed' } });
    expect(refused.error?.message).toContain('ECONNREFUSED');

    const notFound = Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.test'), { code: 'ENOTFOUND' });
    const unresolved = await client({ allowPrivate: false, lookup: () => Promise.reject(notFound) }).post('http://nowhere.test/', {}, '{}');
    expect(unresolved).toMatchObject({ ok: false, error: { code: 'connection_failed', message: 'getaddrinfo ENOTFOUND nowhere.test' } });
  });

  it('a 500 is not ok and keeps its status and body', async () => {
    const result = await client({ allowPrivate: true }).post(`http://127.0.0.1:${port}/fail`, {}, '{}');
    expect(result).toMatchObject({ ok: false, statusCode: 500, responseExcerpt: 'boom', error: null });
  });

  it.each(['not a url', 'ftp://example.com/hook', 'https://user:pass@example.com/hook'])('reports invalid_url for %s', async (url) => {
    const result = await client({ allowPrivate: true }).post(url, {}, '{}');
    expect(result).toMatchObject({ ok: false, statusCode: null, error: { code: 'invalid_url' } });
  });
});

describe('isForbiddenAddress', () => {
  it.each([
    ['127.0.0.1', true],
    ['::1', true],
    ['10.1.2.3', true],
    ['172.16.0.1', true],
    ['192.168.1.1', true],
    ['100.64.0.1', true],
    ['169.254.169.254', true],
    ['fe80::1', true],
    ['fd00:ec2::254', true],
    ['0.0.0.0', true],
    ['::', true],
    ['224.0.0.1', true],
    ['255.255.255.255', true],
    ['240.0.0.1', true],
    ['::ffff:10.0.0.1', true],
    ['::ffff:127.0.0.1', true],
    ['64:ff9b::a00:1', true],
    ['2002:7f00:1::', true],
    ['010.0.0.1', true], // legacy octal form: not a canonical literal
    ['not an ip', true],
    ['', true],
    ['8.8.8.8', false],
    ['93.184.216.34', false],
    ['2606:4700::1111', false],
    ['::ffff:8.8.8.8', false],
  ])('%s → %s', (ip, forbidden) => {
    expect(isForbiddenAddress(ip)).toBe(forbidden);
  });
});

describe('checkWebhookUrl', () => {
  const publicDns = resolvesTo('93.184.216.34');

  it('accepts a public https URL', async () => {
    expect(await checkWebhookUrl('https://hooks.example.com/tollgate', { allowPrivate: false, requireHttps: true, lookup: publicDns })).toEqual({ ok: true });
  });

  it('requires https when told to, and http or https always', async () => {
    expect(await checkWebhookUrl('http://hooks.example.com/', { allowPrivate: false, requireHttps: true, lookup: publicDns })).toEqual({ ok: false, reason: 'webhook URLs must use https' });
    expect(await checkWebhookUrl('http://hooks.example.com/', { allowPrivate: false, requireHttps: false, lookup: publicDns })).toEqual({ ok: true });
    expect(await checkWebhookUrl('ftp://hooks.example.com/', { allowPrivate: false, requireHttps: false, lookup: publicDns })).toEqual({ ok: false, reason: 'webhook URLs must use http or https' });
    expect(await checkWebhookUrl('hooks.example.com', { allowPrivate: false, requireHttps: false, lookup: publicDns })).toMatchObject({ ok: false });
  });

  it('refuses credentials in the URL', async () => {
    expect(await checkWebhookUrl('https://user:secret@hooks.example.com/', { allowPrivate: false, requireHttps: true, lookup: publicDns })).toEqual({
      ok: false,
      reason: 'webhook URLs must not contain a username or password',
    });
  });

  it('refuses a name that resolves to a private address, naming it', async () => {
    expect(await checkWebhookUrl('https://example.internal/hook', { allowPrivate: false, requireHttps: true, lookup: resolvesTo('93.184.216.34', '10.0.0.5') })).toEqual({
      ok: false,
      reason: 'example.internal resolves to 10.0.0.5, a private address; webhook URLs must be public',
    });
  });

  it('refuses metadata and loopback literals', async () => {
    expect(await checkWebhookUrl('http://169.254.169.254/latest/meta-data', { allowPrivate: false, requireHttps: false })).toEqual({
      ok: false,
      reason: '169.254.169.254 is a link-local address; webhook URLs must be public',
    });
    expect(await checkWebhookUrl('https://[::1]/hook', { allowPrivate: false, requireHttps: true })).toMatchObject({ ok: false, reason: '::1 is a loopback address; webhook URLs must be public' });
  });

  it('refuses a name that does not resolve', async () => {
    const result = await checkWebhookUrl('https://nowhere.test/', { allowPrivate: false, requireHttps: true, lookup: () => Promise.reject(new Error('ENOTFOUND')) });
    expect(result).toEqual({ ok: false, reason: 'nowhere.test could not be resolved; check the host name' });
  });

  it('allows private targets when allowPrivate is set', async () => {
    expect(await checkWebhookUrl('http://example.internal/hook', { allowPrivate: true, requireHttps: false, lookup: resolvesTo('10.0.0.5') })).toEqual({ ok: true });
    expect(await checkWebhookUrl('http://127.0.0.1:8080/hook', { allowPrivate: true, requireHttps: false })).toEqual({ ok: true });
  });
});
