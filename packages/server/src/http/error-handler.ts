import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_STATUS, type ErrorBody, type ErrorCode } from '@tollgate/contracts';
import { AppError } from './app-error.ts';

/**
 * What `sendError` needs of a reply: Fastify's, or the gateway's own for the calls it serves
 * without Fastify (gateway/direct-calls.ts).
 */
export interface ErrorReply {
  readonly request: { readonly id: string };
  headers(values: Record<string, string>): unknown;
  code(statusCode: number): this;
  type(contentType: string): this;
  send(payload: unknown): this;
}

/** Writes the one error shape; every refusal in the product goes through here. */
export function sendError<Reply extends ErrorReply>(
  reply: Reply,
  code: ErrorCode,
  message: string,
  details?: Record<string, unknown>,
  headers?: Record<string, string>,
): Reply {
  const body: ErrorBody = { error: { code, message, ...(details ? { details } : {}) }, request_id: String(reply.request.id) };
  if (headers) reply.headers(headers);
  return reply.code(ERROR_STATUS[code]).type('application/json; charset=utf-8').send(body);
}

interface ValidationIssue {
  instancePath?: string;
  message?: string;
  keyword?: string;
  params?: Record<string, unknown>;
}

/** `body.email`, `query.limit`, `body.ipWhitelist[0]`: the field a client has to fix. */
function fieldOf(context: string | undefined, issue: ValidationIssue): string {
  const segments = (issue.instancePath ?? '').split('/').filter(Boolean);
  if (issue.keyword === 'required' && typeof issue.params?.missingProperty === 'string') {
    segments.push(issue.params.missingProperty);
  }
  if (issue.keyword === 'additionalProperties' && typeof issue.params?.additionalProperty === 'string') {
    segments.push(issue.params.additionalProperty);
  }
  const path = segments.map((s) => (/^\d+$/.test(s) ? `[${s}]` : `.${s}`)).join('');
  return `${context ?? 'request'}${path}`;
}

function describe(issue: ValidationIssue, field: string): string {
  switch (issue.keyword) {
    case 'required':
      return `${field} is required`;
    case 'additionalProperties':
      return `${field} is not a known field`;
    default:
      return `${field} ${issue.message ?? 'is invalid'}`;
  }
}

/** What `sendFailure` needs of a logger: Fastify's request logger, or the gateway's own. */
export interface ErrorLog {
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

/** A failure of our own code: an `AppError` as its code says, anything else a logged 500. */
export function sendFailure<Reply extends ErrorReply>(reply: Reply, log: ErrorLog, error: unknown): Reply {
  if (error instanceof AppError) {
    if (error.cause) log.warn({ err: error.cause, code: error.code }, error.message);
    return sendError(reply, error.code, error.message, error.details, error.headers);
  }
  log.error({ err: error }, 'unhandled error');
  return sendError(reply, 'internal_error', 'Something went wrong on our side. The request id identifies it in our logs.');
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | AppError, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof AppError) return sendFailure(reply, request.log, error);
    const fastifyError = error as FastifyError & { validation?: ValidationIssue[]; validationContext?: string };
    if (fastifyError.validation && fastifyError.validation.length > 0) {
      const issues = fastifyError.validation.map((issue) => {
        const field = fieldOf(fastifyError.validationContext, issue);
        return { field, message: describe(issue, field) };
      });
      const first = issues[0] as { field: string; message: string };
      return sendError(reply, 'invalid_request', first.message, { field: first.field, issues });
    }
    switch (fastifyError.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return sendError(reply, 'payload_too_large', `Request body is larger than the limit of ${request.routeOptions.bodyLimit ?? 'the configured'} bytes`);
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return sendError(reply, 'unsupported_media_type', `Content-Type ${request.headers['content-type'] ?? ''} is not supported; send application/json`);
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return sendError(reply, 'invalid_request', 'Body is empty but Content-Type is application/json', { field: 'body' });
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        return sendError(reply, 'invalid_request', 'Body is not valid JSON', { field: 'body' });
    }
    if (error instanceof SyntaxError || (fastifyError.statusCode === 400 && /JSON/i.test(fastifyError.message))) {
      return sendError(reply, 'invalid_request', 'Body is not valid JSON', { field: 'body' });
    }
    const status = fastifyError.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const code = (Object.entries(ERROR_STATUS).find(([, s]) => s === status)?.[0] as ErrorCode | undefined) ?? 'invalid_request';
      return sendError(reply, code, fastifyError.message);
    }
    return sendFailure(reply, request.log, error);
  });
}
