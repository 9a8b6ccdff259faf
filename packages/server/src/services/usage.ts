import type { UsageQuery, UsageStats } from '@tollgate/contracts';
import type { Clock, User } from '@tollgate/core';
import type { Repositories } from '@tollgate/store';
import { AppError, notFound } from '../http/app-error.ts';

const DAY_MS = 86_400_000;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

function parseBound(value: string, field: string, endOfDay: boolean): Date {
  const ms = Date.parse(DATE_ONLY.test(value) ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(ms)) throw new AppError('invalid_request', `${field} is not a valid date`, { details: { field } });
  // An end date without a time means "through that whole day".
  return new Date(endOfDay && DATE_ONLY.test(value) ? ms + DAY_MS : ms);
}

export class UsageService {
  constructor(
    private readonly repos: Repositories,
    private readonly clock: Clock,
  ) {}

  /** Customers see their own calls; admins see every customer's. Default window: the last 30 days. */
  async stats(user: User, query: UsageQuery): Promise<UsageStats> {
    const now = this.clock.now();
    const end = query.endDate ? parseBound(query.endDate, 'query.endDate', true) : new Date(now);
    const start = query.startDate ? parseBound(query.startDate, 'query.startDate', false) : new Date(end.getTime() - 30 * DAY_MS);
    if (start >= end) {
      throw new AppError('invalid_request', 'query.startDate must be before query.endDate', { details: { field: 'query.startDate' } });
    }
    const isAdmin = user.role === 'admin';
    if (query.apiKeyId !== undefined) {
      const key = await this.repos.keys.findById(query.apiKeyId, isAdmin ? undefined : user.id);
      if (!key) throw notFound('API key', query.apiKeyId);
    }
    let productId: string | undefined;
    if (query.productId !== undefined) {
      const product = await this.repos.catalog.findProduct(query.productId);
      if (!product) throw notFound('Product', query.productId);
      productId = product.id;
    }
    const groupBy = query.groupBy ?? 'hour';
    const stats = await this.repos.usage.stats({
      ...(isAdmin ? {} : { userId: user.id }),
      ...(query.apiKeyId !== undefined ? { apiKeyId: query.apiKeyId } : {}),
      ...(productId !== undefined ? { productId } : {}),
      start,
      end,
      groupBy,
    });
    return { ...stats, startDate: start.toISOString(), endDate: end.toISOString(), groupBy };
  }
}
