import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import proxyAddr from '@fastify/proxy-addr';
import { parse as parseQuery } from 'fast-querystring';
import type { Logger } from 'pino';
import { sendFailure } from '../http/error-handler.ts';
import type { GatewayReply, GatewayRequest } from './pipeline.ts';

/** Which proxies' `X-Forwarded-For` is believed: by address and by hop (nearest is hop 0). */
export type ProxyTrust = (address: string, hop: number) => boolean;

/** The gateway's handler, the one Fastify's catch-all route also calls. */
type Gateway = (request: GatewayRequest, reply: GatewayReply) => Promise<void> | undefined;

export interface DirectCallOptions {
  gateway: Gateway;
  /** The id generator Fastify's own requests use, so that ids stay unique across both. */
  nextRequestId: () => string;
  trust: ProxyTrust | null;
  log: Logger;
  /** True for the paths of the product's own routes (management API, docs, health, metrics). */
  isProductPath: (url: string) => boolean;
}

class DirectRequest implements GatewayRequest {
  readonly body = undefined;
  private parsedQuery: Record<string, unknown> | undefined;
  private childLog: Logger | undefined;

  constructor(
    readonly raw: IncomingMessage,
    readonly url: string,
    readonly id: string,
    readonly ip: string,
    private readonly parentLog: Logger,
  ) {}

  get method(): string {
    return this.raw.method as string;
  }

  get headers(): IncomingHttpHeaders {
    return this.raw.headers;
  }

  /** Parsed when first read, by the parser Fastify uses. */
  get query(): Record<string, unknown> {
    if (this.parsedQuery === undefined) {
      const q = this.url.indexOf('?');
      this.parsedQuery = q === -1 ? {} : parseQuery(this.url.slice(q + 1));
    }
    return this.parsedQuery;
  }

  /** Bound to the request id, as Fastify's request loggers are; made when first used. */
  get log(): Logger {
    return (this.childLog ??= this.parentLog.child({ reqId: this.id }));
  }
}

class DirectReply implements GatewayReply {
  statusCode = 200;
  /**
   * Names and values in turn, as `writeHead` takes them: with an object of the call's headers
   * (its keys added one by one), each store and Node's walk of it missed V8's inline caches.
   */
  private fields: string[];

  constructor(
    private readonly res: ServerResponse,
    readonly request: DirectRequest,
  ) {
    this.fields = ['x-request-id', request.id];
  }

  get sent(): boolean {
    return this.res.headersSent;
  }

  /** Forgets the status and headers set so far (an error answer replaces them). */
  reset(): void {
    this.statusCode = 200;
    this.fields = ['x-request-id', this.request.id];
  }

  code(statusCode: number): this {
    this.statusCode = statusCode;
    return this;
  }

  /** Sets (replaces) a header, as Fastify's `reply.header` does; names come in lower case. */
  header(name: string, value: string): this {
    const at = this.indexOf(name);
    if (at === -1) this.fields.push(name, value);
    else this.fields[at + 1] = value;
    return this;
  }

  private indexOf(name: string): number {
    for (let i = 0; i < this.fields.length; i += 2) if (this.fields[i] === name) return i;
    return -1;
  }

  headers(values: Record<string, string>): this {
    for (const name in values) this.header(name, values[name] as string);
    return this;
  }

  type(contentType: string): this {
    return this.header('content-type', contentType);
  }

  /**
   * A string or bytes as they are; anything else as JSON (the error shape). A `content-length`
   * already set is the caller's count of the body's bytes (the pipeline counts them once, for
   * the usage record too); otherwise it is counted here.
   */
  send(payload: unknown): this {
    const body = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
    if (this.indexOf('content-length') === -1) this.fields.push('content-length', String(typeof body === 'string' ? Buffer.byteLength(body) : body.length));
    this.res.writeHead(this.statusCode, this.fields);
    this.res.end(body);
    return this;
  }
}

/**
 * Gateway calls served on Node's request and response, in front of Fastify. Fastify's own work
 * for a request (routing, request and reply objects, hooks, its send) cost a bare route about a
 * third of its CPU on this machine (docs/benchmarks.md); the gateway needs none of it for a call
 * without a body. Calls with a body (Fastify's parsers and body limit) and the product's own paths
 * go to Fastify, whose catch-all route runs the same gateway handler.
 *
 * Returns a listener that answers a call and says true, or says false and leaves it to Fastify.
 */
export function directGatewayCalls({ gateway, nextRequestId, trust, log, isProductPath }: DirectCallOptions) {
  const clientIp = trust === null ? (req: IncomingMessage) => req.socket.remoteAddress ?? '' : (req: IncomingMessage) => proxyAddr(req, trust);

  return function serveDirect(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url;
    const headers = req.headers;
    if (
      url === undefined ||
      url.charCodeAt(0) !== 47 /* "/" */ ||
      headers['content-length'] !== undefined ||
      headers['transfer-encoding'] !== undefined ||
      headers['content-type'] !== undefined ||
      isProductPath(url)
    ) {
      return false;
    }
    const request = new DirectRequest(req, url, nextRequestId(), clientIp(req), log);
    const reply = new DirectReply(res, request);
    try {
      gateway(request, reply)?.catch((error: unknown) => failed(reply, error));
    } catch (error) {
      failed(reply, error);
    }
    return true;
  };
}

/**
 * What Fastify's error handler would do with an error the gateway's code threw: the error shape,
 * without what was set before the error (a header Node refused to write, say).
 */
function failed(reply: DirectReply, error: unknown): void {
  const log = reply.request.log;
  if (reply.sent) {
    log.error({ err: error }, 'gateway call failed after its answer was sent');
    return;
  }
  reply.reset();
  sendFailure(reply, log, error);
}
