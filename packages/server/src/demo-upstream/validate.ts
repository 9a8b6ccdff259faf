/*
 * Input checks shared by the handlers. Validators throw DemoError; index.ts turns it into the
 * HLD §10.3 error body, so handlers can stay linear and never build error bodies by hand.
 */

export type DemoErrorCode = 'invalid_request' | 'resource_not_found';

export class DemoError extends Error {
  constructor(
    readonly statusCode: 400 | 404,
    readonly code: DemoErrorCode,
    message: string,
    readonly details: Record<string, unknown>,
  ) {
    super(message);
  }
}

export function invalid(field: string, message: string, extra: Record<string, unknown> = {}): DemoError {
  return new DemoError(400, 'invalid_request', message, { field, ...extra });
}

export function notFound(resource: string, id: string, message: string): DemoError {
  return new DemoError(404, 'resource_not_found', message, { resource, id });
}

/** Query values arrive as string | string[] (repeated parameter); scalars must be given once. */
export function queryString(query: Record<string, unknown>, name: string): string | undefined {
  const value = query[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) throw invalid(name, `Query parameter "${name}" must be given once`);
  throw invalid(name, `Query parameter "${name}" must be a string`);
}

export function requiredQuery(query: Record<string, unknown>, name: string, example: string): string {
  const value = queryString(query, name);
  if (value === undefined || value.trim() === '') {
    throw invalid(name, `Query parameter "${name}" is required, e.g. ${name}=${example}`);
  }
  return value.trim();
}

export function queryInt(query: Record<string, unknown>, name: string, fallback: number, min: number, max: number): number {
  const raw = queryString(query, name);
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d{1,9}$/.test(raw.trim())) throw invalid(name, `Query parameter "${name}" must be an integer from ${min} to ${max}`, { min, max });
  const value = Number(raw.trim());
  if (value < min || value > max) throw invalid(name, `Query parameter "${name}" must be from ${min} to ${max}; got ${value}`, { min, max });
  return value;
}

export function queryBool(query: Record<string, unknown>, name: string): boolean {
  const raw = queryString(query, name)?.trim().toLowerCase();
  if (raw === undefined || raw === '' || raw === 'false' || raw === '0') return false;
  if (raw === 'true' || raw === '1') return true;
  throw invalid(name, `Query parameter "${name}" must be true or false`);
}

export function queryEnum<T extends string, F extends T | undefined>(query: Record<string, unknown>, name: string, allowed: readonly T[], fallback: F): T | F {
  const raw = queryString(query, name)?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  const found = allowed.find((value) => value === raw);
  if (found === undefined) throw invalid(name, `Query parameter "${name}" must be one of ${allowed.join(', ')}`, { allowed });
  return found;
}

/** Optional free-text search; bounded so a huge value cannot cost anything. */
export function querySearch(query: Record<string, unknown>, name = 'search'): string | undefined {
  const raw = queryString(query, name)?.trim();
  if (raw === undefined || raw === '') return undefined;
  if (raw.length > 100) throw invalid(name, `Query parameter "${name}" must be at most 100 characters`);
  return raw.toLowerCase();
}

export interface Page {
  page: number;
  limit: number;
}

export function queryPage(query: Record<string, unknown>, defaultLimit = 20, maxLimit = 100): Page {
  return { page: queryInt(query, 'page', 1, 1, 100_000), limit: queryInt(query, 'limit', defaultLimit, 1, maxLimit) };
}

/** The `{ data, pagination }` envelope of PaginatedMemeList and the other lists. */
export function paginate<T, R>(items: readonly T[], { page, limit }: Page, view: (item: T) => R): { data: R[]; pagination: { page: number; limit: number; total: number; pages: number } } {
  const start = (page - 1) * limit;
  return {
    data: items.slice(start, start + limit).map(view),
    pagination: { page, limit, total: items.length, pages: Math.ceil(items.length / limit) },
  };
}

/**
 * HLD §7.4's pagination headers for a `{ data, pagination }` list: X-Total-Count, X-Page,
 * X-Per-Page and an RFC 8288 Link with first, prev, next and last (relative to the request, its
 * other query parameters kept).
 */
export function paginationHeaders(pagination: { page: number; limit: number; total: number; pages: number }, path: string, query: Record<string, unknown>): Record<string, string> {
  const { page, limit, total, pages } = pagination;
  const link = (target: number, rel: string) => {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (name === 'page' || name === 'limit') continue;
      for (const item of Array.isArray(value) ? value : [value]) if (typeof item === 'string') params.append(name, item);
    }
    params.set('page', String(target));
    params.set('limit', String(limit));
    return `<${path}?${params.toString()}>; rel="${rel}"`;
  };
  const last = Math.max(pages, 1);
  const links = [link(1, 'first')];
  if (page > 1) links.push(link(Math.min(page - 1, last), 'prev'));
  if (page < last) links.push(link(page + 1, 'next'));
  links.push(link(last, 'last'));
  return { 'x-total-count': String(total), 'x-page': String(page), 'x-per-page': String(limit), link: links.join(', ') };
}

const MINT_RE = /^[1-9A-HJ-NP-Za-km-z]{32,44}$/;

export function isMint(value: string): boolean {
  return MINT_RE.test(value);
}

export function requireMint(value: string | undefined, field: string): string {
  if (value === undefined || !isMint(value)) {
    throw invalid(field, `"${field}" must be a Solana mint address: 32 to 44 base58 characters (no 0, O, I or l)`);
  }
  return value;
}

/** A JSON object body (not null, not an array). */
export function requireObjectBody(body: unknown, example: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid('body', `The request body must be a JSON object, e.g. ${example}`);
  }
  return body as Record<string, unknown>;
}

/** `{ mints: string[] }` with 1..100 well-formed mints, for the bulk endpoints. */
export function requireMintList(body: unknown, max = 100): string[] {
  const object = requireObjectBody(body, '{"mints":["<mint>"]}');
  const mints = object['mints'];
  if (!Array.isArray(mints)) throw invalid('mints', '"mints" must be an array of mint addresses');
  if (mints.length === 0 || mints.length > max) {
    throw invalid('mints', `"mints" must hold 1 to ${max} mint addresses; got ${mints.length}`, { min: 1, max, count: mints.length });
  }
  return mints.map((mint, i) => requireMint(typeof mint === 'string' ? mint : undefined, `mints[${i}]`));
}

const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * A timestamp as unix seconds or ISO-8601. ISO without an offset is taken as UTC (not the host's
 * zone, which would make output depend on the machine); impossible dates such as Feb 30 are refused
 * rather than silently rolled over as Date.parse does.
 */
export function parseTimestamp(raw: string, field: string): number {
  const text = raw.trim();
  if (/^\d{1,11}$/.test(text)) return Number(text) * 1000;
  const m = ISO_RE.exec(text);
  const fail = () => invalid(field, `"${field}" must be an ISO-8601 timestamp (e.g. 2025-01-15T12:00:00Z) or unix seconds`);
  if (!m) throw fail();
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((part) => Number(part ?? 0)) as [number, number, number, number, number, number];
  const fraction = m[7] === undefined ? 0 : Math.floor(Number(`0.${m[7]}`) * 1000);
  let ms = Date.UTC(year, month - 1, day, hour, minute, second, fraction);
  const check = new Date(ms);
  if (check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) throw fail();
  const zone = m[8];
  if (zone !== undefined && zone.toUpperCase() !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    ms -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
  }
  return ms;
}
