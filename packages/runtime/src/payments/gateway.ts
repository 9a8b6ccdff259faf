import { timingSafeEqual } from 'node:crypto';
import { request } from 'undici';

/*
 * One interface in front of every payment provider. An invoice is paid by sending the customer's
 * browser to the provider (createPayment), and the provider later tells us the outcome on our
 * callback endpoint (parseCallback). The callback is the only thing we act on: the browser's
 * return to returnUrl proves nothing, anyone can open that URL.
 */

/** `test` completes payments on a page Tollgate serves: the demo's provider. */
export type PaymentGatewayName = 'paystack' | 'payfast' | 'ozow' | 'stripe' | 'test';

export interface PaymentRequest {
  /** Our unique payment reference, e.g. 'pay_abc123' (the idempotency key at providers that have one). */
  reference: string;
  invoiceId: string;
  /** 'INV-2026-000042' */
  invoiceNumber: string;
  /** Integer minor units (cents). */
  amountMinor: number;
  /** 'ZAR' | 'USD' */
  currency: string;
  customerEmail: string;
  /** 'Invoice INV-2026-000042' */
  description: string;
  /** Where the provider sends the browser after success. */
  returnUrl: string;
  cancelUrl: string;
  /** Our server-to-server callback endpoint for this gateway. */
  notifyUrl: string;
}

export interface PaymentSession {
  /** Where to send the customer's browser. */
  paymentUrl: string;
  /** The provider's handle on this attempt, for support and reconciliation. */
  providerReference: string;
}

export interface CallbackRequest {
  headers: Record<string, string | string[] | undefined>;
  /** The body exactly as received: signatures are computed over these bytes. */
  rawBody: Buffer;
  remoteAddress?: string;
}

export interface PaymentOutcome {
  /** Our reference, read from the provider's payload. */
  reference: string;
  /** Stable id of this notification, used to make callbacks idempotent. */
  providerEventId: string;
  status: 'succeeded' | 'failed' | 'pending';
  /** What the provider says was paid, in minor units, when it says. */
  amountMinor: number | null;
  currency: string | null;
  failureReason: string | null;
  /** A method the provider lets us charge again without the customer (a reusable card authorization). */
  savedMethod?: SavedMethod | null;
}

export interface SavedMethod {
  /** The provider's handle (Paystack's authorization_code); stored sealed. */
  token: string;
  /** What the customer recognises: "visa ending 4081". */
  label: string;
}

export type CallbackRejectionReason =
  | 'bad_signature' // missing, malformed or wrong signature/hash
  | 'invalid_payload' // signed, but not something we can read
  | 'validation_failed' // signed, but the provider disowns it or it is not for our account/mode
  | 'untrusted_source'; // sent from an address outside the configured allowlist

