import { ERROR_STATUS, type ErrorCode } from '@tollgate/contracts';

/**
 * A request that fails on purpose. The message is shown to the client; `cause` goes to the log only.
 */
export class AppError extends Error {
  readonly statusCode: number;
  readonly details: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: { details?: Record<string, unknown>; cause?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(message, { cause: options.cause });
    this.statusCode = ERROR_STATUS[code];
    this.details = options.details;
    this.headers = options.headers;
  }
}

export const notFound = (what: string, id?: string) =>
  new AppError('resource_not_found', id ? `${what} ${id} was not found` : `${what} was not found`);
