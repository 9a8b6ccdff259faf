/**
 * Every error code Tollgate answers with, and its HTTP status.
 * Codes are part of the public contract: add new ones, never rename or reuse one.
 *
 * @example
 * ```ts
 * if (body.error.code === 'rate_limit_exceeded') await sleep(Number(res.headers['retry-after']) * 1000);
 * ```
 */
export const ERROR_STATUS = {
  invalid_request: 400,
  payload_too_large: 413,
  unsupported_media_type: 415,
  authentication_required: 401,
  invalid_credentials: 401,
  invalid_api_key: 401,
  payment_required: 402,
  forbidden: 403,
  ip_not_allowed: 403,
  insufficient_tier: 403,
  resource_not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  rate_limit_exceeded: 429,
  quota_exceeded: 429,
  internal_error: 500,
  upstream_error: 502,
  service_unavailable: 503,
  upstream_timeout: 504,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_STATUS;

export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];

/** The one error shape every non-2xx response carries. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: Record<string, unknown> };
  request_id: string;
}

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(ERROR_STATUS, value);
}
