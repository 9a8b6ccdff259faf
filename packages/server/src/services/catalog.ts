import type { CreatePlanBody, CreateProductBody, CreateRouteBody, UpdatePlanBody, UpdateProductBody, UpdateRouteBody } from '@tollgate/contracts';
import { type EventBus, type Plan, type Product, type ProductRoute } from '@tollgate/core';
import { invalidatePlanKeys } from '@tollgate/jobs';
import { UniqueViolationError, type NewPlan, type ProductFilter, type Repositories } from '@tollgate/store';
import { AppError, notFound } from '../http/app-error.ts';
import { exactMicros, exactMinor } from './money-input.ts';

export interface ProductWithParts {
  product: Product;
  plans: Plan[];
  routes: ProductRoute[];
}

function conflict(error: unknown, message: string, field: string): never {
  if (error instanceof UniqueViolationError) throw new AppError('conflict', message, { details: { field } });
  throw error;
}

/** Plan fields from the wire (major units) to the store (minor units, micros). */
function planFields(body: UpdatePlanBody, currency: string): Partial<NewPlan> {
  const out: Partial<NewPlan> = {};
  if (body.name !== undefined) out.name = body.name;
  if (body.description !== undefined) out.description = body.description;
  if (body.monthlyFee !== undefined) out.monthlyFeeMinor = body.monthlyFee === null ? null : exactMinor(body.monthlyFee, currency, 'monthlyFee');
  if (body.perCallFee !== undefined) out.perCallFeeMicros = body.perCallFee === null ? null : exactMicros(body.perCallFee, 'perCallFee');
  if (body.rateLimit !== undefined) out.rateLimitPerMinute = body.rateLimit;
  if (body.burstLimit !== undefined) out.burst = body.burstLimit;
  if (body.rateLimitAlgorithm !== undefined) out.rateLimitAlgorithm = body.rateLimitAlgorithm;
  if (body.dailyCap !== undefined) out.dailyCap = body.dailyCap;
  if (body.quota !== undefined) out.monthlyQuota = body.quota;
  if (body.entitlements !== undefined) out.entitlements = body.entitlements;
  if (body.limits !== undefined) out.limits = body.limits;
  if (body.isCustom !== undefined) out.isCustom = body.isCustom;
  return out;
}

export class CatalogService {
  constructor(
    private readonly repos: Repositories,
    private readonly bus: EventBus,
  ) {}

  async listProducts(filter: ProductFilter): Promise<{ items: ProductWithParts[]; total: number }> {
    const { items, total } = await this.repos.catalog.listProducts(filter);
    return { items: await this.withParts(items, filter.active === true), total };
  }

  async getProduct(idOrSlug: string): Promise<ProductWithParts> {
    const product = await this.repos.catalog.findProduct(idOrSlug);
    if (!product) throw notFound('Product', idOrSlug);
    const [withParts] = await this.withParts([product], false);
    return withParts as ProductWithParts;
  }

  async listPlans(productIdOrSlug?: string): Promise<Plan[]> {
    if (productIdOrSlug === undefined) return this.repos.catalog.listPlans({ activeOnly: true });
    const product = await this.repos.catalog.findProduct(productIdOrSlug);
    if (!product) throw notFound('Product', productIdOrSlug);
    return this.repos.catalog.listPlans({ productIds: [product.id], activeOnly: true });
  }

  async createProduct(body: CreateProductBody): Promise<Product> {
    try {
      return await this.repos.catalog.createProduct({
        slug: body.slug,
        name: body.name,
        description: body.description ?? null,
        publicDocs: body.publicDocs ?? null,
        category: body.category,
        defaultPlan: body.defaultPlan ?? null,
        features: body.features ?? [],
        currency: body.currency,
        isActive: body.isActive ?? true,
      });
    } catch (error) {
      conflict(error, `A product with slug ${body.slug} already exists`, 'body.slug');
    }
  }

