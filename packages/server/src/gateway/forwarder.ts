import { Agent, errors, request } from 'undici';
import { AppError } from '../http/app-error.ts';

export interface UpstreamResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: Buffer;
}

// Hop-by-hop headers and our own credentials never cross the gateway.
const DROP_REQUEST_HEADERS = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'x-api-key', 'cookie', 'authorization', 'content-length', 'te', 'trailer', 'proxy-authorization']);
const DROP_RESPONSE_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'set-cookie', 'date', 'server']);

/** Forwards calls to customer-configured upstreams over a keep-alive pool per origin. */
export class Forwarder {
  private readonly agent: Agent;

  constructor(private readonly timeoutMs: number) {
    this.agent = new Agent({ keepAliveTimeout: 10_000, connections: 128, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  }

  async forward(input: {
    upstreamUrl: string;
    method: string;
    /** Path and query as the client sent them, minus the `api_key` parameter. */
    pathAndQuery: string;
    headers: Record<string, string | string[] | undefined>;
    extraHeaders: Record<string, string>;
    body: Buffer | string | undefined;
  }): Promise<UpstreamResponse> {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(input.headers)) {
      if (value === undefined || DROP_REQUEST_HEADERS.has(name)) continue;
      headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    Object.assign(headers, input.extraHeaders);
    const url = input.upstreamUrl.replace(/\/+$/, '') + input.pathAndQuery;
    try {
      const res = await request(url, {
        dispatcher: this.agent,
        method: input.method as 'GET',
        headers,
        body: input.body ?? null,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
      const body = Buffer.from(await res.body.arrayBuffer());
      const outHeaders: Record<string, string> = {};
      for (const [name, value] of Object.entries(res.headers)) {
        if (value === undefined || DROP_RESPONSE_HEADERS.has(name) || name.startsWith('x-ratelimit-')) continue;
        outHeaders[name] = Array.isArray(value) ? value.join(', ') : value;
      }
      return { statusCode: res.statusCode, headers: outHeaders, body };
    } catch (error) {
      if (error instanceof errors.HeadersTimeoutError || error instanceof errors.BodyTimeoutError || error instanceof errors.ConnectTimeoutError) {
        throw new AppError('upstream_timeout', `The upstream did not answer within ${this.timeoutMs} ms`, { cause: error });
      }
      throw new AppError('upstream_error', 'The upstream could not be reached or broke the connection', { cause: error });
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
