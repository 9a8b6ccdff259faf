import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { Agent, request } from 'undici';

/*
 * Delivering webhooks means sending requests to addresses our customers choose, from inside our
 * network. Without care that is server-side request forgery: a URL naming 127.0.0.1, a private
 * service or the cloud metadata endpoint would make us fetch it for them. Two checks guard it:
 * `checkWebhookUrl` when a URL is registered (for a clear message), and the connect-time lookup of
 * `WebhookHttpClient`, which refuses the address actually connected to, so a hostname that resolves
 * to a public address at registration and to 10.0.0.5 later (DNS rebinding) is still refused.
 */

export interface WebhookHttpOptions {
  /** Allow loopback/private/link-local/metadata targets (tests and on-premise receivers). */
  allowPrivate: boolean;
  /** Whole-request timeout (connect + response headers + reading the excerpt). Default 10_000. */
  timeoutMs?: number;
  /** Bytes of the response body kept as the excerpt; the rest is not read. Default 4096. */
  maxResponseBytes?: number;
  /** DNS lookup used at connect time (default: node:dns lookup); injectable for tests. */
  lookup?: (hostname: string) => Promise<{ address: string; family: number }[]>;
}

export type WebhookSendErrorCode = 'timeout' | 'blocked_address' | 'connection_failed' | 'invalid_url';

export interface WebhookSendResult {
  /** true only for a 2xx answer. */
  ok: boolean;
  statusCode: number | null;
  durationMs: number;
  /** First maxResponseBytes of the body, decoded as UTF-8 (lossy), or null when none was read. */
  responseExcerpt: string | null;
  error: { code: WebhookSendErrorCode; message: string } | null;
}

type Lookup = NonNullable<WebhookHttpOptions['lookup']>;

const defaultLookup: Lookup = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

const rangeLabels: Record<string, string> = {
  loopback: 'a loopback',
  private: 'a private',
  uniqueLocal: 'a private',
  linkLocal: 'a link-local',
  carrierGradeNat: 'a carrier-grade NAT',
  unspecified: 'an unspecified',
  multicast: 'a multicast',
  broadcast: 'a broadcast',
  reserved: 'a reserved',
};

/** The ipaddr.js range of a literal address, or null when it is not one. */
function addressRange(ip: string): string | null {
  // Only canonical literals (as DNS answers and the URL parser produce them): ipaddr.js also reads
  // legacy forms such as `010.0.0.1` (octal), which another parser may read differently.
  if (isIP(ip) === 0) return null;
  try {
    // process() turns ::ffff:10.0.0.1 into 10.0.0.1, so mapped forms get the IPv4 verdict.
    return ipaddr.process(ip).range();
  } catch {
    return null;
  }
}

/**
 * True for anything but a plain public unicast address: loopback, private, CGNAT, link-local
 * (including 169.254.169.254), unique-local (including fd00:ec2::254), multicast, reserved, and
 * the IPv6 forms that embed an IPv4 address (mapped, NAT64, 6to4, Teredo). Unparseable → true.
 */
export function isForbiddenAddress(ip: string): boolean {
  return addressRange(ip) !== 'unicast';
}

function describeForbidden(ip: string): string {
  const range = addressRange(ip);
  return `${range !== null ? (rangeLabels[range] ?? 'a non-public') : 'a non-public'} address`;
}

/** `[::1]` (URL hostname) → `::1`. */
function bareHost(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

/** Checks a URL when a customer registers or changes it; the reason is shown to them. */
export async function checkWebhookUrl(
  url: string,
  options: { allowPrivate: boolean; requireHttps: boolean; lookup?: WebhookHttpOptions['lookup'] },
): Promise<{ ok: true } | { ok: false; reason: string }> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, reason: 'the webhook URL is not a valid URL' };
  }
  if (options.requireHttps && parsed.protocol !== 'https:') return { ok: false, reason: 'webhook URLs must use https' };
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return { ok: false, reason: 'webhook URLs must use http or https' };
  if (parsed.username !== '' || parsed.password !== '') {
    return { ok: false, reason: 'webhook URLs must not contain a username or password' };
  }
  const host = bareHost(parsed.hostname);
  if (host === '') return { ok: false, reason: 'webhook URLs must name a host' };
  // With private targets allowed there is nothing to check, and an on-premise name may only
  // resolve where the workers run.
  if (options.allowPrivate) return { ok: true };

  if (isIP(host) !== 0) {
    return isForbiddenAddress(host)
      ? { ok: false, reason: `${host} is ${describeForbidden(host)}; webhook URLs must be public` }
      : { ok: true };
  }
  let addresses: { address: string }[];
  try {
    addresses = await (options.lookup ?? defaultLookup)(host);
  } catch {
    return { ok: false, reason: `${host} could not be resolved; check the host name` };
  }
  if (addresses.length === 0) return { ok: false, reason: `${host} could not be resolved; check the host name` };
  const forbidden = addresses.find((a) => isForbiddenAddress(a.address));
  if (forbidden) {
    return { ok: false, reason: `${host} resolves to ${forbidden.address}, ${describeForbidden(forbidden.address)}; webhook URLs must be public` };
  }
  return { ok: true };
}

class BlockedAddressError extends Error {
  readonly code = 'ERR_WEBHOOK_BLOCKED_ADDRESS';
}

interface Progress {
  statusCode: number | null;
  excerpt: string | null;
}