  async updateProduct(idOrSlug: string, body: UpdateProductBody): Promise<Product> {
    const product = await this.requireProduct(idOrSlug);
    const updated = await this.repos.catalog.updateProduct(product.id, body);
    if (!updated) throw notFound('Product', idOrSlug);
    // Deactivating a product closes its routes at the gateway.
    await this.bus.publish({ topic: 'catalog.changed' });
    return updated;
  }

  async createRoute(productIdOrSlug: string, body: CreateRouteBody): Promise<ProductRoute> {
    const product = await this.requireProduct(productIdOrSlug);
    try {
      const route = await this.repos.catalog.createRoute({
        productId: product.id,
        method: body.method,
        path: body.path,
        upstreamUrl: body.upstreamUrl ?? null,
        entitlement: body.entitlement ?? null,
        costWeight: body.costWeight ?? 1,
        historyParam: body.historyParam ?? null,
        description: body.description ?? null,
        isActive: body.isActive ?? true,
      });
      await this.bus.publish({ topic: 'catalog.changed' });
      return route;
    } catch (error) {
      conflict(error, `A route ${body.method} ${body.path} already exists`, 'body.path');
    }
  }

  async updateRoute(routeId: string, body: UpdateRouteBody): Promise<ProductRoute> {
    const route = await this.repos.catalog.updateRoute(routeId, body);
    if (!route) throw notFound('Route', routeId);
    await this.bus.publish({ topic: 'catalog.changed' });
    return route;
  }

  async createPlan(productIdOrSlug: string, body: CreatePlanBody): Promise<Plan> {
    const product = await this.requireProduct(productIdOrSlug);
    const fields = planFields(body, product.currency);
    try {
      return await this.repos.catalog.createPlan({
        productId: product.id,
        code: body.code,
        name: body.name,
        description: fields.description ?? null,
        currency: product.currency,
        monthlyFeeMinor: fields.monthlyFeeMinor ?? (body.isCustom ? null : 0),
        perCallFeeMicros: fields.perCallFeeMicros ?? null,
        rateLimitPerMinute: body.rateLimit,
        burst: body.burstLimit ?? body.rateLimit,
        rateLimitAlgorithm: body.rateLimitAlgorithm ?? 'token-bucket',
        dailyCap: body.dailyCap ?? null,
        monthlyQuota: body.quota ?? null,
        entitlements: body.entitlements ?? [],
        limits: body.limits ?? {},
        isCustom: body.isCustom ?? false,
        isActive: true,
      });
    } catch (error) {
      conflict(error, `A plan with code ${body.code} already exists`, 'body.code');
    }
  }

  /** Limit and entitlement changes reach every key of the plan on its next call. */
  async updatePlan(idOrCode: string, body: UpdatePlanBody & { isActive?: boolean }): Promise<Plan> {
    const plan = await this.repos.catalog.findPlan(idOrCode);
    if (!plan) throw notFound('Plan', idOrCode);
    const change = planFields(body, plan.currency);
    if (body.isActive !== undefined) change.isActive = body.isActive;
    const updated = await this.repos.catalog.updatePlan(plan.id, change);
    if (!updated) throw notFound('Plan', idOrCode);
    await invalidatePlanKeys({ repos: this.repos, bus: this.bus }, plan.id);
    return updated;
  }

  private async requireProduct(idOrSlug: string): Promise<Product> {
    const product = await this.repos.catalog.findProduct(idOrSlug);
    if (!product) throw notFound('Product', idOrSlug);
    return product;
  }

  private async withParts(products: Product[], activeOnly: boolean): Promise<ProductWithParts[]> {
    const productIds = products.map((p) => p.id);
    const [plans, routes] = await Promise.all([
      this.repos.catalog.listPlans({ productIds, activeOnly }),
      this.repos.catalog.listRoutes({ productIds, activeOnly }),
    ]);
    return products.map((product) => ({
      product,
      plans: plans.filter((p) => p.productId === product.id),
      routes: routes.filter((r) => r.productId === product.id),
    }));
  }
}