/** The callback is not genuine or not ours: answer 4xx and change nothing. */
export class CallbackRejectedError extends Error {
  override readonly name = 'CallbackRejectedError';
  constructor(
    readonly reason: CallbackRejectionReason,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The provider refused a request or could not be reached: creating a payment, or confirming a
 * callback with it. During a callback the route should answer 5xx, so the provider retries later.
 */
export class GatewayRequestError extends Error {
  override readonly name = 'GatewayRequestError';
  /** The provider's HTTP status, when it answered. */
  readonly statusCode: number | undefined;
  /** true for timeouts, unreachable providers and 5xx answers: the same request may work later. */
  readonly retryable: boolean;
  constructor(message: string, options: { statusCode?: number; retryable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.statusCode = options.statusCode;
    this.retryable = options.retryable ?? (options.statusCode === undefined || options.statusCode >= 500);
  }
}

export interface PaymentGateway {
  readonly name: PaymentGatewayName;
  createPayment(request: PaymentRequest): Promise<PaymentSession>;
  /**
   * Verifies the callback's signature (throws CallbackRejectedError) and reads the outcome; null
   * for an event type we do not act on. Throws GatewayRequestError when confirming the callback
   * with the provider fails.
   */
  parseCallback(request: CallbackRequest): Promise<PaymentOutcome | null>;
  /**
   * Charges a saved method now, without the customer (dunning's retries). Answers the outcome the
   * provider gives at once; absent on providers that keep no reusable methods here.
   */
  chargeSaved?(request: PaymentRequest, token: string): Promise<PaymentOutcome>;
}

// ---- money -------------------------------------------------------------------------------------

/*
 * Every provider here that wants a decimal string takes ZAR or USD, both with two decimals. The
 * conversions stay in integers: 0.29 * 100 is 28.999999999999996 in floating point.
 */

/** 12345 → "123.45"; 5 → "0.05". Throws for anything but a non-negative safe integer. */
export function formatMinorUnits(amountMinor: number): string {
  if (!Number.isSafeInteger(amountMinor) || amountMinor < 0) throw new RangeError(`amount must be a non-negative integer of minor units, got ${amountMinor}`);
  const whole = Math.trunc(amountMinor / 100);
  const cents = amountMinor % 100;
  return `${whole}.${cents.toString().padStart(2, '0')}`;
}

/** "123.45" → 12345, "123.4" → 12340, "123" → 12300; null for anything else (signs, exponents, a third decimal). */
export function parseMajorUnits(text: string): number | null {
  const match = /^(\d{1,13})(?:\.(\d{1,2}))?$/.exec(text.trim());
  if (!match) return null;
  const whole = Number(match[1]);
  const cents = Number((match[2] ?? '').padEnd(2, '0'));
  return whole * 100 + cents;
}

/** Guards createPayment against amounts no provider should be asked for. */
export function assertPayableAmount(amountMinor: number): void {
  if (!Number.isSafeInteger(amountMinor) || amountMinor <= 0) throw new RangeError(`amountMinor must be a positive integer, got ${amountMinor}`);
}

// ---- callback helpers --------------------------------------------------------------------------

/** Constant-time comparison of two strings; a length difference is not secret, so it returns early. */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  if (left.length !== right.length) return false;
  return timingSafeEqual(left, right);
}

/** The single value of a header, case-insensitively; undefined when absent or sent more than once. */
export function singleHeader(headers: CallbackRequest['headers'], name: string): string | undefined {
  const wanted = name.toLowerCase();
  let found: string | undefined;
  let count = 0;
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== wanted || value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    count += values.length;
    found = values[0];
  }
  return count === 1 ? found : undefined;
}

/**
 * The fields of an application/x-www-form-urlencoded body in the order received. A name sent twice
 * is refused: which copy a framework keeps differs, and the signed copy must be the one we read.
 */
export function parseFormFields(rawBody: Buffer): [string, string][] {
  const fields = [...new URLSearchParams(rawBody.toString('utf8')).entries()];
  const names = new Set<string>();
  for (const [name] of fields) {
    if (names.has(name)) throw new CallbackRejectedError('invalid_payload', `the field ${name} was sent more than once`);
    names.add(name);
  }
  return fields;
}

// ---- outbound HTTP -----------------------------------------------------------------------------

export interface ProviderResponse {
  statusCode: number;
  body: string;
}

/** Answers larger than this are not payment API answers; reading stops there. */
const maxResponseBytes = 1024 * 1024;

/**
 * One request to a provider's API, with a whole-request timeout. Never puts headers (which carry
 * the secret keys) into an error message. Non-2xx answers are returned, not thrown: each adapter
 * reads its provider's error shape.
 */
export async function providerRequest(
  provider: string,
  url: string,
  options: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string; timeoutMs: number },
): Promise<ProviderResponse> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  // Our own timer as well as the abort: undici acts on an abort only once it has a socket, so a
  // hanging DNS lookup or connect would otherwise outlast timeoutMs.
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new GatewayRequestError(`${provider} did not answer within ${options.timeoutMs} ms`, { retryable: true }));
      controller.abort();
    }, options.timeoutMs);
  });
  const exchange = (async (): Promise<ProviderResponse> => {
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(url, { method: options.method, headers: options.headers, body: options.body, signal: controller.signal });
    } catch (error) {
      throw new GatewayRequestError(`${provider} could not be reached: ${describeError(error)}`, { retryable: true, cause: error });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > maxResponseBytes) {
          throw new GatewayRequestError(`${provider} sent an answer larger than ${maxResponseBytes} bytes`, { statusCode: response.statusCode, retryable: false });
        }
        chunks.push(chunk);
      }
    } catch (error) {
      if (error instanceof GatewayRequestError) throw error;
      throw new GatewayRequestError(`${provider}'s answer broke off: ${describeError(error)}`, { retryable: true, cause: error });
    } finally {
      if (!response.body.destroyed) response.body.destroy();
    }
    return { statusCode: response.statusCode, body: Buffer.concat(chunks).toString('utf8') };
  })();
  try {
    return await Promise.race([exchange, timeout]);
  } finally {
    clearTimeout(timer);
    exchange.catch(() => {}); // lost the race to the timeout: its rejection is already reported
  }
}

function describeError(error: unknown): string {
  // Happy-eyeballs connects fail with an AggregateError whose own message is empty.
  if (error instanceof AggregateError && error.message === '' && error.errors[0] instanceof Error) return error.errors[0].message;
  if (error instanceof Error) return error.message || (error as { code?: string }).code || error.name;
  return String(error);
}

/** The body as JSON, or undefined when it is not JSON. */
export function parseJson(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

/** A short, printable excerpt of a provider's answer for an error message. */
export function excerpt(body: string): string {
  const flat = body.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}

/** Removes a secret from text before it goes into an error message or a log. */
export function redact(text: string, ...secrets: (string | undefined)[]): string {
  let result = text;
  for (const secret of secrets) if (secret && secret.length >= 4) result = result.split(secret).join('[redacted]');
  return result;
}
