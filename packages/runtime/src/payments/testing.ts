import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CallbackRejectedError, type PaymentRequest } from './gateway.ts';

/* Test fixtures for the payment adapters: a recording stand-in for a provider's API on loopback, and a sample payment. */

/** One request the stand-in received, its body read in full. */
export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface ProviderStandIn {
  url: string;
  /** Every request, in order, answered or not. */
  received: ReceivedRequest[];
  close(): Promise<void>;
}

/** A real HTTP server on an ephemeral 127.0.0.1 port that records each request, then lets `handle` answer it (a throw answers 500). */
export async function startProviderStandIn(handle: (req: ReceivedRequest, res: ServerResponse) => void): Promise<ProviderStandIn> {
  const received: ReceivedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(request);
      try {
        handle(request, res);
      } catch (error) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(String(error));
      }
    });
  });
  const port = await listenOnLoopback(server);
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A URL on 127.0.0.1 where nothing listens (a port just freed): for "provider unreachable" tests. */
export async function unreachableUrl(): Promise<string> {
  const server = createServer();
  const port = await listenOnLoopback(server);
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

function listenOnLoopback(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** A payment of R123.45 for invoice INV-2026-000042; `overrides` replace single fields. */
export function samplePaymentRequest(overrides: Partial<PaymentRequest> = {}): PaymentRequest {
  return {
    reference: 'pay_abc123',
    invoiceId: 'inv_01J9Z',
    invoiceNumber: 'INV-2026-000042',
    amountMinor: 12_345,
    currency: 'ZAR',
    customerEmail: 'ada@example.com',
    description: 'Invoice INV-2026-000042',
    returnUrl: 'https://billing.example.com/pay/pay_abc123/done',
    cancelUrl: 'https://billing.example.com/pay/pay_abc123/cancelled',
    notifyUrl: 'https://billing.example.com/callbacks/test',
    ...overrides,
  };
}

/** The CallbackRejectedError the promise rejects with; throws if it resolves or rejects with anything else. */
export async function callbackRejection(promise: Promise<unknown>): Promise<CallbackRejectedError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(error instanceof CallbackRejectedError)) throw new Error(`expected a CallbackRejectedError, got ${error === null ? 'no rejection' : String(error)}`);
  return error;
}

/** PHP's urlencode (space '+', upper-case hex, all but A-Za-z0-9-_. encoded), by which PayFast defines its signature. */
export function phpUrlencode(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9_.-]/.test(c)) out += c;
    else if (c === ' ') out += '+';
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