/** Node's `lookup` hook for net/tls.connect, backed by our lookup and refusing forbidden answers. */
function guardedLookup(lookup: Lookup, allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    lookup(hostname).then(
      (answers) => {
        if (!allowPrivate) {
          // Refuse when any answer is forbidden, not just the one that would be tried first: a
          // public name has no business resolving into our network, and it matches checkWebhookUrl.
          const forbidden = answers.find((a) => isForbiddenAddress(a.address));
          if (forbidden) {
            callback(new BlockedAddressError(`${hostname} resolves to ${forbidden.address}, ${describeForbidden(forbidden.address)}`), '');
            return;
          }
        }
        const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
        const usable = family === 4 || family === 6 ? answers.filter((a) => a.family === family) : answers;
        const first = usable[0];
        if (!first) {
          callback(Object.assign(new Error(`${hostname} has no usable address`), { code: 'ENOTFOUND' }), '');
        } else if (options.all) {
          callback(null, usable.map((a) => ({ address: a.address, family: a.family })));
        } else {
          callback(null, first.address, first.family);
        }
      },
      (error: unknown) => callback(error instanceof Error ? error : new Error(String(error)), ''),
    );
  };
}

function errorMessage(error: unknown): string {
  // Happy-eyeballs connects fail with an AggregateError whose own message is empty.
  if (error instanceof AggregateError && error.message === '' && error.errors[0] instanceof Error) return error.errors[0].message;
  if (error instanceof Error) return error.message || (error as { code?: string }).code || error.name;
  return String(error);
}

function classify(error: unknown): WebhookSendErrorCode {
  if (error instanceof BlockedAddressError) return 'blocked_address';
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'timeout';
  return 'connection_failed';
}

/**
 * Sends webhook POSTs through one keep-alive pool. Never throws: every outcome, including a
 * refused address or a timeout, comes back as a WebhookSendResult for the delivery log.
 */
export class WebhookHttpClient {
  private readonly agent: Agent;
  private readonly allowPrivate: boolean;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;

  constructor(options: WebhookHttpOptions) {
    this.allowPrivate = options.allowPrivate;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.maxResponseBytes = options.maxResponseBytes ?? 4096;
    this.agent = new Agent({
      connect: { lookup: guardedLookup(options.lookup ?? defaultLookup, options.allowPrivate), timeout: this.timeoutMs },
    });
  }

  async post(url: string, headers: Record<string, string>, body: string): Promise<WebhookSendResult> {
    const started = performance.now();
    const result = (statusCode: number | null, responseExcerpt: string | null, error: WebhookSendResult['error']): WebhookSendResult => ({
      ok: error === null && statusCode !== null && statusCode >= 200 && statusCode < 300,
      statusCode,
      durationMs: Math.round(performance.now() - started),
      responseExcerpt,
      error,
    });

    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return result(null, null, { code: 'invalid_url', message: 'not a valid URL' });
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      return result(null, null, { code: 'invalid_url', message: `unsupported scheme ${parsed.protocol}` });
    }
    if (parsed.username !== '' || parsed.password !== '') {
      return result(null, null, { code: 'invalid_url', message: 'URL contains a username or password' });
    }
    // An IP literal is connected to without a lookup, so the connect-time guard never sees it.
    const host = bareHost(parsed.hostname);
    if (!this.allowPrivate && isIP(host) !== 0 && isForbiddenAddress(host)) {
      return result(null, null, { code: 'blocked_address', message: `${host} is ${describeForbidden(host)}` });
    }

    const sendHeaders: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) sendHeaders[name.toLowerCase()] = value;
    sendHeaders['content-type'] ??= 'application/json';
    sendHeaders['user-agent'] ??= 'Tollgate-Webhooks/1.0';

    const controller = new AbortController();
    const timeoutMessage = `no complete answer within ${this.timeoutMs} ms`;
    const progress: Progress = { statusCode: null, excerpt: null };
    const exchange = this.exchange(parsed, sendHeaders, body, controller.signal, progress).then(
      () => null,
      (error: unknown) => ({ code: classify(error), message: errorMessage(error) }),
    );
    // Our own timer, not only the abort signal: undici acts on an abort only once a socket is
    // connected, so a hanging DNS answer or connect would otherwise outlast timeoutMs.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<WebhookSendResult['error']>((resolve) => {
      timer = setTimeout(() => {
        resolve({ code: 'timeout', message: timeoutMessage }); // before the abort's own rejection
        controller.abort(); // undici drops the socket (at once, or as soon as it has one)
      }, this.timeoutMs);
    });
    try {
      const error = await Promise.race([exchange, timeout]);
      return result(progress.statusCode, progress.excerpt, error);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends the request and reads the excerpt into `progress`, so a timeout can report what arrived. */
  private async exchange(url: URL, headers: Record<string, string>, body: string, signal: AbortSignal, progress: Progress): Promise<void> {
    // undici follows no redirects unless told to: a 3xx comes back as it is.
    const response = await request(url, { dispatcher: this.agent, method: 'POST', headers, body, signal });
    progress.statusCode = response.statusCode;
    progress.excerpt = '';
    // Reads at most maxResponseBytes, then destroys the body, which makes undici drop the socket:
    // a receiver streaming gigabytes costs us a chunk, not the download. A short body is read to
    // its end, so the connection goes back to the pool.
    // stream: true holds back a multi-byte character cut at the limit instead of emitting U+FFFD.
    const decoder = new TextDecoder('utf-8', { fatal: false });
    let remaining = this.maxResponseBytes;
    try {
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        const part = chunk.length > remaining ? chunk.subarray(0, remaining) : chunk;
        remaining -= part.length;
        progress.excerpt += decoder.decode(part, { stream: true });
        if (remaining <= 0) break; // leaving the loop destroys the stream
      }
    } finally {
      if (!response.body.destroyed) response.body.destroy();
    }
  }

  /** Closes the pooled connections; call once, when the worker stops. */
  async close(): Promise<void> {
    await this.agent.close();
  }
}
