import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_STATUS, type ErrorBody, type ErrorCode } from '@tollgate/contracts';
import { AppError } from './app-error.ts';

/** Writes the one error shape; every refusal in the product goes through here. */
export function sendError(
  reply: FastifyReply,
  code: ErrorCode,
  message: string,
  details?: Record<string, unknown>,
  headers?: Record<string, string>,
): FastifyReply {
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

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | AppError, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof AppError) {
      if (error.cause) request.log.warn({ err: error.cause, code: error.code }, error.message);
      return sendError(reply, error.code, error.message, error.details, error.headers);
    }
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
    request.log.error({ err: error }, 'unhandled error');
    return sendError(reply, 'internal_error', 'Something went wrong on our side. The request id identifies it in our logs.');
  });
}
