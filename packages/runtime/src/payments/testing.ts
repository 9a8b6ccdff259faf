import type { ServerResponse } from 'node:http';
import { CallbackRejectedError, type PaymentRequest } from './gateway.ts';

/* Test fixtures for the payment adapters (the providers' stand-ins are recording servers, ../testing-http.ts). */

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
